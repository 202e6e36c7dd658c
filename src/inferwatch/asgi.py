"""Pure ASGI middleware: one inference record per HTTP request.

::

    from inferwatch.asgi import Capture, InferenceMiddleware

    app = InferenceMiddleware(
        app,
        model="churn",
        capture={"/predict": Capture(features=lambda body: body["features"])},
    )

Per HTTP request the middleware opens a transport record (so a
``@inferwatch.monitor`` predict running inside the route fills in the same
record: one record per inference), watches ``receive`` and ``send`` for the
status code, body sizes, time to first byte and the moment the last response
byte leaves, and submits the record when the app returns. Lifespan and
websocket scopes, and the excluded paths (:data:`DEFAULT_EXCLUDED_PATHS` and
``exclude_paths=``, also behind a server root path), pass through untouched
(the lifespan is watched for the server's shutdown, see below).

What is measured, and how:

- **Inference id**: the request's ``x-request-id`` header (configurable; at
  most 128 characters of ``A-Z a-z 0-9 - _ . : + = /``, anything else is
  replaced), else a random 128-bit id; echoed in the response header unless
  the app set that header itself (in any letter case). A W3C ``traceparent``
  gives the record its ``trace_id`` (when no OpenTelemetry span is active),
  never its inference id: every request of one trace would share it.
- **An inference or not**: a request is counted as a model call
  (``inferwatch.predict.*``, drift) only when a ``@monitor`` predict ran inside
  it, or its route is declared a model endpoint (``model_routes=``, or a
  ``capture=`` entry). Every other request (a 422 from validation before the
  route ran, a 404) counts in the HTTP metrics alone.
- **Duration** ends when the last response body message (``more_body`` false)
  has been handed to the server; background tasks that run afterwards are not
  counted (they still count as in flight until the app returns).
- **Time to first byte** is recorded for streamed responses only (the first
  non-empty body chunk that has more to follow); a single-message response
  has no separate first byte.
- **Sizes** are the body bytes that actually flowed through ``receive`` and
  ``send`` (never ``content-length``).
- **Route** is the matched template (``/models/{name}/predict``), read from
  ``scope["route"]`` that Starlette and FastAPI set while routing; behind a
  ``Mount`` the mounts' own templates are prefixed (``/t/{tenant}/items/{item}``),
  never the raw matched path. Requests no route matched get ``_unmatched``;
  a template longer than 256 characters, or past 1,000 distinct mounted
  templates, becomes ``_other``; unknown methods, schemes and protocol
  versions become ``_OTHER``. No header value and no raw path ever becomes a
  metric attribute, so the series stay bounded whatever clients send.
- **Outcome**: ``error`` when the app raises before the response completed
  (``error.type`` is the exception's type; the exception propagates
  unchanged) or the status is 5xx (``error.type`` is the status code, as in
  OpenTelemetry's HTTP conventions). ``cancelled`` when the client went away
  before the last byte (a ``http.disconnect`` was seen, the server's ``send``
  failed, or the task was cancelled); such requests get status 499 if no
  response had started. An error already recorded by a joined predict call is
  kept. An exception raised after the last byte (a failing background task)
  does not change the outcome of a request the client received in full.
- **Closed at the last byte**: once the response is complete the record is
  closed, so a ``@monitor`` predict in a background task writes a record of
  its own instead of rewriting the finished request's.
- **Lifespan**: passed through, but watched: when the app reports
  ``lifespan.shutdown.complete`` (or ``.failed``, or its lifespan ends after a
  shutdown was asked for) the middleware calls ``Monitor.flush(timeout,
  export=True)`` in a worker thread before passing the message on, so records
  and metrics since the last export reach their sinks when the server stops
  (uvicorn runs the lifespan shutdown on SIGTERM, in every worker).

Everything the middleware does is fail-safe: a failure of its own code is
counted as ``inferwatch.self.errors{inferwatch.component="asgi"}`` and the request runs
as if it were absent. Per-request state lives in a per-call object, never on
the middleware instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from binascii import hexlify
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from ._capture import _current, _trace_ids, begin_transport, end_transport
from ._context import _reraise_fatal
from ._errors import ConfigurationError
from ._process import get_monitor
from ._record import HttpInfo
from ._snapshot import infer_batch_size

if TYPE_CHECKING:
    import contextvars

    from ._monitor import Monitor
    from ._record import Endpoint, InferenceRecord

__all__ = [
    "DEFAULT_EXCLUDED_PATHS", "OTHER_ROUTE", "UNMATCHED_ROUTE", "Capture", "InferenceMiddleware",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The route attribute of requests that no route matched.
UNMATCHED_ROUTE = "_unmatched"
#: The route attribute of a template too long, or past the cap on distinct
#: mounted templates: the series stay bounded whatever an app does.
OTHER_ROUTE = "_other"
#: Paths passed through without a record; ``exclude_paths=`` adds to these.
DEFAULT_EXCLUDED_PATHS: tuple[str, ...] = ("/health", "/healthz", "/metrics", "/ready")
#: Client closed the request before a response started (nginx's convention).
_CLIENT_CLOSED = 499
_MAX_ID_LENGTH = 128
#: Bytes a request id may hold: enough for UUIDs, ULIDs, W3C and AWS ids; no
#: spaces, quotes, ``@`` (an email as an id) or control characters.
_ID_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:+=/"
_MAX_CACHED_ROUTES = 10_000
_MAX_ROUTE_LENGTH = 256
_MAX_MOUNTED_TEMPLATES = 1_000
_MAX_MOUNT_DEPTH = 8
_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY")
)
_SCHEMES = {"http": "http", "https": "https"}
#: ASGI's ``http_version`` as ``network.protocol.version`` writes it.
_PROTOCOL_VERSIONS = {"1.0": "1.0", "1.1": "1.1", "2": "2", "2.0": "2", "3": "3", "3.0": "3"}
_LIFESPAN_ENDS = frozenset(("lifespan.shutdown.complete", "lifespan.shutdown.failed"))

#: Only OTel's own ASGI middleware, running inside ours, starts a span after
#: the request began; checking that its module is loaded keeps the lookup off
#: the path of apps without it.
_OTEL_ASGI = "opentelemetry.instrumentation.asgi"
_NO_SPAN = (0, 0)
_modules = sys.modules

_json_loads: Callable[[bytes], Any]
try:  # orjson is the optional "fast" extra; the standard library does the same job
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover - depends on the environment
    _json_loads = json.loads

try:  # the active span, read through OTel's public API when a request starts late
    from opentelemetry.trace import get_current_span as _get_current_span
except ImportError:  # pragma: no cover - opentelemetry-api is a dependency
    _get_current_span = None  # type: ignore[assignment]


class Capture:
    """What to capture from one route's JSON request and response bodies.

    ::

        Capture(
            features=lambda body: body["features"],      # from the request body
            prediction=lambda body: body["prediction"],  # from the response body
        )

    Each callable receives the parsed JSON body. Bodies are parsed after the
    response has completed, only for records something will read (drift, or
    the log keeping the record), and never when larger than the middleware's
    ``max_body_bytes`` (counted as ``inferwatch.self.errors`` with component
    ``asgi_body_too_large``): parsing holds the event loop, about 3 to 6 ms
    per MiB. A route with a ``Capture`` is a model endpoint: its requests
    count as model calls even when no ``@monitor`` predict ran inside. A
    field a joined ``@monitor`` predict already filled in (its features,
    prediction or confidence) is kept. An extractor that raises, or a body
    that is not JSON, is counted (component ``asgi_capture``) and skipped.
    """

    __slots__ = ("confidence", "features", "prediction")

    def __init__(
        self,
        features: Callable[[Any], Any] | None = None,
        prediction: Callable[[Any], Any] | None = None,
        confidence: Callable[[Any], Any] | None = None,
    ) -> None:
        for name, value in (
            ("features", features), ("prediction", prediction), ("confidence", confidence)
        ):
            if value is not None and not callable(value):
                raise ConfigurationError(
                    f"Capture({name}=...) must be a callable taking the parsed JSON body, "
                    f"e.g. lambda body: body[{name!r}]; got {type(value).__name__}"
                )
        if features is None and prediction is None and confidence is None:
            raise ConfigurationError(
                "Capture() captures nothing: pass features=, prediction= or confidence="
            )
        self.features = features
        self.prediction = prediction
        self.confidence = confidence

    @property
    def wants_response(self) -> bool:
        return self.prediction is not None or self.confidence is not None

    def __repr__(self) -> str:
        names = [n for n in ("features", "prediction", "confidence") if getattr(self, n)]
        return f"Capture({', '.join(names)})"


class InferenceMiddleware:
    """Record every HTTP request as an inference; see the module docs for what is measured.

    ::

        app.add_middleware(InferenceMiddleware, model="churn", version="3")

    Args:
        app: the ASGI application to wrap.
        monitor: the ``Monitor`` to report to (default: the process default,
            looked up per request so a later ``inferwatch.configure`` applies).
        model, version: model name and version of requests that no
            ``@monitor`` predict joins (default: the configured ``model_name``,
            else ``"http"``, and the configured ``model_version``).
        request_id_header: request header carrying the caller's inference id.
        response_id_header: echo the inference id in the response: ``True``
            uses ``request_id_header``'s name, a string names another header,
            ``False`` turns it off.
        exclude_paths: exact paths passed through without a record, in
            addition to :data:`DEFAULT_EXCLUDED_PATHS` (``/health``,
            ``/healthz``, ``/metrics``, ``/ready``).
        capture: route template → :class:`Capture`, for JSON body capture.
        model_routes: route templates that are model endpoints: their
            requests count as model calls (``inferwatch.predict.*``, drift)
            even when no ``@monitor`` predict ran inside them. Every other
            request without a monitored predict (a 404, a 422 from validation
            before the route ran) counts in the HTTP metrics only.
        max_body_bytes: bodies larger than this are not buffered for capture
            (default 64 KiB: a body is parsed on the event loop).
        attributes: static attributes put on every record of this middleware.
        shutdown_flush_timeout: seconds the flush at the lifespan shutdown may
            take (``None`` turns that flush off).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        monitor: Monitor | None = None,
        model: str | None = None,
        version: str | None = None,
        request_id_header: str = "x-request-id",
        response_id_header: bool | str = True,
        exclude_paths: Iterable[str] = (),
        capture: Mapping[str, Capture] | None = None,
        model_routes: Iterable[str] = (),
        max_body_bytes: int = 64 * 1024,
        attributes: Mapping[str, Any] | None = None,
        shutdown_flush_timeout: float | None = 5.0,
    ) -> None:
        self.app = app
        self.monitor = monitor
        self.model = model
        self.version = version
        if not isinstance(request_id_header, str) or not request_id_header:
            raise ConfigurationError(
                "request_id_header must be a header name, e.g. 'x-request-id'"
            )
        self._id_header = request_id_header.lower().encode("latin-1")
        # One membership test per request header finds both headers read.
        self._wanted_headers = frozenset((self._id_header, b"traceparent"))
        if response_id_header is True:
            self._echo_header: bytes | None = self._id_header
        elif response_id_header is False or response_id_header is None:
            self._echo_header = None
        elif isinstance(response_id_header, str) and response_id_header:
            self._echo_header = response_id_header.lower().encode("latin-1")
        else:
            raise ConfigurationError(
                "response_id_header must be True, False or a header name, "
                f"not {response_id_header!r}"
            )
        if isinstance(exclude_paths, str):
            raise ConfigurationError(
                "exclude_paths must be a collection of paths, e.g. ('/health',), not one string"
            )
        self._exclude = frozenset((*DEFAULT_EXCLUDED_PATHS, *exclude_paths))
        self._capture: dict[str, Capture] = {}
        for route, spec in (capture or {}).items():
            _check_template("capture keys", route)
            if not isinstance(spec, Capture):
                raise ConfigurationError(
                    f"capture[{route!r}] must be an inferwatch.asgi.Capture, "
                    f"not {type(spec).__name__}"
                )
            self._capture[route] = spec
        if isinstance(model_routes, str):
            raise ConfigurationError(
                "model_routes must be a collection of route templates, "
                "e.g. ('/models/{name}/predict',), not one string"
            )
        routes = tuple(model_routes)
        for route in routes:
            _check_template("model_routes", route)
        #: Routes whose requests are inferences without a monitored predict.
        self._model_routes = frozenset((*routes, *self._capture))
        if shutdown_flush_timeout is not None and (
            isinstance(shutdown_flush_timeout, bool)
            or not isinstance(shutdown_flush_timeout, (int, float))
            or not shutdown_flush_timeout >= 0
        ):
            raise ConfigurationError(
                "shutdown_flush_timeout must be a number of seconds >= 0, or None to "
                f"skip the flush at shutdown, not {shutdown_flush_timeout!r}"
            )
        self.shutdown_flush_timeout = (
            None if shutdown_flush_timeout is None else float(shutdown_flush_timeout)
        )
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or (
            max_body_bytes < 0
        ):
            raise ConfigurationError(
                f"max_body_bytes must be an integer >= 0, not {max_body_bytes!r}"
            )
        self.max_body_bytes = max_body_bytes
        self.attributes = {str(k): str(v) for k, v in (attributes or {}).items()}
        # Caches shared by all requests (never per-request state): the endpoint
        # per monitor, and the template of each route object seen.
        self._bound: tuple[Monitor, Endpoint] | None = None
        self._routes: dict[int, tuple[object, str, bool]] = {}
        self._mounted: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exclude:
            if scope["type"] == "lifespan" and self.shutdown_flush_timeout is not None:
                await _Lifespan(self).run(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        try:
            exchange = self._start(scope, receive, send)
        except Exception:
            exchange = None
            self._count_error(None, "asgi")
        if exchange is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except BaseException as exc:
            exchange.finish(exc)
            raise
        exchange.finish(None)

    # -- per request ----------------------------------------------------------

    def _start(self, scope: Scope, receive: Receive, send: Send) -> _Exchange | None:
        monitor = self.monitor if self.monitor is not None else get_monitor()
        if not monitor.enabled:
            return None
        root: str = scope.get("root_path", "")
        if root:  # behind the server's --root-path, the path starts with it
            path: str = scope["path"]
            if path.startswith(root) and path[len(root):] in self._exclude:
                return None
        parent = _current.get()
        if parent is not None and parent.http is not None:
            return None  # an outer InferenceMiddleware already records this request
        bound = self._bound
        if bound is None or bound[0] is not monitor:
            config = monitor.config
            endpoint = monitor.endpoint(
                self.model or config.model_name or "http",
                self.version or config.model_version,
                self.attributes,
            )
            bound = self._bound = (monitor, endpoint)
        endpoint = bound[1]

        inference_id: str | None = None
        traceparent: bytes | None = None
        id_header = self._id_header
        wanted = self._wanted_headers
        for name, value in scope["headers"]:
            if name in wanted:
                if name == id_header:
                    if inference_id is None:  # the first usable one wins
                        inference_id = _valid_id(value)
                else:
                    traceparent = value
        method = scope.get("method", "GET")
        http = HttpInfo(
            "http",
            method if method in _METHODS else "_OTHER",
            UNMATCHED_ROUTE,
            _SCHEMES.get(scope.get("scheme", "http"), "_OTHER"),
            _PROTOCOL_VERSIONS.get(scope.get("http_version", "1.1"), "_OTHER"),
        )
        record, token = begin_transport(endpoint, http, inference_id)
        if traceparent is not None and record.trace_id == 0:
            # The caller's trace, for the record's trace_id (and the sampling
            # decided from it); the inference id stays the request's own.
            record.trace_id = _trace_id_from(traceparent)
        return _Exchange(
            self, monitor, endpoint, record, token, http, scope, root, receive, send
        )

    def _count_error(self, monitor: Monitor | None, component: str) -> None:
        with contextlib.suppress(Exception):  # nowhere left to report
            (monitor or self.monitor or get_monitor()).count_error(component)

    def _route_template(self, scope: Scope, start_root: str) -> str | None:
        """The matched route's template, or None when nothing matched (yet).

        Built from templates only (the routes' and the mounts'), never from
        ``root_path`` or the path, whose values a client chooses.
        """
        route = scope.get("route")
        mounted = scope.get("root_path", "") != start_root
        if route is None:
            # A router that does not set scope["route"] (older Starlette, for a
            # mounted app) has still moved the mount's prefix into root_path.
            return self._mounted_template(scope, start_root, None) if mounted else None
        cached = self._routes.get(id(route))
        if cached is None or cached[0] is not route:
            cached = (route, *_describe_route(route))
            if len(self._routes) < _MAX_CACHED_ROUTES:
                self._routes[id(route)] = cached
        _, path, is_mount = cached
        if is_mount or mounted:
            return self._mounted_template(scope, start_root, None if is_mount else path)
        return path

    def _mounted_template(self, scope: Scope, start_root: str, leaf: str | None) -> str:
        """The mounts' templates the request went through, then the leaf route's.

        The mounts are found again from the top router (``scope["router"]``,
        set once by the outermost Starlette router) by matching each level's
        mount patterns against the path; the chain must account for exactly
        the prefix the routers moved into ``root_path``, else the template is
        a placeholder. A plain ASGI app behind the last mount gets ``/{path}``.
        """
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if start_root and path.startswith(start_root):
            path = path[len(start_root):]
        wanted = len(root) - len(start_root) if root.startswith(start_root) else -1
        prefix = _mount_prefix(scope.get("router"), path, wanted)
        if prefix is None:
            return UNMATCHED_ROUTE
        template = prefix + ("/{path}" if leaf is None else leaf)
        if len(template) > _MAX_ROUTE_LENGTH:
            return OTHER_ROUTE
        seen = self._mounted
        if template not in seen:
            if len(seen) >= _MAX_MOUNTED_TEMPLATES:
                return OTHER_ROUTE
            seen.add(template)
        return template


def _check_template(what: str, route: object) -> None:
    if not isinstance(route, str) or not route.startswith("/"):
        raise ConfigurationError(
            f"{what} are route templates like '/models/{{name}}/predict', not {route!r}"
        )


def _mount_prefix(router: object, path: str, wanted: int) -> str | None:
    """The templates of the mounts matching ``path`` level by level, joined."""
    if router is None or wanted < 0:
        return None
    try:
        from starlette.routing import Mount
    except ImportError:  # pragma: no cover - root_path moved without Starlette
        return None
    parts: list[str] = []
    matched = 0
    routes: Any = getattr(router, "routes", ())
    for _ in range(_MAX_MOUNT_DEPTH):
        if matched == wanted and parts:
            break
        for route in routes:
            if isinstance(route, Mount):
                found = route.path_regex.match(path)
                if found is not None:
                    rest = "/" + found.group("path")
                    matched += len(path) - len(rest)
                    parts.append(route.path)
                    path = rest
                    routes = route.routes
                    break
        else:
            return None
    return "".join(parts) if matched == wanted and parts else None


def _describe_route(route: object) -> tuple[str, bool]:
    path: Any = getattr(route, "path", None)
    if not isinstance(path, str) or not path:
        return UNMATCHED_ROUTE, False
    if len(path) > _MAX_ROUTE_LENGTH:
        return OTHER_ROUTE, False
    try:
        from starlette.routing import Mount
    except ImportError:  # pragma: no cover - a non-Starlette router setting scope["route"]
        return path, False
    return path, isinstance(route, Mount)


def _valid_id(value: bytes) -> str | None:
    if not 0 < len(value) <= _MAX_ID_LENGTH or value.translate(None, _ID_BYTES):
        return None  # too long, or a byte outside the id alphabet
    return value.decode("ascii")


def _trace_id_from(traceparent: bytes) -> int:
    """The trace id of a W3C ``traceparent`` header, 0 when it is not a valid one."""
    # version "-" trace-id (32 hex) "-" parent-id (16 hex) "-" flags
    if len(traceparent) < 55 or traceparent[2:3] != b"-" or traceparent[35:36] != b"-":
        return 0
    hex_id = traceparent[3:35]
    if hex_id.translate(None, b"0123456789abcdef"):
        return 0  # int() would also take "+", "_" and spaces
    return int(hex_id, 16)


class _Exchange:
    """The state of one request/response, and the wrapped ``receive`` and ``send``.

    ``receive`` and ``send`` run for every message of every request: each
    keeps the common message (a body chunk, the response start) to a few
    attribute reads and writes, and leaves body capture to helpers that run
    only when a route asked for it.
    """

    __slots__ = (
        "_receive",
        "_send",
        "capture",
        "client_gone",
        "endpoint",
        "http",
        "middleware",
        "monitor",
        "record",
        "request_chunks",
        "response_chunks",
        "scope",
        "start",
        "start_root",
        "token",
    )

    def __init__(
        self,
        middleware: InferenceMiddleware,
        monitor: Monitor,
        endpoint: Endpoint,
        record: InferenceRecord,
        token: contextvars.Token[InferenceRecord | None],
        http: HttpInfo,
        scope: Scope,
        start_root: str,
        receive: Receive,
        send: Send,
    ) -> None:
        self.middleware = middleware
        self.monitor = monitor
        self.endpoint = endpoint
        self.record = record
        self.token = token
        self.http = http
        self.scope = scope
        self._receive = receive
        self._send = send
        self.start = record.start_perf_ns
        # The root path before routing; mounts add their prefixes to it.
        self.start_root = start_root
        # A http.disconnect was seen, or the server's send failed.
        self.client_gone = False
        # Body capture: None = not captured; a list = buffered chunks; False =
        # not wanted; True = over the size limit. Decided at the first body
        # message (see _tee_request and _response_starts).
        self.capture: Capture | None = None
        self.request_chunks: list[bytes] | bool | None = None
        self.response_chunks: list[bytes] | bool | None = None

    async def receive(self) -> Message:
        message = await self._receive()
        try:
            kind = message["type"]
            if kind == "http.request":
                body = message.get("body", b"")
                if body:
                    self.http.request_size += len(body)
                    if self.middleware._capture:
                        self._tee_request(body)
            elif kind == "http.disconnect":
                self.client_gone = True
        except Exception:
            self.middleware._count_error(self.monitor, "asgi")
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]  # required (servers index it too)
        if kind == "http.response.start":
            try:
                self._response_starts(message)
            except Exception:
                self.middleware._count_error(self.monitor, "asgi")
        elif kind == "http.response.body":
            body = message.get("body", b"")
            if body and self.response_chunks is not None:
                self._tee_response(body)
            try:
                await self._send(message)
            except BaseException:
                self.client_gone = True
                raise
            now = perf_counter_ns()
            http = self.http
            if body:
                http.response_size += len(body)
            if not message.get("more_body", False):
                http.duration_ns = now - self.start
                # The response is complete (the flag finish() reads): a predict
                # running later in this context (a background task) is an
                # inference of its own.
                self.record.closed = True
            elif body and http.ttfb_ns is None:
                http.ttfb_ns = now - self.start
            return
        elif kind == "http.response.pathsend":  # the server sends a whole file
            try:
                await self._send(message)
            except BaseException:
                self.client_gone = True
                raise
            self.http.duration_ns = perf_counter_ns() - self.start
            self.record.closed = True
            return
        try:
            await self._send(message)
        except BaseException:
            self.client_gone = True
            raise

    def _response_starts(self, message: Message) -> None:
        """The status, the late trace ids, and the id echoed in the response headers."""
        self.http.status_code = message.get("status")
        record = self.record
        if record.span_id == 0 and _OTEL_ASGI in _modules:
            _late_trace_ids(record)
        middleware = self.middleware
        if middleware._capture:
            spec = self._capture_spec()
            if spec is not None and spec.wants_response:
                self.response_chunks = []
        echo = middleware._echo_header
        if echo is None:
            return
        headers = message.get("headers")
        if type(headers) is not list:
            # Any iterable is valid ASGI: read it once, and hand the server a
            # list, never the consumed iterator.
            headers = message["headers"] = [] if headers is None else list(headers)
        for name, _ in headers:
            if name.lower() == echo:  # the app set its own id header: leave it alone
                return
        if record.inference_id is not None:
            value = record.inference_id.encode("latin-1")
        else:  # hexlify gives the bytes a header needs directly
            value = hexlify(record.random_id().to_bytes(16, "big"))
        # A new list (the app may reuse its own) in the app's message dict, as
        # Starlette's own middlewares do with MutableHeaders.
        message["headers"] = [*headers, (echo, value)]

    # -- body capture --------------------------------------------------------

    def _capture_spec(self) -> Capture | None:
        capture = self.capture
        if capture is None:
            template = self.middleware._route_template(self.scope, self.start_root)
            if template is not None:
                capture = self.middleware._capture.get(template)
                self.capture = capture
        return capture

    def _tee_request(self, body: bytes) -> None:
        chunks = self.request_chunks
        if chunks is None:
            # The router has matched by the time the route reads its body; if
            # something read it before routing, buffer it and decide at the end.
            template = self.middleware._route_template(self.scope, self.start_root)
            if template is not None:
                spec = self.middleware._capture.get(template)
                self.capture = spec
                if spec is None or spec.features is None:
                    self.request_chunks = False
                    return
            chunks = self.request_chunks = []
        if chunks is False or chunks is True:
            return
        if self.http.request_size > self.middleware.max_body_bytes:
            self.request_chunks = True  # too large: stop buffering, count it at the end
            return
        chunks.append(body)

    def _tee_response(self, body: bytes) -> None:
        chunks = self.response_chunks
        if not isinstance(chunks, list):
            return
        if self.http.response_size + len(body) > self.middleware.max_body_bytes:
            self.response_chunks = True
            return
        chunks.append(body)

    def _apply_capture(self) -> None:
        spec = self._capture_spec()
        if spec is None:
            return
        record = self.record
        monitor = self.monitor
        requested = self.request_chunks
        if requested is True or self.response_chunks is True:
            monitor.count_error("asgi_body_too_large")
        if (
            isinstance(requested, list)
            and spec.features is not None
            and record.features is None
            and monitor.wants_features(record)
        ):
            try:
                features = spec.features(_json_loads(b"".join(requested)))
                record.features = features
                record.batch_size = infer_batch_size(features)
            except BaseException as error:  # a user's extractor may raise anything
                _reraise_fatal(error)
                monitor.count_error("asgi_capture")
        response = self.response_chunks
        if isinstance(response, list) and record.closed and record.outcome == "ok":
            try:
                body = _json_loads(b"".join(response))
                if spec.prediction is not None and record.prediction is None:
                    record.prediction = spec.prediction(body)
                if spec.confidence is not None and record.confidence is None:
                    record.confidence = spec.confidence(body)
            except BaseException as error:  # a user's extractor may raise anything
                _reraise_fatal(error)
                monitor.count_error("asgi_capture")

    # -- the end -------------------------------------------------------------

    def finish(self, exc: BaseException | None) -> None:
        record = self.record
        middleware = self.middleware
        try:
            http = self.http
            done = record.closed  # the last response byte was sent
            if not done:
                http.duration_ns = perf_counter_ns() - self.start
            template = middleware._route_template(self.scope, self.start_root)
            if template is not None:
                http.route = template
            status = http.status_code
            client_gone = self.client_gone
            if done:
                if isinstance(status, int) and status >= 500 and record.outcome == "ok":
                    record.outcome = "error"
                    record.error_type = str(status)
            elif exc is not None and not client_gone and not _is_cancellation(exc):
                if record.outcome == "ok":
                    record.set_error(exc)
                if status is None:
                    http.status_code = 500
            elif exc is not None or client_gone:
                if record.outcome == "ok":
                    record.outcome = "cancelled"
                if status is None:
                    http.status_code = _CLIENT_CLOSED
            else:  # the app returned without finishing a response: the server sends 500
                if status is None:
                    http.status_code = 500
                if record.outcome == "ok":
                    record.outcome = "error"
                    record.error_type = str(http.status_code)
            if middleware._model_routes and record.joinable and (
                http.route in middleware._model_routes
            ):
                record.inference = True  # a declared model endpoint
            if middleware._capture:
                self._apply_capture()
        except BaseException as error:  # a user's extractor may raise anything
            _reraise_fatal(error)
            middleware._count_error(self.monitor, "asgi")
        end_transport(self.monitor, self.endpoint, record, self.token)


