"""AioInferenceInterceptor on a real grpc.aio.server over loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from demo_service import SERVICE, Boom, aio_handler, dumps, loads, sizes
from inferwatch_grpc import AioInferenceInterceptor
from recording import Recorded as Capture
from recording import capture

pytestmark = pytest.mark.network

TIMEOUT = 10.0
KINDS = ["UnaryUnary", "UnaryStream", "StreamUnary", "StreamStream"]

Client = Callable[..., Awaitable[Any]]


def serve(test: Callable[[Client], Awaitable[None]]) -> None:
    """Run ``test(call)`` against a fresh aio server, within a bounded time."""

    async def main() -> None:
        server = grpc.aio.server(interceptors=[AioInferenceInterceptor()])
        server.add_generic_rpc_handlers((aio_handler(),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:

                async def call(kind: str, request: Any, **kw: Any) -> Any:
                    method = f"/{SERVICE}/{kind}"
                    ser: dict[str, Any] = {
                        "request_serializer": dumps, "response_deserializer": loads
                    }
                    if kind == "UnaryUnary":
                        return await channel.unary_unary(method, **ser)(
                            request, timeout=TIMEOUT, **kw
                        )
                    if kind == "StreamUnary":
                        return await channel.stream_unary(method, **ser)(
                            iter(request), timeout=TIMEOUT, **kw
                        )
                    stream: AsyncIterable[Any]
                    if kind == "StreamStream":
                        stream = channel.stream_stream(method, **ser)(
                            iter(request), timeout=TIMEOUT, **kw
                        )
                    else:  # UnaryStream, Writer, SyncUnaryStream
                        stream = channel.unary_stream(method, **ser)(
                            request, timeout=TIMEOUT, **kw
                        )
                    return [message async for message in stream]

                await asyncio.wait_for(test(call), TIMEOUT * 3)
        finally:
            await server.stop(None)

    asyncio.run(main())


def _request(kind: str, op: str) -> Any:
    return [{"op": op}] if kind.startswith("Stream") else {"op": op}


async def _only_record(cap: Capture) -> Any:
    # The client can see an abort's status before the server-side handler (on
    # this same event loop) has finished unwinding and closed the record: give
    # the loop a bounded time to get there.
    deadline = time.monotonic() + 2.0
    records = cap.records
    while not records and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
        records = cap.records
    assert len(records) == 1, records
    return records[0]


@pytest.mark.parametrize("kind", [*KINDS, "Writer", "SyncUnaryStream"])
def test_each_method_kind(kind: str) -> None:
    streaming_request = kind.startswith("Stream")
    request: Any = [{"x": [1, 2], "pad": 3}, {"x": [3]}] if streaming_request else {"x": [1]}
    out: dict[str, Any] = {}

    async def test(call: Client) -> None:
        with capture() as cap:
            out["response"] = await call(kind, request, metadata=(("x-request-id", kind),))
            out["record"] = await _only_record(cap)
            out["hist"] = cap.value("rpc.server.call.duration", rpc__method=f"{SERVICE}/{kind}")

    serve(test)
    record, response = out["record"], out["response"]
    http = record.http
    assert (http.system, http.status_code, record.id) == ("grpc", "OK", kind)
    assert http.request_size == sizes(request if streaming_request else [request])
    response_streaming = kind not in ("UnaryUnary", "StreamUnary")
    assert http.response_size == sizes(response if response_streaming else [response])
    assert (http.ttfb_ns is not None) == response_streaming
    assert 0 < http.duration_ns == record.duration_ns
    assert out["hist"].count == 1


@pytest.mark.parametrize("kind", KINDS)
def test_abort_maps_to_its_status(kind: str) -> None:
    out: dict[str, Any] = {}

    async def test(call: Client) -> None:
        with capture() as cap:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call(kind, _request(kind, "abort"))
            out["code"] = info.value.code()
            out["record"] = await _only_record(cap)

    serve(test)
    assert out["code"] is grpc.StatusCode.INVALID_ARGUMENT
    assert out["record"].http.status_code == "INVALID_ARGUMENT"
    assert (out["record"].outcome, out["record"].error_type) == ("ok", None)


@pytest.mark.parametrize("kind", KINDS)
def test_unexpected_exception_is_unknown_and_propagates(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    out: dict[str, Any] = {}

    async def test(call: Client) -> None:
        with capture() as cap:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call(kind, _request(kind, "boom"))
            out["code"] = info.value.code()
            out["record"] = await _only_record(cap)

    serve(test)
    assert out["code"] is grpc.StatusCode.UNKNOWN
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert any(isinstance(exc, Boom) for exc in logged)  # grpc.aio saw our servicer's exception
    record = out["record"]
    assert record.http.status_code == "UNKNOWN"
    assert (record.outcome, record.error_type) == ("error", "Boom")


def test_monitored_predict_joins_the_rpc_record() -> None:
    out: dict[str, Any] = {}

    async def test(call: Client) -> None:
        with capture() as cap:
            out["response"] = await call("UnaryUnary", {"op": "monitored", "x": [1, 2]})
            out["record"] = await _only_record(cap)

    serve(test)
    record = out["record"]
    assert out["response"] == {"score": 2.0}
    assert (record.endpoint.model_name, record.endpoint.model_version) == ("scorer", "7")
    assert record.prediction == 2.0
    assert record.http.route == f"/{SERVICE}/UnaryUnary"


def test_concurrent_calls_keep_their_own_sizes_and_ids() -> None:
    n = 64
    out: dict[str, Any] = {}

    async def test(call: Client) -> None:
        with capture() as cap:
            await asyncio.gather(*(
                call("UnaryUnary", {"x": [i] * (i % 5), "pad": i * 2},
                     metadata=(("x-request-id", f"r{i}"),))
                for i in range(n)
            ))
            out["records"] = cap.records

    serve(test)
    records = out["records"]
    assert len(records) == n
    for record in records:
        i = int(record.id[1:])
        body = {"x": [i] * (i % 5), "pad": i * 2}
        assert record.http.request_size == len(dumps(body))
        assert record.http.response_size == len(dumps({"echo": body["x"], "pad": "p" * (i * 2)}))


def test_cancelled_stream_is_recorded_as_cancelled() -> None:
    out: dict[str, Any] = {}

    async def test(call: Client) -> None:
        with capture() as cap:
            task = asyncio.ensure_future(call("UnaryStream", {"n": 10**6}))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(100):  # the server notices the cancellation on its own time
                records = cap.records
                if records:
                    break
                await asyncio.sleep(0.05)
            out["records"] = records

    serve(test)
    (record,) = out["records"]
    assert record.http.status_code == "CANCELLED"
    assert record.outcome == "cancelled"


def test_a_method_nothing_serves_is_an_rpc_named_other() -> None:
    out: dict[str, Any] = {}

    async def test(call: Client) -> None:
        with capture() as cap:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call("Missing", {"x": 1})  # demo.Model has no such method
            out["code"] = info.value.code()
            out["record"] = await _only_record(cap)

    serve(test)
    record = out["record"]
    assert out["code"] is grpc.StatusCode.UNIMPLEMENTED
    assert (record.http.route, record.http.status_code) == ("_OTHER", "UNIMPLEMENTED")
    assert record.inference is False
