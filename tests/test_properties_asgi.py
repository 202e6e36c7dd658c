"""Property tests: the ASGI middleware's body capture never changes what the client sees.

Requests with bodies of any size, chunking and encoding (valid JSON, JSON with
lone-surrogate escapes, byte-order marks, UTF-16, bytes that are not UTF-8,
nesting deeper than any parser allows, oversized bodies) and any content
type, answered by an app that streams any response in any chunks with
headers given as any iterable, or raises at any point: the messages the
server receives from the wrapped app are exactly the bare app's (with the
echoed id header off; with it on, plus that one header), the app's exception
propagates as the same object, every request is counted in the HTTP metrics
and, on a capture route, as a model call, and the log lines render as valid
UTF-8 JSON.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
from collections.abc import Iterable
from typing import Any

import pytest
from fuzz.hostile import hostile_settings
from hypothesis import given
from hypothesis import strategies as st

import inferwatch
from inferwatch.asgi import Capture, InferenceMiddleware
from inferwatch.logsinks._base import JsonLinesRenderer
from inferwatch.testing import capture

pytest.importorskip("starlette")  # the 'serving' group; the oldest-dependencies run has none
import inspect

from starlette import routing as _routing
from starlette.applications import Starlette
from starlette.routing import Route

# The capture routes are found through the matched route Starlette puts in the
# scope; older releases (the lowest declared versions) do not, so there a plain
# Starlette route is '_unmatched' and these properties cannot hold as written.
pytestmark = pytest.mark.skipif(
    'scope["route"]' not in inspect.getsource(_routing),
    reason="this Starlette does not put the matched route in the scope",
)

#: Defects found here and still open (see /tmp/team/hostile_failing.md), each pinned by a
#: strict xfail below that starts failing (XPASS) once fixed: then drop it from here.
OPEN_DEFECTS: frozenset[str] = frozenset()

#: Examples per property (reported in the README's Reliability section).
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "1000"))
LOG_ALL = {"sample_rate": 1.0, "feature_sample_rate": 1.0, "max_records_per_second": 1e9}

Message = dict[str, Any]


class AppError(Exception):
    """What the app raises when the plan says so."""


# -- request bodies -------------------------------------------------------------------------

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec=None), max_size=20),  # lone surrogates included
)
_json_values = st.recursive(
    _json_scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=20,
)


def _encode(value: Any, how: str) -> bytes:
    document = {"features": value} if how != "bare" else value
    if how == "ascii":  # lone surrogates become \\udXXX escapes: valid JSON
        return json.dumps(document, ensure_ascii=True).encode("ascii")
    text = json.dumps(document, ensure_ascii=False)
    if how == "surrogatepass":  # a raw lone surrogate: not UTF-8 at all
        return text.encode("utf-8", "surrogatepass")
    clean = text.encode("utf-8", "replace")
    if how == "bom":
        return codecs.BOM_UTF8 + clean
    if how == "utf16":
        return text.encode("utf-16", "surrogatepass")
    return clean


def _special_body(kind: str) -> bytes:
    if kind == "deep":
        return b'{"features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    if kind == "huge":
        return b'{"features": [' + b"1.5," * 300_000 + b"2]}"
    if kind == "binary":
        return bytes(range(256)) * 4
    if kind == "truncated":
        return b'{"features": [1, 2, '
    if kind == "nan":
        return b'{"features": [NaN, Infinity, -Infinity]}'
    return b""


bodies = st.one_of(
    st.builds(_encode, _json_values,
              st.sampled_from(["ascii", "utf8", "surrogatepass", "bom", "utf16", "bare"])),
    st.binary(max_size=200),
    st.sampled_from(["deep", "huge", "binary", "truncated", "nan", "empty"]).map(_special_body),
)

_header_names = st.sampled_from([
    b"content-type", b"x-request-id", b"X-Request-ID", b"traceparent", b"content-length",
    b"x-custom", b"set-cookie",
])
_header_values = st.one_of(
    st.sampled_from([b"application/json", b"application/json; charset=utf-16", b"text/plain",
                     b"multipart/form-data; boundary=--x", b"", b"\xff\xfe", b"a" * 5000,
                     b"00-" + b"f" * 32 + b"-" + b"1" * 16 + b"-01", b"00-zz-yy-01"]),
    st.binary(max_size=40),
)
_headers = st.lists(st.tuples(_header_names, _header_values), max_size=5)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    out, last = [], 0
    for point in points:
        out.append(data[last:point])
        last = point
    out.append(data[last:])
    return out


# -- the app and the driver ----------------------------------------------------------------


class Plan:
    """What the app does with one request (drawn by hypothesis, a plain value)."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], headers_as: str,
                 echo_body: bool, body: bytes, cuts: list[int], fail: str) -> None:
        self.status, self.headers, self.headers_as = status, headers, headers_as
        self.echo_body, self.body, self.cuts, self.fail = echo_body, body, cuts, fail
        self.error = AppError("planned")

    def __repr__(self) -> str:
        return (f"Plan(status={self.status}, headers={self.headers!r}, as={self.headers_as}, "
                f"echo={self.echo_body}, body={self.body[:60]!r}, cuts={self.cuts}, "
                f"fail={self.fail})")

    def header_iterable(self) -> Iterable[tuple[bytes, bytes]]:
        items = list(self.headers)
        if self.headers_as == "tuple":
            return tuple(items)
        if self.headers_as == "iterator":
            return iter(items)
        if self.headers_as == "generator":
            return (item for item in items)
        return items


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON: the raw bytes are the features
        return body


