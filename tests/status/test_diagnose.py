"""``inferwatch diagnose`` against a live status endpoint on loopback (injected errors,
slowness and drift), a healthy one, a wrong token and an unreachable URL."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import inferwatch
import inferwatch.drift
import inferwatch.health
import inferwatch.slo
from inferwatch import Monitor
from inferwatch.cli import main
from inferwatch.status import serve
from inferwatch.status._diagnose import diagnose

pytestmark = pytest.mark.network
TOKEN = "diagnose-test-token-0123456789"


def _served(monitor: Monitor) -> Iterator[str]:
    server = serve(monitor, port=0, token=TOKEN, background=True)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _service(*, broken: bool) -> tuple[Monitor, Any]:
    rng = np.random.default_rng(4)
    train = rng.normal(size=(4000, 3))
    profile = inferwatch.drift.build_profile(train, prediction=train[:, 0], seed=0)
    monitor = Monitor(metrics_exporter="none", log_sink="none", service_name="churn-api")
    inferwatch.drift.watch(profile, monitor=monitor, window="count:400", model="churn")
    inferwatch.slo.track([
        inferwatch.slo.SLO("churn-availability", "availability", 0.99, model="churn"),
        inferwatch.slo.SLO("churn-latency", "latency", 0.9, threshold_ms=20, model="churn"),
    ], monitor=monitor)
    health = inferwatch.health.track(monitor, latency_threshold_ms=20)

    @inferwatch.monitor(model="churn", version="7", monitor=monitor, features=lambda x: x)
    def predict(x: list[float]) -> float:
        if broken and x[2] > 1.0:  # about 16 % of calls fail
            raise ValueError("upstream returned nothing")
        if broken and x[1] > 1.3:  # about 10 % are slow
            time.sleep(0.025)
        return float(x[0])

    shift = np.array([1.5, 0.0, 0.0]) if broken else np.zeros(3)
    for i in range(800):
        x = rng.normal(size=3) + (shift if i >= 400 else 0.0)
        with contextlib.suppress(ValueError):  # the injected failures
            predict(x.tolist())
    monitor.flush()
    health.refresh()
    return monitor, health


@pytest.fixture(scope="module")
def broken_url() -> Iterator[str]:
    monitor, _ = _service(broken=True)
    yield from _served(monitor)
    monitor.shutdown()


def test_a_failing_service_is_diagnosed_worst_first_with_evidence(
    broken_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["diagnose", broken_url, "--token", TOKEN]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    states = [line.split()[0] for line in lines[:-1]]
    order = ["FAILING", "DEGRADED", "HEALTHY", "NO"]
    assert states == sorted(states, key=lambda s: order.index(s))  # worst first
    service = next(line for line in lines if "service health:" in line)
    assert service.startswith("FAILING") and "churn:7" in service
    assert re.search(r"error rate 1\d\.\d % of 800 calls \(SLO churn-availability allows "
                     r"1\.00 %; its error budget is spent\)", service), service
    assert "within 20 ms (SLO churn-latency" in service  # the slow calls
    assert re.search(r"health \d+ \(red\)", service)
    inputs = next(line for line in lines if "input data quality:" in line)
    assert inputs.startswith("FAILING") and "f0 drift (PSI" in inputs
    assert "f1 drift" not in inputs and "f2 drift" not in inputs
    outputs = next(line for line in lines if "prediction distribution:" in line)
    assert outputs.startswith("FAILING") and "prediction drift" in outputs
    versions = next(line for line in lines if "recent version changes:" in line)
    assert re.search(r"version 7 started \d\d:\d\d UTC \(\d+ min ago\)", versions)
    assert "[status page: service health] [runbook: #1-service-health]" in service
    assert inputs.endswith("[status page: data quality] [runbook: #3-input-data-quality]")
    assert re.match(r"3 failing, (\d+ degraded, )?\d+ healthy", lines[-1]), lines[-1]


def test_a_healthy_service_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    monitor, _ = _service(broken=False)
    try:
        for url in _served(monitor):
            assert main(["diagnose", url + "/inferwatch/status", "--token", TOKEN]) == 0
    finally:
        monitor.shutdown()
    out = capsys.readouterr().out
    assert "FAILING" not in out
    assert re.search(r"^HEALTHY\s+churn:7\s+service health: error rate", out, re.M)


def test_a_wrong_token_and_an_unreachable_url_say_so_with_exit_code_3(
    broken_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["diagnose", broken_url, "--token", "wrong"]) == 3
    err = capsys.readouterr().err
    assert "answered HTTP 401" in err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    assert main(["diagnose", f"http://127.0.0.1:{port}", "--timeout", "2"]) == 3
    assert time.monotonic() - started < 10
    assert f"cannot reach http://127.0.0.1:{port}/inferwatch/status" in capsys.readouterr().err
    assert main(["diagnose", "ftp://example.org"]) == 2


def test_no_traffic_and_inferwatch_losses() -> None:
    doc = {"models": {"m:1": {"calls": 0}}, "dropped": {"buffer_full": 12, "sink_closed": 0},
           "errors": {"log_sink": 2}}
    checks = {(c.model, c.name): c for c in diagnose(doc)}
    assert checks[("m:1", "service health")].state == "no data"
    assert checks[("m:1", "input data quality")].evidence == ["no drift monitor"]
    own = checks[("inferwatch", "inferwatch's own losses")]
    assert own.state == "degraded"
    assert own.evidence == ["lost: buffer_full 12", "errors survived: log_sink 2"]
