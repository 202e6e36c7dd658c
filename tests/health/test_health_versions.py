"""Model version events: one log record per version, the info gauge, the summary."""

from __future__ import annotations

from typing import Any

import pytest
from calltools import T0, Clock, calls, value

from inferwatch.health import VersionTracker
from inferwatch.testing import MemorySink


def _events(sink: MemorySink) -> list[dict[str, Any]]:
    return [e for e in sink.events if e.get("event") == "model_version_seen"]


def test_each_version_is_logged_once_with_its_times_and_calls(
    make_monitor: Any, sink: MemorySink, clock: Clock
) -> None:
    monitor = make_monitor(sample_rate=0.0, feature_sample_rate=0.0)
    versions = VersionTracker(clock=clock).attach(monitor)
    calls(monitor, 3, version="3")
    monitor.flush()
    clock.advance(60)
    calls(monitor, 2, version="3")
    calls(monitor, 5, version="4")
    monitor.flush()
    clock.advance(60)
    calls(monitor, 1, version="4")
    monitor.flush()
    monitor.flush()
    events = _events(sink)
    assert [(e["model.name"], e["model.version"]) for e in events] == [
        ("churn", "3"), ("churn", "4")]
    assert events[0]["calls"] == 3
    assert events[0]["first_seen"] == "2026-01-05T00:00:00.000000Z"
    assert events[1]["first_seen"] == "2026-01-05T00:01:00.000000Z"
    assert events[1]["service.name"] == monitor.config.service_name
    seen = {(v.model, v.version): v for v in versions.versions()}
    assert seen["churn", "3"].calls == 5
    assert seen["churn", "3"].first_seen == T0
    assert seen["churn", "3"].last_seen == T0 + 60
    assert seen["churn", "4"].calls == 6
    assert seen["churn", "4"].last_seen == T0 + 120


def test_info_gauge_carries_version_and_start_time(make_monitor: Any, clock: Clock) -> None:
    monitor = make_monitor()
    VersionTracker(clock=clock).attach(monitor)
    calls(monitor, 1, version="3")
    monitor.flush()
    clock.advance(3600)
    calls(monitor, 1, version="4")
    points = monitor.collect()
    assert value(points, "inferwatch.model.info", **{"model.version": "3"}) == T0
    assert value(points, "inferwatch.model.info", **{"model.version": "4"}) == T0 + 3600
    assert len([p for p in points if p.name == "inferwatch.model.info"]) == 2


def test_summary_lists_versions(make_monitor: Any, clock: Clock) -> None:
    monitor = make_monitor()
    VersionTracker(clock=clock).attach(monitor)
    calls(monitor, 4, model="fraud", version="2026-01")
    entry, = monitor.summary()["model_versions"]
    assert entry == {"model.name": "fraud", "model.version": "2026-01",
                     "first_seen": "2026-01-05T00:00:00.000000Z",
                     "last_seen": "2026-01-05T00:00:00.000000Z", "calls": 4}


def test_no_versions_before_traffic(make_monitor: Any, sink: MemorySink, clock: Clock) -> None:
    monitor = make_monitor()
    versions = VersionTracker(clock=clock).attach(monitor)
    monitor.flush()
    assert versions.versions() == []
    assert _events(sink) == []
    assert [p for p in monitor.collect() if p.name == "inferwatch.model.info"] == []


def test_versions_past_the_cap_are_counted_not_kept(make_monitor: Any, clock: Clock) -> None:
    monitor = make_monitor()
    versions = VersionTracker(clock=clock, max_versions=2).attach(monitor)
    for v in ("1", "2", "3"):
        calls(monitor, 1, version=v)
    monitor.flush()
    assert len(versions.versions()) == 2
    assert monitor.summary()["dropped"].get("model_versions_full", 0) >= 1


def test_a_failing_sink_loses_the_event_counted(make_monitor: Any, clock: Clock) -> None:
    class Broken(MemorySink):
        def emit(self, events: list[dict[str, Any]]) -> None:
            raise OSError("disk gone")

    monitor = make_monitor(log_sink=Broken())
    VersionTracker(clock=clock).attach(monitor)
    calls(monitor, 1)
    monitor.flush()
    summary = monitor.summary()
    assert summary["dropped"].get("sink_emit_failed", 0) >= 1
    assert summary["model_versions"][0]["calls"] == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_versions"):
        VersionTracker(max_versions=0)
