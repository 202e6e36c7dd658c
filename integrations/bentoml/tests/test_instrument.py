"""instrument_service, service_model and service_routes, in-process."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import bentoml
import pytest

import inferwatch
from inferwatch.testing import capture
from inferwatch_bentoml import (
    BentoInferenceMiddleware,
    instrument_service,
    service_model,
    service_routes,
)

# Declaring a BentoML 1.4.40 service trips deprecations inside BentoML itself
# (pathspec's 'gitwildmatch' factory; pydantic's __get_pydantic_core_schema__):
# their warnings, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore::pydantic.warnings.PydanticDeprecatedSince211"
    ),
]


def _service(**kwargs: Any) -> Any:
    @bentoml.service(**kwargs)
    class Echo:
        @bentoml.api  # type: ignore[untyped-decorator]  # bentoml ships no type hints
        def echo(self, text: str) -> str:
            return text

    return Echo


def test_adds_one_middleware_named_after_the_service() -> None:
    svc = _service(name="echo", labels={"version": "5"})
    assert instrument_service(svc) is svc
    assert instrument_service(svc) is svc  # twice: still one middleware
    ours = [(cls, opts) for cls, opts in svc.middlewares if cls is BentoInferenceMiddleware]
    assert len(ours) == 1
    assert ours[0][1]["bentoml_service"] is svc
    assert service_model(svc) == ("echo", "5")


def test_decorator_form_passes_options() -> None:
    @instrument_service(model="custom", version="9", exclude_paths=("/healthz",))
    @bentoml.service
    class Other:
        @bentoml.api  # type: ignore[untyped-decorator]  # bentoml ships no type hints
        def echo(self, text: str) -> str:
            return text

    svc: Any = Other  # a bentoml.Service once decorated
    (_, options), *_ = [m for m in svc.middlewares if m[0] is BentoInferenceMiddleware]
    assert (options["model"], options["version"]) == ("custom", "9")
    assert options["exclude_paths"] == ("/healthz",)


def test_middleware_reads_the_model_when_built() -> None:
    svc = _service(name="late")
    svc.bento = SimpleNamespace(tag=SimpleNamespace(version="20260101"))  # as after loading
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["called"] = True

    middleware = BentoInferenceMiddleware(app, bentoml_service=svc)
    assert (middleware.model, middleware.version) == ("late", "20260101")
    explicit = BentoInferenceMiddleware(app, bentoml_service=svc, model="m", version="1")
    assert (explicit.model, explicit.version) == ("m", "1")


def test_service_model_version_sources() -> None:
    assert service_model(_service(name="plain")) == ("plain", None)
    model = SimpleNamespace(tag=SimpleNamespace(version="abc123"))
    assert service_model(SimpleNamespace(name="s", models=[model])) == ("s", "abc123")
    latest = SimpleNamespace(tag=SimpleNamespace(version="latest"))
    assert service_model(SimpleNamespace(name="s", models=[latest])) == ("s", None)


def test_rejects_what_is_not_a_service() -> None:
    class NotDecorated:
        pass

    with pytest.raises(TypeError, match=r"@bentoml.service"):
        instrument_service(NotDecorated)


def test_missing_bentoml_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bentoml", None)
    with pytest.raises(inferwatch.MissingDependencyError, match="pip install inferwatch-bentoml"):
        instrument_service(SimpleNamespace(add_asgi_middleware=lambda *a, **k: None))


def test_api_routes_are_model_endpoints() -> None:
    svc = _service(name="routes")
    assert service_routes(svc) == ("/echo",)
    assert service_routes(SimpleNamespace(apis={
        "a": SimpleNamespace(route="/a", is_task=False),
        "t": SimpleNamespace(route="/t", is_task=True),  # the request is not the inference
        "odd": SimpleNamespace(route=None),
    })) == ("/a",)


# starlette's TestClient runs the app's lifespan (BentoML makes the service instance
# there); its deprecation of httpx is starlette's own. BentoML registers its own
# Prometheus metrics once per process: one BentoML app in this file.
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_an_api_call_is_an_inference_without_a_monitored_predict() -> None:
    from starlette.testclient import TestClient

    svc = instrument_service(_service(name="served", labels={"version": "2"}))
    with capture() as cap:
        with TestClient(svc.to_asgi()) as client:
            assert client.post("/echo", json={"text": "hi"}).text == "hi"
            assert client.get("/not-an-api").status_code == 404
        calls = cap.value("inferwatch.predict.calls")
        inferences = cap.inferences
        http = {(p.attributes["http.route"], p.attributes["http.response.status_code"])
                for p in cap.metrics("inferwatch.http.server.request.duration")}
    # The API call counts as a model call; the 404 in the HTTP metrics only.
    assert http == {("/echo", 200), ("_unmatched", 404)}
    assert calls == 1
    assert [(r.endpoint.model_name, r.endpoint.model_version) for r in inferences] == [
        ("served", "2")
    ]


@pytest.mark.parametrize("model_routes", [None, ()])
def test_model_routes_given_are_kept(model_routes: tuple[str, ...] | None) -> None:
    import asyncio

    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def echo(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hi")

    app = BentoInferenceMiddleware(
        Starlette(routes=[Route("/echo", echo, methods=["POST"])]),
        bentoml_service=_service(name="kept"), model_routes=model_routes,
    )

    async def call() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.post("/echo")).text == "hi"

    with capture() as cap:
        asyncio.run(call())
        calls = cap.value("inferwatch.predict.calls")
    # None: the service's API routes (/echo); (): the user says none is a model endpoint.
    assert calls == (1 if model_routes is None else None)
