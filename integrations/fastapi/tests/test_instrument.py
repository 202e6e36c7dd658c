"""instrument_app on a FastAPI app, in process through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import fastapi
import httpx
import inferwatch
import pytest
from inferwatch import ConfigurationError, MissingDependencyError
from inferwatch.asgi import InferenceMiddleware
from inferwatch.testing import Capture as Captured
from inferwatch.testing import capture

from inferwatch_fastapi import STATUS_PATH, Capture, instrument_app


@pytest.fixture
def cap() -> Iterator[Captured]:
    previous = inferwatch.set_monitor(None)
    # Every record logged with its features, so body capture always parses.
    with capture(sample_rate=1.0, feature_sample_rate=1.0) as captured:
        yield captured
    inferwatch.set_monitor(previous)


def get(app: Any, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(main())


def make_app() -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @inferwatch.monitor(model="iris", version="2")
    def predict(rows: list[list[float]]) -> list[int]:
        return [int(sum(row) > 1) for row in rows]

    @app.post("/models/{name}/predict")
    def predict_route(name: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"prediction": predict(body["rows"])}

    return app


def test_instrument_app_records_requests(cap: Captured) -> None:
    app = instrument_app(make_app())
    response = get(app, "/models/iris/predict", "POST", json={"rows": [[1.0, 2.0]]})
    assert response.status_code == 200
    assert len(response.headers["x-request-id"]) == 32
    (record,) = cap.records
    assert record.endpoint.model_name == "iris"
    assert record.http is not None and record.http.route == "/models/{name}/predict"
    assert [m.cls for m in app.user_middleware] == [InferenceMiddleware]  # type: ignore[comparison-overlap]


def test_options_are_passed_to_the_middleware(cap: Captured) -> None:
    app = instrument_app(make_app(), model="gateway", capture={
        "/models/{name}/predict": Capture(features=lambda body: body["rows"]),
    })
    get(app, "/models/iris/predict", "POST", json={"rows": [[0.5, 0.25], [1.0, 1.0]]})
    (record,) = cap.records
    assert record.batch_size == 2


def test_instrumenting_twice_adds_one_middleware(cap: Captured) -> None:
    app = instrument_app(instrument_app(make_app()))
    assert len(app.user_middleware) == 1
    get(app, "/models/iris/predict", "POST", json={"rows": [[1.0]]})
    assert len(cap.records) == 1


def test_status_route_returns_the_summary_and_is_not_recorded(cap: Captured) -> None:
    app = instrument_app(make_app(), status_routes=True)
    for _ in range(3):
        get(app, "/models/iris/predict", "POST", json={"rows": [[1.0]]})
    status = get(app, STATUS_PATH).json()
    assert status["models"]["iris:2"]["calls"] == 3
    assert status["errors"] == {}
    assert isinstance(status["pid"], int)
    assert len(cap.records) == 3
    assert STATUS_PATH not in get(app, "/openapi.json").text


def test_status_route_uses_the_given_monitor() -> None:
    with inferwatch.Monitor(metrics_exporter="none", log_sink="none") as mon:
        app = fastapi.FastAPI()

        @app.get("/ping")
        def ping() -> str:
            return "pong"

        instrument_app(app, monitor=mon, status_routes=True, model_routes=["/ping"])
        get(app, "/ping")
        assert get(app, STATUS_PATH).json()["models"]["http:unversioned"]["calls"] == 1


def test_requests_that_never_reach_the_model_are_not_model_calls(cap: Captured) -> None:
    app = instrument_app(make_app(), status_routes=True)
    assert get(app, "/models/iris/predict", "POST", json={"rows": [[1.0]]}).status_code == 200
    assert get(app, "/models/iris/predict", "POST", content=b"{").status_code == 422
    assert get(app, "/unknown").status_code == 404
    status = get(app, STATUS_PATH).json()
    assert status["models"]["iris:2"]["calls"] == 1
    assert set(status["models"]) == {"iris:2"}
    assert cap.value("inferwatch.http.server.request.duration").count == 3


def test_exclude_paths_add_to_the_defaults_and_the_status_route(cap: Captured) -> None:
    from inferwatch.asgi import DEFAULT_EXCLUDED_PATHS

    app = make_app()
    for path in (*DEFAULT_EXCLUDED_PATHS, "/internal"):
        app.add_api_route(path, lambda: {"ok": True}, methods=["GET"])
    instrument_app(app, status_routes=True, model_routes=["/internal", *DEFAULT_EXCLUDED_PATHS],
                   exclude_paths=["/internal"])
    for path in (*DEFAULT_EXCLUDED_PATHS, "/internal", STATUS_PATH):
        response = get(app, path)
        assert response.status_code == 200
        assert "x-request-id" not in response.headers
    assert cap.value("inferwatch.http.server.request.duration") is None


def test_bad_options_fail_at_instrument_time() -> None:
    with pytest.raises(ConfigurationError, match="max_body_bytes"):
        instrument_app(make_app(), max_body_bytes=-5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        instrument_app(make_app(), colour="blue")
    with pytest.raises(ConfigurationError, match="exclude_paths"):
        instrument_app(make_app(), status_routes=True, exclude_paths="/internal")


def test_non_fastapi_app_is_rejected_with_advice() -> None:
    with pytest.raises(TypeError, match="InferenceMiddleware"):
        instrument_app(object())  # type: ignore[arg-type]


def test_missing_fastapi_gives_an_actionable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(MissingDependencyError, match="pip install inferwatch-fastapi") as info:
        instrument_app(object())  # type: ignore[arg-type]
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert isinstance(info.value, ImportError)


def test_the_integration_imports_only_public_core_modules() -> None:
    # The core's private modules may change in any release; this package is
    # pinned to the core's public names (inferwatch, inferwatch.asgi).
    import ast
    from pathlib import Path

    import inferwatch_fastapi

    private = []
    for path in sorted(Path(inferwatch_fastapi.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            private += [f"{path.name}: {n}" for n in names
                        if n.startswith("inferwatch.") and n.split(".")[1].startswith("_")]
    assert private == []
