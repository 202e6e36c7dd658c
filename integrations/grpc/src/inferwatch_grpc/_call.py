"""Per-call state of one intercepted RPC, shared by the sync and aio interceptors.

An interceptor's ``intercept_service`` runs once per RPC, so each call gets a
fresh ``RpcCall`` and a fresh method handler whose (de)serializers are
closures over it: message sizes are counted where the bytes are, with no
state on the interceptor and nothing looked up per message.

What is measured:

- duration: from the start of the servicer's behavior to its return (unary
  responses, serialization included) or to the exhaustion of its response
  stream (every message serialized and handed to gRPC);
- request and response sizes: serialized message bytes, summed over the
  messages of a stream;
- time to first message (streaming responses): to the first serialized
  response message;
- status: the gRPC status name the client gets ("OK", "INVALID_ARGUMENT").

What comes from the client is bounded before anything keeps it: the request
id from metadata is used only when it is 1-128 characters of
``[A-Za-z0-9._:/+=-]`` (else a fresh id is generated), no other metadata is
read, and a method name becomes an attribute only when it looks like one and
fewer than ``MAX_METHODS`` distinct methods have been seen (else ``_OTHER``,
as the RPC semantic conventions name an unknown method), so a catch-all
handler cannot grow series or memory with invented method names.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from inferwatch import get_monitor
from inferwatch.transport import (
    Endpoint,
    HttpInfo,
    InferenceRecord,
    begin_transport,
    end_transport,
)

if TYPE_CHECKING:
    from inferwatch import Monitor

__all__ = ["DEFAULT_EXCLUDE", "MAX_ID_LENGTH", "MAX_METHODS", "OTHER_METHOD", "RpcCall",
           "Settings", "valid_id"]

#: Method prefixes left alone by default: probes, not inferences.
DEFAULT_EXCLUDE: tuple[str, ...] = ("/grpc.health.v1.Health/", "/grpc.reflection.")

#: The longest request id taken from metadata (the ASGI middleware's cap too).
MAX_ID_LENGTH = 128
#: Distinct methods one interceptor records by name; later ones are ``OTHER_METHOD``.
MAX_METHODS = 1000
#: The method (and service) name of an RPC past those caps, as semconv names it.
OTHER_METHOD = "_OTHER"

_ID = re.compile(rf"[A-Za-z0-9._:/+=-]{{1,{MAX_ID_LENGTH}}}").fullmatch
# /package.Service/Method, each part at most 200 characters of identifiers and dots.
_METHOD = re.compile(r"/[A-Za-z0-9_.]{1,200}/[A-Za-z0-9_]{1,200}").fullmatch

#: Statuses that are the server's fault (OTel RPC semconv sets ``error.type``
#: on the server for these only); the others describe the request.
_SERVER_ERRORS = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)

_Token = contextvars.Token[InferenceRecord | None]


class Settings:
    """Options of one interceptor; the endpoint per method is resolved lazily."""

    __slots__ = ("_methods", "_methods_monitor", "attributes", "exclude", "model", "monitor",
                 "request_id_key", "version")

    def __init__(
        self,
        *,
        model: str | None,
        version: str | None,
        attributes: Mapping[str, Any] | None,
        monitor: Monitor | None,
        exclude: Sequence[str],
        request_id_metadata: str,
    ) -> None:
        if isinstance(exclude, str):
            raise TypeError(
                "exclude= takes a sequence of method prefixes, e.g. ('/grpc.health.v1.Health/',)"
            )
        if not isinstance(request_id_metadata, str) or not request_id_metadata:
            raise TypeError(
                "request_id_metadata= takes a metadata key, e.g. 'x-request-id'"
            )
        self.model = model
        self.version = version
        self.attributes = {str(k): str(v) for k, v in (attributes or {}).items()}
        self.monitor = monitor
        self.exclude = tuple(exclude)
        self.request_id_key = request_id_metadata.lower()
        # method -> (monitor, endpoint, the method as recorded), at most MAX_METHODS.
        self._methods: dict[str, tuple[Monitor, Endpoint, str]] = {}
        self._methods_monitor: Monitor | None = None

    def resolve(self, method: str, *, served: bool = True) -> tuple[Monitor, Endpoint, str] | None:
        """The monitor, endpoint and recorded method name; None when not monitored.

        ``served=False``: a method no handler serves (gRPC answers UNIMPLEMENTED),
        recorded as ``OTHER_METHOD`` whatever its name.
        """
        if method.startswith(self.exclude):
            return None
        mon = self.monitor if self.monitor is not None else get_monitor()
        if not mon.enabled:
            return None
        methods = self._methods
        if self._methods_monitor is not mon:  # the default monitor changed: start afresh
            methods = self._methods = {}
            self._methods_monitor = mon
        key = method if served else ""  # every method nothing serves shares one entry
        bound = methods.get(key)
        if bound is not None:
            return bound
        known = served and len(methods) < MAX_METHODS and _METHOD(method) is not None
        recorded = method if known else OTHER_METHOD
        service = method[1:].partition("/")[0] if known else OTHER_METHOD
        endpoint = mon.endpoint(
            self.model or mon.config.model_name or service,
            self.version or mon.config.model_version,
            self.attributes,
        )
        bound = (mon, endpoint, recorded)
        if known or not served:
            methods[key] = bound
        return bound

    def request_id(self, metadata: Any) -> str | None:
        """The caller's request id from ``metadata``, when it is a valid id (see module docs)."""
        key = self.request_id_key
        for item in metadata or ():
            if item[0] == key:
                return valid_id(item[1])
        return None


