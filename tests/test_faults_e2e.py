"""A collector that fails, then comes back: every loss reaches it, counted by reason.

Real OTLP over HTTP to a loopback receiver that first rejects every export,
then accepts them. The log records lost while it rejected are not silently
gone: once it is back, the metrics it receives say how many were lost and
why (``inferwatch.self.dropped{inferwatch.reason="otlp_export_failed"}``),
and the predict calls made meanwhile are all counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from otlptools import OtlpHttpReceiver

import inferwatch

pytestmark = pytest.mark.network

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")


@pytest.fixture
def receiver() -> Iterator[OtlpHttpReceiver]:
    receiver = OtlpHttpReceiver()
    # A non-retryable rejection: the exporter gives up on a batch at once.
    receiver.default_status = 400
    yield receiver
    receiver.close()


def _points(receiver: OtlpHttpReceiver, name: str) -> list[Any]:
    """The data points of ``name`` in the last metrics request that carried it."""
    points: list[Any] = []
    for request in receiver.metrics():
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                found = [dp for metric in sm.metrics if metric.name == name
                         for dp in metric.sum.data_points]
                if found:
                    points = found  # cumulative: the last one is the total
    return points


def _dropped(receiver: OtlpHttpReceiver) -> dict[str, int]:
    return {next(a.value.string_value for a in dp.attributes if a.key == "inferwatch.reason"):
            dp.as_int for dp in _points(receiver, "inferwatch.self.dropped")}


def _calls(receiver: OtlpHttpReceiver) -> int:
    return sum(dp.as_int for dp in _points(receiver, "inferwatch.predict.calls"))


def test_losses_during_an_outage_reach_the_collector_once_it_is_back(
    receiver: OtlpHttpReceiver,
) -> None:
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

        receiver.default_status = 200  # the collector is back
        for i in range(5):
            predict(float(i))
        assert mon.flush(10.0, export=True) is True
        dropped = _dropped(receiver)
        assert dropped["otlp_export_failed"] == 25
        assert _calls(receiver) == 30  # no call went uncounted meanwhile
        assert receiver.requests("/v1/logs")  # the five records after the outage got through
    finally:
        mon.shutdown(timeout=5.0)
