"""Build the per-call method handler that wraps a servicer's behavior.

The behavior is wrapped in the same kind of callable it is (function,
coroutine function, async generator function), because ``grpc.aio`` picks how
to run a handler by inspecting it: a coroutine function runs on the event
loop, a plain function in the server's thread pool.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from inferwatch import get_monitor

from ._call import RpcCall, Settings

__all__ = ["instrument_handler"]

_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def instrument_handler(
    settings: Settings,
    handler: grpc.RpcMethodHandler[Any, Any] | None,
    details: grpc.HandlerCallDetails,
    *,
    aio: bool,
) -> grpc.RpcMethodHandler[Any, Any] | None:
    """A handler for this one call that records it; the original one on any doubt."""
    if handler is None:
        _record_unserved(settings, details)
        return None  # gRPC answers UNIMPLEMENTED, as it would without us
    try:
        method = details.method
        resolved = settings.resolve(method)
        if resolved is None:
            return handler
        request_streaming = bool(handler.request_streaming)
        response_streaming = bool(handler.response_streaming)
        if request_streaming:
            behavior = handler.stream_stream if response_streaming else handler.stream_unary
        else:
            behavior = handler.unary_stream if response_streaming else handler.unary_unary
        if behavior is None or hasattr(behavior, "experimental_non_blocking"):
            return handler  # grpc.experimental callback-style behaviors: left as they are
        mon, endpoint, recorded = resolved
        call = RpcCall(mon, endpoint, recorded, settings.request_id(details.invocation_metadata))
        if response_streaming:
            serializer = call.stream_serializer(handler.response_serializer)
        else:
            serializer = call.unary_serializer(handler.response_serializer)
        wrapped = _wrap_behavior(call, behavior, response_streaming, aio)
        return _FACTORIES[(request_streaming, response_streaming)](
            wrapped,
            request_deserializer=call.deserializer(handler.request_deserializer),
            response_serializer=serializer,
        )
    except Exception:  # inferwatch must never break the RPC
        _count_failure(settings)
        return handler


def _record_unserved(settings: Settings, details: grpc.HandlerCallDetails) -> None:
    """Count a call of a method no handler serves, as an RPC (never an inference).

    Its name is the client's invention, so it is recorded as ``_OTHER``.
    """
    try:
        resolved = settings.resolve(details.method, served=False)
        if resolved is None:
            return
        mon, endpoint, recorded = resolved
        call = RpcCall(mon, endpoint, recorded, settings.request_id(details.invocation_metadata))
        call.close_unserved(call.open())
    except Exception:  # inferwatch must never break the RPC
        _count_failure(settings)


def _count_failure(settings: Settings) -> None:
    """Count a failure of ours as ``inferwatch.self.errors{component=grpc_interceptor}``."""
    # Nothing left to count it with if this fails too; the RPC goes on regardless.
    with contextlib.suppress(Exception):
        (settings.monitor or get_monitor()).count_error("grpc_interceptor")


def _wrap_behavior(
    call: RpcCall, behavior: Callable[..., Any], response_streaming: bool, aio: bool
) -> Callable[..., Any]:
    if aio and inspect.iscoroutinefunction(behavior):
        return _async_unary_response(call, behavior, prepare=not response_streaming)
    if aio and response_streaming and inspect.isasyncgenfunction(behavior):
        return _async_stream_response(call, behavior)
    if response_streaming:
        return call.wrap_stream_response(behavior)
    return call.wrap_unary_response(behavior)


def _async_unary_response(
    call: RpcCall, behavior: Callable[..., Any], *, prepare: bool
) -> Callable[..., Any]:
    """A coroutine behavior: a unary response, or a stream written with context.write."""

    async def unary_response(request: Any, context: Any) -> Any:
        token = call.open()
        try:
            response = await behavior(request, context)
        except BaseException as exc:
            call.close_exc(exc, context, token)
            raise
        if prepare:
            response = call.prepare(response, context)
        call.close_ok(context, token)
        return response

    return unary_response


def _async_stream_response(call: RpcCall, behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def stream_response(request: Any, context: Any) -> AsyncIterator[Any]:
        # grpc.aio runs each RPC in a task of its own, so the record stays
        # bound in that task's context from the first step to the last.
        token = call.open()
        try:
            responses = behavior(request, context)
        except BaseException as exc:
            call.close_exc(exc, context, token)
            raise
        iterator: AsyncIterator[Any] | None = None
        try:
            while True:
                try:
                    if iterator is None:
                        iterator = responses.__aiter__()
                    message = await iterator.__anext__()
                except StopAsyncIteration:
                    call.close_ok(context, token)
                    return
                except BaseException as exc:
                    call.close_exc(exc, context, token)
                    raise
                yield message
        finally:
            if not call.closed:
                call.close_cancelled(token)
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    await aclose()

    return stream_response
