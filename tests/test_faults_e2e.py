"""A collector that fails, then comes back: every loss reaches it, counted by reason.

Real OTLP over HTTP to a loopback receiver that first rejects every export,
then accepts them. The log records lost while it rejected are not silently
gone: once it is back, the metrics it receives say how many were lost and
why (``inferwatch.self.dropped{inferwatch.reason="otlp_export_failed"}``),
and the predict calls made meanwhile are all counted.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

import inferwatch

pytestmark = pytest.mark.network

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")


class _FlappingReceiver(http.server.BaseHTTPRequestHandler):
    accept: ClassVar[bool] = False
    bodies: ClassVar[list[tuple[str, bytes]]] = []
    rejected: ClassVar[list[str]] = []
    endpoint: ClassVar[str] = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        cls = type(self)
        if cls.accept:
            cls.bodies.append((self.path, body))
            self.send_response(200)
        else:  # a non-retryable rejection: the exporter gives up on the batch at once
            cls.rejected.append(self.path)
            self.send_response(400)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[type[_FlappingReceiver]]:
    _FlappingReceiver.accept = False
    _FlappingReceiver.bodies = []
    _FlappingReceiver.rejected = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlappingReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FlappingReceiver.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    yield _FlappingReceiver
    server.shutdown()
    server.server_close()


def _dropped(bodies: list[tuple[str, bytes]]) -> dict[str, int]:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    latest: dict[str, int] = {}
    for path, body in bodies:
        if path != "/v1/metrics":
            continue
        request = ExportMetricsServiceRequest.FromString(body)
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name != "inferwatch.self.dropped":
                        continue
                    for dp in metric.sum.data_points:
                        reason = next(a.value.string_value for a in dp.attributes
                                      if a.key == "inferwatch.reason")
                        latest[reason] = dp.as_int  # cumulative: the last one is the total
    return latest


def _calls(bodies: list[tuple[str, bytes]]) -> int:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    total = 0
    for path, body in bodies:
        if path != "/v1/metrics":
            continue
        request = ExportMetricsServiceRequest.FromString(body)
        total = sum(dp.as_int for rm in request.resource_metrics for sm in rm.scope_metrics
                    for metric in sm.metrics if metric.name == "inferwatch.predict.calls"
                    for dp in metric.sum.data_points)
    return total


def test_losses_during_an_outage_reach_the_collector_once_it_is_back(receiver: Any) -> None:
    mon = inferwatch.Monitor(
        environ={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint},
        log_sink="otlp", metrics_exporter="otlp", export_interval_ms=60_000,
        max_records_per_second=1e9, handle_sigterm=False,
    )
    try:

        @inferwatch.monitor(model="m", monitor=mon)
        def predict(x: float) -> float:
            return x

        for i in range(25):
            predict(float(i))
        mon.flush(10.0, export=True)  # finishes in time; the collector rejects both
        assert "/v1/logs" in receiver.rejected and "/v1/metrics" in receiver.rejected
        assert mon.summary()["dropped"]["otlp_export_failed"] == 25

        receiver.accept = True  # the collector is back
        for i in range(5):
            predict(float(i))
        assert mon.flush(10.0, export=True) is True
        dropped = _dropped(receiver.bodies)
        assert dropped["otlp_export_failed"] == 25
        assert _calls(receiver.bodies) == 30  # no call went uncounted meanwhile
        logs = [body for path, body in receiver.bodies if path == "/v1/logs"]
        assert logs  # the five records after the outage got through
    finally:
        mon.shutdown(timeout=5.0)
