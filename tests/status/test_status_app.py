"""StatusApp over ASGI (httpx.ASGITransport): routes, mounting, the token."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from statustools import predictor, request, serve_rows

from inferwatch import Monitor
from inferwatch.status import StatusApp
from inferwatch.testing import capture

TOKEN = "s3cret-token-\u00e9"


@pytest.fixture
def monitor() -> Iterator[Monitor]:
    with capture() as cap:
        serve_rows(predictor(cap.monitor), 30)
        yield cap.monitor


def test_page_and_json(monitor: Monitor) -> None:
    app = StatusApp(monitor)
    page = request(app, "/inferwatch")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "<h2><span class=\"n\">1</span> Service health" in page.text
    assert 'href="/inferwatch/status"' in page.text
    doc = request(app, "/inferwatch/status").json()
    assert doc["models"]["churn:4"]["calls"] == 30
    assert request(app, "/inferwatch/").status_code == 200


def test_other_paths_and_methods(monitor: Monitor) -> None:
    app = StatusApp(monitor)
    assert request(app, "/inferwatch/other").status_code == 404
    assert request(app, "/metrics").status_code == 404
    post = request(app, "/inferwatch/status", "POST")
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
    head = request(app, "/inferwatch/status", "HEAD")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 100


def test_mounted_anywhere_it_answers_where_it_sits(monitor: Monitor) -> None:
    starlette = pytest.importorskip("starlette.applications", reason="starlette not installed")
    Mount = pytest.importorskip("starlette.routing").Mount
    Starlette = starlette.Starlette
    outer = Starlette(routes=[Mount("/ops/watch", app=StatusApp(monitor))])
    assert request(outer, "/ops/watch/status").json()["models"]["churn:4"]["calls"] == 30
    page = request(outer, "/ops/watch/")
    assert page.status_code == 200 and 'href="/ops/watch/status"' in page.text
    assert request(outer, "/inferwatch/status").status_code == 404


def test_behind_a_root_path(monitor: Monitor) -> None:
    app = StatusApp(monitor)

    async def with_root(scope, receive, send):  # type: ignore[no-untyped-def]
        scope = dict(scope, root_path="/api", path="/api" + scope["path"])
        await app(scope, receive, send)

    assert request(with_root, "/inferwatch/status").status_code == 200


def test_the_token_is_required_and_gives_nothing_away(monitor: Monitor) -> None:
    app = StatusApp(monitor, token=TOKEN)
    for path in ("/inferwatch", "/inferwatch/status"):
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic x"},
                        {"authorization": "Bearer " + TOKEN[:-1]},
                        {"cookie": "inferwatch_status_token=nope"}):
            r = request(app, path, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert 'Bearer realm="inferwatch"' in r.headers.get_list("www-authenticate")
            assert "churn" not in r.text and "calls" not in r.text
            assert r.text == "401 Unauthorized: send Authorization: Bearer <token>\n"
    ok = request(app, "/inferwatch/status",
                 headers={"authorization": b"Bearer " + TOKEN.encode()})
    assert ok.status_code == 200 and ok.json()["models"]["churn:4"]["calls"] == 30


def test_a_browser_gives_the_token_as_a_basic_password(monitor: Monitor) -> None:
    app = StatusApp(monitor, token="abc123")
    challenge = request(app, "/inferwatch")
    assert challenge.status_code == 401
    assert 'Basic realm="inferwatch", charset="UTF-8"' in challenge.headers.get_list(
        "www-authenticate")
    for bad in (b"on-call:abc124", b"abc123", b"abc123:", b"\xff:abc12"):
        r = request(app, "/inferwatch", headers={"authorization": b"Basic " +
                                                 base64.b64encode(bad)})
        assert r.status_code == 401, bad
    assert request(app, "/inferwatch",
                   headers={"authorization": "Basic not base64!"}).status_code == 401
    assert request(app, "/inferwatch?token=abc123").status_code == 401  # never in the address
    page = request(app, "/inferwatch", auth=("on-call", "abc123"))
    assert page.status_code == 200 and "Service health" in page.text


def test_a_failing_read_is_a_500_and_counted(monitor: Monitor) -> None:
    app = StatusApp(monitor)

    def broken() -> dict[str, object]:
        raise RuntimeError("no")

    app.document = broken  # type: ignore[method-assign]
    r = request(app, "/inferwatch/status")
    assert r.status_code == 500 and "secret detail" not in r.text
    assert monitor.summary()["errors"]["status"] == 1


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        StatusApp(token="")
    with pytest.raises(ValueError, match="prefix"):
        StatusApp(prefix="inferwatch/")
