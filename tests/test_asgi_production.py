"""InferenceMiddleware against the production-proof defects (issue 8) and the contract (issue 9).

In process, through ``httpx.ASGITransport`` (and raw ASGI messages where a
server's behaviour is the point): requests that never reached the model,
background tasks after the response, mounted apps with path parameters,
response headers in every shape ASGI allows, hostile header values, the
lifespan shutdown flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import random
import re
import string
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import httpx
import pytest

import inferwatch
from inferwatch import ConfigurationError
from inferwatch.asgi import (
    DEFAULT_EXCLUDED_PATHS,
    OTHER_ROUTE,
    UNMATCHED_ROUTE,
    Capture,
    InferenceMiddleware,
)

pytest.importorskip("fastapi")

import fastapi
import pydantic
from starlette import responses as starlette_responses
from starlette import routing as starlette_routing
from starlette.applications import Starlette
from starlette.routing import Mount, Route

Message = MutableMapping[str, Any]


# The ``cap`` fixture is in conftest.py; the helpers are shared with the other ASGI tests.
from asgitools import Recorded, call, client, run  # noqa: E402


def metric_attribute_values(cap: Recorded) -> list[str]:
    return [str(v) for point in cap.metrics() for v in point.attributes.values()]


# -- defect 3: a request that never reached the model is not an inference ----------------


class Body(pydantic.BaseModel):
    features: list[float]


def model_app() -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @inferwatch.monitor(model="churn", version="1", features="x")
    def predict(x: list[float]) -> float:
        return float(sum(x))

    @app.post("/predict")
    def predict_route(body: Body) -> dict[str, float]:
        return {"prediction": predict(body.features)}

    @app.post("/declared")
    def declared(body: Body) -> dict[str, float]:
        return {"prediction": sum(body.features)}  # a model served without @monitor

    return app


def test_422_and_404_count_as_http_requests_only(cap: Recorded) -> None:
    app = InferenceMiddleware(model_app(), model="gateway")

    async def scenario() -> list[int]:
        async with client(app) as c:
            ok = await c.post("/predict", json={"features": [1.0, 2.0]})
            invalid = await c.post("/predict", json={"features": "not a list"})
            missing = await c.get("/nope")
            return [ok.status_code, invalid.status_code, missing.status_code]

    assert run(scenario()) == [200, 422, 404]
    by_status = {r.http.status_code: r for r in cap.records if r.http is not None}
    assert by_status[200].inference is True
    assert by_status[422].inference is False
    assert by_status[404].inference is False
    # Model metrics see the one call that reached the model ...
    assert cap.value("inferwatch.predict.calls", model__name="churn") == 1
    assert cap.value("inferwatch.predict.calls", model__name="gateway") is None
    assert cap.value("inferwatch.predict.duration", model__name="gateway") is None
    # ... the HTTP metrics see all three requests.
    assert cap.value("inferwatch.http.server.request.duration").count == 3
    statuses = {
        p.attributes.get("http.response.status_code")
        for p in cap.metrics("inferwatch.http.server.request.duration")
    }
    assert statuses == {200, 422, 404}


def test_non_inference_requests_stay_out_of_drift(cap: Recorded) -> None:
    from inferwatch.drift import watch

    drift = watch(None, monitor=cap.monitor, warmup_rows=1_000)
    app = InferenceMiddleware(model_app())

    async def scenario() -> None:
        async with client(app) as c:
            await c.post("/predict", json={"features": [1.0]})
            await c.post("/predict", json={"features": {"a": 1}})  # 422
            await c.post("/predict", content=b"{not json")  # 422
            await c.get("/nope")  # 404

    run(scenario())
    report = drift.report()
    assert report.warming_up and report.warmup_rows == 1  # the one call that reached the model


@pytest.mark.parametrize("declare", ["model_routes", "capture"])
def test_a_declared_model_route_counts_without_a_monitored_predict(
    cap: Recorded, declare: str
) -> None:
    options: dict[str, Any] = (
        {"model_routes": ["/declared"]} if declare == "model_routes"
        else {"capture": {"/declared": Capture(features=lambda body: body["features"])}}
    )
    app = InferenceMiddleware(model_app(), model="served", **options)
    run(call(app, "POST", "/declared", json={"features": [1.0, 2.0]}))
    run(call(app, "GET", "/nope"))
    declared, missing = sorted(cap.records, key=lambda r: r.http.route if r.http else "")
    assert declared.http is not None and declared.http.route == "/declared"
    assert (declared.inference, missing.inference) == (True, False)
    assert cap.value("inferwatch.predict.calls", model__name="served") == 1


def test_model_routes_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="model_routes"):
        InferenceMiddleware(model_app(), model_routes="/predict")
    with pytest.raises(ConfigurationError, match="route templates"):
        InferenceMiddleware(model_app(), model_routes=["predict"])


# -- defect 4: a background task never joins the finished request -----------------------------


def test_background_predict_never_rewrites_the_finished_request(cap: Recorded) -> None:
    app = fastapi.FastAPI()

    @inferwatch.monitor(model="retrain")
    def background_model(x: float) -> float:
        raise ValueError("background model failed")

    def later(x: float) -> None:
        with contextlib.suppress(ValueError):
            background_model(x)

    @app.get("/ok")
    def ok(tasks: fastapi.BackgroundTasks) -> dict[str, bool]:
        tasks.add_task(later, 1.0)
        return {"queued": True}

    response = run(call(InferenceMiddleware(app, model="gateway"), "GET", "/ok"))
    assert response.status_code == 200
    request = next(r for r in cap.records if r.http is not None)
    background = next(r for r in cap.records if r.http is None)
    assert request.endpoint.model_name == "gateway"
    assert (request.outcome, request.error_type) == ("ok", None)
    assert request.http is not None and request.http.status_code == 200
    assert (background.endpoint.model_name, background.outcome) == ("retrain", "error")
    assert background.error_type == "ValueError"
    assert background.id != request.id  # its own inference, not the request's
    assert len(cap.records) == 2


def test_predict_inside_a_streamed_response_still_joins(cap: Recorded) -> None:
    app = fastapi.FastAPI()

    @inferwatch.monitor(model="streamer")
    def predict(i: int) -> int:
        return i

    @app.get("/stream")
    def stream() -> Any:
        def body() -> Iterator[bytes]:
            for i in range(3):
                yield str(predict(i)).encode()

        return starlette_responses.StreamingResponse(body())

    assert run(call(InferenceMiddleware(app), "GET", "/stream")).text == "012"
    # The first predict joins the request; the response is not complete yet.
    joined = [r for r in cap.records if r.http is not None]
    assert len(joined) == 1 and joined[0].endpoint.model_name == "streamer"


# -- defect 5: mounted apps give templates, every request attribute is capped --------------


def tenant_app() -> fastapi.FastAPI:
    sub = fastapi.FastAPI()

    @sub.get("/items/{item}")
    def item(item: str) -> dict[str, str]:
        return {"item": item}

    async def files(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"file"})

    async def leaf(request: Any) -> Any:
        return starlette_responses.PlainTextResponse(request.path_params["k"])

    inner = Starlette(routes=[Route("/leaf/{k}", leaf)])
    app = fastapi.FastAPI()
    app.mount("/t/{tenant}", sub)
    app.mount("/files/{bucket}", files)
    app.mount("/org/{org}", Starlette(routes=[Mount("/team/{team}", inner)]))
    return app


# Starlette puts the matched leaf route in the scope only in recent releases; older
# ones (the lowest declared versions) leave mounted apps' leaves as the safe
# placeholder ``{prefix}/{path}``, which these exact-template tests cannot check.
_LEAF_ROUTES_IN_SCOPE = 'scope["route"]' in inspect.getsource(starlette_routing)
needs_leaf_routes = pytest.mark.skipif(
    not _LEAF_ROUTES_IN_SCOPE,
    reason="this Starlette does not put the matched route in the scope (leaf shown as /{path})",
)


@needs_leaf_routes
@pytest.mark.parametrize(("path", "template"), [
    ("/t/acme-corp/items/42", "/t/{tenant}/items/{item}"),
    ("/files/secret-bucket/a/b.css", "/files/{bucket}/{path}"),
    ("/org/o-1/team/t-2/leaf/k-3", "/org/{org}/team/{team}/leaf/{k}"),
    ("/t/acme-corp/nothing/here", "/t/{tenant}/{path}"),
])
def test_mount_path_values_never_reach_the_route(
    cap: Recorded, path: str, template: str
) -> None:
    run(call(InferenceMiddleware(tenant_app()), "GET", path))
    (record,) = cap.records
    assert record.http is not None and record.http.route == template
    (log,) = cap.logs
    for value in ("acme-corp", "secret-bucket", "o-1", "t-2"):
        assert value not in json.dumps(log)
        assert value not in metric_attribute_values(cap)


def test_mount_under_a_server_root_path(cap: Recorded) -> None:
    # uvicorn --root-path /api: the scope's path includes the root path.
    transport = httpx.ASGITransport(InferenceMiddleware(tenant_app()), root_path="/api")

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.get("/api/t/acme/items/1")

    assert run(get()).status_code == 200
    routes = [r.http.route for r in cap.records if r.http is not None]
    assert routes == ["/t/{tenant}/items/{item}"]
    run(call(InferenceMiddleware(tenant_app()), "GET", "/nowhere/t/acme/items/1"))
    assert cap.records[-1].http is not None
    assert cap.records[-1].http.route == UNMATCHED_ROUTE


@needs_leaf_routes
def test_random_tenants_create_one_series_and_leak_nothing(cap: Recorded) -> None:
    rng = random.Random(8)
    tenants = [
        "".join(rng.choices(string.ascii_lowercase + string.digits, k=12)) for _ in range(10_000)
    ]
    async def item(request: Any) -> Any:
        return starlette_responses.PlainTextResponse(request.path_params["item"])

    # Plain Starlette (no validation layer) keeps 10,000 requests quick.
    sub = Starlette(routes=[Route("/items/{item}", item)])
    app = InferenceMiddleware(Starlette(routes=[Mount("/t/{tenant}", sub)]))

    async def many() -> None:
        async with client(app) as c:
            for start in range(0, len(tenants), 100):
                responses = await asyncio.gather(*(
                    c.get(f"/t/{tenant}/items/{i}")
                    for i, tenant in enumerate(tenants[start:start + 100])
                ))
                assert all(r.status_code == 200 for r in responses)

    run(many())
    points = cap.metrics("inferwatch.http.server.request.duration")
    assert len(points) == 1  # one series, not 10,000
    assert points[0].attributes["http.route"] == "/t/{tenant}/items/{item}"
    assert points[0].value.count == len(tenants)
    assert len(cap.metrics()) < 100
    attribute_values = set(metric_attribute_values(cap))
    assert not attribute_values & set(tenants)
    logs = cap.logs
    assert len(logs) > len(tenants) // 2  # under this burst a few may be dropped, counted
    rendered = "\n".join(json.dumps(log) for log in logs)
    assert not set(re.findall(r"\b[a-z0-9]{12}\b", rendered)) & set(tenants)
    assert "/t/{tenant}/items/{item}" in rendered


@needs_leaf_routes
def test_overlong_and_too_many_templates_are_bounded(cap: Recorded) -> None:
    async def ok(request: Any) -> Any:
        return starlette_responses.PlainTextResponse("ok")

    long_path = "/" + "x" * 300
    app = Starlette(routes=[
        Route(long_path, ok),
        *(Mount(f"/m{i}/{{v}}", Starlette(routes=[Route("/r", ok)])) for i in range(1_002)),
    ])
    mw = InferenceMiddleware(app)

    async def many() -> None:
        async with client(mw) as c:
            assert (await c.get(long_path)).status_code == 200
            for i in range(1_002):
                assert (await c.get(f"/m{i}/v/r")).status_code == 200

    run(many())
    routes = [r.http.route for r in cap.records if r.http is not None]
    assert routes[0] == OTHER_ROUTE
    assert routes[1] == "/m0/{v}/r"
    assert routes[1:].count(OTHER_ROUTE) == 2  # past 1,000 distinct mounted templates
    assert len(set(routes)) == 1_001


def test_scheme_protocol_and_method_are_bounded(cap: Recorded) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        return None

    mw = InferenceMiddleware(app)
    for scheme, version, method in (
        ("https", "2", "POST"), ("http", "1.0", "GET"), ("gopher-x", "9.9", "EVIL-" * 20),
    ):
        run(mw(http_scope("/", method, scheme=scheme, http_version=version), receive, send))
    infos = [(r.http.scheme, r.http.protocol_version, r.http.method)
             for r in cap.records if r.http is not None]
    assert infos == [("https", "2", "POST"), ("http", "1.0", "GET"), ("_OTHER", "_OTHER", "_OTHER")]


def test_http_metrics_carry_scheme_and_protocol_version(cap: Recorded) -> None:
    transport = httpx.ASGITransport(InferenceMiddleware(model_app()))

    async def get() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="https://test") as c:
            await c.get("/nope")

    run(get())
    (point,) = cap.metrics("inferwatch.http.server.request.duration")
    assert point.attributes["url.scheme"] == "https"
    assert point.attributes["network.protocol.version"] == "1.1"


def http_scope(path: str, method: str = "GET", **extra: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
        "root_path": "", "query_string": b"", "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1234), "server": ("test", 80),
    }
    scope.update(extra)
    return scope


# -- defect 6: the app's response headers, in any iterable, are kept ------------------------


APP_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"set-cookie", b"a=1"),
    (b"set-cookie", b"b=2"),
]


@pytest.mark.parametrize("shape", ["iterator", "generator", "tuple", "lists", "dict_items"])
def test_response_headers_in_any_iterable_are_kept(cap: Recorded, shape: str) -> None:
    def headers() -> Any:
        if shape == "iterator":
            return iter(APP_HEADERS)
        if shape == "generator":
            return (h for h in APP_HEADERS)
        if shape == "tuple":
            return tuple(APP_HEADERS)
        if shape == "lists":
            return [[name, value] for name, value in APP_HEADERS]
        return dict(APP_HEADERS[:3]).items()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers()})
        await send({"type": "http.response.body", "body": b"{}"})

    response = run(call(InferenceMiddleware(app), "GET", "/", headers={"x-request-id": "r-1"}))
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    cookies = response.headers.get_list("set-cookie")
    assert cookies == (["a=1"] if shape == "dict_items" else ["a=1", "b=2"])
    assert response.headers.get_list("x-request-id") == ["r-1"]


@pytest.mark.parametrize("name", [b"X-Request-ID", b"x-Request-Id", b"X-REQUEST-ID"])
def test_id_header_the_app_set_in_mixed_case_is_not_duplicated(
    cap: Recorded, name: bytes
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": iter([(b"content-type", b"text/plain"), (name, b"from-app")])})
        await send({"type": "http.response.body", "body": b"ok"})

    response = run(call(InferenceMiddleware(app), "GET", "/"))
    assert response.headers.get_list("x-request-id") == ["from-app"]
    assert response.headers["content-type"] == "text/plain"


# -- defect 11: header values are capped and never become metric attributes ---------------


@pytest.mark.parametrize("value", [
    "user@example.com", "has space", "quote\"d", "x" * 129, "caf\u00e9".encode().decode("latin-1"),
])
def test_request_ids_outside_the_id_alphabet_are_replaced(cap: Recorded, value: str) -> None:
    response = run(call(InferenceMiddleware(model_app()), "GET", "/nope",
                        headers=[(b"x-request-id", value.encode("latin-1"))]))
    echoed = response.headers["x-request-id"]
    assert echoed != value and len(echoed) == 32 and int(echoed, 16)
    assert value not in json.dumps(cap.logs)


def test_traceparent_after_the_id_header_still_gives_the_trace_id(cap: Recorded) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    run(call(InferenceMiddleware(model_app()), "GET", "/nope", headers=[
        (b"x-request-id", b"req-1"), (b"traceparent", f"00-{trace}-00f067aa0ba902b7-01".encode()),
    ]))
    (record,) = cap.records
    assert (record.id, record.trace_id) == ("req-1", int(trace, 16))


def test_usual_request_id_shapes_are_kept(cap: Recorded) -> None:
    ids = ["0f8fad5b-d9cb-469f-a165-70867728950e", "01ARZ3NDEKTSV4RRFFQ69G5FAV",
           "Root=1-5759e988-bd862e3fe1be46a994272793", "svc.a:b_c/d+e"]
    app = InferenceMiddleware(model_app())
    for request_id in ids:
        response = run(call(app, "GET", "/nope", headers={"x-request-id": request_id}))
        assert response.headers["x-request-id"] == request_id
    assert sorted(r.id for r in cap.records) == sorted(ids)


def test_header_values_never_reach_metric_attributes_or_logs(cap: Recorded) -> None:
    canary = "canary.user@example.com"
    headers = {
        "x-request-id": "canary-id-123", "traceparent": canary, "user-agent": canary,
        "authorization": f"Bearer {canary}", "x-forwarded-for": canary, "cookie": f"c={canary}",
        "host": "canary-host.example",
    }
    app = InferenceMiddleware(model_app())
    run(call(app, "POST", "/predict?email=canary.user@example.com", json={"features": [1.0]},
             headers=headers))
    values = " ".join(metric_attribute_values(cap))
    for needle in ("canary", "example.com"):
        assert needle not in values
    # Nor do they reach the log, whose only request-derived text is the id.
    (log,) = cap.logs
    assert log["inference.id"] == "canary-id-123"
    rendered = json.dumps({k: v for k, v in log.items() if k != "inference.id"})
    for needle in ("canary", "example.com", "Bearer"):
        assert needle not in rendered


# -- issue 9: default exclusions are extended, not replaced --------------------------------


def test_exclude_paths_extends_the_defaults(cap: Recorded) -> None:
    app = fastapi.FastAPI()
    for path in (*DEFAULT_EXCLUDED_PATHS, "/internal", "/plain"):
        app.add_api_route(path, lambda: {"ok": True}, methods=["GET"])
    mw = InferenceMiddleware(app, exclude_paths=["/internal"])

    async def each() -> None:
        async with client(mw) as c:
            for path in (*DEFAULT_EXCLUDED_PATHS, "/internal", "/plain"):
                assert (await c.get(path)).status_code == 200

    run(each())
    assert [r.http.route for r in cap.records if r.http is not None] == ["/plain"]
    assert DEFAULT_EXCLUDED_PATHS == ("/health", "/healthz", "/metrics", "/ready")


def test_excluded_paths_behind_a_server_root_path(cap: Recorded) -> None:
    # uvicorn --root-path /api puts the root path in front of the path.
    app = fastapi.FastAPI()
    app.add_api_route("/health", lambda: {"ok": True}, methods=["GET"])
    app.add_api_route("/x", lambda: {"ok": True}, methods=["GET"])
    transport = httpx.ASGITransport(InferenceMiddleware(app), root_path="/api")

    async def each() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            for path in ("/api/health", "/api/x"):
                assert (await c.get(path)).status_code == 200

    run(each())
    assert [r.http.route for r in cap.records if r.http is not None] == ["/x"]


# -- defect 15: large bodies are bounded, never parsed on the loop ----------------------------


def test_a_large_body_is_not_parsed_by_default(cap: Recorded) -> None:
    parsed: list[int] = []

    def features(body: Any) -> Any:
        parsed.append(len(body["features"]))
        return body["features"]

    app = fastapi.FastAPI()

    @app.post("/score")
    async def score(request: fastapi.Request) -> dict[str, int]:
        return {"n": len(await request.body())}

    mw = InferenceMiddleware(app, capture={"/score": Capture(features=features)})
    small = {"features": [0.5] * 20}
    large = {"features": [0.123456789] * 90_000}  # about 1 MiB of JSON
    assert len(json.dumps(large)) > 1_000_000
    for body in (small, large):
        assert run(call(mw, "POST", "/score", json=body)).status_code == 200
    assert parsed == [20]
    assert cap.value("inferwatch.self.errors", inferwatch__component="asgi_body_too_large") == 1
    _, large_record = cap.records
    assert large_record.features is None and large_record.inference is True
    assert large_record.http is not None and large_record.http.request_size > 1_000_000


# -- defect 2: flush on the lifespan shutdown -----------------------------------------------


class FlushSpy:
    """Stands for a monitor's flush; remembers what the server had been sent by then."""

    def __init__(self, monitor: inferwatch.Monitor, sent: list[Message]) -> None:
        self.monitor = monitor
        self.sent = sent
        self.calls: list[tuple[float, bool, list[str], bool]] = []

    def __call__(self, timeout: float = 5.0, *, logs: bool = True, export: bool = False) -> bool:
        import threading

        on_loop_thread = threading.current_thread() is threading.main_thread()
        self.calls.append((timeout, export, [m["type"] for m in self.sent], on_loop_thread))
        return True


