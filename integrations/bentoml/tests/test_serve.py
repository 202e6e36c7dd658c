"""A real ``bentoml serve`` of examples/bentoml_service.py, called over loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.network

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
STARTUP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("bentoml")
    records = tmp / "records.jsonl"
    port = _free_port()
    env = {
        **os.environ,
        "BENTOML_HOME": str(tmp / "home"),
        "BENTOML_DO_NOT_TRACK": "true",
        "INFERWATCH_LOG_SINK": "file",
        "INFERWATCH_LOG_FILE": str(records),
        "INFERWATCH_SAMPLE_RATE": "1.0",
        "INFERWATCH_METRICS_EXPORTER": "none",
    }
    bentoml = Path(sys.executable).with_name("bentoml")
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(bentoml), "serve", "bentoml_service:Churn", "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=EXAMPLES, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers share its process group: ended together
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"bentoml serve exited ({proc.returncode}):\n"
                            + (tmp / "serve.log").read_text(errors="replace")[-4000:])
            try:
                if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("bentoml serve not ready after 60 s:\n"
                            + (tmp / "serve.log").read_text(errors="replace")[-4000:])
            time.sleep(0.25)
        yield base, records
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def _read_records(path: Path, wanted: set[str], timeout: float = 15.0) -> dict[str, Any]:
    """The log records of these inference ids, waiting for the log writer."""
    deadline = time.monotonic() + timeout
    found: dict[str, list[dict[str, Any]]] = {}
    while True:
        found = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    event = json.loads(line)
                    found.setdefault(event["inference.id"], []).append(event)
        if wanted <= found.keys() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    missing = wanted - found.keys()
    assert not missing, f"no record for {missing}; got {sorted(found)}"
    for inference_id in wanted:
        assert len(found[inference_id]) == 1, found[inference_id]  # one record per inference
    return {k: v[0] for k, v in found.items()}


def test_one_record_per_inference_named_after_the_service(served: tuple[str, Path]) -> None:
    base, records = served
    rows = [[0.1, 0.2, 0.3, 0.4], [1.0, -1.0, 0.5, 0.0]]
    ids = {f"bento-{i}" for i in range(3)}
    with httpx.Client(base_url=base, timeout=10.0) as client:
        for inference_id in sorted(ids):
            response = client.post(
                "/predict", json={"rows": rows}, headers={"x-request-id": inference_id}
            )
            assert response.status_code == 200, response.text
            assert len(response.json()) == 2
            assert response.headers["x-request-id"] == inference_id
        bad = client.post("/predict", json={"rows": [[1.0]]}, headers={"x-request-id": "bad"})
        assert bad.status_code == 400
        assert client.get("/readyz").status_code == 200  # a probe: not an inference
    found = _read_records(records, ids | {"bad"})
    assert len(found) == len(ids) + 1
    for inference_id in ids:
        event = found[inference_id]
        assert (event["model.name"], event["model.version"]) == ("churn", "3")
        assert event["http.route"] == "/predict"
        assert event["http.response.status_code"] == 200
        assert event["outcome"] == "ok"
    assert found["bad"]["http.response.status_code"] == 400
