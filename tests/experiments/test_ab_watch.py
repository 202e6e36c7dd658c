"""An experiment watched from a monitor: per-call guardrails in, the stop signal out."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from inferwatch._record import InferenceRecord
from inferwatch.experiments import Experiment, Guardrail, Metric, watch
from inferwatch.status import build_status
from inferwatch.status._html import attention, render_html
from inferwatch.testing import MemorySink


def _experiment() -> Experiment:
    return Experiment("ranker-v7", ("control", "treatment"),
                      primary=Metric("conversion", kind="proportion"),
                      guardrails=[Guardrail("latency_ms", margin=2.0),
                                  Guardrail("error", margin=0.02, kind="proportion")],
                      mde=0.02)


def _calls(monitor: Any, n: int, variant: str, ms: float, rng: np.random.Generator,
           error_every: int = 0, model: str = "ranker") -> None:
    endpoint = monitor.endpoint(model, "7", {})
    for i in range(n):
        record = InferenceRecord(endpoint, 0, time.perf_counter_ns(), 0, None, 0, 0)
        record.attributes = {"variant": variant}
        failed = bool(error_every) and i % error_every == 0
        record.outcome = "error" if failed else "ok"
        if failed:
            record.error_type = "RuntimeError"
        record.duration_ns = int(max(0.1, rng.normal(ms, 1.0)) * 1e6)
        monitor.submit(record)


def _points(monitor: Any, name: str) -> dict[tuple[str, ...], float]:
    return {tuple(sorted(p.attributes.values())): p.value for p in monitor.collect()
            if p.name == name}


def test_a_slower_treatment_breaches_its_guardrail_and_stops(make_monitor: Any,
                                                             sink: MemorySink) -> None:
    mon = make_monitor()
    exp = _experiment()
    watched = watch(exp, mon, latency="latency_ms", errors="error", model="ranker")
    rng = np.random.default_rng(3)
    _calls(mon, 600, "control", 20.0, rng)
    _calls(mon, 600, "treatment", 30.0, rng)       # +10 ms against a 2 ms margin
    _calls(mon, 50, "_other", 20.0, rng)           # not a variant of this experiment
    _calls(mon, 50, "control", 20.0, rng, model="other-model")  # another model's calls
    for i in range(400):                           # the primary: one outcome per unit
        exp.observe("control" if i % 2 else "treatment", float(rng.random() < 0.1))
    mon.flush()
    readout = watched.readout()
    guard = {(g.name, g.variant): g.status for g in readout.guardrails}
    assert guard[("latency_ms", "treatment")] == "breach"
    assert readout.stop and readout.decision == "stop_guardrail" and "latency_ms" in (
        readout.reason)
    # Per-call observations add no units: the sample-ratio test counts the outcomes only.
    assert [v.units for v in readout.variants] == [200, 200]
    assert watched.unmatched == 50 and watched.observed == 1200
    # Exported...
    assert _points(mon, "inferwatch.experiment.stop") == {("ranker-v7",): 1}
    assert _points(mon, "inferwatch.experiment.guardrail")[
        ("latency_ms", "ranker-v7", "treatment")] == 2
    assert _points(mon, "inferwatch.experiment.units") == {
        ("control", "ranker-v7"): 200, ("ranker-v7", "treatment"): 200}
    # ... logged once, however often it is read ...
    watched.readout()
    mon.flush()
    stops = [e for e in sink.events if e.get("event") == "experiment_stop"]
    assert len(stops) == 1 and stops[0]["experiment"] == "ranker-v7"
    assert stops[0]["decision"] == "stop_guardrail"
    # ... and on the status page, first in what needs attention.
    doc = build_status(mon)
    (section,) = doc["experiments"]
    assert section["stop"] is True and section["unmatched_calls"] == 50
    items = attention(doc)
    assert items[0][0] == 2 and "experiment ranker-v7: stop" in items[0][1]
    page = render_html(doc)
    assert "Experiment ranker-v7" in page and "latency_ms (treatment): breach" in page


def test_an_equal_treatment_runs_on_quietly(make_monitor: Any, sink: MemorySink) -> None:
    mon = make_monitor()
    exp = _experiment()
    watched = watch(exp, mon, latency="latency_ms", errors="error")
    rng = np.random.default_rng(4)
    _calls(mon, 500, "control", 20.0, rng, error_every=50)
    _calls(mon, 500, "treatment", 20.0, rng, error_every=50)
    mon.flush()
    readout = watched.readout()
    assert not readout.stop
    assert {g.status for g in readout.guardrails} <= {"pass", "pending"}
    assert not [e for e in sink.events if e.get("event") == "experiment_stop"]
    assert _points(mon, "inferwatch.experiment.stop") == {("ranker-v7",): 0}


def test_the_metrics_it_feeds_must_be_the_experiments(make_monitor: Any) -> None:
    mon = make_monitor()
    with pytest.raises(ValueError, match="latency='p99' is not a metric"):
        watch(_experiment(), mon, latency="p99")
    with pytest.raises(ValueError, match="counts 0/1 per call"):
        watch(_experiment(), mon, errors="latency_ms")
    with pytest.raises(TypeError, match="takes an Experiment"):
        watch("ranker-v7", mon)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="readout_every"):
        watch(_experiment(), mon, readout_every=0)


def test_a_reported_outcome_is_read_as_the_share_of_predictions_reaching_it(
        make_monitor: Any) -> None:
    import inferwatch
    import inferwatch.labels

    mon = make_monitor()
    labels = inferwatch.labels.track(mon, task="classification", positive=1)
    exp = Experiment("offer", ("control", "treatment"),
                     primary=Metric("converted", kind="proportion"),
                     guardrails=[Guardrail("complained", margin=0.01, kind="proportion")],
                     mde=0.05)
    watched = watch(exp, mon, outcomes={"converted": "conversion",
                                        "complained": "complaint"}, labels=labels)

    @inferwatch.monitor(model="offer-model", monitor=mon, inference_id=lambda v, rid: rid)
    def predict(variant: str, rid: str) -> float:
        inferwatch.set_attribute("variant", variant)
        return 0.5

    rng = np.random.default_rng(6)
    for i in range(4000):
        variant = "treatment" if i % 2 else "control"
        predict(variant, f"o{i}")
        if rng.random() < (0.20 if variant == "treatment" else 0.10):
            inferwatch.record_outcome(f"o{i}", "conversion")
            inferwatch.record_outcome(f"o{i}", "conversion", 2.0)  # twice: one prediction
        if variant == "treatment" and rng.random() < 0.05:
            inferwatch.record_outcome(f"o{i}", "complaint")
    mon.flush()
    labels.flush()
    readout = watched.readout()
    means = {v.name: (v.n, v.mean) for v in readout.variants}
    reached = {r["variant"]: r["predictions_reached"] for r in labels.outcomes()
               if r["name"] == "conversion"}
    assert means["control"] == (2000, pytest.approx(reached["control"] / 2000))
    assert means["treatment"] == (2000, pytest.approx(reached["treatment"] / 2000))
    (effect,) = readout.effects  # 10 % -> 20 % on 2,000 each
    assert effect.significant and effect.delta == pytest.approx(
        means["treatment"][1] - means["control"][1])
    complaint = next(g for g in readout.guardrails if g.name == "complained")
    assert complaint.status == "breach"  # 0 % -> 5 % against a 1 % margin
    assert readout.stop and readout.decision == "stop_guardrail"
    assert [v.units for v in readout.variants] == [0, 0]  # no unit observed: SRM untouched


def test_outcomes_need_the_tracker_and_a_proportion(make_monitor: Any) -> None:
    mon = make_monitor()
    with pytest.raises(ValueError, match=r"labels=inferwatch\.labels\.track"):
        watch(_experiment(), mon, outcomes={"error": "complaint"})
    with pytest.raises(ValueError, match="must be a proportion metric"):
        watch(_experiment(), mon, outcomes={"latency_ms": "x"}, labels=object())
    with pytest.raises(ValueError, match="successes <= n"):
        _experiment().set_proportion("error", "control", 3, 4)
    with pytest.raises(ValueError, match="not a proportion metric"):
        _experiment().set_proportion("latency_ms", "control", 3, 1)
