"""``POST /inferwatch/labels`` on the status app (each 4xx, the token, the body cap),
through httpx.ASGITransport and once under a real uvicorn; and ``inferwatch labels load``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgitools import UvicornThread

import inferwatch
import inferwatch.labels
from inferwatch.cli import main
from inferwatch.status import StatusApp

TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served(make_monitor: Any) -> tuple[Any, Any, StatusApp]:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, positive=1)

    @inferwatch.monitor(model="m", monitor=mon, inference_id=lambda x: f"q{x}")
    def predict(x: int) -> float:
        return 0.9 if x % 2 else 0.1

    for x in range(20):
        predict(x)
    return mon, tracker, StatusApp(mon, TOKEN, labels=True, max_label_bytes=4096)


def _post(app: StatusApp, body: Any = None, *, content: bytes | None = None,
          headers: dict[str, str] | None = None, method: str = "POST") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            given = {**AUTH, "content-type": "application/json", **(headers or {})}
            data = content if content is not None else json.dumps(body).encode()
            return await client.request(method, "/inferwatch/labels", content=data,
                                        headers=given)

    return asyncio.run(go())


def test_labels_are_joined(served: Any) -> None:
    _, tracker, app = served
    labels = [{"inference_id": f"q{x}", "label": x % 2} for x in range(10)]
    labels.append({"inference_id": "q10", "label": 1, "timestamp": "2030-01-01T00:00:00Z",
                   "source": "review"})
    answer = _post(app, {"labels": labels, "outcomes": [
        {"inference_id": "q1", "name": "conversion"}]})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 11, "outcomes": 1}
    counts = tracker.counts()
    assert counts["organic"] == {"joined": 10} and counts["review"] == {"joined": 1}
    assert tracker.outcomes()[0]["count"] == 1


def test_json_lines_are_read(served: Any) -> None:
    _, tracker, app = served
    lines = "\n".join(json.dumps({"inference_id": f"q{x}", "label": 1}) for x in range(5))
    answer = _post(app, content=lines.encode(), headers={"content-type": "application/x-ndjson"})
    assert answer.status_code == 202 and answer.json()["accepted"] == 5
    assert tracker.quality()[0]["joined"] == 5


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"content": b'{"labels": [', }, 400),
    ({"content": b"[1, 2]"}, 400),
    ({"content": b'{"labels": [1]}'}, 400),
    ({"content": b'{"labels": [], "extra": 1}'}, 400),
    ({"content": b'{"labels": [{"inference_id": "q1", "label": NaN}]}'}, 400),
    ({"content": b"\xff\xfe"}, 400),
    ({"content": b"{}"}, 400),
    ({"body": {"labels": [{"inference_id": "q1", "label": 1}]},
      "headers": {"content-type": "text/plain"}}, 415),
    ({"body": {"labels": [{"inference_id": "q1", "label": 1}]}, "headers": {"content-type": ""}},
     415),
    ({"body": {"labels": [{"inference_id": "q1", "label": 1}]},
      "headers": {"authorization": ""}}, 401),
    ({"body": {"labels": [{"inference_id": "q1", "label": 1}]},
      "headers": {"authorization": "Bearer wrong"}}, 401),
    ({"content": b"x" * 5000}, 413),
    ({"body": {"labels": [{"inference_id": "q1", "label": 1.5}]}}, 422),
    ({"body": {"labels": [{"inference_id": "q1", "label": None}]}}, 422),
    ({"body": {"labels": [{"inference_id": "q1", "label": 1, "source": "crowd"}]}}, 422),
    ({"body": {"labels": [{"inference_id": "q1", "label": 1, "timestamp": "soon"}]}}, 422),
    ({"body": {"labels": [{"inference_id": 5, "label": 1}]}}, 422),
    ({"body": {"labels": [{"inference_id": "q1", "label": 1, "user": "x"}]}}, 422),
    ({"body": {"labels": [{"label": 1}]}}, 422),
    ({"body": {"outcomes": [{"inference_id": "q1", "name": "r", "value": "12"}]}}, 422),
    ({"body": {"labels": []}, "method": "GET"}, 405),
])
def test_each_bad_request_gets_its_status(served: Any, kwargs: dict[str, Any],
                                          status: int) -> None:
    _, tracker, app = served
    answer = _post(app, **kwargs)
    assert answer.status_code == status, answer.text
    if status != 401:  # a 401 says nothing of the content
        assert answer.json()["error"] if status != 405 else True
    assert tracker.counts() == {}  # nothing recorded from a refused request


def test_a_bad_value_names_its_label(served: Any) -> None:
    _, _, app = served
    labels = [{"inference_id": "q1", "label": 1}, {"inference_id": "q2", "label": 1.5}]
    answer = _post(app, {"labels": labels})
    assert answer.status_code == 422 and "labels[1]" in answer.json()["error"]


def test_a_declared_length_over_the_cap_is_refused_unread(served: Any) -> None:
    _, _, app = served
    answer = _post(app, content=b"{}", headers={"content-length": "999999"})
    assert answer.status_code == 413


def test_too_many_labels_is_413(served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from inferwatch.labels import _body

    monkeypatch.setattr(_body, "MAX_ITEMS", 3)
    monkeypatch.setattr(_body.parse_body, "__defaults__", (3,))
    _, _, app = served
    labels = [{"inference_id": f"q{x}", "label": 1} for x in range(4)]
    assert _post(app, {"labels": labels}).status_code == 413


def test_the_route_is_off_unless_asked_and_needs_a_token(make_monitor: Any) -> None:
    mon = make_monitor()
    inferwatch.labels.track(mon, positive=1)
    answer = _post(StatusApp(mon, TOKEN), {"labels": [{"inference_id": "a", "label": 1}]})
    assert answer.status_code == 404
    with pytest.raises(ValueError, match="token"):
        StatusApp(mon, labels=True)


def test_no_tracker_is_503(make_monitor: Any) -> None:
    app = StatusApp(make_monitor(), TOKEN, labels=True)
    answer = _post(app, {"labels": [{"inference_id": "a", "label": 1}]})
    assert answer.status_code == 503 and "inferwatch.labels.track" in answer.json()["error"]


def test_the_status_page_shows_model_performance(served: Any) -> None:
    _, _, app = served
    _post(app, {"labels": [{"inference_id": f"q{x}", "label": 1} for x in range(20)]})
    doc = app.document()
    (tracker,) = doc["labels"]["trackers"]
    accuracy = tracker["quality"][0]["windows"][0]["measures"]["accuracy"]
    assert accuracy == 0.5
    page = asyncio.run(_get_page(app))
    assert 'id="labels-none"' not in page
    from inferwatch.status._format import data_attrs

    assert data_attrs(["labels", "trackers", 0, "quality", 0, "windows", 0, "measures",
                       "accuracy"], 0.5) in page
    assert "Reliability" in page


async def _get_page(app: StatusApp) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return (await client.get("/inferwatch", headers=AUTH)).text


@pytest.fixture
def uvicorn_app(served: Any) -> Iterator[tuple[Any, UvicornThread]]:
    pytest.importorskip("uvicorn")  # the serving group (not in the oldest run)
    _, tracker, app = served
    server = UvicornThread(app)
    try:
        yield tracker, server
    finally:
        server.stop()


@pytest.mark.network
def test_under_a_real_uvicorn(uvicorn_app: Any) -> None:
    tracker, server = uvicorn_app
    with httpx.Client(base_url=server.url, timeout=10) as client:
        ok = client.post("/inferwatch/labels", headers=AUTH,
                         json={"labels": [{"inference_id": "q1", "label": 1}]})
        assert ok.status_code == 202
        assert client.post("/inferwatch/labels", json={"labels": []}).status_code == 401
        big = client.post("/inferwatch/labels", headers={**AUTH, "content-type":
                                                        "application/json"},
                          content=b" " * 10_000)
        assert big.status_code == 413
    assert tracker.counts() == {"organic": {"joined": 1}}


@pytest.mark.network
def test_cli_loads_csv_and_json_lines(uvicorn_app: Any, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    tracker, server = uvicorn_app
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("inference_id,label,timestamp\n"
                        + "".join(f"q{x},{x % 2},2030-01-01T00:00:00Z\n" for x in range(7)))
    code = main(["labels", "load", str(csv_file), "--status", server.url, "--token", TOKEN,
                 "--batch", "3"])
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "sent 7 labels" in out and "in 3 requests" in out
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text("\n".join(json.dumps({"inference_id": f"q{x}", "label": 1})
                               for x in range(7, 10)) + "\n")
    assert main(["labels", "load", str(jsonl), "--status", server.url + "/inferwatch",
                 "--token", TOKEN, "--source", "review"]) == 0
    counts = tracker.counts()
    assert counts["organic"] == {"joined": 7} and counts["review"] == {"joined": 3}
    assert tracker.quality()[0]["windows"][0]["measures"]["accuracy"] == 1.0


@pytest.mark.network
def test_cli_reports_refusals_and_bad_files(uvicorn_app: Any, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, server = uvicorn_app
    bad = tmp_path / "bad.csv"
    bad.write_text("inference_id,label\nq1,1\nq2,1.5\n")
    assert main(["labels", "load", str(bad), "--status", server.url, "--token", TOKEN]) == 1
    assert "422" in capsys.readouterr().err
    assert main(["labels", "load", str(bad), "--status", server.url]) == 1  # no token: 401
    assert "401" in capsys.readouterr().err
    headerless = tmp_path / "h.csv"
    headerless.write_text("id,y\na,1\n")
    assert main(["labels", "load", str(headerless), "--status", server.url]) == 1
    assert "inference_id" in capsys.readouterr().err
    assert main(["labels", "load", str(bad), "--status", "ftp://x"]) == 2


def test_cli_unreachable_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    good = tmp_path / "l.csv"
    good.write_text("inference_id,label\na,1\n")
    assert main(["labels", "load", str(good), "--status", f"http://127.0.0.1:{port}",
                 "--timeout", "2"]) == 3
    assert "cannot reach" in capsys.readouterr().err
