"""The core's promises, each checked by breaking the thing it is about.

Counted (a full buffer, a bad value), bounded (bytes, series), never joined (a
closed record), never an inference (a request that did not reach a model),
flushed (SIGTERM), and the wrapped call never broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import inferwatch
from inferwatch import transport
from inferwatch.testing import capture


def _calls(mon: inferwatch.Monitor, **attrs: Any) -> int:
    return sum(
        p.value for p in mon.collect()
        if p.name == "inferwatch.predict.calls"
        and all(p.attributes.get(k) == v for k, v in attrs.items())
    )


# -- transport records ---------------------------------------------------------------


def test_a_request_that_never_reached_a_model_is_not_a_prediction(make_monitor: Any) -> None:
    mon = make_monitor()
    seen: list[Any] = []
    mon.add_feature_consumer(seen.extend)
    endpoint = mon.endpoint("gateway", "1", {})
    http = transport.HttpInfo("http", "POST", "/predict", "http", "1.1")
    http.status_code, http.duration_ns = 422, 1_000_000
    record, token = transport.begin_transport(endpoint, http)
    transport.end_transport(mon, endpoint, record, token)
    mon.flush()
    points = mon.collect()
    assert not [p for p in points if p.name.startswith("inferwatch.predict.")
                and p.name != "inferwatch.predict.in_flight"]
    (duration,) = [p for p in points if p.name == "inferwatch.http.server.request.duration"]
    assert duration.attributes["http.response.status_code"] == 422
    assert duration.attributes["url.scheme"] == "http"
    assert duration.attributes["network.protocol.version"] == "1.1"
    assert seen == []  # kept out of drift


def test_a_declared_model_route_counts_without_a_decorated_predict(make_monitor: Any) -> None:
    mon = make_monitor()
    endpoint = mon.endpoint("churn", "3", {})
    http = transport.HttpInfo("http", "POST", "/predict")
    http.status_code, http.duration_ns = 200, 2_000_000
    record, token = transport.begin_transport(endpoint, http)
    record.inference = True  # what a Capture(...) or model_routes= route does
    transport.end_transport(mon, endpoint, record, token)
    assert _calls(mon, **{"model.name": "churn"}) == 1


def test_a_closed_record_is_never_joined(make_monitor: Any) -> None:
    mon = make_monitor()

    @inferwatch.monitor(model="background", monitor=mon)
    def background_predict() -> int:
        return 1

    endpoint = mon.endpoint("gateway", "1", {})
    http = transport.HttpInfo("http", "GET", "/")
    http.status_code = 200
    record, token = transport.begin_transport(endpoint, http, "req-1")
    record.closed = True  # the response is complete; a background task runs now
    assert background_predict() == 1
    transport.end_transport(mon, endpoint, record, token)
    mon.flush()
    assert record.endpoint.model_name == "gateway"
    assert record.outcome == "ok" and record.error_type is None
    assert _calls(mon, **{"model.name": "background"}) == 1
    assert _calls(mon, **{"model.name": "gateway"}) == 0


# -- exact counts, bounded detail ------------------------------------------------------


def test_sixteen_threads_with_a_tiny_buffer_count_exactly(make_monitor: Any) -> None:
    mon = make_monitor(buffer_size=16, flush_interval_ms=5)

    @inferwatch.monitor(model="m", monitor=mon, batch_size=lambda x: 2)
    def predict(x: int) -> float:
        if x % 7 == 0:
            raise ValueError("seven")
        return 0.5

    per_thread = 1500
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        for i in range(per_thread):
            with contextlib.suppress(ValueError):
                predict(i)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = 16 * per_thread
    errors = 16 * len([i for i in range(per_thread) if i % 7 == 0])
    summary = mon.summary()
    entry = summary["models"]["m:unversioned"]
    assert entry["calls"] == total
    assert entry["errors"] == errors
    assert entry["predictions"] == 2 * total
    points = [p for p in mon.collect() if p.name == "inferwatch.predict.duration"]
    assert sum(p.value.count for p in points) == total
    assert summary["dropped"]["buffer_full"] > 0  # the detail did drop, and was counted


def test_one_bad_value_loses_that_records_detail_at_most(make_monitor: Any) -> None:
    mon = make_monitor(flush_interval_ms=60000)

    @inferwatch.monitor(model="bytes", monitor=mon)
    def bad() -> bytes:
        return b"\xff\xfe not ascii"

    @inferwatch.monitor(model="score", monitor=mon)
    def good(x: float) -> float:
        return x

    class Hostile:
        def __array__(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("no array for you")

        def __repr__(self) -> str:
            raise RuntimeError("no repr either")

    @inferwatch.monitor(model="hostile", monitor=mon)
    def hostile() -> Any:
        return Hostile()

    for i in range(50):
        good(float(i))
        bad()
        hostile()
    mon.flush(logs=False)
    summary = mon.summary()["models"]
    assert summary["score:unversioned"]["calls"] == 50
    assert summary["bytes:unversioned"]["calls"] == 50
    assert summary["hostile:unversioned"]["calls"] == 50
    values = [p for p in mon.collect() if p.name == "inferwatch.prediction.value"
              and p.attributes["model.name"] == "score"]
    assert values[0].value.count == 50
    classes = {p.attributes["inferwatch.prediction.class"]: p.value for p in mon.collect()
               if p.name == "inferwatch.prediction.classes"}
    assert sum(classes.values()) == 50


def test_large_outputs_are_binned_as_arrays_and_capped(make_monitor: Any) -> None:
    mon = make_monitor(max_record_bytes=1024 * 1024)

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(n: int) -> np.ndarray:
        return np.linspace(0.0, 1.0, n)

    predict(100_000)       # 800 KB: kept, binned in one numpy pass
    predict(1_000_000)     # 8 MB: past the cap, not copied
    mon.flush()
    (value,) = [p for p in mon.collect() if p.name == "inferwatch.prediction.value"]
    assert value.value.count == 100_000
    assert mon.summary()["dropped"]["prediction_too_large"] == 1
    assert mon.summary()["models"]["m:unversioned"]["calls"] == 2


def test_error_types_and_endpoints_made_up_at_run_time_are_capped(make_monitor: Any) -> None:
    mon = make_monitor(max_attribute_values=20, max_endpoints=30)
    for i in range(300):
        error = type(f"Dynamic{i}Error", (Exception,), {})

        def raising(error: type[Exception] = error) -> None:
            raise error("x")

        wrapped = inferwatch.monitor(raising, model=f"model-{i % 100}", monitor=mon)
        with pytest.raises(Exception, match="x"):
            wrapped()
    mon.flush()
    points = [p for p in mon.collect() if p.name == "inferwatch.predict.calls"]
    models = {p.attributes["model.name"] for p in points}
    assert len(models) <= 31 and "_other" in models
    assert sum(p.value for p in points) == 300
    for model in models:
        types = {p.attributes.get("error.type") for p in points
                 if p.attributes["model.name"] == model}
        assert len(types) <= 21
    assert mon.summary()["dropped"]["endpoints_overflow"] > 0


def test_features_from_a_hostile_object_never_break_the_call(make_monitor: Any) -> None:
    mon = make_monitor(feature_sample_rate=1.0)

    class Interrupt(BaseException):
        pass

    class Features:
        def __getattr__(self, name: str) -> Any:
            raise Interrupt(name)

    @inferwatch.monitor(model="m", monitor=mon, features="x")
    def predict(x: Any) -> int:
        return 7

    features = Features()
    assert predict(features) == 7
    assert mon.summary()["models"]["m:unversioned"]["calls"] == 1


def test_pydantic_features_are_kept_as_their_fields() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Body(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        age: int
        tags: list[str]

    with capture(feature_sample_rate=1.0) as cap:

        @inferwatch.monitor(model="m", features="body")
        def predict(body: Any) -> int:
            return 1

        body = Body(age=3, tags=["a"])
        predict(body)
        body.tags.append("later")
        (record,) = cap.records
        assert record.features == {"age": 3, "tags": ["a"]}
        assert cap.logs[0]["features"] == {"age": 3, "tags": ["a"]}


# -- per-call attributes ---------------------------------------------------------------


def test_set_attribute_inside_a_monitored_call() -> None:
    assert inferwatch.set_attribute("outside", 1) is False
    with capture(pii_fields=["email"], pii_key="k" * 32, feature_sample_rate=1.0) as cap:

        @inferwatch.monitor(model="m")
        def predict(email: str) -> float:
            inferwatch.set_attributes(segment="gold", email=email)
            return 0.5

        predict("someone@example.org")
        (log,) = cap.logs
        text = json.dumps(log)
        assert "someone@example.org" not in text
        assert "gold" in text
        calls = cap.metrics("inferwatch.predict.calls")
        assert calls[0].attributes["segment"] == "gold"
        assert "email" not in calls[0].attributes


# -- flush and shutdown within their timeouts ----------------------------------------------


class _BlockingSink:
    def __init__(self) -> None:
        self.release = threading.Event()

    def emit(self, events: list[dict[str, Any]]) -> None:
        self.release.wait(30)

    def flush(self, timeout: float | None = None) -> None:
        self.release.wait(30)

    def close(self, timeout: float | None = None) -> None:
        self.release.wait(30)

    def losses(self) -> dict[str, int]:
        return {"sink_write_error": 3}


def test_flush_returns_within_its_timeout_whatever_the_sink_does() -> None:
    sink = _BlockingSink()
    mon = inferwatch.Monitor(log_sink=sink, metrics_exporter="none", handle_sigterm=False)
    try:

        @inferwatch.monitor(model="m", monitor=mon)
        def predict() -> int:
            return 1

        predict()
        started = time.monotonic()
        assert mon.flush(0.5) is False
        assert time.monotonic() - started < 5.0  # bounded by the timeout, not by the sink
        assert mon.summary()["errors"]["flush_timeout"] == 1
        # The sink's own losses are exported with the monitor's.
        dropped = {p.attributes["inferwatch.reason"]: p.value for p in mon.collect()
                   if p.name == "inferwatch.self.dropped"}
        assert dropped["sink_write_error"] == 3
    finally:
        sink.release.set()
        mon.shutdown(timeout=2.0)


_SIGTERM_CHILD = textwrap.dedent("""
    import os, signal, sys, threading, time
    import inferwatch

    mode = sys.argv[2]
    if mode == "chained":
        def previous(signum, frame):
            print("previous handler ran", flush=True)
            sys.exit(3)
        signal.signal(signal.SIGTERM, previous)
    inferwatch.configure(log_sink="file", log_file=sys.argv[1], metrics_exporter="none",
                         flush_interval_ms=60000, max_records_per_second=1e9)

    @inferwatch.monitor(model="m")
    def predict(x):
        return x

    for i in range(500):
        predict(float(i))
    if mode == "mid-thread-start":
        # The signal lands while the main thread is starting a thread (it holds
        # threading's registry lock): a handler that started a thread itself
        # would wait for it for ever.
        with threading._active_limbo_lock:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
    else:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
    print("not reached", flush=True)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or sys.platform == "win32",
                    reason="needs POSIX signals")
