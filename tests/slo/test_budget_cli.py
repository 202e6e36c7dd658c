"""``inferwatch budget check``: against a live uvicorn server's status route and a
loopback server that answers like Prometheus's HTTP API (marked ``network``)."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferwatch.cli import main

pytestmark = pytest.mark.network

APP = '''
import inferwatch
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from inferwatch.slo import SLO
from inferwatch_fastapi import instrument_app

inferwatch.configure(service_name="budget-test", metrics_exporter="none", log_sink="none",
                     slos=[SLO("api-availability", "availability", 0.9, model="api"),
                           SLO("api-drift", "drift", 0.9, model="api")])
app = FastAPI()


@inferwatch.monitor(model="api")
def predict(fail: bool) -> int:
    if fail:
        raise ValueError("boom")
    return 1


@app.get("/predict")
def route(fail: bool = False):
    try:
        return {"y": predict(fail)}
    except ValueError:
        return JSONResponse({"error": "boom"}, status_code=500)


@app.get("/health")
def health():
    return {"ok": True}


instrument_app(app, status_routes=True)
'''

SLO_FILE = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: api-availability
  annotations: {inferwatch/kind: availability, inferwatch/model: api}
spec:
  indicator: {spec: {ratioMetric: {}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  objectives: [{target: 0.9}]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("uvicorn")
    pytest.importorskip("inferwatch_fastapi")
    pytest.importorskip("yaml")
    where = tmp_path_factory.mktemp("app")
    (where / "budget_app.py").write_text(APP, encoding="utf-8")
    port = free_port()
    env = {**os.environ, "INFERWATCH_FLUSH_INTERVAL_MS": "50", "PYTHONUNBUFFERED": "1"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    with open(where / "server.err", "wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "budget_app:app", "--app-dir", str(where),
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            env=env, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError((where / "server.err").read_text()[-2000:])
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start within 30 s"
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def test_status_route_gate_passes_then_fails_when_the_budget_is_spent(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with httpx.Client(base_url=server, timeout=5) as client:
        for i in range(20):
            client.get("/predict", params={"fail": i == 0})
        status = client.get("/inferwatch/status").json()
    entries = {e["name"]: e for e in status["slos"]}
    assert entries["api-availability"]["total"] == 20
    assert entries["api-availability"]["budget_remaining"] == pytest.approx(0.5)
    assert entries["api-drift"]["state"] == "no_data"

    assert main(["budget", "check", "--status", server]) == 0
    out = capsys.readouterr().out
    assert "api-availability: 2160.0 of 4320.0 minutes left in this 30-day window" in out
    assert "api-drift: no data" in out

    with httpx.Client(base_url=server, timeout=5) as client:
        for _ in range(5):
            client.get("/predict", params={"fail": True})  # 6 errors in 25: 24 % > 10 %
    slo_file = tmp_path / "slos.yaml"
    slo_file.write_text(SLO_FILE, encoding="utf-8")
    assert main(["budget", "check", "--status", f"{server}/inferwatch/status",
                 "--slo", str(slo_file)]) == 1
    out = capsys.readouterr().out
    assert "api-availability: 0.0 of 4320.0 minutes left" in out and "EXHAUSTED" in out
    assert "api-drift" not in out  # --slo names exactly what is checked


def test_status_gate_cannot_pass_without_its_source(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["budget", "check", "--status", f"http://127.0.0.1:{free_port()}"]) == 3
    assert "cannot reach" in capsys.readouterr().err
    assert main(["budget", "check", "--status", f"{server}/health"]) == 3  # JSON, no SLOs
    assert "reports no SLOs" in capsys.readouterr().err
    assert main(["budget", "check", "--status", f"{server}/nowhere"]) == 3
    assert "HTTP 404" in capsys.readouterr().err
    other = tmp_path / "other.yaml"
    other.write_text(SLO_FILE.replace("api-availability", "checkout-availability"))
    assert main(["budget", "check", "--status", server, "--slo", str(other)]) == 3
    assert "checkout-availability: unknown to the source" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["budget", "check"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["budget", "check", "--status", "http://a", "--prometheus", "http://b"])
    assert exc.value.code == 2
    assert main(["budget", "check", "--status", "ftp://127.0.0.1/"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(SLO_FILE.replace("0.9", "1.9"), encoding="utf-8")
    pytest.importorskip("yaml")
    assert main(["budget", "check", "--status", "http://127.0.0.1:9", "--slo", str(bad)]) == 2
    assert "spec.objectives[0].target" in capsys.readouterr().err


# -- Prometheus ----------------------------------------------------------------------


class FakePrometheus:
    """Answers /api/v1/query like Prometheus does, from canned series per query."""

    def __init__(self, series: dict[str, list[tuple[dict[str, str], str]]],
                 status: int = 200) -> None:
        self.series = series
        self.status = status
        self.queries: list[str] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query).get("query", [""])[0]
                fake.queries.append(query)
                if url.path != "/api/v1/query":
                    self.send_error(404)
                    return
                if fake.status != 200:
                    body = json.dumps({"status": "error", "errorType": "internal",
                                       "error": "boom"}).encode()
                else:
                    result = [{"metric": {"__name__": query, **labels},
                               "value": [1767571200.0, value]}
                              for labels, value in fake.series.get(query, [])]
                    body = json.dumps({"status": "success", "data": {
                        "resultType": "vector", "result": result}}).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakePrometheus:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


BUDGET = "inferwatch:slo_error_budget_remaining:ratio"
OBJECTIVE = "inferwatch:slo_objective:ratio"


def _name(name: str) -> dict[str, str]:
    return {"inferwatch_slo_name": name, "inferwatch_slo_kind": "availability"}


def test_prometheus_gate_reads_the_recording_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = {
        BUDGET: [(_name("api-availability"), "0.3")],
        OBJECTIVE: [(_name("api-availability"), "0.999"), (_name("new-model"), "0.99")],
    }
    slo_file = tmp_path / "slos.yaml"
    slo_file.write_text(SLO_FILE.replace("0.9}", "0.999}"), encoding="utf-8")
    with FakePrometheus(series) as prom:
        assert main(["budget", "check", "--prometheus", prom.url]) == 0
        out = capsys.readouterr().out
        assert "api-availability: 30.0% of the error budget left, fleet-wide" in out
        assert "new-model: no data in Prometheus yet" in out
        pytest.importorskip("yaml")
        assert main(["budget", "check", "--prometheus", prom.url + "/", "--slo",
                     str(slo_file)]) == 0
        out = capsys.readouterr().out
        assert "api-availability: 13.0 of 43.2 minutes left (30.0% of the budget" in out
        assert "new-model" not in out
    assert set(prom.queries) == {BUDGET, OBJECTIVE}


def test_prometheus_gate_fails_on_an_exhausted_budget(capsys: pytest.CaptureFixture[str]) -> None:
    series = {
        BUDGET: [(_name("a"), "0.5"), (_name("b"), "-0.25"), (_name("b"), "0.1")],
        OBJECTIVE: [(_name("a"), "0.99"), (_name("b"), "0.99")],
    }
    with FakePrometheus(series) as prom:
        assert main(["budget", "check", "--prometheus", prom.url]) == 1
    out = capsys.readouterr().out
    assert "b: -25.0% of the error budget left" in out  # the worst series counts
    assert "FAIL, no budget left for b" in out


@pytest.mark.parametrize(("series", "status", "message"), [
    ({}, 200, "no inferwatch:slo_error_budget_remaining:ratio"),
    ({BUDGET: [(_name("a"), "0.5")]}, 500, "answered HTTP 500"),
])
def test_prometheus_gate_exits_3_when_it_cannot_tell(
    series: dict[str, Any], status: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakePrometheus(series, status) as prom:
        assert main(["budget", "check", "--prometheus", prom.url]) == 3
    assert message in capsys.readouterr().err


def test_prometheus_unreachable_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["budget", "check", "--prometheus", f"http://127.0.0.1:{free_port()}",
                 "--timeout", "2"]) == 3
    assert "cannot reach" in capsys.readouterr().err


def test_the_status_summary_text_is_what_people_read() -> None:
    # The in-process line and the gate's share of it are the same words.
    from inferwatch.slo import SLO
    from inferwatch.slo._budget import SLOState

    state = SLOState(SLO("x", "availability", 0.999), 0.0)
    state.update(0, 0)
    state.update(9_997, 10_000)
    assert textwrap.shorten(state.budget(60.0).text(), 60) == (
        "x: 30.2 of 43.2 minutes left in this 30-day window [...]")
