"""OpenTelemetry's environment honoured, over the wire to collectors on loopback.

Every Monitor here gets its environment through ``environ=``: what it exports
and where must follow that mapping, never ``os.environ``. Receivers are a
loopback OTLP/HTTP server (bodies decoded with opentelemetry-proto) and a
loopback gRPC collector implementing the generated MetricsService and
LogsService; every wait is bounded.
"""

from __future__ import annotations

import http.server
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import pytest
from otlptools import HangingServer, OtlpHttpReceiver

import inferwatch
from inferwatch import MissingDependencyError
from inferwatch.testing import MemorySink

pytestmark = pytest.mark.network


# -- receivers ---------------------------------------------------------------------


# The shared OTLP/HTTP receiver, under the name these tests use.
HttpCollector = OtlpHttpReceiver


@pytest.fixture
def http_collector() -> Iterator[HttpCollector]:
    collector = HttpCollector()
    yield collector
    collector.close()


class GrpcCollector:
    """OTLP/gRPC on loopback: the generated MetricsService and LogsService servicers."""

    def __init__(self) -> None:
        import grpc
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
        from opentelemetry.proto.collector.metrics.v1 import (
            metrics_service_pb2,
            metrics_service_pb2_grpc,
        )

        self.metric_requests: list[Any] = []
        self.log_requests: list[Any] = []
        self.arrived = threading.Event()
        collector = self

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                collector.metric_requests.append(request)
                collector.arrived.set()
                return metrics_service_pb2.ExportMetricsServiceResponse()

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                collector.log_requests.append(request)
                collector.arrived.set()
                return logs_service_pb2.ExportLogsServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), self.server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{port}"
        self.server.start()

    def close(self) -> None:
        self.server.stop(grace=None)


@pytest.fixture
def grpc_collector() -> Iterator[GrpcCollector]:
    pytest.importorskip("grpc")
    pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")
    collector = GrpcCollector()
    yield collector
    collector.close()


@pytest.fixture
def hanging_collector() -> Iterator[str]:
    server = HangingServer()
    yield server.endpoint
    server.close()


@pytest.fixture
def monitors() -> Iterator[Any]:
    made: list[inferwatch.Monitor] = []

    def make(environ: dict[str, str], **options: Any) -> inferwatch.Monitor:
        options.setdefault("log_sink", MemorySink())
        mon = inferwatch.Monitor(environ=environ, **options)
        made.append(mon)
        return mon

    yield make
    for mon in made:
        mon.shutdown(timeout=2.0)


def _predict(mon: inferwatch.Monitor, n: int) -> None:
    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: float) -> float:
        return x

    for i in range(n):
        predict(float(i))


def _calls(requests: list[Any]) -> int:
    """``inferwatch.predict.calls`` summed over the last request that carries it."""
    for request in reversed(requests):
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == "inferwatch.predict.calls":
                        return sum(dp.as_int for dp in metric.sum.data_points)
    return 0


def _metric(requests: list[Any], name: str) -> Any:
    for request in reversed(requests):
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        return metric
    return None


def _resource(requests: list[Any]) -> dict[str, str]:
    return {a.key: a.value.string_value
            for a in requests[-1].resource_metrics[0].resource.attributes}


def _export_errors(mon: inferwatch.Monitor) -> int:
    # The component key is being renamed (component -> inferwatch.component): match the value.
    return sum(p.value for p in mon.collect() if p.name == "inferwatch.self.errors"
               and "metric_export" in p.attributes.values())


# -- protocol ------------------------------------------------------------------------


