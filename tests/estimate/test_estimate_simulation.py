"""Estimates against a known data-generating process (``estimate_sim``).

Under covariate shift only (P(y | x) fixed, P(x) moving from window to window) the
realised measure must land in the estimate's band in at least 90 % of windows, over
many windows and seeds; under concept drift (P(y | x) changed) the gap must be
flagged in most windows. The coverage tables are printed (``pytest -s``).
"""

from __future__ import annotations

import estimate_sim as sim
import numpy as np
import pytest

from inferwatch.estimate import CBPE, DLE, Calibrator, LossModel
from inferwatch.labels import _classification as cls

SEEDS = (0, 1, 2)
WINDOWS = 50
ROWS = 800


def _realised(y: np.ndarray, s: np.ndarray, d: np.ndarray) -> dict[str, float | None]:
    tp, fp, fn, _ = cls.binary_counts(y, d)
    return {"accuracy": cls.accuracy(y, d), "precision": cls.precision(tp, fp),
            "recall": cls.recall(tp, fn), "f1": cls.f1(tp, fp, fn),
            "roc_auc": cls.roc_auc(y, s)}


@pytest.mark.parametrize("method", ["isotonic", "histogram"])
def test_binary_bands_cover_under_covariate_shift_and_flag_concept_drift(method: str) -> None:
    inside: dict[str, list[bool]] = {}
    flagged: dict[str, list[bool]] = {}
    any_flag = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        s, y = sim.binary(rng, 10_000)
        cbpe = CBPE(Calibrator.fit(s, y, method=method, bins=20), draws=200, seed=seed)
        for _ in range(WINDOWS):
            s, y = sim.binary(rng, ROWS, rng.uniform(-1, 1, 2))
            real = _realised(y, s, s >= 0.5)
            for name, band in cbpe.estimate(s).measures.items():
                value = real[name]
                if value is not None:
                    inside.setdefault(name, []).append(band.contains(value))
            s, y = sim.binary(rng, ROWS, rng.uniform(-1, 1, 2), concept=True)
            real = _realised(y, s, s >= 0.5)
            outside = [not band.contains(real[name])
                       for name, band in cbpe.estimate(s).measures.items()
                       if real[name] is not None]
            any_flag.append(any(outside))
            for name, band in cbpe.estimate(s).measures.items():
                value = real[name]
                if value is not None:
                    flagged.setdefault(name, []).append(not band.contains(value))
    coverage = {k: float(np.mean(v)) for k, v in inside.items()}
    detection = {k: float(np.mean(v)) for k, v in flagged.items()}
    print(f"\n{method}: coverage under covariate shift {coverage}")
    print(f"{method}: concept drift flagged {detection}, any measure {np.mean(any_flag):.3f}")
    assert set(coverage) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    for name, share in coverage.items():
        assert share >= 0.90, (name, share)
    for name in ("accuracy", "f1", "roc_auc"):
        assert detection[name] >= 0.8, (name, detection[name])
    assert np.mean(any_flag) >= 0.9


def test_multiclass_accuracy_band_covers_and_flags() -> None:
    inside, flagged = [], []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        conf, pred, label = sim.multiclass(rng, 10_000)
        cbpe = CBPE(Calibrator.fit(conf, pred == label, target="top_label"), draws=200)
        for _ in range(WINDOWS):
            conf, pred, label = sim.multiclass(rng, ROWS, rng.uniform(-1, 1, 2))
            inside.append(cbpe.estimate(conf)["accuracy"].contains(float(np.mean(pred == label))))
            conf, pred, label = sim.multiclass(rng, ROWS, rng.uniform(-1, 1, 2), concept=True)
            flagged.append(not cbpe.estimate(conf)["accuracy"].contains(
                float(np.mean(pred == label))))
    print(f"\nmulticlass accuracy: coverage {np.mean(inside):.3f}, "
          f"concept drift flagged {np.mean(flagged):.3f}")
    assert np.mean(inside) >= 0.90
    assert np.mean(flagged) >= 0.8


@pytest.mark.parametrize("with_features", [False, True])
def test_regression_dle_covers_under_covariate_shift_and_flags(with_features: bool) -> None:
    inside: dict[str, list[bool]] = {"mae": [], "rmse": []}
    flagged = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        x, pred, truth = sim.regression(rng, 10_000)
        model = LossModel.fit(pred, truth, x[:, :1] if with_features else None)
        dle = DLE(model, draws=200)
        for _ in range(WINDOWS):
            x, pred, truth = sim.regression(rng, ROWS // 2, rng.uniform(-1, 1))
            est = dle.estimate(pred, x[:, :1] if with_features else None)
            err = truth - pred
            inside["mae"].append(est["mae"].contains(float(np.mean(np.abs(err)))))
            inside["rmse"].append(est["rmse"].contains(float(np.sqrt(np.mean(err ** 2)))))
            x, pred, truth = sim.regression(rng, ROWS // 2, rng.uniform(-1, 1), concept=True)
            est = dle.estimate(pred, x[:, :1] if with_features else None)
            flagged.append(not est["mae"].contains(float(np.mean(np.abs(truth - pred)))))
    coverage = {k: float(np.mean(v)) for k, v in inside.items()}
    print(f"\nregression (features={with_features}): coverage {coverage}, "
          f"concept drift flagged {np.mean(flagged):.3f}")
    assert min(coverage.values()) >= 0.90
    assert np.mean(flagged) >= 0.8


def test_without_shift_the_band_is_not_too_wide() -> None:
    # An honest band is not a wide one: on unshifted windows the realised accuracy
    # falls outside a band one third as wide in a good share of windows.
    rng = np.random.default_rng(9)
    s, y = sim.binary(rng, 10_000)
    cbpe = CBPE(Calibrator.fit(s, y), draws=200)
    outside_narrow = []
    for _ in range(60):
        s, y = sim.binary(rng, ROWS)
        band = cbpe.estimate(s)["accuracy"]
        half = (band.upper - band.lower) / 6
        real = float(np.mean(y == (s >= 0.5)))
        outside_narrow.append(abs(real - band.value) > half)
    assert np.mean(outside_narrow) >= 0.4
