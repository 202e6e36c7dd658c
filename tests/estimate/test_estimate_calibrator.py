"""Calibrators: isotonic equals scikit-learn's, histogram binning on a constructed case,
storage, and every bad input refused with a message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from inferwatch import ConfigurationError
from inferwatch.estimate import CBPE, Calibrator


def _reference(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    p[: n // 5] = np.round(p[: n // 5], 2)  # many ties
    return p, rng.uniform(size=n) < p ** 1.7


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_isotonic_equals_sklearn(seed: int) -> None:
    p, y = _reference(seed)
    ours = Calibrator.fit(p, y, method="isotonic")
    theirs = IsotonicRegression(out_of_bounds="clip").fit(p, y.astype(float))
    grid = np.r_[np.linspace(0, 1, 1001), p]
    assert np.allclose(ours.predict(grid), theirs.predict(grid), atol=1e-12)
    # The blocks are sklearn's: its thresholds are our blocks' ends.
    assert np.allclose(ours.values, np.unique(theirs.y_thresholds_))
    assert set(theirs.X_thresholds_) == set(ours.lower) | set(ours.upper)
    assert ours.weights.sum() == p.size
    assert np.all(np.diff(ours.values) > 0)


def test_isotonic_on_a_tiny_case_by_hand() -> None:
    p = np.r_[np.linspace(0.01, 0.99, 96), [0.1, 0.2, 0.3, 0.4]]
    y = np.r_[np.zeros(48), np.ones(48), [1, 0, 1, 0]]
    cal = Calibrator.fit(p, y)
    theirs = IsotonicRegression(out_of_bounds="clip").fit(p, y)
    assert np.allclose(cal.predict(p), theirs.predict(p))
    assert cal.predict([0.0])[0] == pytest.approx(theirs.predict([0.0])[0])


def test_histogram_binning_on_a_constructed_case() -> None:
    # Four bins [0, .25), [.25, .5), [.5, .75), [.75, 1]: 40 rows each with 10, 20, 30
    # and 36 positives, the bin edges themselves belonging to the upper bin.
    p = np.repeat([0.1, 0.3, 0.6, 0.9], 40)
    y = np.concatenate([np.arange(40) < k for k in (10, 20, 30, 36)])
    cal = Calibrator.fit(p, y, method="histogram", edges=[0.25, 0.5, 0.75])
    assert cal.values.tolist() == [0.25, 0.5, 0.75, 0.9]
    assert cal.weights.tolist() == [40, 40, 40, 40]
    got = cal.predict([0.0, 0.2499, 0.25, 0.5, 0.74, 0.75, 1.0])
    assert got.tolist() == [0.25, 0.25, 0.5, 0.75, 0.75, 0.9, 0.9]


def test_histogram_empty_bin_keeps_its_midpoint_and_no_weight() -> None:
    p = np.repeat([0.1, 0.9], 60)
    y = np.r_[np.arange(60) < 6, np.arange(60) < 54]
    cal = Calibrator.fit(p, y, method="histogram", edges=[0.25, 0.5, 0.75])
    assert cal.values.tolist() == [0.1, 0.375, 0.625, 0.9]
    assert cal.weights.tolist() == [60, 0, 0, 60]


def test_histogram_default_bins_are_equal_frequency() -> None:
    p, y = _reference(5, 5000)
    cal = Calibrator.fit(p, y, method="histogram", bins=10)
    assert cal.values.size == 10
    assert np.all(np.abs(cal.weights - 500) <= 60)  # ties may move a few rows
    inner = np.quantile(p, np.linspace(0, 1, 11)[1:-1])
    for k in range(10):
        lo = 0.0 if k == 0 else inner[k - 1]
        hi = 1.01 if k == 9 else inner[k]
        mask = (p >= lo) & (p < hi)
        assert cal.values[k] == pytest.approx(y[mask].mean())


@pytest.mark.parametrize("method", ["isotonic", "histogram"])
def test_round_trip_through_a_dict_a_file_and_a_profile(method: str, tmp_path: Path) -> None:
    p, y = _reference(6)
    cal = Calibrator.fit(p, y, method=method)
    data = json.loads(json.dumps(cal.to_dict()))
    again = Calibrator.from_dict(data)
    assert again == cal
    grid = np.linspace(0, 1, 301)
    assert np.array_equal(again.predict(grid), cal.predict(grid))
    cal.save(tmp_path / "cal.json")
    assert Calibrator.load(tmp_path / "cal.json") == cal

    from inferwatch.drift import ReferenceProfile, build_profile

    rng = np.random.default_rng(0)
    profile = build_profile(rng.normal(size=(300, 2)))
    cal.attach(profile)
    profile.save(tmp_path / "ref.profile")
    loaded = ReferenceProfile.load(tmp_path / "ref.profile")
    assert Calibrator.from_profile(loaded) == cal


def test_positive_names_the_class() -> None:
    p, y = _reference(7)
    labels = np.where(y, "fraud", "ok")
    assert Calibrator.fit(p, labels, positive="fraud") == Calibrator.fit(p, y)


@pytest.mark.parametrize(("probability", "match"), [
    ([1.2], r"probability\[0\] is 1.2"),
    ([-0.1], r"probability\[0\] is -0.1"),
    ([float("nan")], r"probability\[0\] is nan"),
])
def test_probabilities_outside_zero_one_are_refused(probability: list[float],
                                                    match: str) -> None:
    p, y = _reference(8, 200)
    p = p.copy()
    p[:1] = probability
    with pytest.raises(ValueError, match=match):
        Calibrator.fit(p, y)
    cal = Calibrator.fit(*_reference(8, 200))
    with pytest.raises(ValueError, match="finite and in"):
        cal.predict(probability)
    with pytest.raises(ValueError, match="finite and in"):
        CBPE(cal).estimate(probability)


def test_one_class_only_is_refused() -> None:
    p = np.linspace(0, 1, 500)
    with pytest.raises(ValueError, match="all negative: calibration needs both"):
        Calibrator.fit(p, np.zeros(500))
    with pytest.raises(ValueError, match="all positive"):
        Calibrator.fit(p, np.ones(500), method="histogram")


def test_too_few_reference_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 100 labelled reference rows, got 99"):
        Calibrator.fit(np.linspace(0, 1, 99), np.arange(99) % 2)


def test_other_bad_inputs() -> None:
    p, y = _reference(9, 300)
    with pytest.raises(ConfigurationError, match="method must be one of"):
        Calibrator.fit(p, y, method="platt")
    with pytest.raises(ConfigurationError, match="target must be"):
        Calibrator.fit(p, y, target="top")
    with pytest.raises(ValueError, match="labels must be 0/1"):
        Calibrator.fit(p, np.where(y, 2, 0))
    with pytest.raises(ValueError, match="299 values for 300"):
        Calibrator.fit(p, y[:-1])
    with pytest.raises(ValueError, match="edges must be increasing"):
        Calibrator.fit(p, y, method="histogram", edges=[0.5, 0.2])
    with pytest.raises(ValueError, match="not an inferwatch calibrator"):
        Calibrator.from_dict({"format": "x"})
    damaged = Calibrator.fit(p, y).to_dict()
    damaged["values"] = damaged["values"][:-1]
    with pytest.raises(ValueError, match="damaged calibrator"):
        Calibrator.from_dict(damaged)
    newer = {**Calibrator.fit(p, y).to_dict(), "version": 99}
    with pytest.raises(ValueError, match="upgrade inferwatch"):
        Calibrator.from_dict(newer)
    from inferwatch.drift import build_profile

    with pytest.raises(ValueError, match="holds no calibrator"):
        Calibrator.from_profile(build_profile(np.zeros((200, 1)) + np.arange(200)[:, None]))
