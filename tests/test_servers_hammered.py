"""Real servers hammered from threads and asyncio tasks at once, then stopped.

gunicorn with two uvicorn workers, with and without ``--preload`` (the app,
inferwatch's monitor and its threads made in the master and forked into the
workers), on 127.0.0.1. Every request carries its own id and its own feature
value; afterwards, from the log files the workers wrote:

- every request that reached the model is there exactly once, with its own
  id, its own feature value and its own outcome (no record mixes two
  requests, none is lost: the workers flush on their way out);
- requests that never reached the model (422 from validation) are never
  logged as an inference of the model;
- every line is whole JSON (two processes appending to one file never
  interleave), and the server stops within its timeout (no deadlock).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("gunicorn")
pytest.importorskip("uvicorn")

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(sys.platform == "win32", reason="gunicorn needs POSIX"),
]

APP = textwrap.dedent("""
    import os

    from fastapi import FastAPI
    from pydantic import BaseModel

    import inferwatch
    from inferwatch.asgi import InferenceMiddleware

    inferwatch.configure(
        log_sink="file",
        log_file=os.path.join(os.environ["LOG_DIR"], f"iw-{os.getpid()}.jsonl"),
        sample_rate=1.0, feature_sample_rate=1.0, max_records_per_second=1e9,
        metrics_exporter="none", flush_interval_ms=20,
    )


    @inferwatch.monitor(model="hammer", version="1", features="x")
    def predict(x, fail):
        if fail:
            raise ValueError("asked to fail")
        return x[0] * 2.0


    class Body(BaseModel):
        x: float
        fail: bool = False


    inner = FastAPI()


    @inner.post("/predict")
    def route(body: Body):
        try:
            return {"y": predict([body.x], body.fail)}
        except ValueError:
            return {"error": "failed"}


    app = InferenceMiddleware(inner, model="gateway")
""")

N_THREADS = 6
N_TASKS = 24
PER_WORKER = 60  # requests per thread and per task: 1,800 in all


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.returncode}")
        try:
            httpx.post(url, json={"x": 0.0}, headers={"x-request-id": "ready"}, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


def _plan(prefix: str, n: int) -> list[tuple[str, dict[str, Any]]]:
    """(request id, body) per request: every 10th invalid, every 7th failing."""
    plan = []
    for i in range(n):
        rid = f"{prefix}-{i}"
        value = float(hash((prefix, i)) % 10_000) / 7.0
        if i % 10 == 3:
            plan.append((rid, {"x": "not a number"}))
        else:
            plan.append((rid, {"x": value, "fail": i % 7 == 5}))
    return plan


@pytest.mark.parametrize("preload", [False, True], ids=["per-worker", "preload"])
def test_gunicorn_uvicorn_workers_hammered_then_stopped(tmp_path: Path, preload: bool) -> None:
    (tmp_path / "hammer_app.py").write_text(APP)
    logs = tmp_path / "logs"
    logs.mkdir()
    port = _free_port()
    cmd = [sys.executable, "-m", "gunicorn", "hammer_app:app", "--chdir", str(tmp_path),
           "-w", "2", "-k", "uvicorn.workers.UvicornWorker", "-b", f"127.0.0.1:{port}",
           "--graceful-timeout", "20", "--log-level", "warning"]
    if preload:
        cmd.append("--preload")
    env = {**os.environ, "LOG_DIR": str(logs), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/predict"
    sent: dict[str, tuple[dict[str, Any], int]] = {}
    lock = threading.Lock()
    try:
        _wait_ready(url, proc)

        def thread_client(t: int) -> None:
            with httpx.Client(timeout=30.0) as client:
                for rid, body in _plan(f"t{t}", PER_WORKER):
                    r = client.post(url, json=body, headers={"x-request-id": rid})
                    with lock:
                        sent[rid] = (body, r.status_code)

        async def task_client(k: int, client: httpx.AsyncClient) -> None:
            for rid, body in _plan(f"a{k}", PER_WORKER):
                r = await client.post(url, json=body, headers={"x-request-id": rid})
                with lock:
                    sent[rid] = (body, r.status_code)

        async def tasks() -> None:
            async with httpx.AsyncClient(timeout=30.0) as client:
                await asyncio.gather(*(task_client(k, client) for k in range(N_TASKS)))

        threads = [threading.Thread(target=thread_client, args=(t,)) for t in range(N_THREADS)]
        for t in threads:
            t.start()
        asyncio.run(tasks())
        for t in threads:
            t.join(120)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=45)
        except subprocess.TimeoutExpired:  # a deadlocked shutdown
            proc.kill()
            out, _ = proc.communicate()
            raise AssertionError(f"gunicorn did not stop: {out.decode()[-2000:]}") from None
    assert len(sent) == (N_THREADS + N_TASKS) * PER_WORKER

    records: dict[str, dict[str, Any]] = {}
    duplicates = []
    for path in logs.glob("*.jsonl*"):
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)  # whole lines only: no interleaving
            if event.get("model.name") != "hammer" or event["inference.id"] == "ready":
                continue
            rid = event["inference.id"]
            if rid in records:
                duplicates.append(rid)
            records[rid] = event
    assert not duplicates
    reached = {rid: body for rid, (body, status) in sent.items() if status == 200}
    invalid = {rid for rid, (_body, status) in sent.items() if status == 422}
    assert len(invalid) == (N_THREADS + N_TASKS) * len(
        [i for i in range(PER_WORKER) if i % 10 == 3])
    assert set(records) == set(reached), (
        f"missing {len(set(reached) - set(records))}, extra {len(set(records) - set(reached))}")
    for rid, body in reached.items():
        event = records[rid]
        assert event["features"] == [body["x"]], rid  # its own features, no other's
        assert event["outcome"] == ("error" if body["fail"] else "ok"), rid
    assert not invalid & set(records)