def make_app(plan: Plan, predict: Any = None) -> Starlette:
    """The app; with ``predict``, its endpoint calls it with the parsed body (a joined call)."""

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        received = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            received += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if predict is not None:
            predict(_parsed(bytes(received)))
        if plan.fail == "before_start":
            raise plan.error
        await send({"type": "http.response.start", "status": plan.status,
                    "headers": plan.header_iterable()})
        if plan.fail == "after_start":
            raise plan.error
        payload = bytes(received) if plan.echo_body else plan.body
        parts = _chunks(payload, plan.cuts)
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part,
                        "more_body": i < len(parts) - 1})
        if plan.fail == "after_body":
            raise plan.error

    class Raw:  # an ASGI endpoint: Starlette passes scope, receive and send through
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await endpoint(scope, receive, send)

    return Starlette(routes=[Route("/predict", Raw(), methods=["POST", "PUT"])])


def _scope(path: str, method: str, headers: list[tuple[bytes, bytes]]) -> Message:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(k.lower(), v) for k, v in headers],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
    }


async def _drive(app: Any, scope: Message, body: bytes, cuts: list[int]
                 ) -> tuple[list[Message], BaseException | None]:
    incoming = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for parts in [_chunks(body, cuts)] for i, part in enumerate(parts)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        copied = dict(message)
        if "headers" in copied:
            copied["headers"] = [(bytes(k), bytes(v)) for k, v in copied["headers"]]
        sent.append(copied)

    try:
        await app(scope, receive, send)
    except BaseException as exc:  # compare exactly what escapes
        return sent, exc
    return sent, None


def _strip_echo(messages: list[Message], app_set_id: bool) -> list[Message]:
    out = []
    for message in messages:
        if message.get("type") == "http.response.start" and not app_set_id:
            message = dict(message)
            headers = message["headers"]
            assert headers[-1][0] == b"x-request-id"  # appended once, after the app's
            message["headers"] = headers[:-1]
        out.append(message)
    return out


def _check_renders(events: list[dict[str, Any]]) -> None:
    for use_orjson in (True, False):
        data, failed = JsonLinesRenderer(use_orjson=use_orjson).render(events)
        assert failed == 0
        lines = data.decode("utf-8").split("\n")  # strict: valid UTF-8
        assert lines.pop() == ""
        assert len(lines) == len(events)
        for line in lines:
            json.loads(line)


def _total_count(points: list[Any], suffix: str) -> int:
    return sum(p.value.count for p in points if p.name.endswith(suffix))


def _check_captured(cap: Any, body: bytes, max_body_bytes: int) -> None:
    """The request's features were captured, or the reason they were not is counted."""
    records = [r for r in cap.records if r.endpoint.model_name == "m"]
    assert len(records) == 1
    errors = sum(int(p.value) for p in cap.monitor.collect()
                 if p.name == "inferwatch.self.errors")
    if len(body) > max_body_bytes:
        assert records[0].features is None and errors >= 1
        return
    try:
        expected = json.loads(body)["features"]
    except Exception:  # not JSON, or no "features": the capture failed, counted
        assert errors >= 1
        return
    captured = json.dumps(records[0].features, ensure_ascii=True)
    # Parsers differ at the edges (lone surrogates, NaN, 65-bit ints): one that
    # refuses what another accepts counts the body as not captured.
    assert captured == json.dumps(expected, ensure_ascii=True) or errors >= 1


# -- the property ----------------------------------------------------------------------------


