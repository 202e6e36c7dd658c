"""Metrics handed to OpenTelemetry at collection time: observable counters, injected histograms,
and real OTLP over the wire to a receiver on loopback."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from otlptools import OtlpHttpReceiver

import inferwatch
from inferwatch.otel import wrap_exporter
from inferwatch.testing import MemorySink


class ListExporter(MetricExporter):
    def __init__(self, temporality: AggregationTemporality | None = None) -> None:
        preferred = {HistogramInstrument: temporality} if temporality is not None else None
        super().__init__(preferred_temporality=preferred)
        self.exports: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs: Any) -> MetricExportResult:
        self.exports.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


@pytest.fixture
def env_monitor() -> Iterator[Any]:
    """Build Monitors from an explicit environment (metrics exporter 'auto'), shut down after."""
    made: list[inferwatch.Monitor] = []

    def make(environ: dict[str, str], **options: Any) -> inferwatch.Monitor:
        options.setdefault("metrics_exporter", "auto")
        mon = inferwatch.Monitor(log_sink=MemorySink(), environ=environ, **options)
        made.append(mon)
        return mon

    yield make
    for mon in made:
        mon.shutdown(timeout=2.0)


def _metrics(data: MetricsData) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out[metric.name] = metric
    return out


def _predict_with(mon: inferwatch.Monitor, n_ok: int, n_err: int) -> None:
    @inferwatch.monitor(model="m", version="2", monitor=mon, confidence=lambda y: 0.9)
    def predict(fail: bool) -> float:
        if fail:
            raise ValueError("bad")
        return 0.5

    for _ in range(n_ok):
        predict(False)
    for _ in range(n_err):
        with pytest.raises(ValueError):
            predict(True)


def test_observable_counters_on_a_user_meter_provider(make_monitor: Any) -> None:
    reader = InMemoryMetricReader()
    mon = make_monitor(meter_provider=MeterProvider(metric_readers=[reader]),
                       metrics_exporter="auto")
    _predict_with(mon, 5, 2)
    metrics = _metrics(reader.get_metrics_data())
    calls = metrics["inferwatch.predict.calls"]
    assert calls.data.is_monotonic
    by_outcome = {dp.attributes["inferwatch.outcome"]: dp.value for dp in calls.data.data_points}
    assert by_outcome == {"ok": 5, "error": 2}
    errors = [dp for dp in calls.data.data_points if dp.attributes.get("error.type")]
    assert errors[0].attributes["error.type"] == "ValueError"
    assert errors[0].attributes["model.name"] == "m"
    assert metrics["inferwatch.predict.in_flight"].data.data_points[0].value == 0


@pytest.mark.parametrize("temporality", [None, AggregationTemporality.DELTA])
def test_wrapped_exporter_adds_histograms(make_monitor: Any,
                                          temporality: AggregationTemporality | None) -> None:
    exporter = ListExporter(temporality)
    reader = PeriodicExportingMetricReader(wrap_exporter(exporter), export_interval_millis=10**8)
    provider = MeterProvider(metric_readers=[reader])
    mon = make_monitor(meter_provider=provider, metrics_exporter="auto")
    inferwatch.set_monitor(mon)  # wrap_exporter() without a monitor reads the default
    _predict_with(mon, 4, 1)
    reader.collect()
    _predict_with(mon, 3, 0)
    reader.collect()
    first, second = (_metrics(d) for d in exporter.exports[-2:])
    for metrics in (first, second):
        assert "inferwatch.predict.calls" in metrics
    duration = second["inferwatch.predict.duration"]
    points = {dp.attributes["inferwatch.outcome"]: dp for dp in duration.data.data_points}
    confidence = second["inferwatch.prediction.confidence"].data.data_points[0]
    if temporality == AggregationTemporality.DELTA:
        assert duration.data.aggregation_temporality == AggregationTemporality.DELTA
        assert points["ok"].count == 3 and points["error"].count == 0
        assert confidence.count == 3
    else:
        assert duration.data.aggregation_temporality == AggregationTemporality.CUMULATIVE
        assert points["ok"].count == 7 and points["error"].count == 1
        assert confidence.count == 7
        assert sum(confidence.bucket_counts) == 7
        assert list(confidence.explicit_bounds)[-1] == 1.0
    assert duration.unit == "s"
    provider.shutdown()


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    receiver = OtlpHttpReceiver()
    yield receiver.endpoint, receiver.bodies
    receiver.close()


@pytest.mark.network
def test_real_otlp_export_over_http(otlp_receiver: Any, env_monitor: Any) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    endpoint, bodies = otlp_receiver
    mon = env_monitor({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, service_name="otlp-test")
    _predict_with(mon, 6, 1)
    mon.shutdown()  # final export on shutdown
    requests = [body for path, body in bodies if path == "/v1/metrics"]
    assert requests, "no OTLP metrics request arrived"
    request = ExportMetricsServiceRequest.FromString(requests[-1])
    names: dict[str, Any] = {}
    service = None
    for rm in request.resource_metrics:
        for attr in rm.resource.attributes:
            if attr.key == "service.name":
                service = attr.value.string_value
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                names[metric.name] = metric
    assert service == "otlp-test"
    calls = {
        next(a.value.string_value for a in dp.attributes if a.key == "inferwatch.outcome"):
        dp.as_int for dp in names["inferwatch.predict.calls"].sum.data_points
    }
    assert calls == {"ok": 6, "error": 1}
    hist = names["inferwatch.predict.duration"].histogram
    assert sum(dp.count for dp in hist.data_points) == 7


@pytest.mark.network
def test_collector_down_never_reaches_predict(env_monitor: Any) -> None:
    import socket

    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mon = env_monitor({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                       "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}, export_interval_ms=100)

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        return x

    n = 0
    deadline = time.monotonic() + 1.5  # spans several failed export attempts
    while time.monotonic() < deadline:
        for _ in range(1000):
            assert predict(n) == n
            n += 1
        time.sleep(0.005)
    summary = mon.summary()
    # Every call is either counted or, past the bounded buffer, counted as dropped.
    assert summary["models"]["m:unversioned"]["calls"] + summary["dropped"]["buffer_full"] == n
    started = time.monotonic()
    mon.shutdown(timeout=2.0)
    assert time.monotonic() - started < 15  # bounded, not OTLP's minute of back-off


@pytest.mark.network
def test_real_otlp_logs_over_http(otlp_receiver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    endpoint, bodies = otlp_receiver
    # environ= is the whole environment the monitor reads (os.environ is not consulted).
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    mon = inferwatch.Monitor(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint},
                             log_sink="otlp", metrics_exporter="none",
                             feature_sample_rate=1.0, pii_fields=["user"], pii_key="x" * 32)

    @inferwatch.monitor(model="m", monitor=mon, features=lambda user: {"user": user})
    def predict(user: str) -> int:
        if user == "bad":
            raise ValueError("bad user bad@example.org")
        return 1

    predict("alice")
    with pytest.raises(ValueError):
        predict("bad")
    mon.shutdown()
    requests = [ExportLogsServiceRequest.FromString(body)
                for path, body in bodies if path == "/v1/logs"]
    records = [lr for req in requests for rl in req.resource_logs
               for sl in rl.scope_logs for lr in sl.log_records]
    assert len(records) == 2
    wire = b"".join(body for _, body in bodies)
    assert b"alice" not in wire and b"bad@example.org" not in wire
    severities = sorted(r.severity_text for r in records)
    assert severities == ["ERROR", "INFO"]


def test_instrument_reader_gives_a_pull_reader_histograms(make_monitor: Any) -> None:
    prometheus = pytest.importorskip("opentelemetry.exporter.prometheus")
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    reader = prometheus.PrometheusMetricReader(registry=registry)
    from inferwatch.otel import instrument_reader

    assert instrument_reader(instrument_reader(reader)) is reader  # idempotent
    provider = MeterProvider(metric_readers=[reader])
    mon = make_monitor(meter_provider=provider, metrics_exporter="auto")
    inferwatch.set_monitor(mon)
    _predict_with(mon, 5, 2)
    text = generate_latest(registry).decode()
    assert 'inferwatch_predict_calls_total{' in text
    counts = [line for line in text.splitlines()
              if line.startswith("inferwatch_predict_duration_seconds_count")]
    assert sorted(float(line.rsplit(" ", 1)[1]) for line in counts) == [2.0, 5.0]
    assert 'inferwatch_predict_duration_seconds_bucket{' in text
    provider.shutdown()


def test_instrument_reader_on_an_in_memory_reader(make_monitor: Any) -> None:
    from inferwatch.otel import instrument_reader

    reader = instrument_reader(InMemoryMetricReader())
    provider = MeterProvider(metric_readers=[reader])
    mon = make_monitor(meter_provider=provider, metrics_exporter="auto")
    inferwatch.set_monitor(mon)
    _predict_with(mon, 3, 0)
    metrics = _metrics(reader.get_metrics_data())
    (point,) = metrics["inferwatch.predict.duration"].data.data_points
    assert point.count == 3
    provider.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_fresh_bridge_locks_and_delta_state(make_monitor: Any) -> None:
    import warnings

    from inferwatch._bounded import BoundedCalls
    from inferwatch._otel import HistogramInjector

    mon = make_monitor()
    _predict_with(mon, 2, 0)
    inject = HistogramInjector(mon, AggregationTemporality.DELTA)
    inject(MetricsData(resource_metrics=[]))  # a delta baseline, as after one export
    bounded = BoundedCalls("test", one_at_a_time=True)
    bounded._lock.acquire()  # as if a parent's thread held it at fork time
    try:
        with warnings.catch_warnings():  # Python >= 3.12 warns about forking with threads
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: report through the exit status, never return into pytest
            ok = bounded.call(lambda: True, 2.0) and not inject._previous
            os._exit(0 if ok else 1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the child hung on a lock inherited from the parent")
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        bounded._lock.release()
