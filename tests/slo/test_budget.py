"""In-process budgets: SLI, budget left (as a share and in minutes) and burn rates,
driven by a clock the test moves (no sleeping)."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest
from calltools import Clock, calls, value

import inferwatch
from inferwatch.slo import SLO, SLOTracker, track
from inferwatch.slo._ring import SnapshotRing

AVAIL = SLO("churn-availability", "availability", 0.999, model="churn")


def test_budget_of_an_availability_slo_in_share_and_minutes(
    make_monitor: Any, clock: Clock
) -> None:
    mon = make_monitor()
    tracker = track([AVAIL], monitor=mon, clock=clock)
    calls(mon, 9_997)
    calls(mon, 3, outcome="error")
    calls(mon, 50, model="other", outcome="error")  # another model: not this SLO's
    budget = tracker.budget("churn-availability")
    assert (budget.good, budget.total) == (9_997, 10_000)
    assert budget.sli == pytest.approx(0.9997)
    assert budget.budget_total == pytest.approx(0.001)
    assert budget.budget_consumed == pytest.approx(0.3)
    assert budget.budget_remaining == pytest.approx(0.7)
    assert budget.minutes_total == pytest.approx(43.2)  # 0.1 % of 30 days
    assert budget.minutes_remaining == pytest.approx(30.24)
    assert budget.state == "ok"
    assert budget.text().startswith(
        "churn-availability: 30.2 of 43.2 minutes left in this 30-day window (70.0% of the budget"
    )


def test_an_overspent_budget_is_exhausted_and_says_by_how_much(
    make_monitor: Any, clock: Clock
) -> None:
    mon = make_monitor()
    tracker = track([AVAIL], monitor=mon, clock=clock)
    calls(mon, 990)
    calls(mon, 10, outcome="error")
    budget = tracker.budget("churn-availability")
    assert budget.state == "exhausted"
    assert budget.budget_remaining == pytest.approx(1 - 10)  # 10x the budget spent
    assert "0.0 of 43.2 minutes left" in budget.text() and "EXHAUSTED" in budget.text()


def test_no_traffic_is_no_data_never_a_perfect_score(make_monitor: Any, clock: Clock) -> None:
    tracker = track([AVAIL], monitor=make_monitor(), clock=clock)
    budget = tracker.budget("churn-availability")
    assert budget.state == "no_data"
    assert budget.sli is None and budget.budget_remaining is None
    assert all(rate is None for rate in budget.burn_rates.values())
    assert "no data" in budget.text()


def test_calls_before_tracking_are_not_in_the_window(make_monitor: Any, clock: Clock) -> None:
    mon = make_monitor()
    calls(mon, 100, outcome="error")
    mon.flush(logs=False)
    tracker = track([AVAIL], monitor=mon, clock=clock)
    calls(mon, 10)
    assert tracker.budget("churn-availability").total == 10


def test_burn_rates_over_each_window_from_minute_snapshots(
    make_monitor: Any, clock: Clock
) -> None:
    # 1 % errors for two hours, then 10 % errors for the last 5 minutes:
    # with a 99.9 % target that burns 10x, then 100x.
    mon = make_monitor()
    tracker = track([AVAIL], monitor=mon, clock=clock)
    for _minute in range(120):
        calls(mon, 99)
        calls(mon, 1, outcome="error")
        clock.advance(60)
        mon.flush(logs=False)  # the ticker takes the minute's snapshot
    for _minute in range(5):
        calls(mon, 90)
        calls(mon, 10, outcome="error")
        clock.advance(60)
        mon.flush(logs=False)
    rates = tracker.budget("churn-availability").burn_rates
    assert rates["5m"] == pytest.approx(100.0)
    assert rates["30m"] == pytest.approx((25 * 1 + 5 * 10) / 3000 / 0.001)
    assert rates["1h"] == pytest.approx((55 * 1 + 5 * 10) / 6000 / 0.001)
    assert rates["2h"] == pytest.approx((115 * 1 + 5 * 10) / 12000 / 0.001)
    # Younger than 6 hours: the longer windows cover everything since start.
    everything = (120 * 1 + 5 * 10) / 12500 / 0.001
    for window in ("6h", "1d", "3d"):
        assert rates[window] == pytest.approx(everything)


def test_old_events_leave_the_window(make_monitor: Any, clock: Clock) -> None:
    slo = SLO("short", "availability", 0.99, window="1h", model="churn")
    mon = make_monitor()
    tracker = track([slo], monitor=mon, clock=clock)
    calls(mon, 50, outcome="error")  # a bad start
    for _minute in range(90):
        clock.advance(60)
        calls(mon, 10)
        mon.flush(logs=False)
    budget = tracker.budget("short")
    assert budget.total == 600  # the last hour's calls only
    assert budget.state == "ok" and budget.budget_remaining == pytest.approx(1.0)
    assert budget.covered_seconds == pytest.approx(3600)


def test_long_windows_use_hourly_snapshots(make_monitor: Any, clock: Clock) -> None:
    slo = SLO("week", "availability", 0.99, window="7d", model="churn")
    mon = make_monitor()
    tracker = track([slo], monitor=mon, clock=clock)
    for hour in range(10 * 24):  # ten days, one error in each of the first three days' hours
        calls(mon, 99)
        calls(mon, 1, outcome="error" if hour < 72 else "ok")
        clock.advance(3600)
        mon.flush(logs=False)
    budget = tracker.budget("week")
    assert budget.total == 7 * 24 * 100
    assert budget.good == budget.total  # the bad days are older than 7 days
    assert budget.burn_rates["3d"] == pytest.approx(0.0)
    # Fixed memory: a 7-day window keeps 6 h of minutes and 7 days of hours.
    assert tracker.nbytes == 24 * (362 + 7 * 24 + 2)


def test_memory_is_independent_of_traffic(make_monitor: Any, clock: Clock) -> None:
    mon = make_monitor()
    tracker = track([AVAIL], monitor=mon, clock=clock)
    before = tracker.nbytes
    for _ in range(30):
        calls(mon, 1000)
        clock.advance(3600)
        mon.flush(logs=False)
    assert tracker.nbytes == before == 24 * (362 + 30 * 24 + 2)


def test_ring_keeps_the_last_snapshots() -> None:
    ring = SnapshotRing(3)
    assert ring.at_or_before(10) is None
    for t in range(5):
        ring.append(float(t), t, 2 * t)
    assert len(ring) == 3 and ring.oldest() == 2.0
    assert ring.at_or_before(3.5) == (3.0, 3.0, 6.0)
    assert ring.at_or_before(1.0) is None  # older than anything kept


@pytest.mark.parametrize("capacity", [1, 2, 3, 7])
def test_ring_lookup_matches_a_plain_list(capacity: int) -> None:
    ring = SnapshotRing(capacity)
    kept: list[float] = []
    for step in range(25):
        ring.append(2.0 * step, step, step)
        kept = [*kept, 2.0 * step][-capacity:]
        for q in (x / 2 for x in range(-2, 60)):
            earlier = [k for k in kept if k <= q]
            found = ring.at_or_before(q)
            assert (found[0] if found else None) == (earlier[-1] if earlier else None)


def test_latency_slo_counts_calls_at_or_under_the_threshold(
    make_monitor: Any, clock: Clock
) -> None:
    slo = SLO("churn-latency", "latency", 0.9, threshold_ms=250, model="churn")
    mon = make_monitor()
    tracker = track([slo], monitor=mon, clock=clock)
    calls(mon, 70, ms=100)
    calls(mon, 10, ms=250)  # exactly at the threshold: good
    calls(mon, 15, ms=251)
    calls(mon, 5, ms=10, outcome="error")  # fast but failed: never good
    budget = tracker.budget("churn-latency")
    assert (budget.good, budget.total) == (80, 100)
    assert budget.budget_remaining == pytest.approx(1 - 0.2 / 0.1)


def test_latency_threshold_is_an_exported_bucket_boundary(make_monitor: Any, clock: Clock) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from inferwatch.otel import instrument_reader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    mon = make_monitor(meter_provider=provider, metrics_exporter="auto")
    instrument_reader(reader, mon)
    track([SLO("odd-latency", "latency", 0.99, threshold_ms=137, model="churn")], monitor=mon,
          clock=clock)
    calls(mon, 3, ms=130)
    calls(mon, 2, ms=140)
    mon.flush(logs=False)
    data = reader.get_metrics_data()
    provider.shutdown()
    points = [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
              if m.name == "inferwatch.predict.duration" for p in m.data.data_points]
    assert points
    for point in points:
        bounds = list(point.explicit_bounds)
        assert 0.137 in bounds
        at = bounds.index(0.137)
        assert sum(point.bucket_counts[: at + 1]) == 3  # exact at the threshold


def test_a_histogram_made_before_the_slo_gets_the_boundary(make_monitor: Any, clock: Clock) -> None:
    mon = make_monitor()
    calls(mon, 4, ms=100)
    mon.flush(logs=False)
    slo = SLO("late-latency", "latency", 0.99, threshold_ms=173, model="churn")
    tracker = track([slo], monitor=mon, clock=clock)
    calls(mon, 6, ms=172)
    calls(mon, 2, ms=174)
    assert tracker.budget("late-latency").total == 8
    assert tracker.budget("late-latency").good == 6


def test_slos_are_exported_over_the_metric_pipeline(make_monitor: Any, clock: Clock) -> None:
    slo = SLO("churn-latency", "latency", 0.9, threshold_ms=250, model="churn", version="3")
    mon = make_monitor()
    track([AVAIL, slo], monitor=mon, clock=clock)
    calls(mon, 95)
    calls(mon, 5, outcome="error")
    points = mon.collect()
    keys = {"inferwatch.slo.name": "churn-availability", "inferwatch.slo.kind": "availability",
            "model.name": "churn"}
    assert value(points, "inferwatch.slo.sli", **keys) == pytest.approx(0.95)
    assert value(points, "inferwatch.slo.objective", **keys) == 0.999
    assert value(points, "inferwatch.slo.budget.remaining", **keys) == pytest.approx(1 - 50)
    assert value(points, "inferwatch.slo.burn_rate", **keys,
                 **{"inferwatch.slo.burn_window": "5m"}) == pytest.approx(50.0)
    assert value(points, "inferwatch.slo.events", **keys, **{"inferwatch.slo.event": "bad"}) == 5
    assert value(points, "inferwatch.slo.events", **keys,
                 **{"inferwatch.slo.event": "good"}) == 95
    latency = {"inferwatch.slo.name": "churn-latency", "model.version": "3"}
    assert value(points, "inferwatch.slo.sli", **latency) == pytest.approx(0.95)


def test_summary_lists_the_slos(make_monitor: Any, clock: Clock) -> None:
    import json

    mon = make_monitor()
    track([AVAIL], monitor=mon, clock=clock)
    assert "slos" in mon.summary()
    calls(mon, 10)
    (entry,) = mon.summary()["slos"]
    assert entry["name"] == "churn-availability" and entry["state"] == "ok"
    assert entry["budget_remaining"] == 1.0 and entry["minutes_total"] == pytest.approx(43.2)
    json.dumps(entry, allow_nan=False)  # the status route's JSON: no NaN, no infinity


def test_a_failing_summary_section_is_counted_not_raised(make_monitor: Any) -> None:
    mon = make_monitor()

    def broken() -> Any:
        raise RuntimeError("bug")

    mon.add_summary("broken", broken)
    summary = mon.summary()
    assert "broken" not in summary and summary["errors"]["summary"] == 1


def test_track_follows_the_default_monitor(clock: Clock) -> None:
    first = inferwatch.configure(metrics_exporter="none", log_sink="none")
    tracker = track([AVAIL], clock=clock)
    assert tracker.monitor is first
    calls(first, 5, outcome="error")
    second = inferwatch.configure(metrics_exporter="none", log_sink="none")
    try:
        assert tracker.monitor is second
        calls(second, 10)
        budget = tracker.budget("churn-availability")
        assert (budget.good, budget.total) == (10, 15)  # the budget carries over
        assert len(second.summary()["slos"]) == 1 and first.summary()["slos"] == []
    finally:
        tracker.close()
        second.shutdown()


def test_configure_takes_slos(clock: Clock) -> None:
    mon = inferwatch.configure(metrics_exporter="none", log_sink="none", slos=[AVAIL])
    try:
        calls(mon, 3)
        (entry,) = mon.summary()["slos"]
        assert entry["name"] == "churn-availability" and entry["total"] == 3
    finally:
        mon.shutdown()


def test_bad_slo_lists_are_configuration_errors() -> None:
    with pytest.raises(inferwatch.ConfigurationError, match=r"not an inferwatch\.slo\.SLO"):
        SLOTracker([{"name": "x"}])  # type: ignore[list-item]
    with pytest.raises(inferwatch.ConfigurationError, match="declared twice"):
        SLOTracker([AVAIL, AVAIL])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_worker_starts_with_an_empty_budget(make_monitor: Any, clock: Clock) -> None:
    mon = make_monitor()
    tracker = track([AVAIL], monitor=mon, clock=clock)
    calls(mon, 10, outcome="error")
    assert tracker.budget("churn-availability").total == 10
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it counts, then leave at once
        code = 1
        try:
            calls(mon, 4)
            budget = tracker.budget("churn-availability")
            os.write(write, json.dumps([budget.good, budget.total]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child hung")
        time.sleep(0.01)
    with os.fdopen(read) as pipe:
        child = json.loads(pipe.read() or "null")
    assert os.WEXITSTATUS(done[1]) == 0
    assert child == [4, 4]  # the parent's errors are not the worker's
    assert tracker.budget("churn-availability").total == 10  # the parent keeps its own


def test_configure_takes_an_openslo_file(tmp_path: Any) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "slos.yaml"
    path.write_text(
        "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: from-file\n"
        "  annotations: {inferwatch/kind: availability}\n"
        "spec:\n  indicator: {}\n  timeWindow: [{duration: 1d}]\n  objectives: [{target: 0.99}]\n",
        encoding="utf-8")
    with pytest.raises(inferwatch.ConfigurationError, match="cannot read the SLO file"):
        inferwatch.configure(metrics_exporter="none", log_sink="none",
                             slos=str(path).replace("slos", "nothing"))
    mon = inferwatch.configure(metrics_exporter="none", log_sink="none", slos=path)
    try:
        calls(mon, 2)
        (entry,) = mon.summary()["slos"]
        assert (entry["name"], entry["window"], entry["total"]) == ("from-file", "1d", 2)
    finally:
        mon.shutdown()


def test_the_ticker_reads_the_sources_once_a_minute(
    make_monitor: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    mon = make_monitor()
    tracker = track([AVAIL], monitor=mon, clock=clock)
    reads: list[float] = []
    real = tracker._read

    def counted(monitor: Any, now: float) -> Any:
        reads.append(now)
        return real(monitor, now)

    monkeypatch.setattr(tracker, "_read", counted)
    clock.advance(60)
    for _ in range(20):  # twenty drains within one minute
        calls(mon, 1)
        mon.flush(logs=False)
        clock.advance(1)
    assert len(reads) == 1
    clock.advance(60)
    mon.flush(logs=False)
    assert len(reads) == 2