@hostile_settings(EXAMPLES)
@given(
    config=st.sampled_from(["log_all", "capture"]),
    echo=st.booleans(),
    path=st.sampled_from(["/predict", "/predict", "/predict", "/missing", "/health"]),
    method=st.sampled_from(["POST", "GET", "BREW"]),
    request_headers=_headers,
    body=bodies,
    request_cuts=st.lists(st.integers(0, 2_000_000), max_size=6),
    status=st.sampled_from([200, 201, 204, 400, 422, 500, 503]),
    response_headers=_headers,
    headers_as=st.sampled_from(["list", "tuple", "iterator", "generator"]),
    echo_body=st.booleans(),
    response_body=bodies,
    response_cuts=st.lists(st.integers(0, 2_000_000), max_size=6),
    fail=st.sampled_from(["no", "no", "no", "before_start", "after_start", "after_body"]),
    max_body_bytes=st.sampled_from([0, 64, 1024 * 1024]),
    join=st.booleans(),
)
def test_client_sees_the_bare_app(
    config: str, echo: bool, path: str, method: str, request_headers: list[Any], body: bytes,
    request_cuts: list[int], status: int, response_headers: list[Any], headers_as: str,
    echo_body: bool, response_body: bytes, response_cuts: list[int], fail: str,
    max_body_bytes: int, join: bool,
) -> None:
    plan = Plan(status, response_headers, headers_as, echo_body, response_body, response_cuts,
                fail)
    scope = _scope(path, method, request_headers)
    def bare_predict(x: Any) -> int:
        return 1

    bare_app = make_app(plan, bare_predict if join else None)
    bare_sent, bare_exc = asyncio.run(_drive(bare_app, dict(scope), body, request_cuts))

    # The aggregator waits a minute between drains: the three requests are drained by
    # this example's flush in one batch, so a request that poisons its batch always fails.
    with capture(**(LOG_ALL if config == "log_all" else {}), flush_interval_ms=60_000) as cap:
        joined = inferwatch.monitor(model="joined", features="x", monitor=cap.monitor)(
            bare_predict)
        wrapped = InferenceMiddleware(
            make_app(plan, joined if join else None), monitor=cap.monitor, model="m",
            response_id_header=echo,
            max_body_bytes=max_body_bytes,
            capture={"/predict": Capture(features=lambda b: b["features"],
                                         prediction=lambda b: b["features"])},
        )
        # A well-behaved request in the same monitor, before and after.
        good = {"features": [1.0, 2.0]}
        good_body = json.dumps(good).encode()
        good_plan = Plan(200, [(b"content-type", b"application/json")], "list", True, b"", [],
                         "no")
        good_app = InferenceMiddleware(
            make_app(good_plan), monitor=cap.monitor, model="good", response_id_header=False,
            capture={"/predict": Capture(features=lambda b: b["features"])},
        )
        good_scope = _scope("/predict", "POST", [(b"content-type", b"application/json")])
        asyncio.run(_drive(good_app, dict(good_scope), good_body, []))
        sent, exc = asyncio.run(_drive(wrapped, dict(scope), body, request_cuts))
        asyncio.run(_drive(good_app, dict(good_scope), good_body, [5]))

        assert exc is bare_exc  # None, or the app's own exception object
        if echo and path != "/health":
            app_set_id = any(
                k.lower() == b"x-request-id" for m in bare_sent
                if m["type"] == "http.response.start" for k, _ in m["headers"]
            )
            sent = _strip_echo(sent, app_set_id)
        assert sent == bare_sent  # byte for byte, message for message

        cap.monitor.flush()
        points = cap.monitor.collect()
        # Every request is in the HTTP metrics (the excluded path in none).
        assert _total_count(points, "http.server.request.duration") == (
            2 if path == "/health" else 3)
        calls = [p for p in points if p.name == "inferwatch.predict.calls"]
        good_calls = sum(p.value for p in calls if p.attributes.get("model.name") == "good")
        assert good_calls == 2
        # A capture route is a declared model endpoint: even its 405s are model calls.
        m_calls = sum(p.value for p in calls if p.attributes.get("model.name") == "m")
        joined_calls = sum(p.value for p in calls if p.attributes.get("model.name") == "joined")
        ran = path == "/predict" and method == "POST"  # the endpoint ran (else a 404/405)
        if join and ran:  # the monitored predict filled in the request's record
            assert (m_calls, joined_calls) == (0, 1)
        else:
            assert (m_calls, joined_calls) == (1 if path == "/predict" else 0, 0)
        if config == "log_all" and ran and body and not join:
            _check_captured(cap, body, max_body_bytes)
        if config == "log_all":
            events = cap.logs
            good_events = [e for e in events if e.get("model.name") == "good"]
            assert [e.get("features") for e in good_events] == [[1.0, 2.0], [1.0, 2.0]]
            _check_renders(events)


class ExtractorBase(BaseException):
    """Neither KeyboardInterrupt nor SystemExit: a library must not let it through."""


@pytest.mark.parametrize("exc_type", [
    ValueError,
    pytest.param(ExtractorBase, marks=pytest.mark.xfail(
        "extractor_base_exception" in OPEN_DEFECTS, strict=True,
        reason="open: _apply_capture and finish catch Exception only; the request is lost")),
], ids=["Exception", "BaseException"])
def test_a_capture_extractor_that_raises_is_counted_and_contained(exc_type: type) -> None:
    def extractor(body: Any) -> Any:
        raise exc_type("extractor")

    plan = Plan(200, [(b"content-type", b"application/json")], "list", False, b'{"p": 1}',
                [], "no")
    with capture(**LOG_ALL) as cap:
        wrapped = InferenceMiddleware(
            make_app(plan), monitor=cap.monitor, model="m", response_id_header=False,
            capture={"/predict": Capture(features=extractor, prediction=extractor)},
        )
        scope = _scope("/predict", "POST", [(b"content-type", b"application/json")])
        sent, exc = asyncio.run(_drive(wrapped, scope, b'{"features": [1]}', []))
        assert exc is None  # nothing escapes into the server
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
        cap.monitor.flush()
        points = cap.monitor.collect()
        assert _total_count(points, "http.server.request.duration") == 1
        errors = sum(int(p.value) for p in points if p.name == "inferwatch.self.errors")
        assert errors >= 1
