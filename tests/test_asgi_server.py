"""The example FastAPI server under a real uvicorn, on loopback (marked ``network``).

Runs ``examples/fastapi_server.py`` in a subprocess on a free port, calls it
with httpx and reads the JSON log lines each worker process writes.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")
pytest.importorskip("inferwatch_fastapi")

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[1]
FEATURES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log_dir: Path) -> None:
        self.process = process
        self.url = url
        self.log_dir = log_dir

    def log_lines(self) -> dict[int, list[dict[str, Any]]]:
        lines: dict[int, list[dict[str, Any]]] = {}
        for path in self.log_dir.glob("inferwatch-*.jsonl"):
            pid = int(path.stem.split("-")[1])
            text = path.read_text()
            lines[pid] = [json.loads(line) for line in text.splitlines() if line.strip()]
        return lines


def start(tmp_path: Path, workers: int) -> Iterator[Server]:
    port = free_port()
    env = dict(os.environ)
    env.update({
        "EXAMPLE_LOG_DIR": str(tmp_path),
        "INFERWATCH_METRICS_EXPORTER": "none",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    command = [sys.executable, "-m", "uvicorn", "examples.fastapi_server:app",
               "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
               "--workers", str(workers)]
    with open(tmp_path / "server.err", "wb") as errors:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"server exited: {(tmp_path / 'server.err').read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not start within 30 s")
            time.sleep(0.1)
        yield Server(process, url, tmp_path)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    yield from start(tmp_path, workers=1)


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    yield from start(tmp_path, workers=2)


def post(url: str, request_id: str) -> httpx.Response:
    # A fresh connection per request, so the kernel spreads them across workers.
    with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        return client.post(f"{url}/models/churn/predict",
                           json={"user_id": request_id, "features": FEATURES},
                           headers={"x-request-id": request_id})


def wait_for_lines(server: Server, total: int) -> dict[int, list[dict[str, Any]]]:
    deadline = time.monotonic() + 15
    while True:
        lines = server.log_lines()
        if sum(map(len, lines.values())) >= total or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_real_server_logs_one_record_per_request(server: Server) -> None:
    ids = [f"req-{i}" for i in range(20)]
    for request_id in ids:
        response = post(server.url, request_id)
        assert response.status_code == 200
        assert response.headers["x-request-id"] == request_id
    missing = httpx.get(f"{server.url}/models/nope/predict", timeout=5)
    assert missing.status_code == 405
    status = httpx.get(f"{server.url}/inferwatch/status", timeout=5).json()
    assert status["models"]["churn:1"]["calls"] == 20
    lines = [line for per_pid in wait_for_lines(server, 21).values() for line in per_pid]
    predictions = [line for line in lines if line["model.name"] == "churn"]
    assert sorted(line["inference.id"] for line in predictions) == sorted(ids)
    for line in predictions:
        assert line["http.route"] == "/models/{name}/predict"
        assert line["http.response.status_code"] == 200
        assert line["http.request.body.size"] > 0
        assert line["http.response.body.size"] > 0
        assert len(line["features"]) == len(FEATURES)
    assert not any(line.get("http.route") == "/inferwatch/status" for line in lines)
    assert not any(line.get("http.route") == "/health" for line in lines)


def test_each_uvicorn_worker_records_its_own_requests(two_workers: Server) -> None:
    n = 60
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: post(two_workers.url, f"w-{i}"), range(n)))
    assert all(r.status_code == 200 for r in responses)
    served_by = collections.Counter(r.json()["pid"] for r in responses)
    lines = wait_for_lines(two_workers, n)
    assert sum(map(len, lines.values())) == n  # nothing lost, nothing counted twice
    for pid, count in served_by.items():
        assert len(lines[pid]) == count
        assert {line["inference.id"] for line in lines[pid]} == {
            r.headers["x-request-id"] for r in responses if r.json()["pid"] == pid
        }
    assert set(lines) <= set(served_by)