def valid_id(value: Any) -> str | None:
    """``value`` if it may be an inference id: 1-128 characters of ``[A-Za-z0-9._:/+=-]``.

    Anything else (too long, other characters, bytes) is not used: the record
    gets a generated id, and the value goes nowhere.
    """
    if isinstance(value, str) and _ID(value) is not None:
        return value
    return None


def _status_name(code: Any) -> str | None:
    if code is None:
        return None
    name = getattr(code, "name", None)
    return name if isinstance(name, str) else str(code)


def _context_code(context: Any) -> str | None:
    try:
        return _status_name(context.code())
    except Exception:  # a context without code(): fall back on what we saw
        return None


def _ended_early(context: Any) -> str | None:
    """The status of an RPC that ended while its behavior ran, else None.

    A sync behavior runs to its end even when the client cancels or the
    deadline passes; gRPC then drops the response, and the client sees
    CANCELLED or DEADLINE_EXCEEDED, so the record must too.
    """
    try:
        is_active = getattr(context, "is_active", None)
        if is_active is not None:  # grpc.ServicerContext
            if is_active():
                return None
        else:  # grpc.aio.ServicerContext
            cancelled = getattr(context, "cancelled", None)
            if cancelled is None or not cancelled():
                return None
        remaining = context.time_remaining()
    except Exception:  # a context without these: go by what we saw
        return None
    return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"


