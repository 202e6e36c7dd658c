"""instrument_app(status_routes=True): the status page beside its JSON, the token."""

from __future__ import annotations

import asyncio
from typing import Any

import fastapi
import httpx
import inferwatch
from inferwatch.testing import capture

from inferwatch_fastapi import STATUS_PAGE_PATH, STATUS_PATH, instrument_app


def get(app: Any, path: str, **kwargs: Any) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.get(path, **kwargs)

    return asyncio.run(main())


def make_app(monitor: inferwatch.Monitor) -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @inferwatch.monitor(model="iris", version="2", monitor=monitor)
    def predict(x: float) -> float:
        return x * 2

    @app.get("/predict")
    def route(x: float) -> dict[str, float]:
        return {"y": predict(x)}

    return app


def test_the_page_and_the_json_are_mounted_and_not_recorded() -> None:
    with capture() as cap:
        app = instrument_app(make_app(cap.monitor), monitor=cap.monitor, status_routes=True)
        assert get(app, "/predict", params={"x": 1}).status_code == 200
        page = get(app, STATUS_PAGE_PATH)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Service health" in page.text and "iris" in page.text
        doc = get(app, STATUS_PATH).json()
        assert doc["models"]["iris:2"]["calls"] == 1
        assert "drift" in doc and "infrastructure" in doc
        assert [r.http.route for r in cap.records if r.http is not None] == ["/predict"]
        assert STATUS_PAGE_PATH not in app.openapi()["paths"]


def test_off_by_default() -> None:
    with capture() as cap:
        app = instrument_app(make_app(cap.monitor), monitor=cap.monitor)
        assert get(app, STATUS_PAGE_PATH).status_code == 404
        assert get(app, STATUS_PATH).status_code == 404


def test_status_token() -> None:
    with capture() as cap:
        app = instrument_app(make_app(cap.monitor), monitor=cap.monitor, status_routes=True,
                             status_token="tok")
        for path in (STATUS_PAGE_PATH, STATUS_PATH):
            denied = get(app, path)
            assert denied.status_code == 401 and "iris" not in denied.text
            assert get(app, path, headers={"authorization": "Bearer tok"}).status_code == 200
        assert get(app, "/predict", params={"x": 1}).status_code == 200  # the app is open
