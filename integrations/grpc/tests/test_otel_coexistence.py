"""Beside OpenTelemetry's own gRPC server interceptor, in either order: one record per
call, carrying the trace and span ids of OTel's server span."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from demo_service import SERVICE, dumps, loads, sync_handler, sync_server
from inferwatch_grpc import InferenceInterceptor
from recording import capture

otel_grpc = pytest.importorskip("opentelemetry.instrumentation.grpc")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402 - after the importorskip
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

pytestmark = pytest.mark.network


@pytest.fixture(params=["otel-outside", "inferwatch-outside"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[grpc.Channel, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    otel = otel_grpc.server_interceptor(tracer_provider=provider)
    ours = InferenceInterceptor()
    interceptors = [otel, ours] if request.param == "otel-outside" else [ours, otel]
    try:
        with sync_server(sync_handler(), interceptors=interceptors) as channel:
            yield channel, spans
    finally:
        provider.shutdown()


def test_one_record_with_the_server_span_ids(
    served: tuple[grpc.Channel, InMemorySpanExporter],
) -> None:
    channel, spans = served
    call: Any = channel.unary_unary(f"/{SERVICE}/UnaryUnary", request_serializer=dumps,
                                    response_deserializer=loads)
    with capture() as cap:
        assert call({"op": "monitored", "x": [1, 2]}, timeout=10) == {"score": 2.0}
        records = cap.records
        calls = cap.value("rpc.server.call.duration")
    (span,) = spans.get_finished_spans()
    (record,) = records  # one record, not one per interceptor
    assert record.endpoint.model_name == "scorer"  # the monitored predict joined it
    assert record.trace_id == span.context.trace_id
    assert record.span_id == span.context.span_id
    assert calls.count == 1


def test_span_ids_without_a_monitored_predict(
    served: tuple[grpc.Channel, InMemorySpanExporter], request: pytest.FixtureRequest
) -> None:
    channel, spans = served
    call: Any = channel.unary_unary(f"/{SERVICE}/UnaryUnary", request_serializer=dumps,
                                    response_deserializer=loads)
    with capture() as cap:
        call({"x": [1]}, timeout=10)
        (record,) = cap.records
    (span,) = spans.get_finished_spans()
    if request.node.callspec.params["served"] == "inferwatch-outside":
        # OTel's span lives only inside the behavior, where nothing of ours runs
        # without a monitored predict (documented in the README).
        assert (record.trace_id, record.span_id) == (0, 0)
    else:
        assert record.trace_id == span.context.trace_id
        assert record.span_id == span.context.span_id


def test_the_inference_id_is_never_the_trace_id(
    served: tuple[grpc.Channel, InMemorySpanExporter],
) -> None:
    # Every call of one trace carries its trace id: as the inference id it would
    # make them one inference (labels joined to the wrong call).
    channel, spans = served
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    metadata = (("traceparent", f"00-{trace}-00f067aa0ba902b7-01"),)
    call: Any = channel.unary_unary(f"/{SERVICE}/UnaryUnary", request_serializer=dumps,
                                    response_deserializer=loads)
    with capture() as cap:
        for _ in range(2):
            assert call({"op": "monitored", "x": [1]}, timeout=10, metadata=metadata)
        records = cap.records
    assert len(records) == 2
    assert {span.context.trace_id for span in spans.get_finished_spans()} == {int(trace, 16)}
    for record in records:
        assert record.trace_id == int(trace, 16)  # the trace id goes to trace_id ...
        assert trace not in record.id  # ... never to the inference id
    assert records[0].id != records[1].id
