"""The status page's infrastructure section: GPUs through the shared reader, cost per prediction."""

from __future__ import annotations

import re
import sys
import time
import types
from typing import Any

import pytest

import inferwatch
from inferwatch.infra import GpuReader, _nvml
from inferwatch.status._document import build_status
from inferwatch.status._html import render_html
from inferwatch.status._infra import ProcessSampler


def _fake_nvml(devices: int) -> Any:
    nvml: Any = types.ModuleType("pynvml")
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetCount = lambda: devices
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i
    nvml.nvmlDeviceGetName = lambda h: "NVIDIA L4"
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=64)
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=3 << 30, total=24 << 30)
    nvml.nvmlDeviceGetTemperature = lambda h, sensor: 55
    nvml.nvmlDeviceGetPowerUsage = lambda h: 72_000
    return nvml


def _infra_html(page: str) -> str:
    match = re.search(r'<section id="infrastructure".*?</section>', page, re.S)
    assert match, "no infrastructure section"
    return match.group(0)


@pytest.fixture
def monitor() -> Any:
    mon = inferwatch.Monitor(log_sink="none", environ={}, handle_sigterm=False,
                             cost_per_hour=2.88, metrics_exporter="none")
    yield mon
    mon.shutdown()


def test_the_gpu_table_comes_from_the_shared_reader(monkeypatch: pytest.MonkeyPatch,
                                                    monitor: Any) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(2))
    monkeypatch.setattr(_nvml, "_default", None)
    doc = build_status(monitor, sampler=ProcessSampler())
    assert [d["utilization"] for d in doc["infrastructure"]["gpu"]["devices"]] == [0.64, 0.64]
    section = _infra_html(render_html(doc))
    assert section.count("NVIDIA L4") == 2 and "64 %" in section and "72.0 W" in section
    assert 'id="gpu-none"' not in section


@pytest.mark.parametrize(("module", "why"), [
    (None, "no GPU support installed (pip install nvidia-ml-py)"),
    (_fake_nvml(0), "no GPU"),
])
def test_no_gpu_says_why(monkeypatch: pytest.MonkeyPatch, monitor: Any, module: Any,
                         why: str) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", module)
    doc = build_status(monitor, sampler=ProcessSampler(gpus=GpuReader()))
    section = _infra_html(render_html(doc))
    assert f'<p class="note" id="gpu-none">No GPU ({why}).</p>' in section


def test_the_cost_card_shows_the_window(monitor: Any) -> None:
    @inferwatch.monitor(model="m", monitor=monitor)
    def predict(x: float) -> float:
        return x

    build_status(monitor)  # the first sample
    time.sleep(1.05)
    for _ in range(50):
        predict(1.0)
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    doc = build_status(monitor)
    cost = doc["cost"]
    assert cost["predictions"] == 50 and cost["per_prediction"] > 0
    section = _infra_html(render_html(doc))
    assert "Cost per prediction" in section and " per 1M" in section
    assert f"{cost['cores']} cores" in section


def test_without_prices_the_card_says_how_to_set_them() -> None:
    mon = inferwatch.Monitor(log_sink="none", environ={}, handle_sigterm=False)
    try:
        section = _infra_html(render_html(build_status(mon)))
        assert "<code>cost_per_hour</code>" in section
    finally:
        mon.shutdown()
