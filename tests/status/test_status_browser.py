"""The status page in a real headless Chromium, served by a real uvicorn on loopback.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and Playwright
(``pip install playwright``; no browser download: it drives /usr/bin/chromium).
The screenshots are saved under ``$INFERWATCH_ARTIFACTS`` (default
``build/artifacts``): ``status-page.png`` (desktop, after drift) and
``status-page-narrow.png`` (a 390 px phone).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgitools import UvicornThread
from statustools import CANARIES, make_profile, predictor, row, watch

from inferwatch.testing import capture

pytestmark = pytest.mark.network

CHROMIUM = os.environ.get("INFERWATCH_CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser")
if CHROMIUM is None:
    pytest.skip("no Chromium: apt-get install -y chromium (Debian's package; the browser "
                "tests drive it through Playwright)", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed: pip install playwright "
    "(no browser download needed: the tests use Debian's chromium)")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed")
fastapi = pytest.importorskip("fastapi", reason="FastAPI is not installed")
inferwatch_fastapi = pytest.importorskip("inferwatch_fastapi",
                                         reason="inferwatch-fastapi is not installed")

TOKEN = "browser-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ARTIFACTS = Path(os.environ.get("INFERWATCH_ARTIFACTS")
                 or Path(__file__).resolve().parents[2] / "build" / "artifacts")


class Server:
    def __init__(self, monitor: Any) -> None:
        import numpy as np

        app = fastapi.FastAPI()
        predict = predictor(monitor, fail_every=40)
        self.rng = np.random.default_rng(11)

        @app.post("/predict")
        def route(body: dict[str, Any]) -> dict[str, Any]:
            try:
                return {"score": predict(body)}
            except ValueError:
                raise fastapi.HTTPException(500, "model failed") from None

        inferwatch_fastapi.instrument_app(app, monitor=monitor, status_routes=True,
                                          status_token=TOKEN)
        self.uvicorn = UvicornThread(app)
        self.url = self.uvicorn.url
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def traffic(self, n: int, *, shifted: bool = False) -> None:
        for _ in range(n):
            self.client.post("/predict", json=row(self.rng, shifted=shifted))

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.client.get("/inferwatch/status", headers=AUTH).json()
        return doc

    def stop(self) -> None:
        self.client.close()
        self.uvicorn.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with capture(feature_sample_rate=1.0, max_records_per_second=1e9) as cap:
        watch(make_profile(), cap.monitor, window="count:300")
        srv = Server(cap.monitor)
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


class Watched:
    """A page whose console errors, page errors and failed requests are collected."""

    def __init__(self, browser: Any, **context: Any) -> None:
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning")
                     and self.problems.append(f"console {m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", lambda r: r.status >= 400
                     and self.problems.append(f"HTTP {r.status}: {r.url}"))

    def close(self) -> None:
        self.context.close()


def _walk(doc: Any, path: list[Any]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


_NUMBER = re.compile(r"-?[\d,]*\.?\d+(?:e[-+]?\d+)?")


def check_numbers(page: Any, doc: dict[str, Any]) -> int:
    """Every number tagged with a JSON path equals the JSON's, as stored and as shown."""
    shown = page.eval_on_selector_all(
        "[data-key]", "els => els.map(e => [e.dataset.key, e.dataset.value, e.textContent])")
    assert shown, "no numbers tagged on the page"
    for key, stored, text in shown:
        path = json.loads(key)
        expected = _walk(doc, path)
        value = json.loads(stored)
        if expected is None:
            assert value is None and text == "\u2013", (path, text)
            continue
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), path
        if text.startswith("<"):  # "< 0.0001"
            assert expected < 1e-4, path
            continue
        match = _NUMBER.search(text)
        assert match is not None, (path, text)
        number = float(match.group().replace(",", ""))
        if text.endswith("%"):
            number /= 100
        decimals = len(match.group().split(".")[1]) if "." in match.group() else 0
        step = 10 ** -decimals * (0.01 if text.endswith("%") else 1)
        assert abs(number - expected) <= step / 2 + 1e-12 + abs(expected) * 1e-3, (
            path, text, expected)
    return len(shown)


