"""The estimate's point values against brute force, its bands, and its options' checks."""

from __future__ import annotations

import numpy as np
import pytest

from inferwatch import ConfigurationError
from inferwatch.estimate import CBPE, DLE, Calibrator, LossModel
from inferwatch.estimate._expected import expected_auc, expected_binary


def test_expected_auc_equals_the_pairwise_sum() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        n = 60
        p = rng.uniform(size=n)
        s = np.round(rng.uniform(size=n), 1)  # ties in the score
        num = den = 0.0
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                w = p[i] * (1 - p[j])
                den += w
                num += w * (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0)
        assert expected_auc(p, s) == pytest.approx(num / den)


def test_expected_confusion_matrix_matches_simulated_labels() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=400)
    d = rng.uniform(size=400) < 0.5
    y = rng.uniform(size=(20_000, 400)) < p
    tp = (y & d).sum(1)
    acc = ((y == d).sum(1) / 400).mean()
    got = expected_binary(p, d)
    assert got["accuracy"] == pytest.approx(acc, abs=2e-3)
    assert got["precision"] == pytest.approx((tp / d.sum()).mean(), abs=2e-3)
    assert got["recall"] == pytest.approx(tp.sum() / y.sum(), abs=2e-3)  # ratio of means


def _calibrator(seed: int = 0) -> Calibrator:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=3000)
    return Calibrator.fit(p, rng.uniform(size=3000) < p)


def test_bands_are_deterministic_and_shrink_with_more_rows() -> None:
    cbpe = CBPE(_calibrator())
    rng = np.random.default_rng(2)
    small, large = rng.uniform(size=200), rng.uniform(size=5000)
    assert cbpe.estimate(small) == cbpe.estimate(small)
    w_small = cbpe.estimate(small)["accuracy"]
    w_large = cbpe.estimate(large)["accuracy"]
    assert w_small.lower <= w_small.value <= w_small.upper
    assert (w_large.upper - w_large.lower) < 0.5 * (w_small.upper - w_small.lower)
    # Without the calibration's error the band is narrower.
    bare = CBPE(_calibrator(), calibration_error=False).estimate(large)["accuracy"]
    assert bare.upper - bare.lower < w_large.upper - w_large.lower


def test_undefined_measures_are_absent() -> None:
    cbpe = CBPE(_calibrator())
    est = cbpe.estimate(np.full(50, 0.2))  # nothing predicted positive, one score
    assert "precision" not in est.measures
    assert "accuracy" in est.measures
    assert cbpe.estimate([]).measures == {}


def test_predicted_overrides_the_threshold() -> None:
    cbpe = CBPE(_calibrator())
    p = np.linspace(0.01, 0.99, 300)
    assert cbpe.estimate(p, p >= 0.5) == cbpe.estimate(p)
    assert cbpe.estimate(p, p >= 0.8) != cbpe.estimate(p)
    with pytest.raises(ValueError, match="predicted must be 300 booleans"):
        cbpe.estimate(p, (p >= 0.5).astype(int))


def test_top_label_estimates_accuracy_only() -> None:
    rng = np.random.default_rng(3)
    conf = rng.uniform(0.34, 1.0, 3000)
    cal = Calibrator.fit(conf, rng.uniform(size=3000) < conf, target="top_label")
    est = CBPE(cal).estimate(conf[:500])
    assert set(est.measures) == {"accuracy"}
    assert est["accuracy"].value == pytest.approx(cal.smoothed(conf[:500])[0].mean())


@pytest.mark.parametrize(("options", "match"), [
    ({"level": 1.0}, "level must be in"),
    ({"level": 0.2}, "level must be in"),
    ({"draws": 10}, "draws must be an int"),
    ({"seed": -1}, "seed must be"),
    ({"threshold": 1.5}, "threshold must be in"),
])
def test_bad_options(options: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        CBPE(_calibrator(), **options)  # type: ignore[arg-type]


def test_estimators_need_their_fitted_model() -> None:
    with pytest.raises(ConfigurationError, match=r"needs an inferwatch\.estimate\.Calibrator"):
        CBPE(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"needs an inferwatch\.estimate\.LossModel"):
        DLE(_calibrator())  # type: ignore[arg-type]


def test_loss_model_bad_inputs() -> None:
    rng = np.random.default_rng(4)
    pred = rng.normal(size=500)
    truth = pred + rng.normal(size=500)
    with pytest.raises(ValueError, match="at least 100 labelled reference rows"):
        LossModel.fit(pred[:50], truth[:50])
    with pytest.raises(ValueError, match="499 values for 500 predictions"):
        LossModel.fit(pred, truth[:-1])
    bad = truth.copy()
    bad[3] = np.inf
    with pytest.raises(ValueError, match=r"truth\[3\] is inf"):
        LossModel.fit(pred, bad)
    with pytest.raises(ValueError, match="1 to 3 features"):
        LossModel.fit(pred, truth, rng.normal(size=(500, 4)))
    with pytest.raises(ConfigurationError, match="bins must be an int"):
        LossModel.fit(pred, truth, bins=0)
    plain = LossModel.fit(pred, truth)
    with pytest.raises(ValueError, match="fitted without features"):
        plain.cells(pred, rng.normal(size=(500, 1)))
    with_x = LossModel.fit(pred, truth, rng.normal(size=(500, 2)))
    with pytest.raises(ValueError, match="fitted on 2 feature"):
        DLE(with_x).estimate(pred)
    with pytest.raises(ValueError, match="pass the 2 feature column"):
        DLE(with_x).estimate(pred, rng.normal(size=(500, 1)))
    with pytest.raises(ValueError, match="damaged loss model"):
        LossModel.from_dict({**plain.to_dict(), "counts": [1.0]})


def test_loss_model_round_trip_and_the_estimate_of_known_errors(tmp_path: object) -> None:
    rng = np.random.default_rng(5)
    pred = rng.uniform(0, 10, 20_000)
    truth = pred + rng.normal(size=pred.size) * (0.2 + 0.1 * pred)  # error grows with pred
    model = LossModel.fit(pred, truth)
    again = LossModel.from_dict(model.to_dict())
    live = rng.uniform(5, 10, 2000)
    assert DLE(again).estimate(live) == DLE(model).estimate(live)
    est = DLE(model).estimate(live)
    # E|N(0, s)| = s sqrt(2 / pi) with s = 0.2 + 0.1 pred, pred ~ U(5, 10)
    expected_mae = np.sqrt(2 / np.pi) * (0.2 + 0.1 * 7.5)
    assert est["mae"].value == pytest.approx(expected_mae, rel=0.03)
    assert est["mae"].lower < expected_mae < est["mae"].upper
    expected_rmse = np.sqrt(np.mean((0.2 + 0.1 * np.linspace(5, 10, 10_001)) ** 2))
    assert est["rmse"].value == pytest.approx(expected_rmse, rel=0.03)


def test_exported_names_are_exactly_the_intended_ones() -> None:
    import subprocess
    import sys

    import inferwatch.estimate as estimate

    # Sorted as ruff's RUF022 sorts (constants and acronyms first), like inferwatch.labels.
    assert estimate.__all__ == ["CBPE", "DLE", "Band", "Calibrator", "Estimate", "LossModel"]
    assert set(estimate.__all__) == {"Band", "CBPE", "Calibrator", "DLE", "Estimate",
                                     "LossModel"}
    for name in estimate.__all__:
        assert (getattr(estimate, name).__doc__ or "").strip(), name
    code = ("import sys, inferwatch.estimate; print(sorted(m for m in ('scipy', 'sklearn', "
            "'inferwatch.labels') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