class _Serialized:
    """A response message serialized by us, passed through gRPC's serializer call."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class RpcCall:
    """One RPC between the start of its behavior and its last message."""

    __slots__ = (
        "closed",
        "endpoint",
        "first_message_ns",
        "inference_id",
        "method",
        "monitor",
        "record",
        "request_size",
        "response_serializer",
        "response_size",
        "serialized",
        "unary",
    )

    def __init__(
        self, monitor: Monitor, endpoint: Endpoint, method: str, inference_id: str | None
    ) -> None:
        self.monitor = monitor
        self.endpoint = endpoint
        self.method = method
        self.inference_id = inference_id
        self.record: InferenceRecord | None = None
        self.request_size = 0
        self.response_size = 0
        self.first_message_ns = 0
        self.response_serializer: Callable[[Any], bytes] | None = None
        self.serialized = False
        self.unary = False
        self.closed = False

    # -- (de)serializers, closures over this call ----------------------------

    def deserializer(self, original: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
        def deserialize(data: bytes) -> Any:
            try:
                self.request_size += len(data)
            except Exception:
                self.monitor.count_error("grpc_interceptor")
            return data if original is None else original(data)

        return deserialize

    def stream_serializer(self, original: Callable[[Any], bytes] | None) -> Callable[[Any], bytes]:
        """Serializer of a streaming response: counts bytes, times the first message.

        Messages of a sync response iterator arrive serialized already (see
        ``_iterate``) and pass through; those an async behavior yields or
        writes are serialized, counted and timed here.
        """
        self.response_serializer = original

        def serialize(message: Any) -> bytes:
            if type(message) is _Serialized:
                return message.data
            data: bytes = message if original is None else original(message)
            try:
                if not self.first_message_ns:
                    self.first_message_ns = perf_counter_ns()
                self.response_size += len(data)
            except Exception:
                self.monitor.count_error("grpc_interceptor")
            return data

        return serialize

    def unary_serializer(self, original: Callable[[Any], bytes] | None) -> Callable[[Any], bytes]:
        """Serializer of a unary response: passes through what the behavior serialized.

        The wrapped behavior serializes the response itself (``prepare``) so the
        duration and size include it; if that failed, gRPC calls the original
        serializer here and handles the failure its usual way.
        """
        self.response_serializer = original
        self.unary = True

        def serialize(message: Any) -> bytes:
            if self.serialized:
                return message  # type: ignore[no-any-return]
            return message if original is None else original(message)

        return serialize

    # -- the record ----------------------------------------------------------

    def open(self) -> _Token | None:
        """Open the record and bind it to the context; None if that failed."""
        try:
            record, token = begin_transport(
                self.endpoint, HttpInfo("grpc", route=self.method), self.inference_id
            )
        except Exception:  # the RPC goes on unrecorded
            self.monitor.count_error("grpc_interceptor")
            return None
        self.record = record
        return token

    def _serialize(self, message: Any) -> Any:
        """A sync stream's message, serialized here and counted.

        On grpc.aio a sync iterator runs in a thread while its messages are
        serialized later on the event loop: counted there, the last ones could
        come after the record closed. A serializer that fails here gets the
        message back unserialized, so gRPC calls it again and fails the RPC its
        usual way.
        """
        original = self.response_serializer
        try:
            data = message if original is None else original(message)
            size = len(data)
        except Exception:
            return message
        if not self.first_message_ns:
            self.first_message_ns = perf_counter_ns()
        self.response_size += size
        return _Serialized(data)

    def prepare(self, response: Any, context: Any) -> Any:
        """Serialize a unary response now; return what the behavior returns to gRPC."""
        try:
            status = _context_code(context)
            if status not in (None, "OK"):
                return response  # gRPC discards or serializes it itself
            original = self.response_serializer
            data = response if original is None else original(response)
            self.response_size = len(data)
        except Exception:
            # The user's serializer failed: gRPC will call it again and fail the
            # RPC with INTERNAL, as it would without us.
            return response
        self.serialized = True
        return data

    def close_ok(self, context: Any, token: _Token | None) -> None:
        status = _context_code(context) or "OK"
        if status == "OK":
            status = _ended_early(context) or status
        if status == "OK" and self.unary and not self.serialized:
            status = "INTERNAL"  # the response could not be serialized
        self._close(status, None, token)

    def close_exc(self, exc: BaseException, context: Any, token: _Token | None) -> None:
        """Close on an exception from the behavior (re-raised by the caller)."""
        if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            self._close("CANCELLED", None, token)
            return
        # context.abort() and set_code() leave the status on the context: the
        # exception then only carries it. Otherwise gRPC answers UNKNOWN.
        status = _context_code(context)
        if status is None or status == "OK":
            self._close("UNKNOWN", exc, token)
        else:
            self._close(status, None, token)

    def close_unserved(self, token: _Token | None) -> None:
        """A method no handler serves: gRPC answers UNIMPLEMENTED without a behavior."""
        self._close("UNIMPLEMENTED", None, token)

    def close_cancelled(self, token: _Token | None) -> None:
        """The response stream was dropped before its end (the client went away)."""
        if not self.closed:
            self._close("CANCELLED", None, token)

    def _close(self, status: str, exc: BaseException | None, token: _Token | None) -> None:
        record = self.record
        if record is None or token is None or self.closed:
            return
        self.closed = True
        try:
            http = record.http
            if http is not None:
                http.duration_ns = perf_counter_ns() - record.start_perf_ns
                http.status_code = status
                http.request_size = self.request_size
                http.response_size = self.response_size
                if self.first_message_ns:
                    http.ttfb_ns = self.first_message_ns - record.start_perf_ns
            if record.outcome == "ok":
                if status == "CANCELLED":
                    record.outcome = "cancelled"
                elif status in _SERVER_ERRORS:
                    if exc is not None:
                        record.set_error(exc)
                    else:
                        record.outcome = "error"
                        record.error_type = status
        except Exception:
            self.monitor.count_error("grpc_interceptor")
        end_transport(self.monitor, self.endpoint, record, token)

    # -- sync behaviors (grpc.server, and sync handlers on grpc.aio.server) ----

    def wrap_unary_response(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def unary_response(request: Any, context: Any) -> Any:
            token = self.open()
            try:
                response = behavior(request, context)
            except BaseException as exc:
                self.close_exc(exc, context, token)
                raise
            response = self.prepare(response, context)
            self.close_ok(context, token)
            return response

        return unary_response

    def wrap_stream_response(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def stream_response(request: Any, context: Any) -> Iterator[Any]:
            # The stream runs in a context of its own, entered for each step:
            # gRPC pulls messages on whatever thread it likes (a pool thread
            # serves other RPCs between two steps; sync handlers on grpc.aio
            # step in executor threads), and a predict inside the generator
            # must see this call's record, and only this call's.
            ctx = contextvars.copy_context()
            token = ctx.run(self.open)
            try:
                responses = ctx.run(behavior, request, context)
            except BaseException as exc:
                ctx.run(self.close_exc, exc, context, token)
                raise
            return self._iterate(ctx, token, responses, context)

        return stream_response

    def _iterate(
        self, ctx: contextvars.Context, token: _Token | None, responses: Any, context: Any
    ) -> Iterator[Any]:
        iterator: Iterator[Any] | None = None
        try:
            while True:
                try:
                    if iterator is None:
                        iterator = ctx.run(iter, responses)
                    message = ctx.run(next, iterator)
                except StopIteration:
                    ctx.run(self.close_ok, context, token)
                    return
                except BaseException as exc:
                    ctx.run(self.close_exc, exc, context, token)
                    raise
                yield self._serialize(message)
        finally:
            if not self.closed:
                ctx.run(self.close_cancelled, token)
                close = getattr(iterator, "close", None)
                if close is not None:
                    ctx.run(close)
