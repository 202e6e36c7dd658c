"""StatusApp: the status page and its JSON as a small pure ASGI app.

Two routes under one prefix (``/inferwatch`` by default): ``GET {prefix}``
the HTML page, ``GET {prefix}/status`` the JSON document; and, with
``labels=True``, a third that writes: ``POST {prefix}/labels`` takes delayed
labels (and outcomes) as JSON or JSON lines, for the label trackers of the
monitor (see :mod:`inferwatch.labels._body` for the body and each 4xx). The app serves
only what it is mounted on: mounted with a router (Starlette's ``Mount``,
FastAPI's ``app.mount``), behind a server root path, or served alone, it
answers the two routes relative to where it sits and 404s everything else.

With a ``token`` every request must carry it, compared in constant time
(:func:`hmac.compare_digest`): ``Authorization: Bearer <token>`` (scripts,
``curl``), or HTTP Basic with the token as the password and any user name
(a browser asks for it itself, so the token never sits in an address or an
access log). Anything else gets a bare 401 that says how to authenticate
and nothing about the content.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import math
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .._monitor import Monitor
from ._document import build_status
from ._html import render_html
from ._infra import ProcessSampler

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Default prefix of the two routes.
STATUS_PREFIX = "/inferwatch"

# Nothing but the page itself: no script, no fetch, no frame, no form.
_SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
     b"form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


def _clean(value: Any) -> Any:
    """JSON without NaN or infinity (they become null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(doc: Any) -> bytes:
    """The status document as compact UTF-8 JSON."""
    return json.dumps(_clean(doc), separators=(",", ":"), allow_nan=False,
                      default=str).encode("utf-8")


class Response:
    """What the app answers: status, headers and body (shared by every server)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, content_type: bytes,
                 headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self.status = status
        self.body = body
        self.headers = [(b"content-type", content_type),
                        (b"content-length", str(len(body)).encode("ascii")),
                        *_SECURITY_HEADERS, *headers]


_TEXT = b"text/plain; charset=utf-8"


class StatusApp:
    """The status page (HTML) and status document (JSON) of a monitor, as an ASGI app.

    ::

        from inferwatch.status import StatusApp
        app.mount("/inferwatch", StatusApp(token=os.environ["STATUS_TOKEN"]))
        # or alone:  uvicorn.run(StatusApp(), host="127.0.0.1", port=9100)

    Args:
        monitor: the monitor to show (default: the process default, read at
            each request, so a later ``inferwatch.configure`` is followed).
        token: a bearer token every request must carry (default: none).
        drift: drift monitors to report on (default: every
            :class:`inferwatch.drift.DriftMonitor` fed by the monitor).
        prefix: the routes' path when not mounted under it.
        refresh: seconds between page reloads (0: never).
        title: the page's title.
        labels: also serve ``POST {prefix}/labels`` (needs ``token``: it writes).
        max_label_bytes: the largest body that route reads (413 past it).
    """

    def __init__(
        self,
        monitor: Monitor | None = None,
        token: str | None = None,
        *,
        drift: Iterable[Any] | None = None,
        prefix: str = STATUS_PREFIX,
        refresh: int = 30,
        title: str = "inferwatch status",
        labels: bool = False,
        max_label_bytes: int = 1 << 20,
    ) -> None:
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise ValueError("token must be a non-empty string (or None for no token)")
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"prefix must start with '/' and not end with one, got {prefix!r}")
        self.monitor = monitor
        self._token = None if token is None else token.encode("utf-8")
        self._drift = None if drift is None else list(drift)
        self.prefix = prefix
        self.refresh = refresh
        self.title = title
        self._sampler = ProcessSampler()
        if labels and self._token is None:
            raise ValueError("labels=True serves a route that writes: give token= as well "
                             "(every POST must carry Authorization: Bearer <token>)")
        if isinstance(max_label_bytes, bool) or not isinstance(max_label_bytes, int) or (
                max_label_bytes < 1):
            raise ValueError(f"max_label_bytes must be a positive int, got {max_label_bytes!r}")
        self.labels = bool(labels)
        self.max_label_bytes = max_label_bytes

    # -- the routes ------------------------------------------------------------------

    def _route(self, path: str) -> str | None:
        """'page', 'json' or None for a path relative to where the app sits."""
        for base in (self.prefix, ""):
            if path in (base, base + "/"):
                return "page"
            if path == base + "/status":
                return "json"
            if self.labels and path == base + "/labels":
                return "labels"
        return None

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        if self._token is None:
            return True
        given = b""
        scheme, _, value = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() == b"bearer":
            given = value.strip()
        elif scheme.lower() == b"basic":
            try:
                given = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
            except (binascii.Error, ValueError):
                given = b""
        return hmac.compare_digest(given, self._token)

    def document(self) -> dict[str, Any]:
        """The status document now (see :func:`inferwatch.status.build_status`)."""
        return build_status(self.monitor, drift=self._drift, sampler=self._sampler)

    def respond(self, method: str, path: str, query: bytes, headers: dict[bytes, bytes],
                full_path: str | None = None, body: bytes | None = None) -> Response:
        """Answer one request (blocking: it reads the monitor); servers call this.

        ``path`` is relative to where the app sits, ``full_path`` the path the
        client asked for (for the links and the redirect; default ``path``);
        ``body`` the request body of a POST to the labels route (None: the
        server reads no bodies, and that route answers 501).
        """
        full = path if full_path is None else full_path
        route = self._route(path)
        if route is None:
            return Response(404, b"not found\n", _TEXT)
        if route == "labels":
            return self._labels(method, headers, body)
        if method not in ("GET", "HEAD"):
            return Response(405, b"method not allowed\n", _TEXT, [(b"allow", b"GET, HEAD")])
        if not self._authorised(headers):
            return _unauthorised()
        try:
            doc = self.document()
        except Exception:
            monitor = self.monitor
            if monitor is None:
                from .._process import get_monitor

                monitor = get_monitor()
            monitor.count_error("status")
            return Response(500, b"the status could not be read; see "
                            b"inferwatch.self.errors{inferwatch.component=status}\n", _TEXT)
        if route == "json":
            return Response(200, to_json(doc), b"application/json")
        json_url = full.rstrip("/") + "/status"
        page = render_html(doc, title=self.title, refresh=self.refresh, json_url=json_url)
        return Response(200, page.encode("utf-8"), b"text/html; charset=utf-8")

    # -- the labels route -----------------------------------------------------------

    def _labels_monitor(self) -> Monitor:
        if self.monitor is not None:
            return self.monitor
        from .._process import get_monitor

        return get_monitor()

    def _labels_precheck(self, method: str, headers: dict[bytes, bytes]) -> Response | None:
        """What can be answered before the body is read: 405, 401, 415, 413."""
        if method != "POST":
            return Response(405, b"method not allowed: POST labels here\n", _TEXT,
                            [(b"allow", b"POST")])
        if not self._authorised(headers):
            return _unauthorised()
        from ..labels._body import JSON_LINES

        kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if kind != b"application/json" and kind.decode("latin-1") not in JSON_LINES:
            return _error(415, "send Content-Type: application/json ({\"labels\": [...]}) "
                               "or application/x-ndjson (one label per line)")
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return _error(400, "Content-Length is not a number")
            if size > self.max_label_bytes:
                return _error(413, f"the body is over {self.max_label_bytes} bytes; send "
                                   "labels in smaller batches")
        return None

    def _labels(self, method: str, headers: dict[bytes, bytes],
                body: bytes | None) -> Response:
        early = self._labels_precheck(method, headers)
        if early is not None:
            return early
        if body is None:
            return _error(501, "this server reads no request bodies: mount the ASGI "
                               "StatusApp(labels=True) to take labels")
        if len(body) > self.max_label_bytes:
            return _error(413, f"the body is over {self.max_label_bytes} bytes; send labels "
                               "in smaller batches")
        from ..labels._body import BodyError, parse_body, record_body
        from ..labels._tracker import trackers_for

        monitor = self._labels_monitor()
        try:
            labels, outcomes = parse_body(
                headers.get(b"content-type", b"").decode("latin-1"), body)
            trackers = trackers_for(monitor)
            if not trackers:
                return _error(503, "no label tracker runs for this monitor: start one with "
                                   "inferwatch.labels.track(...)")
            answer = record_body(trackers, labels, outcomes)
        except BodyError as exc:
            return _error(exc.status, exc.message)
        except Exception:
            monitor.count_error("labels_route")
            return _error(500, "the labels could not be recorded; see "
                               "inferwatch.self.errors{inferwatch.component=labels_route}")
        return Response(202, to_json(answer), b"application/json")

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The request body, or None once it passes ``max_label_bytes`` (413)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_label_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # -- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # served alone: nothing to start or stop
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        full: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        path = full
        if root and path.startswith(root):  # mounted, or behind --root-path
            path = path[len(root):]
        headers = {bytes(k).lower(): bytes(v) for k, v in scope.get("headers", ())}
        loop = asyncio.get_running_loop()
        method = scope.get("method", "GET")
        body: bytes | None = None
        if self._route(path) == "labels":
            # Refused before a byte of the body is read (method, token, type, length).
            early = self._labels_precheck(method, headers)
            if early is not None:
                await _send(send, early, method)
                return
            body = await self._read_body(receive)
            if body is None:
                await _send(send, _error(413, f"the body is over {self.max_label_bytes} "
                                              "bytes; send labels in smaller batches"), method)
                return
        # The document drains the monitor: off the event loop.
        response = await loop.run_in_executor(
            None, self.respond, method, path, scope.get("query_string", b""), headers, full,
            body)
        await _send(send, response, method)


async def _send(send: Send, response: Response, method: str) -> None:
    await send({"type": "http.response.start", "status": response.status,
                "headers": response.headers})
    await send({"type": "http.response.body",
                "body": b"" if method == "HEAD" else response.body})


def _error(status: int, message: str) -> Response:
    return Response(status, to_json({"error": message, "status": status}), b"application/json")


def _unauthorised() -> Response:
    return Response(401, b"401 Unauthorized: send Authorization: Bearer <token>\n",
                    _TEXT, [(b"www-authenticate", b'Bearer realm="inferwatch"'),
                            (b"www-authenticate", b'Basic realm="inferwatch", '
                                                  b'charset="UTF-8"')])