def test_the_token_is_enforced(server: Server, browser: Any) -> None:
    server.traffic(5)
    w = Watched(browser)
    try:
        for path in ("/inferwatch", "/inferwatch/status"):
            # The browser is challenged for credentials; having none, it shows nothing.
            with pytest.raises(sync_api.Error, match="ERR_INVALID_AUTH_CREDENTIALS"):
                w.page.goto(server.url + path)
            assert any(p.startswith("HTTP 401") for p in w.problems)
            answer = w.context.request.get(server.url + path)
            assert answer.status == 401
            assert "churn" not in answer.text() and "calls" not in answer.text()
        wrong = Watched(browser, extra_http_headers={"Authorization": "Bearer nope"})
        answer = wrong.context.request.get(server.url + "/inferwatch")
        assert answer.status == 401 and "churn" not in answer.text()
        wrong.close()
        # A person's browser asks for the token as a Basic password.
        person = Watched(browser, http_credentials={"username": "on-call", "password": TOKEN})
        response = person.page.goto(server.url + "/inferwatch")
        assert response is not None and response.status == 200
        assert "Service health" in person.page.content()
        person.close()
    finally:
        w.close()


def test_the_page_shows_the_json_then_the_drift(server: Server, browser: Any) -> None:
    server.traffic(200)  # like the reference: no drift yet (the window holds 300)
    w = Watched(browser, extra_http_headers=AUTH, viewport={"width": 1200, "height": 900})
    try:
        started = time.perf_counter()
        response = w.page.goto(server.url + "/inferwatch", wait_until="load")
        load_seconds = time.perf_counter() - started
        assert response is not None and response.status == 200
        doc = server.status()
        checked = check_numbers(w.page, doc)
        sections = w.page.eval_on_selector_all("section", "s => s.map(e => e.id)")
        assert sections == ["overview", "service", "predictions", "data", "performance",
                            "infrastructure", "events"]
        total = sum(m["calls"] for m in doc["models"].values())
        assert w.page.inner_text("#total-calls") == f"{total:,}"
        data = w.page.locator("#data")
        assert data.locator("[data-status=drift]").count() == 0
        assert "data drift" not in w.page.inner_text("#attention")
        assert "open" in data.inner_text() or "still open" in w.page.inner_text("#predictions")

        server.traffic(400, shifted=True)  # the first window closes on shifted rows
        w.page.reload(wait_until="load")
        doc = server.status()
        check_numbers(w.page, doc)
        age = w.page.locator("#data tr[data-feature=age]")
        assert age.is_visible() and age.locator("[data-status=drift]").count() == 1
        assert w.page.locator("#data h2 [data-status=drift]").is_visible()
        assert "data drift in" in w.page.inner_text("#attention")
        assert w.page.locator("#predictions svg.chart").is_visible()
        assert w.page.inner_text("#overall").endswith("FAILING")
        # The shifted rows' new plan is an e-mail address: counted, never shown.
        plan = next(f for f in doc["drift"][0]["features"] if f["name"] == "plan")
        assert plan["new_categories"] == 1
        assert CANARIES[0] not in w.page.content()
        # Rows in the table come worst first, as in the JSON.
        names = w.page.eval_on_selector_all("#data tr[data-feature]",
                                            "rs => rs.map(r => r.dataset.feature)")
        assert names == [f["name"] for f in doc["drift"][0]["features"]]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        w.page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)
        size = len(w.page.content().encode())
        # Nothing but the page itself was requested, and nothing went wrong.
        assert w.problems == []
        assert all(u.startswith(server.url + "/inferwatch") for u in w.requests), w.requests
        print(f"\nstatus page: loaded in {load_seconds * 1e3:.0f} ms, {size} bytes of HTML, "
              f"{len(server.client.get('/inferwatch/status', headers=AUTH).content)} bytes "
              f"of JSON, {checked} numbers checked against the JSON")
    finally:
        w.close()


def test_readable_in_a_narrow_window(server: Server, browser: Any) -> None:
    w = Watched(browser, extra_http_headers=AUTH, viewport={"width": 390, "height": 844},
                device_scale_factor=1)
    try:
        w.page.goto(server.url + "/inferwatch", wait_until="load")
        # Wide tables scroll inside their box; the page itself never scrolls sideways.
        overflow = w.page.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        for ident in ("service", "data", "infrastructure", "events"):
            box = w.page.locator(f"#{ident}").bounding_box()
            assert box is not None and box["width"] <= 390
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        w.page.screenshot(path=str(ARTIFACTS / "status-page-narrow.png"), full_page=True)
        assert w.problems == []
    finally:
        w.close()
