"""Coverage-guided fuzzing of the ASGI middleware's body capture (atheris).

Each input decides a request (body bytes, wrapped or not as JSON, with a BOM
or lone surrogates, split into chunks, a content type, a size limit) and the
app's answer (status, headers as a list or an iterator, body chunks, an
exception before, during or after the response). The invariants, checked per
input: the messages the server receives from the wrapped app are the bare
app's plus, at most, the echoed id header; the app's own exception comes out
unchanged and nothing else does; every request is counted; the log lines
render as valid UTF-8 JSON. A violation raises, which atheris reports as a
crash with the input that caused it.
"""

from __future__ import annotations

import codecs
import json
import sys
from typing import Any

import atheris
from _harness import check_json_lines, main, run_sync

with atheris.instrument_imports(include=["inferwatch"]):
    import inferwatch
    from inferwatch.asgi import Capture, InferenceMiddleware
    from inferwatch.logsinks._base import JsonLinesRenderer
    from inferwatch.testing import MemorySink

Message = dict[str, Any]

MONITOR = inferwatch.Monitor(
    log_sink=(SINK := MemorySink()), environ={}, metrics_exporter="none", sample_rate=1.0,
    feature_sample_rate=1.0, max_records_per_second=1e9, slow_threshold_ms=None,
)
RENDERERS = (JsonLinesRenderer(use_orjson=True), JsonLinesRenderer(use_orjson=False))
STATUSES = (200, 201, 204, 400, 404, 422, 500, 503)
CONTENT_TYPES = (b"application/json", b"application/json; charset=utf-16", b"text/plain", b"")


class AppError(Exception):
    pass


class _Route:  # what Starlette's router leaves in scope["route"]
    path = "/predict"


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    out, last = [], 0
    for point in sorted(set(cuts)):
        out.append(data[last:point])
        last = point
    out.append(data[last:])
    return out


def _body(fdp: atheris.FuzzedDataProvider) -> bytes:
    mode = fdp.ConsumeIntInRange(0, 4)
    if mode == 0:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    if mode == 1:
        return b'{"features": ' + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 2048)) + b"}"
    text = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 512))  # may hold lone surrogates
    if mode == 2:
        return json.dumps({"features": text}).encode()  # surrogates as \\udXXX escapes
    if mode == 3:
        return codecs.BOM_UTF8 + json.dumps({"features": [text]}).encode()
    return ('{"features": "' + text + '"}').encode("utf-8", "surrogatepass")


def _app(status: int, headers: list[tuple[bytes, bytes]], as_iter: bool, echo: bool,
         body: bytes, cuts: list[int], fail: int) -> Any:
    async def app(scope: Message, receive: Any, send: Any) -> None:
        scope["route"] = _Route()
        received = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            received += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if fail == 1:
            raise AppError("before the response")
        await send({"type": "http.response.start", "status": status,
                    "headers": iter(headers) if as_iter else list(headers)})
        if fail == 2:
            raise AppError("after the start")
        parts = _cut(bytes(received) if echo else body, cuts)
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part,
                        "more_body": i < len(parts) - 1})
        if fail == 3:
            raise AppError("after the body")

    return app


async def _drive(app: Any, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
                 ) -> tuple[list[Message], BaseException | None]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/predict", "raw_path": b"/predict",
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        copied = dict(message)
        if "headers" in copied:
            copied["headers"] = [(bytes(k), bytes(v)) for k, v in copied["headers"]]
        sent.append(copied)

    try:
        await app(scope, receive, send)
    except AppError as exc:
        return sent, exc
    return sent, None


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    body = _body(fdp)
    request_cuts = fdp.ConsumeIntListInRange(fdp.ConsumeIntInRange(0, 4), 0, len(body))
    request_headers = [(b"content-type", CONTENT_TYPES[fdp.ConsumeIntInRange(0, 3)])]
    if fdp.ConsumeBool():
        request_headers.append((b"x-request-id", fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200))))
    max_body = (0, 64, 1 << 20)[fdp.ConsumeIntInRange(0, 2)]
    status = STATUSES[fdp.ConsumeIntInRange(0, len(STATUSES) - 1)]
    response_headers = [(b"content-type", b"application/json")]
    if fdp.ConsumeBool():
        response_headers.append((b"x-request-id", b"app-set"))
    as_iter, echo = fdp.ConsumeBool(), fdp.ConsumeBool()
    response_body = _body(fdp)
    response_cuts = fdp.ConsumeIntListInRange(fdp.ConsumeIntInRange(0, 4), 0,
                                              len(body if echo else response_body))
    fail = fdp.ConsumeIntInRange(0, 3)
    app_args = (status, response_headers, as_iter, echo, response_body, response_cuts, fail)
    chunks = _cut(body, request_cuts)

    bare_sent, bare_exc = run_sync(_drive(_app(*app_args), chunks, request_headers))
    wrapped = InferenceMiddleware(
        _app(*app_args), monitor=MONITOR, model="fuzz", max_body_bytes=max_body,
        capture={"/predict": Capture(features=lambda b: b["features"],
                                     prediction=lambda b: b["features"])},
    )
    sent, exc = run_sync(_drive(wrapped, chunks, request_headers))

    if (exc is None) != (bare_exc is None) or (exc is not None and str(exc) != str(bare_exc)):
        raise AssertionError(f"the app's exception changed: {bare_exc!r} -> {exc!r}")
    if len(sent) != len(bare_sent):
        raise AssertionError("the number of messages sent changed")
    for ours, theirs in zip(sent, bare_sent, strict=True):
        if ours.get("type") == "http.response.start":
            extra = [h for h in ours["headers"] if h not in theirs["headers"]]
            if [h for h in theirs["headers"] if h not in ours["headers"]] or (
                len(extra) > 1 or (extra and extra[0][0] != b"x-request-id")
            ):
                raise AssertionError(f"headers changed: {theirs} -> {ours}")
            ours = {**ours, "headers": theirs["headers"]}
        if ours != theirs:
            raise AssertionError(f"a message changed: {theirs!r} -> {ours!r}")

    MONITOR.flush()
    events = list(SINK.events)
    SINK.events.clear()
    if len(events) != 1:
        raise AssertionError(f"{len(events)} log events for one request")
    for renderer in RENDERERS:
        rendered, failed = renderer.render(events)
        if failed:
            raise AssertionError("an event could not be rendered")
        check_json_lines(rendered, 1)


SEEDS = [
    b"",
    b"\x01\x10" + b'[1.0, 2.0, {"a": "b"}]',
    b"\x02\x40" + "caf\u00e9 \ud800 \U0001f600".encode("utf-8", "surrogatepass"),
    b"\x00\xff" + b"\xff\xfe\x00\x01" * 64,
    b"\x04\x20" + b"x" * 40,
]


if __name__ == "__main__":
    main(test_one_input, SEEDS)
    sys.exit(0)
