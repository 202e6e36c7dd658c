"""Guardrails: a breach stops the experiment, with its reason; pass and pending."""

from __future__ import annotations

import numpy as np
import pytest
from abtools import DAY, NOW

from inferwatch import ConfigurationError
from inferwatch.experiments import Experiment, Guardrail, Metric


def _run(latency_shift: float, revenue_factor: float = 1.0, n: int = 3000,
         guardrails: tuple[Guardrail, ...] | None = None) -> Experiment:
    rng = np.random.default_rng(17)
    if guardrails is None:
        guardrails = (Guardrail("latency_ms", margin=5.0),
                      Guardrail("revenue", margin=0.05, relative=True, higher_is_better=True))
    exp = Experiment("guarded", primary=Metric("conversion", kind="proportion"),
                     guardrails=guardrails, mde=0.02, started_at=NOW - 20 * DAY,
                     clock=lambda: NOW)
    for variant, shift, factor in (("control", 0.0, 1.0), ("treatment", latency_shift,
                                                           revenue_factor)):
        for _ in range(n):
            exp.observe(variant, {"conversion": int(rng.random() < 0.1),
                                  "latency_ms": rng.normal(50 + shift, 8),
                                  "revenue": rng.normal(20 * factor, 4)})
    return exp


def test_latency_breach_stops_with_the_reason() -> None:
    r = _run(latency_shift=12.0).readout()
    latency = next(g for g in r.guardrails if g.name == "latency_ms")
    assert latency.status == "breach" and latency.breached
    assert latency.ci[0] > latency.margin == 5.0
    assert latency.degradation == pytest.approx(12.0, abs=1.0)
    assert latency.pvalue < 0.05
    assert r.stop and r.decision == "stop_guardrail"
    assert "latency_ms" in r.reason and "breach" in r.reason
    assert "STOP" in r.text()


def test_no_degradation_passes() -> None:
    r = _run(latency_shift=0.0).readout()
    assert {g.name: g.status for g in r.guardrails} == {"latency_ms": "pass", "revenue": "pass"}
    assert not r.stop
    assert all(g.pvalue == 1.0 or g.degradation > g.margin for g in r.guardrails)


def test_a_small_degradation_within_the_margin_is_not_a_breach() -> None:
    r = _run(latency_shift=2.0).readout()
    latency = next(g for g in r.guardrails if g.name == "latency_ms")
    assert latency.status in ("pass", "pending") and not r.stop


def test_relative_margin_on_a_higher_is_better_metric() -> None:
    r = _run(latency_shift=0.0, revenue_factor=0.8).readout()
    revenue = next(g for g in r.guardrails if g.name == "revenue")
    assert revenue.margin == pytest.approx(0.05 * 20, rel=0.05)
    assert revenue.degradation == pytest.approx(4.0, abs=0.5)  # control - treatment
    assert revenue.status == "breach" and r.stop


def test_pending_before_enough_data() -> None:
    r = _run(latency_shift=12.0, n=40).readout()
    assert {g.status for g in r.guardrails} == {"pending"}
    assert not r.stop


def test_bad_guardrails() -> None:
    with pytest.raises(ConfigurationError, match="margin must be a finite number >= 0"):
        Guardrail("latency_ms", margin=-1.0)
    with pytest.raises(ConfigurationError, match="margin"):
        Guardrail("latency_ms", margin=float("nan"))
    with pytest.raises(ConfigurationError, match="kind must be one of"):
        Guardrail("latency_ms", margin=1.0, kind="median")
    with pytest.raises(ConfigurationError, match="Guardrail"):
        Experiment("x", primary="y", guardrails=["latency_ms"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="distinct"):
        Experiment("x", primary="y", guardrails=[Guardrail("y", margin=1.0)])