def lifespan_messages() -> list[Message]:
    return [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]


def drive_lifespan(app: Any) -> list[Message]:
    incoming = lifespan_messages()
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    run(asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send),
                         10))
    return sent


def test_lifespan_shutdown_flushes_off_the_loop_before_completing(
    cap: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        closed.append("app shutdown ran")

    app = fastapi.FastAPI(lifespan=lifespan)
    sent: list[Message] = []
    spy = FlushSpy(cap.monitor, sent)
    monkeypatch.setattr(cap.monitor, "flush", spy)
    mw = InferenceMiddleware(app, shutdown_flush_timeout=2.5)

    incoming = lifespan_messages()

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    run(asyncio.wait_for(mw({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send), 10))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert closed == ["app shutdown ran"]
    # One flush, with an export, off the loop's thread, before the server heard "complete".
    assert spy.calls == [(2.5, True, ["lifespan.startup.complete"], False)]


def test_lifespan_that_ends_without_completing_still_flushes(
    cap: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        # returns without lifespan.shutdown.complete

    spy = FlushSpy(cap.monitor, [])
    monkeypatch.setattr(cap.monitor, "flush", spy)
    drive_lifespan(InferenceMiddleware(app))
    assert [(timeout, export) for timeout, export, _, _ in spy.calls] == [(5.0, True)]


def test_lifespan_without_a_shutdown_does_not_flush(
    cap: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unsupported(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("no lifespan here")  # servers treat this as "not supported"

    spy = FlushSpy(cap.monitor, [])
    monkeypatch.setattr(cap.monitor, "flush", spy)
    with pytest.raises(RuntimeError, match="no lifespan"):
        drive_lifespan(InferenceMiddleware(unsupported))
    assert spy.calls == []


def test_lifespan_flush_writes_what_requests_left_behind() -> None:
    from inferwatch import Monitor
    from inferwatch.testing import MemorySink

    sink = MemorySink()
    # Timers far away: only the shutdown flush can write the records.
    mon = Monitor(log_sink=sink, metrics_exporter="none", sample_rate=1.0,
                  flush_interval_ms=60_000, max_records_per_second=1e9, environ={})
    written_at_complete: list[int] = []
    app = fastapi.FastAPI()

    @app.get("/x")
    def x() -> dict[str, int]:
        return {"x": 1}

    mw = InferenceMiddleware(app, monitor=mon)

    async def scenario() -> None:
        async with client(mw) as c:
            for i in range(5):
                await c.get("/x", headers={"x-request-id": f"r-{i}"})
        incoming = lifespan_messages()

        async def receive() -> Message:
            if incoming:
                return incoming.pop(0)
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                written_at_complete.append(len(sink.events))

        await asyncio.wait_for(mw({"type": "lifespan", "asgi": {"version": "3.0"}},
                                  receive, send), 10)

    try:
        run(scenario())
    finally:
        mon.shutdown()
    assert written_at_complete == [5]


def test_flush_failure_at_shutdown_is_counted_and_survived(
    cap: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> bool:
        raise OSError("disk gone")

    monkeypatch.setattr(cap.monitor, "flush", broken)
    sent = drive_lifespan(InferenceMiddleware(fastapi.FastAPI()))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    monkeypatch.undo()
    assert cap.value("inferwatch.self.errors", inferwatch__component="asgi_lifespan") == 1


def test_shutdown_flush_can_be_turned_off_and_is_checked(
    cap: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = FlushSpy(cap.monitor, [])
    monkeypatch.setattr(cap.monitor, "flush", spy)
    drive_lifespan(InferenceMiddleware(fastapi.FastAPI(), shutdown_flush_timeout=None))
    assert spy.calls == []
    for bad in (-1, "5", True, float("nan")):
        with pytest.raises(ConfigurationError, match="shutdown_flush_timeout"):
            InferenceMiddleware(fastapi.FastAPI(), shutdown_flush_timeout=bad)
