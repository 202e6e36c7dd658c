"""Served alone: inferwatch.status.serve() and `inferwatch serve-status`, on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from statustools import predictor, serve_rows

from inferwatch.cli import main
from inferwatch.status import serve
from inferwatch.testing import capture

pytestmark = pytest.mark.network


def test_serve_in_the_background() -> None:
    with capture() as cap:
        serve_rows(predictor(cap.monitor), 12)
        server = serve(cap.monitor, port=0, token="t0ken", background=True)
        try:
            port = server.server_address[1]
            base = f"http://127.0.0.1:{port}/inferwatch"
            assert httpx.get(base + "/status", timeout=5).status_code == 401
            auth = {"authorization": "Bearer t0ken"}
            doc = httpx.get(base + "/status", headers=auth, timeout=5).json()
            assert doc["models"]["churn:4"]["calls"] == 12
            page = httpx.get(base, headers=auth, timeout=5)
            assert page.status_code == 200 and "Service health" in page.text
            with httpx.Client(headers=auth, timeout=5) as client:  # one connection
                assert client.post(base, content=b"x" * 5000).status_code == 405
                assert client.get(base + "/status").json()["models"]["churn:4"]["calls"] == 12
        finally:
            server.shutdown()
            server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_command_serves_the_imported_module_s_monitor(tmp_path: Path) -> None:
    (tmp_path / "worker_mod.py").write_text(
        "import inferwatch\n"
        "@inferwatch.monitor(model='batch', version='7')\n"
        "def score(x):\n    return x * 2\n"
        "for i in range(5):\n    score(i)\n")
    port = _free_port()
    env = {**os.environ, "INFERWATCH_STATUS_TOKEN": "from-env",
           "INFERWATCH_METRICS_EXPORTER": "none", "PYTHONPATH": str(tmp_path)}
    with subprocess.Popen(
        [sys.executable, "-m", "inferwatch.cli", "serve-status", "--port", str(port),
         "--import", "worker_mod"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        try:
            _check(proc, port)
        finally:
            proc.terminate()
            proc.wait(10)


def _check(proc: subprocess.Popen[str], port: int) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert f"http://127.0.0.1:{port}/inferwatch (bearer token required)" in line, line
    url = f"http://127.0.0.1:{port}/inferwatch/status"
    deadline = time.monotonic() + 10
    while True:
        try:
            r = httpx.get(url, headers={"authorization": "Bearer from-env"}, timeout=2)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "serve-status did not answer"
            time.sleep(0.1)
    assert r.json()["models"]["batch:7"]["calls"] == 5
    assert httpx.get(url, timeout=2).status_code == 401


def test_the_command_needs_a_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve-status"])
    assert exc.value.code == 2
    assert "--port" in capsys.readouterr().err