def test_grpc_protocol_exports_to_a_grpc_collector(grpc_collector: GrpcCollector,
                                                  monitors: Any) -> None:
    mon = monitors({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": grpc_collector.endpoint})
    _predict(mon, 7)
    assert mon.flush(timeout=10.0, export=True)
    assert grpc_collector.arrived.wait(10)
    assert _calls(grpc_collector.metric_requests) == 7
    duration = _metric(grpc_collector.metric_requests, "inferwatch.predict.duration")
    assert sum(dp.count for dp in duration.histogram.data_points) == 7


def test_per_signal_protocol_wins(http_collector: HttpCollector, monitors: Any) -> None:
    # gRPC for everything but metrics, which go over HTTP to their own endpoint.
    mon = monitors({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": http_collector.endpoint + "/v1/metrics"})
    _predict(mon, 3)
    assert mon.flush(timeout=10.0, export=True)
    assert _calls(http_collector.metrics()) == 3


def test_grpc_logs_exporter_from_the_environment(grpc_collector: GrpcCollector) -> None:
    """The helper the OTLP log sink builds its exporter with speaks gRPC too."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    from inferwatch._otel_env import build_otlp_exporter, build_resource

    environ = {"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc",
               "OTEL_EXPORTER_OTLP_ENDPOINT": grpc_collector.endpoint,
               "OTEL_RESOURCE_ATTRIBUTES": "service.name=logs-svc"}
    exporter = build_otlp_exporter("logs", environ)
    assert type(exporter).__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")
    provider = LoggerProvider(resource=build_resource("logs-svc", environ),
                              shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("t")
    try:  # SDK >= 1.35 takes the fields as keywords
        logger.emit(body="hello", severity_text="INFO")
    except TypeError:  # SDK < 1.35: a LogRecord, with the ids its encoder reads
        from opentelemetry._logs import SeverityNumber
        from opentelemetry.sdk._logs import LogRecord
        from opentelemetry.trace import TraceFlags

        logger.emit(LogRecord(timestamp=time.time_ns(), trace_id=0, span_id=0,
                              trace_flags=TraceFlags(0), body="hello", severity_text="INFO",
                              severity_number=SeverityNumber.INFO, resource=provider.resource,
                              attributes={}))
    provider.shutdown()
    assert grpc_collector.arrived.wait(10)
    (request,) = grpc_collector.log_requests
    resource_logs = request.resource_logs[0]
    assert resource_logs.scope_logs[0].log_records[0].body.string_value == "hello"
    names = {a.key: a.value.string_value for a in resource_logs.resource.attributes}
    assert names["service.name"] == "logs-svc"


def test_missing_grpc_exporter_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                   monitors: Any) -> None:
    # As on a machine without the otlp-grpc extra.
    for name in ("opentelemetry.exporter.otlp.proto.grpc",
                 "opentelemetry.exporter.otlp.proto.grpc.metric_exporter"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match=r"inferwatch\[otlp-grpc\]") as info:
        monitors({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                  "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"})
    assert "http/protobuf" in str(info.value)  # and the alternative


def test_unknown_protocol_is_a_configuration_error(monitors: Any) -> None:
    with pytest.raises(inferwatch.ConfigurationError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        monitors({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
                  "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})


# -- which exporter, from which environment -------------------------------------------


def test_environ_argument_is_honoured_not_os_environ(http_collector: HttpCollector,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     monitors: Any) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_collector.endpoint)
    mon = monitors({})  # an explicit, empty environment: nothing configured
    _predict(mon, 2)
    mon.flush(timeout=5.0, export=True)
    mon.shutdown(timeout=5.0)
    assert http_collector.bodies == []


def test_otel_metrics_exporter_console_and_none(http_collector: HttpCollector,
                                                capsys: pytest.CaptureFixture[str],
                                                monitors: Any) -> None:
    mon = monitors({"OTEL_METRICS_EXPORTER": "console"})
    _predict(mon, 2)
    assert mon.flush(timeout=10.0, export=True)
    assert "inferwatch.predict.calls" in capsys.readouterr().out
    silent = monitors({"OTEL_METRICS_EXPORTER": "none",
                       "OTEL_EXPORTER_OTLP_ENDPOINT": http_collector.endpoint})
    _predict(silent, 2)
    silent.shutdown(timeout=5.0)
    assert http_collector.bodies == []
    # inferwatch's own variable wins over OTel's.
    mine = monitors({"OTEL_METRICS_EXPORTER": "none", "INFERWATCH_METRICS_EXPORTER": "otlp",
                     "OTEL_EXPORTER_OTLP_ENDPOINT": http_collector.endpoint})
    _predict(mine, 1)
    assert mine.flush(timeout=10.0, export=True)
    assert _calls(http_collector.metrics()) == 1


def test_otel_metrics_exporter_unknown_value_names_the_variable(monitors: Any) -> None:
    with pytest.raises(inferwatch.ConfigurationError, match="OTEL_METRICS_EXPORTER"):
        monitors({"OTEL_METRICS_EXPORTER": "zipkin"})


# -- resource and service name --------------------------------------------------------


def test_resource_attributes_reach_metrics_and_logs_alike(http_collector: HttpCollector,
                                                         monitors: Any) -> None:
    sink = MemorySink()
    mon = monitors({"OTEL_EXPORTER_OTLP_ENDPOINT": http_collector.endpoint,
                    "OTEL_RESOURCE_ATTRIBUTES":
                        "service.name=churn%20api,deployment.environment=prod"},
                   log_sink=sink)
    _predict(mon, 1)
    assert mon.flush(timeout=10.0, export=True)
    resource = _resource(http_collector.metrics())
    assert resource["service.name"] == "churn api"
    assert resource["deployment.environment"] == "prod"
    assert resource["telemetry.sdk.language"] == "python"
    assert mon.config.service_name == "churn api"
    assert {event["service.name"] for event in sink.events} == {"churn api"}


def test_otel_service_name_wins_over_resource_attributes(http_collector: HttpCollector,
                                                        monitors: Any) -> None:
    mon = monitors({"OTEL_EXPORTER_OTLP_ENDPOINT": http_collector.endpoint,
                    "OTEL_SERVICE_NAME": "from-service-name",
                    "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes,team=ml"})
    _predict(mon, 1)
    assert mon.flush(timeout=10.0, export=True)
    resource = _resource(http_collector.metrics())
    assert resource["service.name"] == "from-service-name"
    assert resource["team"] == "ml"


def test_a_users_meter_provider_keeps_its_resource(monitors: Any) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource

    from inferwatch.otel import instrument_reader

    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource({"service.name": "users-own"}),
                             metric_readers=[reader])
    mon = monitors({"OTEL_SERVICE_NAME": "ignored-here"}, meter_provider=provider)
    instrument_reader(reader, mon)
    _predict(mon, 1)
    data = reader.get_metrics_data()
    assert {rm.resource.attributes["service.name"] for rm in data.resource_metrics} == {
        "users-own"}
    provider.shutdown()


# -- histogram aggregation ------------------------------------------------------------


def test_exponential_histograms_on_request(http_collector: HttpCollector,
                                           monitors: Any) -> None:
    mon = monitors({
        "OTEL_EXPORTER_OTLP_ENDPOINT": http_collector.endpoint,
        "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION":
            "base2_exponential_bucket_histogram",
    })
    _predict(mon, 5)
    assert mon.flush(timeout=10.0, export=True)
    duration = _metric(http_collector.metrics(), "inferwatch.predict.duration")
    assert duration.WhichOneof("data") == "exponential_histogram"
    (point,) = duration.exponential_histogram.data_points
    assert point.count == 5 == point.zero_count + sum(point.positive.bucket_counts)
    assert point.scale == 4


def test_explicit_histograms_by_default(http_collector: HttpCollector, monitors: Any) -> None:
    mon = monitors({"OTEL_EXPORTER_OTLP_ENDPOINT": http_collector.endpoint})
    _predict(mon, 2)
    assert mon.flush(timeout=10.0, export=True)
    duration = _metric(http_collector.metrics(), "inferwatch.predict.duration")
    assert duration.WhichOneof("data") == "histogram"


# -- failures: counted, bounded -------------------------------------------------------


def test_failed_export_is_counted_and_cumulative_totals_come_back() -> None:
    collector = HttpCollector(statuses=(400,))  # refuses the first export
    mon = inferwatch.Monitor(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint},
                             metrics_exporter="auto", log_sink=MemorySink())
    try:
        _predict(mon, 4)
        assert mon.flush(timeout=10.0, export=True)  # finished, but the export failed
        assert _export_errors(mon) == 1
        assert collector.metrics() == []
        _predict(mon, 1)
        assert mon.flush(timeout=10.0, export=True)
        assert _calls(collector.metrics()) == 5  # the totals, the failed interval included
    finally:
        mon.shutdown(timeout=2.0)
        collector.close()


def test_delta_histograms_keep_a_failed_interval() -> None:
    collector = HttpCollector(statuses=(400,))
    mon = inferwatch.Monitor(environ={
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
    }, metrics_exporter="auto", log_sink=MemorySink())
    try:
        _predict(mon, 4)
        mon.flush(timeout=10.0, export=True)  # refused
        _predict(mon, 1)
        mon.flush(timeout=10.0, export=True)
        _predict(mon, 2)
        mon.flush(timeout=10.0, export=True)
        counts = []
        for request in collector.metrics():
            metric = _metric([request], "inferwatch.predict.duration")
            assert metric.histogram.aggregation_temporality == 1  # DELTA
            counts.append(sum(dp.count for dp in metric.histogram.data_points))
        assert counts == [5, 2]  # the refused interval went out with the next export
    finally:
        mon.shutdown(timeout=2.0)
        collector.close()


def test_flush_and_shutdown_return_within_their_timeout_with_a_hanging_collector(
    hanging_collector: str,
) -> None:
    mon = inferwatch.Monitor(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": hanging_collector,
                                      "OTEL_EXPORTER_OTLP_TIMEOUT": "30"},
                             metrics_exporter="auto", log_sink=MemorySink())
    _predict(mon, 3)
    bridge = mon._otel
    started = time.monotonic()
    assert bridge.force_flush(0.5) is False  # did not finish: the collector never answers
    assert time.monotonic() - started < 3.0  # generous bound; the exporter would wait 30 s
    started = time.monotonic()
    assert mon.flush(timeout=0.5, export=True) is False  # the export did not finish
    assert time.monotonic() - started < 3.0
    started = time.monotonic()
    mon.shutdown(timeout=1.0)
    assert time.monotonic() - started < 4.0


@pytest.mark.parametrize("variable", [
    "OTEL_METRIC_EXPORT_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "OTEL_EXPORTER_OTLP_COMPRESSION",
])
def test_invalid_otel_variables_name_the_variable(variable: str, monitors: Any) -> None:
    with pytest.raises(inferwatch.ConfigurationError, match=variable):
        monitors({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", variable: "bogus"})


def test_headers_and_compression_reach_the_collector(monitors: Any) -> None:
    import gzip

    seen: list[tuple[dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((dict(self.headers), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mon = monitors({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
                        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "x-api-key=s%3Dcret,x-team=ml",
                        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"})
        _predict(mon, 2)
        assert mon.flush(timeout=10.0, export=True)
    finally:
        server.shutdown()
        server.server_close()
    headers, body = seen[-1]
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["x-api-key"] == "s=cret" and lowered["x-team"] == "ml"
    assert lowered["content-encoding"] == "gzip"
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    assert _calls([ExportMetricsServiceRequest.FromString(gzip.decompress(body))]) == 2