def _is_cancellation(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.CancelledError)


class _Lifespan:
    """One lifespan scope, passed through, with a flush when the server shuts down.

    Servers run the lifespan shutdown on SIGTERM (uvicorn, in each worker)
    without running ``atexit`` hooks, so this is the last moment records
    still buffered, logs still queued and metrics since the last export can
    leave the process.
    """

    __slots__ = ("_receive", "_send", "flushed", "middleware", "shutting_down")

    def __init__(self, middleware: InferenceMiddleware) -> None:
        self.middleware = middleware
        self.shutting_down = False
        self.flushed = False

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        try:
            await self.middleware.app(scope, self.receive, self.send)
        finally:
            if self.shutting_down and not self.flushed:
                await self.flush()

    async def receive(self) -> Message:
        message = await self._receive()
        if message.get("type") == "lifespan.shutdown":
            self.shutting_down = True
        return message

    async def send(self, message: Message) -> None:
        if message.get("type") in _LIFESPAN_ENDS and not self.flushed:
            await self.flush()
        await self._send(message)

    async def flush(self) -> None:
        self.flushed = True
        middleware = self.middleware
        timeout = middleware.shutdown_flush_timeout or 0.0
        monitor: Monitor | None = None
        try:
            monitor = middleware.monitor if middleware.monitor is not None else get_monitor()
            if not monitor.enabled:
                return
            # Off the event loop: writing logs and exporting block. The flush
            # returns within its timeout; the wait is bounded all the same.
            await asyncio.wait_for(
                asyncio.to_thread(monitor.flush, timeout, export=True), timeout + 1.0
            )
        except Exception:
            middleware._count_error(monitor, "asgi_lifespan")


def _late_trace_ids(record: InferenceRecord) -> None:
    """Fill trace ids when OTel's middleware runs inside ours (its span began after us).

    While the app sends its response the current span is OTel's server span,
    or its internal "http send" child; the record takes the server span.
    """
    if _get_current_span is None:  # pragma: no cover - opentelemetry-api is a dependency
        return
    if _trace_ids() == _NO_SPAN:  # the cheap reader: OTel is loaded but no span is on
        return
    span = _get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return
    record.trace_id = context.trace_id
    span_id = context.span_id
    kind = getattr(span, "kind", None)
    parent = getattr(span, "parent", None)
    if kind is not None and getattr(kind, "name", "") != "SERVER" and parent is not None:
        parent_id = getattr(parent, "span_id", 0)
        if parent_id and getattr(parent, "trace_id", 0) == context.trace_id:
            span_id = parent_id
    record.span_id = span_id
