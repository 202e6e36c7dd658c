"""InferenceMiddleware, in process: raw ASGI apps and FastAPI through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import pytest

import inferwatch
from inferwatch import ConfigurationError
from inferwatch.asgi import UNMATCHED_ROUTE, Capture, InferenceMiddleware
from inferwatch.testing import capture

pytest.importorskip("fastapi")

import fastapi
from starlette import responses as starlette_responses

Message = MutableMapping[str, Any]


class ModelError(Exception):
    """Raised by the test apps."""


# The ``cap`` fixture is in conftest.py; the helpers are shared with the other ASGI tests.
from asgitools import Recorded, call, client, run  # noqa: E402


def predict_app() -> Any:
    """A FastAPI app with a monitored predict, a plain route and a router with a prefix."""
    app = fastapi.FastAPI()

    @inferwatch.monitor(model="churn", version="7", features="x")
    def predict(x: list[float]) -> float:
        return float(sum(x))

    @app.post("/models/{name}/predict")
    def predict_route(name: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"model": name, "prediction": predict(body["features"])}

    @app.get("/plain/{item}")
    def plain(item: str) -> dict[str, str]:
        return {"item": item}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    router = fastapi.APIRouter(prefix="/v1")

    @router.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app.include_router(router)
    sub = fastapi.FastAPI()

    @sub.get("/things/{thing}")
    def thing(thing: str) -> dict[str, str]:
        return {"thing": thing}

    app.mount("/sub", sub)
    return app


# -- ids -------------------------------------------------------------------------


def test_inference_id_from_request_header_is_echoed(cap: Recorded) -> None:
    app = InferenceMiddleware(predict_app())
    response = run(call(app, "GET", "/plain/a", headers={"X-Request-ID": "req-42"}))
    assert response.headers["x-request-id"] == "req-42"
    (record,) = cap.records
    assert record.id == "req-42"


def test_traceparent_gives_the_trace_id_never_the_inference_id(cap: Recorded) -> None:
    # Every request of one trace carries the same trace id: as the inference
    # id it would make them one inference (labels joined to the wrong call).
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    app = InferenceMiddleware(predict_app())

    async def two() -> list[httpx.Response]:
        async with client(app) as c:
            return [
                await c.get("/plain/a", headers={"traceparent": f"00-{trace}-{span}-01"})
                for span in ("00f067aa0ba902b7", "00f067aa0ba902b8")
            ]

    responses = run(two())
    echoed = [r.headers["x-request-id"] for r in responses]
    assert trace not in echoed and echoed[0] != echoed[1]
    assert sorted(r.id for r in cap.records) == sorted(echoed)
    assert [r.trace_id for r in cap.records] == [int(trace, 16)] * 2
    assert all(log["trace_id"] == trace for log in cap.logs)


@pytest.mark.parametrize("bad", [
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # not hex
    "garbage",
])
def test_bad_traceparent_falls_back_to_a_generated_id(cap: Recorded, bad: str) -> None:
    response = run(call(InferenceMiddleware(predict_app()), "GET", "/plain/a",
                        headers={"traceparent": bad}))
    generated = response.headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16)
    assert cap.records[0].id == generated


def test_generated_id_is_echoed_and_unique(cap: Recorded) -> None:
    app = InferenceMiddleware(predict_app())

    async def many() -> list[httpx.Response]:
        async with client(app) as c:
            return [await c.get("/plain/a") for _ in range(5)]

    ids = [r.headers["x-request-id"] for r in run(many())]
    assert len(set(ids)) == 5
    assert all(len(i) == 32 for i in ids)
    assert sorted(r.id for r in cap.records) == sorted(ids)


@pytest.mark.parametrize("value", ["x" * 129, "bad\x01id"])
def test_unusable_request_id_header_is_replaced(cap: Recorded, value: str) -> None:
    response = run(call(InferenceMiddleware(predict_app()), "GET", "/plain/a",
                        headers={"x-request-id": value}))
    assert response.headers["x-request-id"] != value
    assert len(response.headers["x-request-id"]) == 32


def test_custom_id_headers_and_echo_off(cap: Recorded) -> None:
    app = InferenceMiddleware(predict_app(), request_id_header="X-Correlation-Id",
                              response_id_header="x-inference-id")
    response = run(call(app, "GET", "/plain/a", headers={"x-correlation-id": "c1"}))
    assert response.headers["x-inference-id"] == "c1"
    assert "x-request-id" not in response.headers
    quiet = InferenceMiddleware(predict_app(), response_id_header=False)
    response = run(call(quiet, "GET", "/plain/a"))
    assert "x-request-id" not in response.headers
    assert len(cap.records) == 2


def test_id_header_set_by_the_app_is_not_duplicated(cap: Recorded) -> None:
    app = fastapi.FastAPI()

    @app.get("/")
    def root() -> Any:
        return starlette_responses.JSONResponse({}, headers={"x-request-id": "from-app"})

    response = run(call(InferenceMiddleware(app), "GET", "/"))
    assert response.headers.get_list("x-request-id") == ["from-app"]


# -- one record per inference ---------------------------------------------------------


def test_monitored_predict_joins_the_request_record(cap: Recorded) -> None:
    app = InferenceMiddleware(predict_app(), model="gateway")
    body = json.dumps({"features": [1.0, 2.0, 3.0]}).encode()
    response = run(call(app, "POST", "/models/churn/predict", content=body,
                        headers={"content-type": "application/json"}))
    assert response.json() == {"model": "churn", "prediction": 6.0}
    (record,) = cap.records
    assert record.endpoint.model_name == "churn"
    assert record.endpoint.model_version == "7"
    assert record.prediction == 6.0
    assert record.features == [1.0, 2.0, 3.0]
    http = record.http
    assert http is not None
    assert http.method == "POST"
    assert http.route == "/models/{name}/predict"
    assert http.status_code == 200
    assert http.request_size == len(body)
    assert http.response_size == len(response.content)
    assert http.duration_ns >= record.duration_ns > 0
    assert http.ttfb_ns is None  # a single-message response has no separate first byte
    (log,) = cap.logs
    assert log["model.name"] == "churn"
    assert log["http.route"] == "/models/{name}/predict"
    assert log["http.response.status_code"] == 200
    assert cap.value("inferwatch.predict.calls", model__name="churn") == 1
    assert cap.value("inferwatch.predict.calls", model__name="gateway") is None
    hist = cap.value("inferwatch.http.server.request.duration",
                     http__route="/models/{name}/predict")
    assert hist.count == 1


def test_request_without_predict_is_recorded_under_the_middleware_model(cap: Recorded) -> None:
    run(call(InferenceMiddleware(predict_app(), model="gateway", version="2",
                                 attributes={"team": "ml"}), "GET", "/plain/a"))
    (record,) = cap.records
    assert (record.endpoint.model_name, record.endpoint.model_version) == ("gateway", "2")
    assert record.endpoint.attributes == {"team": "ml"}
    assert record.http is not None
    assert record.duration_ns == record.http.duration_ns
    assert record.endpoint.in_flight == 0


def test_nested_middleware_records_once(cap: Recorded) -> None:
    app = InferenceMiddleware(InferenceMiddleware(predict_app()))
    run(call(app, "POST", "/models/a/predict", json={"features": [1.0]}))
    assert len(cap.records) == 1


# -- routes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "template"), [
    ("/plain/abc", "/plain/{item}"),
    ("/plain/xyz", "/plain/{item}"),
    ("/v1/items/5", "/v1/items/{item_id}"),
    ("/sub/things/t1", "/sub/things/{thing}"),
    ("/nope/123", UNMATCHED_ROUTE),
])
def test_route_is_the_template_never_the_raw_path(
    cap: Recorded, path: str, template: str
) -> None:
    run(call(InferenceMiddleware(predict_app()), "GET", path))
    (record,) = cap.records
    assert record.http is not None
    assert record.http.route == template


def test_mounted_asgi_app_gets_its_prefix_template(cap: Recorded) -> None:
    from starlette.routing import Mount

    async def files(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"file"})

    app = fastapi.FastAPI(routes=[Mount("/static", app=files)])
    run(call(InferenceMiddleware(app), "GET", "/static/css/a.css"))
    assert cap.records[0].http is not None
    assert cap.records[0].http.route == "/static/{path}"


def test_plain_asgi_app_routes_are_unmatched(cap: Recorded) -> None:
    async def bare(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    run(call(InferenceMiddleware(bare), "GET", "/users/12345"))
    assert cap.records[0].http is not None
    assert cap.records[0].http.route == UNMATCHED_ROUTE


def test_unknown_methods_are_bounded(cap: Recorded) -> None:
    run(call(InferenceMiddleware(predict_app()), "BREW", "/plain/a"))
    assert cap.records[0].http is not None
    assert cap.records[0].http.method == "_OTHER"


def test_excluded_paths_pass_through_without_a_record(cap: Recorded) -> None:
    app = InferenceMiddleware(predict_app(), exclude_paths=("/health", "/plain/skip"))
    for path in ("/health", "/plain/skip"):
        response = run(call(app, "GET", path))
        assert response.status_code == 200
        assert "x-request-id" not in response.headers
    assert cap.records == []


# -- concurrency -----------------------------------------------------------------------


def test_concurrent_requests_never_swap_sizes_or_ids(cap: Recorded) -> None:
    app = fastapi.FastAPI()

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.001 * (len(body["pad"]) % 7))  # interleave the requests
        return {"pad": body["pad"] * 2}

    mw = InferenceMiddleware(app)

    async def many() -> list[tuple[str, int, int]]:
        async with client(mw) as c:
            async def one(i: int) -> tuple[str, int, int]:
                payload = json.dumps({"pad": "x" * (i * 37)}).encode()
                r = await c.post("/echo", content=payload,
                                 headers={"x-request-id": f"id-{i}",
                                          "content-type": "application/json"})
                assert r.headers["x-request-id"] == f"id-{i}"
                return f"id-{i}", len(payload), len(r.content)

            return list(await asyncio.gather(*(one(i) for i in range(50))))

    expected = {i: (req, resp) for i, req, resp in run(many())}
    records = cap.records
    assert len(records) == 50
    for record in records:
        assert record.http is not None
        assert (record.http.request_size, record.http.response_size) == expected[record.id]
    assert records[0].endpoint.in_flight == 0


# -- streaming, disconnects, errors, background tasks -----------------------------------------


def streaming_app(chunks: int = 3, pause: float = 0.01) -> Any:
    app = fastapi.FastAPI()

    @app.get("/stream")
    async def stream() -> Any:
        async def body() -> AsyncIterator[bytes]:
            for i in range(chunks):
                await asyncio.sleep(pause)
                yield f"chunk-{i};".encode()

        return starlette_responses.StreamingResponse(body(), media_type="text/plain")

    return app


def test_streaming_response_records_ttfb_and_sizes(cap: Recorded) -> None:
    response = run(call(InferenceMiddleware(streaming_app()), "GET", "/stream"))
    assert response.text == "chunk-0;chunk-1;chunk-2;"
    (record,) = cap.records
    http = record.http
    assert http is not None
    assert http.ttfb_ns is not None
    assert 0 < http.ttfb_ns < http.duration_ns
    assert http.duration_ns - http.ttfb_ns >= 15_000_000  # two more 10 ms pauses
    assert http.response_size == len(response.content)
    assert record.outcome == "ok"
    assert cap.value("inferwatch.http.server.time_to_first_byte").count == 1


def http_scope(path: str, method: str = "GET", **extra: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
        "root_path": "", "query_string": b"", "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1234), "server": ("test", 80),
    }
    scope.update(extra)
    return scope


def test_client_disconnect_mid_stream_is_cancelled(cap: Recorded) -> None:
    sent: list[Message] = []

    async def scenario() -> None:
        gone = asyncio.Event()
        requested = False

        async def receive() -> Message:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and message.get("body"):
                gone.set()  # the client leaves after the first chunk

        app = InferenceMiddleware(streaming_app(chunks=50, pause=0.005))
        await asyncio.wait_for(app(http_scope("/stream"), receive, send), 5)

    run(scenario())
    assert not any(
        m["type"] == "http.response.body" and not m.get("more_body", False) for m in sent
    )
    (record,) = cap.records
    assert record.outcome == "cancelled"
    assert record.http is not None
    assert record.http.status_code == 200
    assert 0 < record.http.response_size < 50 * len(b"chunk-00;")


def test_send_failing_because_the_client_left_is_cancelled(cap: Recorded) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b", "more_body": True})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    calls = 0
    gone = OSError("connection reset")

    async def send(message: Message) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise gone

    with pytest.raises(OSError) as info:
        run(InferenceMiddleware(app)(http_scope("/"), receive, send))
    assert info.value is gone
    (record,) = cap.records
    assert record.outcome == "cancelled"
    assert record.http is not None and record.http.response_size == 1


def test_exception_in_route_is_reraised_unchanged_and_counted(cap: Recorded) -> None:
    raised: list[BaseException] = []
    app = fastapi.FastAPI()

    @app.get("/boom/{n}")
    def boom(n: int) -> None:
        exc = ZeroDivisionError("model fell over")
        raised.append(exc)
        raise exc

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(ZeroDivisionError) as info:
        run(InferenceMiddleware(app)(http_scope("/boom/1"), receive, send))
    assert info.value is raised[0]
    assert sent[0]["status"] == 500  # Starlette's error middleware answered first
    (record,) = cap.records
    assert record.outcome == "error"
    assert record.error_type == "500"
    assert record.http is not None and record.http.route == "/boom/{n}"
    # No monitored predict ran: an HTTP error, not a model call.
    assert cap.value("inferwatch.predict.calls") is None
    assert cap.value("inferwatch.http.server.request.duration", error__type="500").count == 1


def test_exception_before_any_response_gets_its_type_and_500(cap: Recorded) -> None:
    error = ModelError("no weights")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise error

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    with pytest.raises(ModelError) as info:
        run(InferenceMiddleware(app)(http_scope("/"), receive, send))
    assert info.value is error
    (record,) = cap.records
    assert (record.outcome, record.error_type) == ("error", "ModelError")
    assert record.http is not None and record.http.status_code == 500


def test_predict_error_keeps_the_predict_error_type(cap: Recorded) -> None:
    transport = httpx.ASGITransport(InferenceMiddleware(predict_app()), raise_app_exceptions=False)

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.post("/models/a/predict", json={"features": ["x", 1]})

    assert run(post()).status_code == 500
    (record,) = cap.records
    assert record.endpoint.model_name == "churn"
    assert (record.outcome, record.error_type) == ("error", "TypeError")
    assert record.http is not None and record.http.status_code == 500


def test_5xx_status_is_an_error_with_the_status_as_type(cap: Recorded) -> None:
    app = fastapi.FastAPI()

    @app.get("/busy")
    def busy() -> Any:
        return starlette_responses.JSONResponse({"busy": True}, status_code=503)

    @app.get("/missing")
    def missing() -> Any:
        return starlette_responses.JSONResponse({}, status_code=404)

    run(call(InferenceMiddleware(app), "GET", "/busy"))
    run(call(InferenceMiddleware(app), "GET", "/missing"))
    by_route = {r.http.route: r for r in cap.records if r.http is not None}
    assert (by_route["/busy"].outcome, by_route["/busy"].error_type) == ("error", "503")
    assert by_route["/missing"].outcome == "ok"


def test_background_task_is_not_counted_in_duration(cap: Recorded) -> None:
    app = fastapi.FastAPI()

    def slow_cleanup() -> None:
        time.sleep(0.3)

    @app.get("/bg")
    def with_background(tasks: fastapi.BackgroundTasks) -> dict[str, bool]:
        tasks.add_task(slow_cleanup)
        return {"queued": True}

    started = time.perf_counter()
    run(call(InferenceMiddleware(app), "GET", "/bg"))
    assert time.perf_counter() - started >= 0.3  # the app call did wait for the task
    (record,) = cap.records
    assert record.http is not None
    assert record.http.duration_ns < 200_000_000
    assert record.duration_ns == record.http.duration_ns


def test_app_returning_without_a_response_is_an_error(cap: Recorded) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        return None

    run(InferenceMiddleware(app)(http_scope("/"), receive, send))
    (record,) = cap.records
    assert (record.outcome, record.error_type) == ("error", "500")


# -- pass-through --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
def test_non_http_scopes_pass_through_untouched(cap: Recorded, kind: str) -> None:
    # The lifespan is watched for the shutdown (tests/test_asgi_production.py)
    # unless that flush is off.
    seen: list[tuple[Any, Any, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    async def receive() -> Message:
        return {}

    async def send(message: Message) -> None:
        return None

    scope = {"type": kind, "path": "/ws", "headers": []}
    run(InferenceMiddleware(app, shutdown_flush_timeout=None)(scope, receive, send))
    assert seen == [(scope, receive, send)]
    assert seen[0][0] == {"type": kind, "path": "/ws", "headers": []}
    assert cap.records == []


def test_websocket_through_fastapi_still_works(cap: Recorded) -> None:
    app = fastapi.FastAPI()

    @app.websocket("/ws")
    async def ws(socket: fastapi.WebSocket) -> None:
        await socket.accept()
        await socket.send_text(await socket.receive_text())
        await socket.close()

    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "ping"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = http_scope("/ws", type="websocket", scheme="ws", subprotocols=[])
    del scope["method"]
    run(InferenceMiddleware(app)(scope, receive, send))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == "ping"
    assert cap.records == []


def test_disabled_monitor_passes_through() -> None:
    with capture(enabled=False) as cap:
        response = run(call(InferenceMiddleware(predict_app()), "GET", "/plain/a"))
        assert response.status_code == 200
        assert "x-request-id" not in response.headers
        assert cap.records == []


# -- body capture ---------------------------------------------------------------------------


def capture_app() -> Any:
    app = fastapi.FastAPI()

    @app.post("/score/{name}")
    async def score(name: str, body: dict[str, Any]) -> dict[str, Any]:
        rows = [r if isinstance(r, list) else [r] for r in body["features"]]
        return {"prediction": [x for row in rows for x in row], "confidence": 0.75}

    @app.post("/other")
    async def other(body: dict[str, Any]) -> dict[str, Any]:
        return {"prediction": 1}

    return app


def test_json_body_capture_per_route(cap: Recorded) -> None:
    app = InferenceMiddleware(capture_app(), capture={
        "/score/{name}": Capture(
            features=lambda body: body["features"],
            prediction=lambda body: body["prediction"],
            confidence=lambda body: body["confidence"],
        ),
    })
    payload = {"features": [[1.0, 2.0], [3.0, 4.0]]}
    response = run(call(app, "POST", "/score/m", json=payload))
    assert response.json()["prediction"] == [1.0, 2.0, 3.0, 4.0]
    run(call(app, "POST", "/other", json={"features": [1]}))
    other, scored = sorted(cap.records, key=lambda r: r.http.route if r.http else "")
    assert other.http is not None and other.http.route == "/other"
    assert other.features is None and other.prediction is None
    assert scored.features == [[1.0, 2.0], [3.0, 4.0]]
    assert scored.batch_size == 2
    assert scored.prediction == [1.0, 2.0, 3.0, 4.0]
    assert scored.confidence == 0.75
    assert cap.logs[0]["features"]


def test_capture_leaves_the_app_its_body_and_streams_intact(cap: Recorded) -> None:
    received: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            received.append(message)
            if not message.get("more_body"):
                break
        scope["route"] = type("R", (), {"path": "/up"})()  # as a router would
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"prediction": 3}'})

    parts = [b'{"features"', b": [1, ", b"2]}"]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < 2} for i, p in enumerate(parts)
    ]
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    async def send(message: Message) -> None:
        return None

    mw = InferenceMiddleware(app, capture={
        "/up": Capture(features=lambda b: b["features"], prediction=lambda b: b["prediction"]),
    })
    run(mw(http_scope("/up", "POST"), receive, send))
    assert received == messages
    assert all(a is b for a, b in zip(received, messages, strict=True))
    (record,) = cap.records
    assert record.features == [1, 2]
    assert record.prediction == 3
    assert record.http is not None and record.http.request_size == sum(map(len, parts))


def test_bodies_over_the_limit_are_not_parsed_and_counted(cap: Recorded) -> None:
    app = InferenceMiddleware(capture_app(), max_body_bytes=64, capture={
        "/score/{name}": Capture(features=lambda body: body["features"]),
    })
    response = run(call(app, "POST", "/score/m", json={"features": [1.0] * 100}))
    assert response.status_code == 200
    (record,) = cap.records
    assert record.features is None
    assert record.http is not None and record.http.request_size > 64
    assert cap.value("inferwatch.self.errors", inferwatch__component="asgi_body_too_large") == 1


def test_capture_failures_are_counted_and_survived(cap: Recorded) -> None:
    app = InferenceMiddleware(capture_app(), capture={
        "/score/{name}": Capture(features=lambda body: body["missing"]),
    })
    response = run(call(app, "POST", "/score/m", json={"features": [1.0]}))
    assert response.status_code == 200
    assert cap.records[0].features is None
    assert cap.value("inferwatch.self.errors", inferwatch__component="asgi_capture") == 1


def test_capture_keeps_what_the_joined_predict_captured(cap: Recorded) -> None:
    app = InferenceMiddleware(predict_app(), capture={
        "/models/{name}/predict": Capture(
            features=lambda body: {"from": "body"}, prediction=lambda body: -1
        ),
    })
    run(call(app, "POST", "/models/a/predict", json={"features": [2.0]}))
    (record,) = cap.records
    assert record.features == [2.0]
    assert record.prediction == 2.0


# -- fail-safe ---------------------------------------------------------------------------


def test_own_failures_never_break_the_request(
    cap: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("inferwatch bug")

    monkeypatch.setattr(cap.monitor, "endpoint", broken)
    response = run(call(InferenceMiddleware(predict_app(), model="x"), "GET", "/plain/a"))
    assert response.status_code == 200
    assert cap.value("inferwatch.self.errors", inferwatch__component="asgi") == 1


def test_broken_route_object_is_survived(cap: Recorded) -> None:
    class Weird:
        @property
        def path(self) -> str:
            raise RuntimeError("no")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = Weird()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    response = run(call(InferenceMiddleware(app), "GET", "/"))
    assert response.text == "ok"
    assert cap.value("inferwatch.self.errors", inferwatch__component="asgi") == 1
    assert len(cap.records) == 1


@pytest.mark.parametrize(("options", "needle"), [
    ({"request_id_header": ""}, "request_id_header"),
    ({"response_id_header": 3}, "response_id_header"),
    ({"exclude_paths": "/health"}, "exclude_paths"),
    ({"capture": {"score": Capture(features=len)}}, "route templates"),
    ({"capture": {"/score": {"features": len}}}, "Capture"),
    ({"max_body_bytes": -1}, "max_body_bytes"),
])
def test_bad_options_are_rejected(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        InferenceMiddleware(predict_app(), **options)


def test_bad_capture_specs_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="captures nothing"):
        Capture()
    with pytest.raises(ConfigurationError, match="callable"):
        Capture(features="features")  # type: ignore[arg-type]


def test_default_monitor_is_looked_up_per_request() -> None:
    app = InferenceMiddleware(predict_app(), model_routes=["/plain/{item}"])
    with capture() as first:
        run(call(app, "GET", "/plain/a"))
    with capture() as second:
        run(call(app, "GET", "/plain/a"))
        run(call(app, "GET", "/plain/b"))
        assert len(second.records) == 2
    assert len(first._records) == 1


# -- OpenTelemetry's own instrumentation alongside --------------------------------------------




@pytest.mark.parametrize("otel_outside", [True, False])
def test_otel_fastapi_instrumentation_in_either_order(
    cap: Recorded, otel_outside: bool
) -> None:
    otel_fastapi = pytest.importorskip("opentelemetry.instrumentation.fastapi")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    app = predict_app()
    if otel_outside:
        app.add_middleware(InferenceMiddleware)
        served: Any = app
    else:
        served = InferenceMiddleware(app)
    otel_fastapi.FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    try:
        response = run(call(served, "POST", "/models/a/predict", json={"features": [1.0]}))
    finally:
        otel_fastapi.FastAPIInstrumentor.uninstrument_app(app)
    assert response.status_code == 200
    (server,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    (record,) = cap.records
    assert record.trace_id == server.context.trace_id
    assert record.span_id == server.context.span_id
    assert record.endpoint.model_name == "churn"
    otel_names = {
        m.name
        for rm in (reader.get_metrics_data() or _empty()).resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    ours = {p.name for p in cap.metrics()}
    # OTel's own duration histogram (its name depends on OTEL_SEMCONV_STABILITY_OPT_IN)
    assert otel_names & {"http.server.duration", "http.server.request.duration"}
    assert not otel_names & ours  # nothing is counted twice under one name
    assert cap.value("inferwatch.http.server.request.duration").count == 1
    tracer_provider.shutdown()
    meter_provider.shutdown()


def _empty() -> Any:
    from opentelemetry.sdk.metrics.export import MetricsData

    return MetricsData(resource_metrics=[])


def test_bodies_are_parsed_only_for_records_someone_reads() -> None:
    # No feature consumer and no ordinary record logged: the request body is
    # parsed only for the error the log always keeps.
    from inferwatch import Monitor
    from inferwatch.testing import MemorySink

    sink = MemorySink()
    mon = Monitor(log_sink=sink, metrics_exporter="none", feature_sample_rate=0.0,
                  max_records_per_second=1e9, environ={})
    parsed: list[Any] = []

    def features(body: Any) -> Any:
        parsed.append(body)
        return body["features"]

    app = fastapi.FastAPI()

    @app.post("/score/{name}")
    async def score(name: str, body: dict[str, Any]) -> dict[str, Any]:
        if body["features"][0] < 0:
            return fastapi.responses.JSONResponse({"error": "negative"}, status_code=500)
        return {"prediction": 1}

    mw = InferenceMiddleware(app, monitor=mon, capture={
        "/score/{name}": Capture(features=features),
    })
    try:
        for x in (1.0, 2.0, -1.0, 3.0):
            run(call(mw, "POST", "/score/m", json={"features": [x]}))
        mon.flush()
    finally:
        mon.shutdown()
    assert parsed == [{"features": [-1.0]}]
    (event,) = sink.events
    assert event["sampling.rule"] == "error"
    assert event["features"] == [-1.0]
    assert mon._sampler.counts[("rate", "sampled_out")] == 3
