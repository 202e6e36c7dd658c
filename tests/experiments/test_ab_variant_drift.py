"""The readout shows each variant's drift, and each treatment's predictions against control's."""

from __future__ import annotations

from typing import Any

import numpy as np

import inferwatch
import inferwatch.drift as drift
from inferwatch.experiments import Experiment, Metric, watch

NAMES = ("x0", "x1", "x2")


def _rows(n: int, rng: np.random.Generator, shift: float = 0.0) -> np.ndarray[Any, Any]:
    x = rng.normal(size=(n, len(NAMES)))
    x[:, 1] += shift
    return x


def _profile() -> drift.ReferenceProfile:
    rng = np.random.default_rng(1)
    x = _rows(20_000, rng)
    rows = [dict(zip(NAMES, r, strict=True)) for r in x.tolist()]
    return drift.build_profile(rows, prediction=1 / (1 + np.exp(-x[:, 1])), model_name="ranker")


def _serve(mon: Any, n: int, variant: str, shift: float, seed: int) -> None:
    @inferwatch.monitor(model="ranker", version="7", monitor=mon, features="row")
    def predict(row: dict[str, float]) -> float:
        inferwatch.set_attribute("variant", variant)
        return float(1 / (1 + np.exp(-row["x1"])))  # the prediction follows x1

    for r in _rows(n, np.random.default_rng(seed), shift).tolist():
        predict(dict(zip(NAMES, r, strict=True)))


def _experiment() -> Experiment:
    return Experiment("ranker-v7", ("control", "treatment"),
                      primary=Metric("conversion", kind="proportion"))


def test_the_readout_shows_per_variant_drift(make_monitor: Any) -> None:
    mon = make_monitor()
    dm = drift.DriftMonitor(_profile(), window="count:1000").attach(mon)
    watched = watch(_experiment(), mon, model="ranker")
    _serve(mon, 1000, "control", 0.0, seed=2)
    _serve(mon, 1000, "treatment", 1.0, seed=3)  # the treatment's traffic shifted
    mon.flush()
    (section,) = mon.summary()["experiments"]
    by_name = {v["name"]: v["drift"] for v in section["variants"]}
    control, treatment = by_name["control"], by_name["treatment"]
    assert control["status"] == "ok" and control["n_drifted"] == 0
    assert treatment["n_drifted"] == 1 and treatment["psi_max"] > 0.2
    assert control["prediction_psi"] < 0.05 < 0.2 < treatment["prediction_psi"]
    assert (control["window"], control["rows"]) == (0, 1000)
    assert treatment["prediction"]["p50"] > control["prediction"]["p50"] + 0.1
    versus = treatment["vs_control"]
    assert versus["control"] == "control" and versus["psi"] > 0.2 and versus["pvalue"] < 1e-6
    assert "vs_control" not in control
    assert "drift by variant" in section["text"] and "treatment: " in section["text"]
    assert watched.drift() == {name: entry for name, entry in by_name.items()}
    dm.close()


def test_no_drift_monitor_no_drift_in_the_readout(make_monitor: Any) -> None:
    mon = make_monitor()
    # A drift monitor whose variants are named by another attribute is not this readout's.
    other = drift.DriftMonitor(_profile(), variant_key="arm").attach(mon)
    watch(_experiment(), mon)
    _serve(mon, 50, "control", 0.0, seed=4)
    mon.flush()
    (section,) = mon.summary()["experiments"]
    assert [v["drift"] for v in section["variants"]] == [None, None]
    assert "drift by variant" not in section["text"]
    other.close()
