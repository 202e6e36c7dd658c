"""The server interceptors: one for ``grpc.server``, one for ``grpc.aio.server``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from ._call import DEFAULT_EXCLUDE, Settings
from ._handler import instrument_handler

if TYPE_CHECKING:
    from typing import TypeAlias

    from inferwatch import Monitor

    _Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]

__all__ = ["AioInferenceInterceptor", "InferenceInterceptor"]


class _Options:
    """The options both interceptors take (documented on ``InferenceInterceptor``)."""

    def __init__(
        self,
        *,
        model: str | None = None,
        version: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        monitor: Monitor | None = None,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
        request_id_metadata: str = "x-request-id",
    ) -> None:
        self._settings = Settings(
            model=model,
            version=version,
            attributes=attributes,
            monitor=monitor,
            exclude=exclude,
            request_id_metadata=request_id_metadata,
        )


class InferenceInterceptor(_Options, grpc.ServerInterceptor):
    """Record every RPC of a ``grpc.server`` as one inference.

    ::

        server = grpc.server(
            ThreadPoolExecutor(max_workers=8),
            interceptors=[InferenceInterceptor(model="churn", version="3")],
        )

    Each call gets one ``InferenceRecord``: gRPC status name, duration, message
    bytes, time to first response message for streams, and the inference id
    from the ``x-request-id`` metadata (generated when absent, or when the value
    is not 1-128 characters of ``[A-Za-z0-9._:/+=-]``; no other metadata is
    read). A ``@inferwatch.monitor`` predict called inside the servicer fills
    in the same record rather than writing a second one, and makes the RPC an
    inference; an RPC that never reaches one counts in the RPC metrics only,
    never in ``inferwatch.predict.*`` or drift. Once the call has completed its
    record is closed: a predict running later (a thread started with the RPC's
    context) writes a record of its own. Metrics come out as
    ``rpc.server.call.duration`` with ``rpc.system.name``, ``rpc.method`` and
    ``rpc.response.status_code``. A call of a method no handler serves (gRPC
    answers UNIMPLEMENTED) is recorded as ``_OTHER``, and so is every method
    past 1,000 distinct names (a catch-all handler).

    Args:
        model, version: model name and version of RPCs with no monitored
            predict inside (default: the configured ``model_name`` and
            ``model_version``, else the gRPC service name).
        attributes: static attributes put on every record of this server.
        monitor: the ``Monitor`` to report to (default: the process default).
        exclude: method prefixes not recorded (default: health checks and
            server reflection).
        request_id_metadata: the metadata key holding the caller's request id.
    """

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], _Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler | None:
        handler = continuation(handler_call_details)
        return instrument_handler(self._settings, handler, handler_call_details, aio=False)


class AioInferenceInterceptor(_Options, grpc.aio.ServerInterceptor):
    """Record every RPC of a ``grpc.aio.server`` as one inference.

    ::

        server = grpc.aio.server(interceptors=[AioInferenceInterceptor(model="churn")])

    Same records, metrics and options as ``InferenceInterceptor``; async
    servicer methods (coroutines and async generators) and sync ones run in
    the server's thread pool are both supported.
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[_Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> _Handler | None:
        handler = await continuation(handler_call_details)
        return instrument_handler(self._settings, handler, handler_call_details, aio=True)
