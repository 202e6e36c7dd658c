"""Workers behind one port push OTLP each under its own ``service.instance.id``.

A pull scrape of ``uvicorn --workers 2`` reaches one random worker, so its
counters jump between the workers' values. Pushed over OTLP, each worker's
cumulative counters stay apart only if the workers' resources differ:
inferwatch gives every process a ``service.instance.id`` of its own unless
``OTEL_RESOURCE_ATTRIBUTES`` sets one. Here examples/fastapi_server.py runs
under ``uvicorn --workers 2`` on loopback, exporting every 500 ms to a small
OTLP/HTTP receiver; requests on fresh connections spread over both workers,
and each worker's last export counts exactly the requests it answered.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("inferwatch_fastapi")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
metrics_service = pytest.importorskip(
    "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2")

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """An OTLP/HTTP metrics endpoint keeping each instance's last predict-call total."""

    def __init__(self) -> None:
        self.calls: dict[str | None, tuple[int, float]] = {}  # instance -> (time, calls)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.receive(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def receive(self, body: bytes) -> None:
        request = metrics_service.ExportMetricsServiceRequest()
        request.ParseFromString(body)
        for resource_metrics in request.resource_metrics:
            attrs = {a.key: a.value.string_value for a in resource_metrics.resource.attributes}
            instance = attrs.get("service.instance.id")
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != "inferwatch.predict.calls":
                        continue
                    points = metric.sum.data_points
                    stamp = max(p.time_unix_nano for p in points)
                    total = sum(p.as_int or p.as_double for p in points)
                    with self.lock:
                        if stamp >= self.calls.get(instance, (0, 0.0))[0]:
                            self.calls[instance] = (stamp, total)

    def totals(self) -> dict[str | None, float]:
        with self.lock:
            return {k: v[1] for k, v in self.calls.items()}


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def _predict(port: int) -> int:
    body = json.dumps({"user_id": "u-1", "features": [0.1] * 8})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a fresh connection
    try:
        conn.request("POST", "/models/churn/predict", body,
                     {"content-type": "application/json"})
        return int(json.loads(conn.getresponse().read())["pid"])
    finally:
        conn.close()


def test_two_workers_export_apart_and_add_up(tmp_path: Path) -> None:
    if shutil.which("timeout") is None:  # pragma: no cover - coreutils everywhere we run
        pytest.skip("no timeout command to bound the server")
    receiver = Receiver()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INFERWATCH_"))}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.port}",
               OTEL_METRIC_EXPORT_INTERVAL="500", INFERWATCH_LOG_SINK="none",
               PYTHONPATH=str(ROOT))
    with open(tmp_path / "uvicorn.log", "wb") as log:
        server = subprocess.Popen(
            ["timeout", "120", sys.executable, "-m", "uvicorn", "examples.fastapi_server:app",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
             "--no-access-log"],
            cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if _get(port, "/health") == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "uvicorn.log").read_text()
                time.sleep(0.2)
            # /health answers once one worker is up; the other may still be starting.
            # Keep calling (every call counts) until both have served some.
            served: collections.Counter[int] = collections.Counter()
            deadline = time.monotonic() + 60
            while sum(served.values()) < REQUESTS or (
                    len(served) < 2 and time.monotonic() < deadline):
                served[_predict(port)] += 1
            assert len(served) == 2, f"the requests reached one worker only: {served}"
            made = sum(served.values())
            deadline = time.monotonic() + 30
            while sum(receiver.totals().values()) < made and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            server.terminate()
            server.wait(30)
            receiver.server.shutdown()
            receiver.server.server_close()
    totals = receiver.totals()
    assert None not in totals, "a worker exported without a service.instance.id"
    assert len(totals) == 2, totals  # one resource per worker, never merged
    assert sorted(totals.values()) == sorted(served.values())


def test_the_instance_id_is_one_per_process_and_yields_to_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from inferwatch import _otel_env

    first = _otel_env.build_resource("svc", {}).attributes["service.instance.id"]
    assert _otel_env.build_resource("other", {}).attributes["service.instance.id"] == first
    given = _otel_env.build_resource(
        "svc", {"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=pod-7"})
    assert given.attributes["service.instance.id"] == "pod-7"
    # A forked child has another pid, and so another id (no real fork: pytest has threads).
    monkeypatch.setattr(_otel_env, "os", types.SimpleNamespace(getpid=lambda: -1))
    child = _otel_env.build_resource("svc", {}).attributes["service.instance.id"]
    assert child != first
