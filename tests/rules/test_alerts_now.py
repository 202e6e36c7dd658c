"""alerts_now: the generated alerts whose conditions hold on one process's own numbers."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest

import inferwatch
import inferwatch.drift
import inferwatch.health
import inferwatch.slo
from inferwatch.rules import RuleOptions, alerts_now, prometheus_rules
from inferwatch.slo import SLO
from inferwatch.status import build_status


def _served(shifted: bool, error_every: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    train = {"a": rng.normal(size=4000).tolist(), "b": rng.normal(size=4000).tolist()}
    profile = inferwatch.drift.build_profile(train, prediction=rng.random(4000))
    monitor = inferwatch.Monitor(metrics_exporter="none", log_sink="none")
    inferwatch.drift.watch(profile, monitor=monitor, window="count:800", model="m")
    inferwatch.slo.track([SLO("m-availability", "availability", 0.99, model="m"),
                          SLO("m-latency", "latency", 0.95, threshold_ms=1000, model="m")],
                         monitor=monitor)
    inferwatch.health.track(monitor, latency_threshold_ms=1000)
    calls = {"n": 0}

    @inferwatch.monitor(model="m", version="3", features="x", monitor=monitor)
    def predict(x: dict[str, float]) -> float:
        calls["n"] += 1
        if error_every and calls["n"] % error_every == 0:
            raise ValueError("injected")
        return float(rng.random())

    for _ in range(1600):
        row = {"a": float(rng.normal() + (2.0 if shifted else 0.0)), "b": float(rng.normal())}
        with contextlib.suppress(ValueError):
            predict(row)
    monitor.flush()
    doc = build_status(monitor)
    monitor.shutdown()
    return doc


def test_a_healthy_process_sets_off_nothing_that_pages() -> None:
    found = alerts_now(_served(shifted=False, error_every=0, seed=1))
    assert not [c for c in found if c.severity in ("P0", "P1", "P2")], found


def test_errors_and_drift_set_off_the_alerts_the_rules_have() -> None:
    found = alerts_now(_served(shifted=True, error_every=4, seed=2))  # 25 % errors
    names = {c.alert for c in found}
    assert {"InferwatchHighErrorRate", "InferwatchBudgetBurnPage1h",
            "InferwatchBudgetBurnPage6h", "InferwatchFeatureDrift"} <= names, found
    high = next(c for c in found if c.alert == "InferwatchHighErrorRate")
    assert (high.model, high.version, high.severity) == ("m", "3", "P0")
    assert "25.0% of 1600 calls" in high.why
    drift = next(c for c in found if c.alert == "InferwatchFeatureDrift")
    assert drift.why.startswith("a (PSI ") and "b (PSI" not in drift.why
    # Worst first, and each one an alert the generated rules have.
    order = [c.severity for c in found]
    assert order == sorted(order)
    slos = [SLO("m-availability", "availability", 0.99, model="m"),
            SLO("m-latency", "latency", 0.95, threshold_ms=1000, model="m")]
    generated = {r["alert"] for g in prometheus_rules(slos)["groups"] for r in g["rules"]
                 if "alert" in r}
    assert names <= generated, names - generated
    assert str(high).startswith("P0  InferwatchHighErrorRate  m:3: error rate")


def _doc(**parts: Any) -> dict[str, Any]:
    return {"models": {}, "slos": [], "drift": [], "health": {}, **parts}


def test_each_condition_uses_the_rules_thresholds() -> None:
    models = {"m:1": {"calls": 100, "errors": 9, "in_flight": 70, "latency_p99_ms": 260.0}}
    slos = [{"name": "lat", "kind": "latency", "model": "m", "threshold_ms": 50,
             "burn_rates": {"1h": 15.0, "5m": 14.0, "6h": 7.0, "30m": 6.5}}]
    found = {c.alert: c for c in alerts_now(_doc(models=models, slos=slos))}
    # 9 % errors is under the 10 % P0; 70 in flight is over 64; p99 260 ms > 5 x 50 ms;
    # the 1h page needs both windows over 14.4 (5m is 14.0), the 6h page both over 6.
    assert set(found) == {"InferwatchInFlightSaturation", "InferwatchLatencyP99FarOverSLO",
                          "InferwatchBudgetBurnPage6h"}
    found = {c.alert for c in alerts_now(_doc(models=models, slos=slos), RuleOptions(
        error_rate=0.05, max_in_flight=80, burn_factors=(13.0, 6.0, 3.0, 1.0)))}
    assert found == {"InferwatchHighErrorRate", "InferwatchLatencyP99FarOverSLO",
                     "InferwatchBudgetBurnPage1h", "InferwatchBudgetBurnPage6h"}
    everything_failed = {"m:1": {"calls": 5, "errors": 5}}
    assert {c.alert for c in alerts_now(_doc(models=everything_failed))} == {
        "InferwatchNoSuccessfulPredictions", "InferwatchHighErrorRate"}
    health = {"m:1": {"model.name": "m", "model.version": "1", "score": 42.0, "status": "red"}}
    assert [c.alert for c in alerts_now(_doc(health=health))] == ["InferwatchHealthRed"]
    drift = [{"model": "m", "version": "1", "warming_up": False,
              "window": {"index": 4, "rows": 800},
              "features": [{"name": "a", "status": "warning", "psi": 0.15}],
              "outputs": {"prediction": {"name": "prediction", "status": "drift", "psi": 0.4}}}]
    found = {c.alert: c for c in alerts_now(_doc(drift=drift))}
    assert set(found) == {"InferwatchPredictionDrift", "InferwatchDriftWarning",
                          "InferwatchMinorDrift"}
    assert "window 4 (800 rows)" in found["InferwatchPredictionDrift"].why
    assert alerts_now(_doc(drift=[{**drift[0], "warming_up": True}])) == []


def test_a_document_that_is_not_one_is_refused_clearly() -> None:
    with pytest.raises(TypeError, match="build_status"):
        alerts_now(["not", "a", "document"])  # type: ignore[arg-type]
