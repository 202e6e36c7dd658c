"""A small JSON-over-gRPC service for the tests, sync and async flavours.

Requests are JSON objects; ``{"op": "abort"}`` aborts with INVALID_ARGUMENT,
``{"op": "boom"}`` raises ``Boom``, ``{"pad": n}`` pads the response with n
characters so every call has its own response size.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import grpc.aio

import inferwatch

SERVICE = "demo.Model"


class Boom(RuntimeError):
    """The servicer's own bug."""


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def loads(data: bytes) -> Any:
    return json.loads(data)


@inferwatch.monitor(model="scorer", version="7", prediction=lambda y: y["score"])
def predict(request: dict[str, Any]) -> dict[str, Any]:
    return {"score": float(len(request.get("x", [])))}


class Later:
    """A predict the servicer leaves to a thread (in the RPC's context) to run after
    the RPC has completed, when the test says so (``go``)."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.done = threading.Event()
        self.result: Any = None

    def start(self, request: dict[str, Any]) -> None:
        context = contextvars.copy_context()  # as a background task or executor would

        def run() -> None:
            if self.go.wait(10):
                self.result = predict(request)
            self.done.set()

        threading.Thread(target=context.run, args=(run,), daemon=True).start()


#: The ``Later`` the next ``{"op": "later"}`` request uses (set by the test).
later: Later | None = None


def answer(request: dict[str, Any]) -> dict[str, Any]:
    if request.get("op") == "monitored":
        return predict(request)
    if request.get("op") == "later" and later is not None:
        later.start(request)
    return {"echo": request.get("x"), "pad": "p" * int(request.get("pad", 0))}


def _check(request: dict[str, Any], context: Any) -> None:
    op = request.get("op")
    if op == "sleep":  # outlives the client's deadline or cancellation
        time.sleep(float(request["seconds"]))
    if op == "abort":
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "x must be a list")
    if op == "boom":
        raise Boom("servicer bug")


# -- sync behaviors -------------------------------------------------------------


def unary_unary(request: dict[str, Any], context: grpc.ServicerContext) -> dict[str, Any]:
    _check(request, context)
    return answer(request)


def unary_stream(request: dict[str, Any], context: grpc.ServicerContext) -> Iterator[Any]:
    for i in range(int(request.get("n", 3))):
        if i == 1:
            _check(request, context)
        yield {"i": i, **answer(request)}


def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> dict[str, Any]:
    items = list(requests)
    for request in items:
        _check(request, context)
    return {"count": len(items), **answer(items[-1] if items else {})}


def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    for request in requests:
        _check(request, context)
        yield answer(request)


def unimplemented(request: Any, context: grpc.ServicerContext) -> Any:
    """What protoc's generated servicer base class does for a method not overridden."""
    context.set_code(grpc.StatusCode.UNIMPLEMENTED)
    context.set_details("Method not implemented!")
    raise NotImplementedError("Method not implemented!")


def sync_handler() -> grpc.GenericRpcHandler:
    handlers = _handlers(unary_unary, unary_stream, stream_unary, stream_stream)
    handlers["Unimplemented"] = grpc.unary_unary_rpc_method_handler(
        unimplemented, request_deserializer=loads, response_serializer=dumps
    )
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


class CatchAll(grpc.GenericRpcHandler):
    """Serves every method name a client sends (as a proxy or a gateway would)."""

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        if handler_call_details.method.startswith(f"/{SERVICE}/"):
            return None  # the demo service's own methods
        return grpc.unary_unary_rpc_method_handler(lambda request, context: request)


# -- async behaviors ------------------------------------------------------------


async def _acheck(request: dict[str, Any], context: grpc.aio.ServicerContext[Any, Any]) -> None:
    op = request.get("op")
    if op == "abort":
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "x must be a list")
    if op == "boom":
        raise Boom("servicer bug")


async def aunary_unary(
    request: dict[str, Any], context: grpc.aio.ServicerContext[Any, Any]
) -> dict[str, Any]:
    await _acheck(request, context)
    await asyncio.sleep(0)
    return answer(request)


async def aunary_stream(
    request: dict[str, Any], context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[Any]:
    for i in range(int(request.get("n", 3))):
        if i == 1:
            await _acheck(request, context)
        await asyncio.sleep(0)
        yield {"i": i, **answer(request)}


async def astream_unary(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
) -> dict[str, Any]:
    items = [request async for request in requests]
    for request in items:
        await _acheck(request, context)
    return {"count": len(items), **answer(items[-1] if items else {})}


async def astream_stream(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[Any]:
    async for request in requests:
        await _acheck(request, context)
        yield answer(request)


async def awriter(request: dict[str, Any], context: grpc.aio.ServicerContext[Any, Any]) -> None:
    """A stream written with ``context.write`` instead of yielded."""
    for i in range(int(request.get("n", 3))):
        await context.write({"i": i, **answer(request)})


def aio_handler() -> grpc.GenericRpcHandler:
    handlers = _handlers(aunary_unary, aunary_stream, astream_unary, astream_stream)
    handlers["Writer"] = grpc.unary_stream_rpc_method_handler(
        awriter, request_deserializer=loads, response_serializer=dumps
    )
    # A sync generator on the aio server runs in its thread pool.
    handlers["SyncUnaryStream"] = grpc.unary_stream_rpc_method_handler(
        unary_stream, request_deserializer=loads, response_serializer=dumps
    )
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


def _handlers(uu: Any, us: Any, su: Any, ss: Any) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    kw: dict[str, Any] = {"request_deserializer": loads, "response_serializer": dumps}
    return {
        "UnaryUnary": grpc.unary_unary_rpc_method_handler(uu, **kw),
        "UnaryStream": grpc.unary_stream_rpc_method_handler(us, **kw),
        "StreamUnary": grpc.stream_unary_rpc_method_handler(su, **kw),
        "StreamStream": grpc.stream_stream_rpc_method_handler(ss, **kw),
    }


def sizes(messages: Iterable[Any]) -> int:
    """Bytes on the wire of these messages, as the serializer writes them."""
    return sum(len(dumps(m)) for m in messages)


@contextlib.contextmanager
def sync_server(
    *handlers: grpc.GenericRpcHandler, interceptors: Sequence[Any], workers: int = 4,
) -> Iterator[grpc.Channel]:
    """A sync gRPC server on a free loopback port serving ``handlers``, and a channel to it."""
    server = grpc.server(ThreadPoolExecutor(max_workers=workers), interceptors=list(interceptors))
    server.add_generic_rpc_handlers(handlers)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        server.stop(None).wait(10)