@pytest.mark.parametrize("mode", ["default", "chained", "mid-thread-start"])
def test_sigterm_flushes_every_record_then_chains(tmp_path: Path, mode: str) -> None:
    log = tmp_path / "records.jsonl"
    script = tmp_path / "child.py"
    script.write_text(_SIGTERM_CHILD)
    try:
        proc = subprocess.run([sys.executable, str(script), str(log), mode],
                              capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise AssertionError("the process did not end within 30 s of SIGTERM") from None
    assert "not reached" not in proc.stdout
    if mode != "chained":
        assert proc.returncode == -signal.SIGTERM  # the default action, re-raised
    else:
        assert "previous handler ran" in proc.stdout
        assert proc.returncode == 3
    lines = log.read_text().splitlines()
    assert len(lines) == 500
    assert {json.loads(line)["model.name"] for line in lines} == {"m"}


def test_free_text_attributes_with_pii_never_become_metric_attributes(make_monitor: Any) -> None:
    mon = make_monitor(max_attribute_values=5)

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(note: str) -> float:
        inferwatch.set_attribute("note", note)
        return 0.5

    predict("call josé.garcía@bücher.de back")
    predict("or +44 20 7946 0958")
    for i in range(20):
        predict(f"tenant-{i}")
    mon.flush()
    notes = {p.attributes.get("note") for p in mon.collect()
             if p.name == "inferwatch.predict.calls"}
    assert "_redacted" in notes and "_other" in notes
    assert not any("@" in str(n) or "7946" in str(n) for n in notes)
    assert len(notes) <= 7
    dropped = mon.summary()["dropped"]
    assert dropped["attribute_redacted"] == 2
    assert dropped["attribute_overflow"] > 0


def test_trace_ids_fall_back_to_the_public_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import propagation

    from inferwatch import _spans

    tracer = TracerProvider().get_tracer("test")
    fast = _spans._span_reader()
    monkeypatch.delattr(propagation, "_SPAN_KEY")  # as if OTel moved its private key
    fallback = _spans._span_reader()
    monkeypatch.undo()  # OTel itself needs it back to start a span
    assert fallback.__name__ == "public" and fast.__name__ == "direct"
    with tracer.start_as_current_span("request") as span:
        context = span.get_span_context()
        assert fallback() == (context.trace_id, context.span_id)
        assert fast() == (context.trace_id, context.span_id)
    assert fallback() == (0, 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_from_a_busy_parent_never_deadlocks_the_child(tmp_path: Path) -> None:
    """Children forked while parent threads hold inferwatch's locks (aggregating,
    collecting, logging, replacing the default) all finish their own work."""
    import warnings

    mon = inferwatch.configure(log_sink="file", log_file=str(tmp_path / "parent.jsonl"),
                               metrics_exporter="none", flush_interval_ms=1,
                               handle_sigterm=False)

    @inferwatch.monitor(model="m", features="x")
    def predict(x: list[float]) -> float:
        return sum(x)

    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            predict([1.0, 2.0])
            mon.collect()
            mon.flush(1.0)

    workers = [threading.Thread(target=busy, daemon=True) for _ in range(3)]
    for w in workers:
        w.start()
    children = []
    try:
        with warnings.catch_warnings():
            # Forking a process with threads is what gunicorn's preload does.
            warnings.simplefilter("ignore", DeprecationWarning)
            for _ in range(12):
                time.sleep(0.01)
                pid = os.fork()
                if pid == 0:  # the child: its own work, then a hard exit
                    code = 1
                    try:
                        for _ in range(50):
                            predict([3.0])
                        child = inferwatch.get_monitor()
                        child.flush(5.0)
                        calls = child.summary()["models"]["m:unversioned"]["calls"]
                        code = 0 if calls == 50 else 2
                    finally:
                        os._exit(code)
                children.append(pid)
    finally:
        stop.set()
        for w in workers:
            w.join(10)
    deadline = time.monotonic() + 60
    codes = {}
    while children and time.monotonic() < deadline:
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes[pid] = os.waitstatus_to_exitcode(status)
                children.remove(pid)
        time.sleep(0.05)
    for pid in children:  # still running after a minute: deadlocked
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert not children, f"{len(children)} children deadlocked"
    assert set(codes.values()) == {0}, codes
    inferwatch.set_monitor(None)
    mon.shutdown()


def test_sampling_is_keyed_and_feature_copies_follow_the_logs_decision(sink: Any) -> None:
    """With a key, the ids a client sends do not decide what is logged, and the
    calls that copied their features are exactly the ones the log keeps."""
    ids = [f"req-{i}" for i in range(2000)]

    def kept_ids(key: str) -> set[str]:
        sink.events.clear()
        mon = inferwatch.Monitor(log_sink=sink, metrics_exporter="none", environ={},
                                 pii_key=key, feature_sample_rate=0.25,
                                 max_records_per_second=1e9, handle_sigterm=False)
        try:

            @inferwatch.monitor(model="m", monitor=mon, features="x",
                                inference_id=lambda x, rid: rid)
            def predict(x: list[float], rid: str) -> float:
                return 0.5

            for rid in ids:
                predict([1.0, 2.0], rid)
            mon.flush()
            logged = [e for e in sink.events if e.get("model.name") == "m"]
            assert all(e.get("features") is not None for e in logged)
            return {str(e["inference.id"]) for e in logged}
        finally:
            mon.shutdown()

    first = kept_ids("a" * 32)
    again = kept_ids("a" * 32)
    other = kept_ids("b" * 32)
    assert first == again  # deterministic: replicas sharing the key agree
    assert 0.2 * len(ids) < len(first) < 0.3 * len(ids)
    assert first != other  # the key, not the id a client picks, decides


def test_flush_reports_a_sink_that_gave_up() -> None:
    class GivingUp:
        def emit(self, events: list[dict[str, Any]]) -> None:
            pass

        def flush(self, timeout: float | None = None) -> bool:
            return False  # e.g. an OTLP sink whose export timed out cleanly

        def close(self, timeout: float | None = None) -> None:
            pass

    mon = inferwatch.Monitor(log_sink=GivingUp(), metrics_exporter="none",
                             handle_sigterm=False)
    try:
        assert mon.flush(2.0) is False
        assert mon.summary()["errors"]["flush_timeout"] == 1
    finally:
        mon.shutdown(1.0)


def test_summary_percentiles_come_from_the_duration_histograms() -> None:
    from inferwatch._aggregate import Aggregates
    from inferwatch._record import Endpoint, InferenceRecord

    agg = Aggregates(max_attribute_values=10, max_classes=10)
    endpoint = Endpoint("f", "m", "1")
    durations_ms = np.random.default_rng(3).lognormal(mean=1.0, sigma=0.8, size=20_000)
    records = []
    for i, ms in enumerate(durations_ms):
        record = InferenceRecord(endpoint, 0, 0, 0, None, 0, 0)
        record.duration_ns = int(ms * 1e6)
        if i % 2:  # two attribute series, merged for the summary
            record.attributes = {"variant": "B"}
        records.append(record)
    agg.ingest(records)
    entry = agg.summary()["m:1"]
    for label, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        exact = float(np.percentile(durations_ms, q))
        assert abs(entry[f"latency_{label}_ms"] - exact) / exact < 0.03, label


def test_tickers_run_after_each_drain_and_survive_failures(make_monitor: Any) -> None:
    mon = make_monitor(flush_interval_ms=5)
    seen: list[int] = []

    def ticker(now: float) -> None:
        with mon.aggregation_lock:
            seen.append(sum(mon.snapshot().calls.values()))

    def broken(now: float) -> None:
        raise RuntimeError("ticker bug")

    mon.add_ticker(broken)
    mon.add_ticker(ticker)

    @inferwatch.monitor(model="m", monitor=mon)
    def predict() -> int:
        return 1

    for _ in range(10):
        predict()
    mon.flush()
    assert seen and seen[-1] == 10
    assert mon.summary()["errors"]["ticker"] >= 1
