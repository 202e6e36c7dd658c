"""The example FastAPI server under a real uvicorn, on loopback (marked ``network``).

Runs ``examples/fastapi_server.py`` in a subprocess on a free port, calls it
with httpx and reads the JSON log lines each worker process writes. The
shutdown tests also run a loopback OTLP/HTTP receiver, decode what reaches it
with opentelemetry-proto, and stop the server with SIGTERM under load.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from otlptools import OtlpHttpReceiver

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


def start(
    tmp_path: Path, workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    port = free_port()
    env = dict(os.environ)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    env.update({
        "EXAMPLE_LOG_DIR": str(tmp_path),
        "INFERWATCH_METRICS_EXPORTER": "none",
        "INFERWATCH_FLUSH_INTERVAL_MS": "50",
        "PYTHONUNBUFFERED": "1",
        # A server that hangs prints every thread's stack when it gets SIGABRT.
        "PYTHONFAULTHANDLER": "1",
    })
    env.update(extra_env or {})
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


# -- shutdown: SIGTERM under load loses nothing kept, and exports a last time ------------------


class OtlpReceiver(OtlpHttpReceiver):
    """The shared loopback receiver, with the calls it was told about."""

    @property
    def url(self) -> str:
        return self.endpoint

    def predict_calls(self) -> int:
        """Calls per process from the last cumulative value of each stream, summed."""
        last: dict[tuple[Any, ...], float] = {}
        for request in self.metrics():
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name != "inferwatch.predict.calls":
                            continue
                        for point in metric.sum.data_points:
                            attrs = tuple(sorted(
                                (a.key, str(a.value)) for a in point.attributes
                            ))
                            # A process's cumulative stream keeps its start time.
                            key = (point.start_time_unix_nano, attrs)
                            value = point.as_int or point.as_double
                            last[key] = max(last.get(key, 0), value)
        return int(sum(last.values()))


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    otlp = OtlpReceiver()
    yield otlp
    otlp.close()


def stacks(server: Server) -> str:
    """Every thread's stack in every process of a hung server (and its stderr)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGABRT)
    time.sleep(1.0)
    return (server.log_dir / "server.err").read_text(errors="replace")[-12000:]


def load_then_sigterm(server: Server, n_before: int) -> tuple[list[str], int]:
    """Send requests from 8 threads; SIGTERM the server while they are in flight.

    Returns the ids of the requests answered 200 and how many failed (refused
    once the server stopped listening).
    """
    answered: list[str] = []
    failed = 0
    lock = threading.Lock()
    stop = threading.Event()
    counter = itertools.count()  # never runs out, however long the server takes to stop

    def worker() -> None:
        nonlocal failed
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                request_id = f"s-{next(counter)}"
                try:
                    response = client.post(
                        f"{server.url}/models/churn/predict",
                        json={"user_id": request_id, "features": FEATURES},
                        headers={"x-request-id": request_id},
                    )
                except httpx.TransportError:
                    with lock:
                        failed += 1
                    time.sleep(0.01)
                    continue
                if response.status_code == 200:
                    with lock:
                        answered.append(request_id)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(answered) < n_before and time.monotonic() < deadline:
        time.sleep(0.01)
    server.process.send_signal(signal.SIGTERM)  # what a rolling deploy sends
    try:
        try:
            server.process.wait(2)  # still under load: requests in flight as it stops
        except subprocess.TimeoutExpired:
            # Then the load balancer stops routing here, as in a rolling deploy. Under
            # endless keep-alive load uvicorn's graceful shutdown can wait for ever on
            # a connection it accepted as it stopped listening (it never tells that one
            # to close), so the load must end, as it does in production.
            stop.set()
            server.process.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the server did not stop within 30 s:\n{stacks(server)}") from None
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    return answered, failed


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_under_load_loses_no_kept_record_and_exports_last_metrics(
    tmp_path: Path, receiver: OtlpReceiver, workers: int
) -> None:
    env = {
        "INFERWATCH_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        # Neither timer fires during the test: only the shutdown flush can
        # write the records and export the metrics.
        "INFERWATCH_FLUSH_INTERVAL_MS": "60000",
        "OTEL_METRIC_EXPORT_INTERVAL": "60000",
        # The whole run is drained at once: no rate limit on what the log keeps.
        "INFERWATCH_MAX_RECORDS_PER_SECOND": "1000000000",
    }
    for server in start(tmp_path, workers, env):
        answered, _ = load_then_sigterm(server, n_before=100)
        assert server.process.returncode is not None
    assert len(answered) >= 100
    lines = [line for per_pid in server.log_lines().values() for line in per_pid]
    logged = [line["inference.id"] for line in lines if line.get("model.name") == "churn"]
    assert len(logged) == len(set(logged))
    # Every request the client got a 200 for was kept (sample rate 1) and written.
    assert set(answered) <= set(logged)
    assert receiver.metrics(), "no metric export reached the receiver"
    # The last export counts every call the server finished, in every worker.
    assert receiver.predict_calls() == len(logged)
