"""Model versions apart, past windows kept and exported, the default monitor followed."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np
import pytest
from driftdata import make_rows

import inferwatch
import inferwatch.drift as drift
from inferwatch import Monitor, set_monitor
from inferwatch._capture import new_record
from inferwatch.testing import MemorySink, capture


def _records(rows: list[dict[str, Any]], model: str = "m", version: str = "1") -> list[Any]:
    mon = Monitor(metrics_exporter="none", enabled=False)
    endpoint = mon.endpoint(model, version, {})
    out = []
    for row in rows:
        r = new_record(endpoint)
        r.features = row
        r.prediction = 0.5
        out.append(r)
    mon.shutdown()
    return out


class _Transport:
    """A record that never reached a model (``inference`` False), as the transport makes."""

    inference = False

    def __init__(self, record: Any) -> None:
        for name in ("endpoint", "features", "batch_size", "prediction", "confidence",
                     "outcome"):
            setattr(self, name, getattr(record, name))


def _points(points: list[Any], name: str, **attrs: Any) -> list[Any]:
    return [p for p in points if p.name == name
            and all(p.attributes.get(k) == v for k, v in attrs.items())]


# -- model versions -------------------------------------------------------------------


def test_a_canary_gets_its_own_windows(profile: drift.ReferenceProfile) -> None:
    # v3 and v4 of one model in one process, interleaved in the same drained batches.
    dm = drift.DriftMonitor(profile, window="count:1000")
    v3 = _records(make_rows(1500, seed=50), version="3")
    v4 = _records(make_rows(1500, seed=51, shift={"x1": 1.0}), version="4")
    for i in range(0, 1500, 100):
        dm.ingest(v3[i : i + 100] + v4[i : i + 100])
    reports = dm.reports()
    assert set(reports) == {("m", "3"), ("m", "4")}
    old, new = reports[("m", "3")], reports[("m", "4")]
    assert old.window is not None and new.window is not None
    assert (old.window.rows, new.window.rows) == (1000, 1000)  # never 2000 rows in one window
    assert old.features["x1"].status == "ok" and new.features["x1"].status == "drift"
    assert (old.model_version, new.model_version) == ("3", "4")
    assert dm.report(version="4").features["x1"].drifted
    with pytest.raises(ValueError, match="version="):
        dm.report()
    points = dm.metric_points()
    status = {(p.attributes["model.version"], p.attributes["inferwatch.feature"]): p.value
              for p in _points(points, "inferwatch.drift.status")}
    assert status[("3", "x1")] == 0 and status[("4", "x1")] == 2
    assert all("model.version" in p.attributes for p in points)
    score = _points(points, "inferwatch.drift.score", **{"model.version": "4",
                                                         "inferwatch.feature": "x1",
                                                         "inferwatch.statistic": "ks"})
    assert len(score) == 1 and score[0].value > 0.2


def test_versions_past_max_models_are_dropped_and_counted(
        profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, max_models=1)
    dm.ingest(_records(make_rows(30, seed=1), version="1"))
    dm.ingest(_records(make_rows(20, seed=2), version="2"))
    assert set(dm.reports()) == {("m", "1")}
    dropped = _points(dm.metric_points(), "inferwatch.self.dropped",
                      **{"inferwatch.reason": "drift_models_full"})
    assert [p.value for p in dropped] == [20]


def test_transport_records_never_enter_drift(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile)
    records = _records(make_rows(40, seed=3))
    records[:30] = [_Transport(r) for r in records[:30]]  # 404s and 422s
    dm.ingest(records)
    window = dm.report(window="open").window
    assert window is not None and window.rows == 10


def test_transport_records_never_enter_the_warmup() -> None:
    dm = drift.DriftMonitor(warmup_rows=100)
    records = _records(make_rows(150, seed=4))
    records[:100] = [_Transport(r) for r in records[:100]]
    dm.ingest(records)
    report = dm.report()
    assert report.warming_up and report.warmup_rows == 50


# -- past windows ---------------------------------------------------------------------


def test_history_keeps_each_closed_window(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, window="count:500", history=3)
    dm.ingest(_records(make_rows(500, seed=5)))
    dm.ingest(_records(make_rows(500, seed=6, shift={"x0": 1.5})))
    dm.ingest(_records(make_rows(1600, seed=7)))  # closes three more in one batch
    history = dm.history()
    assert [r.window.index for r in history if r.window] == [2, 3, 4]
    assert all(r.window is not None and r.window.complete and r.window.rows == 500
               for r in history)
    assert dm.report().window == history[-1].window
    assert dm.report(window=3) is history[1]
    with pytest.raises(ValueError, match=r"not kept.*2, 3, 4"):
        dm.report(window=1)
    wide = drift.DriftMonitor(profile, window="count:500")
    wide.ingest(_records(make_rows(500, seed=5)))
    wide.ingest(_records(make_rows(500, seed=6, shift={"x0": 1.5})))
    wide.ingest(_records(make_rows(500, seed=7)))
    statuses = [r.features["x0"].status for r in wide.history()]
    assert statuses == ["ok", "drift", "ok"]


def test_a_window_that_closed_between_exports_is_counted(
        profile: drift.ReferenceProfile) -> None:
    # Three windows close before the exporter runs once: the drifted one in the middle
    # is no longer the current report, but its status is counted and its index skipped.
    with capture() as cap:
        dm = drift.DriftMonitor(profile, window="count:500").attach(cap.monitor)
        first = cap.metrics()
        assert _points(first, "inferwatch.drift.windows") == []
        dm.ingest(_records(make_rows(500, seed=8)))
        dm.ingest(_records(make_rows(500, seed=9, shift={"x2": 1.5})))
        dm.ingest(_records(make_rows(500, seed=10)))
        points = cap.metrics()
    windows = {p.attributes["inferwatch.drift.status"]: p.value
               for p in _points(points, "inferwatch.drift.windows", **{"model.name": "m"})}
    assert set(windows) == {"ok", "warning", "drift", "no_data"}
    report_statuses = [r.status for r in dm.history()]
    assert sum(windows.values()) == len(report_statuses) == 3
    assert all(windows[s] == report_statuses.count(s) for s in windows)
    x2 = _points(points, "inferwatch.drift.status", **{"inferwatch.feature": "x2"})
    assert [p.value for p in x2] == [0]  # the gauges show the last closed window
    index = _points(points, "inferwatch.drift.window.index")
    assert [p.value for p in index] == [2]
    assert [r.features["x2"].status for r in dm.history()] == ["ok", "drift", "ok"]


def test_multivariate_and_weighted_score_are_exported() -> None:
    rng = np.random.default_rng(3)
    prof = drift.build_profile(rng.normal(size=(5000, 3)), feature_names=["a", "b", "c"],
                               model_name="mv")
    dm = drift.DriftMonitor(prof, window="count:1000")
    x = rng.normal(size=(1000, 3))
    x[:, :2] += 1.0
    r = _records([{}], model="mv")[0]
    r.features = x
    r.batch_size = 1000
    dm.ingest([r])
    report = dm.report()
    assert report.multivariate is not None and report.multivariate.status == "drift"
    points = dm.metric_points()
    mmd = _points(points, "inferwatch.drift.multivariate.score",
                  **{"inferwatch.statistic": "mmd"})
    assert len(mmd) == 1 and mmd[0].value == report.multivariate.statistics["mmd"].value
    assert [p.value for p in _points(points, "inferwatch.drift.multivariate.status")] == [2]
    pvalue = _points(points, "inferwatch.drift.multivariate.pvalue")
    assert len(pvalue) == 1 and pvalue[0].value < 0.05
    weighted = _points(points, "inferwatch.drift.weighted_score")
    assert [p.value for p in weighted] == [pytest.approx(2 / 3)]


# -- the default monitor --------------------------------------------------------------


def test_watch_before_configure_follows_the_new_default(
        profile: drift.ReferenceProfile) -> None:
    saved = set_monitor(Monitor(metrics_exporter="none", log_sink=MemorySink()))
    configured = dm = None
    try:
        dm = drift.watch(profile, window="count:100000")  # attaches to today's default
        configured = inferwatch.configure(metrics_exporter="none", log_sink=MemorySink())

        @inferwatch.monitor(model="m", features="x")
        def predict(x: dict[str, Any]) -> float:
            return 0.5

        for row in make_rows(300, seed=11):
            predict(row)
        window = dm.report(window="open").window
        assert window is not None and window.rows == 300
        names = {p.name for p in configured.collect()}
        assert "inferwatch.drift.window.rows" in names
    finally:
        if dm is not None:
            dm.close()
        set_monitor(saved)
        if configured is not None:
            configured.shutdown()


def test_a_monitor_given_explicitly_is_kept(profile: drift.ReferenceProfile) -> None:
    with capture() as cap:
        dm = drift.watch(profile, cap.monitor)
        with capture() as other:  # a new default: the explicit monitor stays the source

            @inferwatch.monitor(model="m", features="x", monitor=cap.monitor)
            def predict(x: dict[str, Any]) -> float:
                return 0.5

            @inferwatch.monitor(model="m", features="x")
            def elsewhere(x: dict[str, Any]) -> float:
                return 0.5

            for row in make_rows(50, seed=12):
                predict(row)
                elsewhere(row)
            window = dm.report(window="open").window
            assert window is not None and window.rows == 50
            assert "inferwatch.drift.window.rows" not in {p.name for p in other.metrics()}
        dm.close()
        assert "inferwatch.drift.window.rows" not in {p.name for p in cap.metrics()}


def test_following_back_and_forth_never_counts_a_row_twice(
        profile: drift.ReferenceProfile) -> None:
    first = Monitor(metrics_exporter="none", log_sink=MemorySink())
    second = Monitor(metrics_exporter="none", log_sink=MemorySink())
    saved = set_monitor(first)
    dm = None
    try:
        dm = drift.watch(profile, window="count:100000")
        dm.attach()  # attaching twice changes nothing
        set_monitor(second)
        set_monitor(first)  # back: the first monitor is fed once, not twice

        @inferwatch.monitor(model="m", features="x")
        def predict(x: dict[str, Any]) -> float:
            return 0.5

        for row in make_rows(40, seed=13):
            predict(row)
        window = dm.report(window="open").window
        assert window is not None and window.rows == 40
        # Only the monitor followed now has drift's consumer (the others stop copying
        # features for it); after close(), none has.
        assert len(first._feature_consumers) == 1 and len(second._feature_consumers) == 0
        dm.close()
        assert len(first._feature_consumers) == 0
    finally:
        if dm is not None:
            dm.close()
        set_monitor(saved)
        first.shutdown()
        second.shutdown()


def test_bad_report_arguments_say_what_exists(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, window="count:100")
    dm.ingest(_records(make_rows(250, seed=14), version="7"))
    with pytest.raises(ValueError, match="'auto', 'closed', 'open' or a window index"):
        dm.report(window="latest")
    with pytest.raises(ValueError, match="not kept"):
        dm.report(window=99)
    with pytest.raises(ValueError, match=r"no model 'm' version '8'.*m '7'"):
        dm.report(model="m", version="8")
    assert dm.report(version="7").window is not None
    empty = drift.DriftMonitor(profile)  # nothing seen yet: an empty report, not an error
    report = empty.report(version="1")
    assert report.window is not None and report.window.rows == 0
    assert report.model_version == "1" and empty.reports() == {}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_during_ingestion_leaves_the_child_a_working_drift_monitor(
        profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile)
    records = _records(make_rows(10, seed=15))
    dm._lock.acquire()  # as if the parent's aggregator were inside ingest() at the fork
    pid = os.fork()
    if pid == 0:  # the child: must neither hang nor lose the monitor
        code = 3
        try:
            dm.ingest(records)
            window = dm.report(window="open").window
            code = 0 if window is not None and window.rows == 10 else 1
        finally:
            os._exit(code)
    dm._lock.release()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the child hung on the drift monitor's lock")


def test_a_record_that_breaks_conversion_costs_only_itself(
        profile: drift.ReferenceProfile) -> None:
    class Hostile(dict):  # type: ignore[type-arg]
        def keys(self) -> Any:
            raise RuntimeError("boom")

        def __iter__(self) -> Any:
            raise RuntimeError("boom")

    dm = drift.DriftMonitor(profile)
    records = _records(make_rows(20, seed=16))
    records[5].features = Hostile(x0=1.0)
    dm.ingest(records)
    window = dm.report(window="open").window
    assert window is not None and window.rows == 19
    dropped = _points(dm.metric_points(), "inferwatch.self.dropped",
                      **{"inferwatch.reason": "drift_unreadable_record"})
    assert [p.value for p in dropped] == [1]


def test_an_unreadable_warmup_row_restarts_the_warmup_counted() -> None:
    class Hostile(dict):  # type: ignore[type-arg]
        def keys(self) -> Any:
            raise RuntimeError("boom")

    dm = drift.DriftMonitor(warmup_rows=50)
    records = _records(make_rows(60, seed=17))
    records[3].features = Hostile(x0=1.0)
    dm.ingest(records)
    assert dm.warming_up
    dm.ingest(_records(make_rows(60, seed=18)))
    assert not dm.warming_up  # the next clean rows froze a reference
    dropped = _points(dm.metric_points(), "inferwatch.self.dropped",
                      **{"inferwatch.reason": "drift_unreadable_record"})
    assert [p.value for p in dropped] == [60]
