"""Every quality measure equals scikit-learn's on the same pairs, edge cases included."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from inferwatch.labels import _calibration as cal
from inferwatch.labels import _classification as cls
from inferwatch.labels import _regression as reg


def _binary(seed: int, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.001, 0.999, n)
    p[:20] = np.round(p[:20], 1)  # ties
    truth = rng.uniform(size=n) < p ** 1.3
    return truth, p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_measures_match_sklearn(seed: int) -> None:
    truth, p = _binary(seed)
    pred = p >= 0.5
    tp, fp, fn, _ = cls.binary_counts(truth, pred)
    assert cls.accuracy(truth, pred) == pytest.approx(skm.accuracy_score(truth, pred))
    assert cls.precision(tp, fp) == pytest.approx(skm.precision_score(truth, pred))
    assert cls.recall(tp, fn) == pytest.approx(skm.recall_score(truth, pred))
    assert cls.f1(tp, fp, fn) == pytest.approx(skm.f1_score(truth, pred))
    assert cls.roc_auc(truth, p) == pytest.approx(skm.roc_auc_score(truth, p))
    assert cls.log_loss(truth, p) == pytest.approx(skm.log_loss(truth, p))
    assert cal.brier(truth, p) == pytest.approx(skm.brier_score_loss(truth, p))


def test_reliability_bins_match_calibration_curve() -> None:
    truth, p = _binary(7, 2000)
    p[:5] = [0.1, 0.2, 0.0, 1.0, 0.5]  # exactly on bin edges
    ece, bins = cal.reliability(truth, p, 10)
    observed, mean = calibration_curve(truth, p, n_bins=10, strategy="uniform")
    filled = [b for b in bins if b["count"]]
    assert [b["observed"] for b in filled] == pytest.approx(list(observed))
    assert [b["mean_probability"] for b in filled] == pytest.approx(list(mean))
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], p), minlength=10)
    assert [b["count"] for b in bins] == counts.tolist()
    expected = float(np.sum(counts[counts > 0] / p.size * np.abs(observed - mean)))
    assert ece == pytest.approx(expected)
    assert 0 < ece < 0.2


def test_perfectly_calibrated_probabilities_have_a_small_ece() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(size=50_000)
    truth = rng.uniform(size=p.size) < p
    ece, _ = cal.reliability(truth, p)
    assert ece is not None and ece < 0.01
    worse, _ = cal.reliability(truth, np.clip(p * 0.6, 0, 1))
    assert worse is not None and worse > 0.1


def test_one_class_only() -> None:
    truth = np.zeros(50, dtype=bool)
    p = np.linspace(0.01, 0.6, 50)
    pred = p >= 0.5
    tp, fp, fn, _ = cls.binary_counts(truth, pred)
    assert cls.roc_auc(truth, p) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Undefined there too: a warning and NaN in newer scikit-learn, an error in 1.5.
        try:
            auc = skm.roc_auc_score(truth, p)
        except ValueError as exc:
            assert "one class" in str(exc)
        else:
            assert np.isnan(auc)
        assert np.isnan(skm.recall_score(truth, pred, zero_division=np.nan))
    assert cls.recall(tp, fn) is None
    assert cls.precision(tp, fp) == pytest.approx(skm.precision_score(truth, pred))
    assert cls.log_loss(truth, p) == pytest.approx(skm.log_loss(truth, p, labels=[False, True]))
    assert cls.f1(0, 0, 0) is None  # nothing positive anywhere


def test_no_positive_prediction_leaves_precision_undefined() -> None:
    truth = np.array([True, False, True])
    pred = np.zeros(3, dtype=bool)
    tp, fp, fn, _ = cls.binary_counts(truth, pred)
    assert cls.precision(tp, fp) is None
    assert np.isnan(skm.precision_score(truth, pred, zero_division=np.nan))
    assert cls.f1(tp, fp, fn) == pytest.approx(skm.f1_score(truth, pred)) == 0.0


def test_extreme_probabilities_are_clipped_like_sklearn() -> None:
    truth = np.array([True, False, True, False])
    p = np.array([1.0, 0.0, 0.0, 1.0])
    assert cls.log_loss(truth, p) == pytest.approx(skm.log_loss(truth, p))


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, 400)
    # Class 5 is predicted but never the label.
    pred = np.where(rng.uniform(size=400) < 0.6, truth, rng.integers(0, 6, 400))
    assert cls.accuracy(truth, pred) == pytest.approx(skm.accuracy_score(truth, pred))
    expected = skm.f1_score(truth, pred, average="macro")
    assert cls.macro_f1(truth, pred) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_regression_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.normal(10, 3, 300)
    truth[0] = 0.0  # MAPE divides by eps there, as scikit-learn does
    pred = truth + rng.normal(0, 1, 300)
    assert reg.mae(truth, pred) == pytest.approx(skm.mean_absolute_error(truth, pred))
    assert reg.rmse(truth, pred) == pytest.approx(np.sqrt(skm.mean_squared_error(truth, pred)))
    assert reg.mape(truth, pred) == pytest.approx(
        skm.mean_absolute_percentage_error(truth, pred))


def test_empty_inputs_are_none() -> None:
    empty = np.zeros(0)
    assert reg.mae(empty, empty) is None and cls.accuracy(empty, empty) is None
    assert cal.brier(empty.astype(bool), empty) is None
    assert cal.reliability(empty.astype(bool), empty)[0] is None
