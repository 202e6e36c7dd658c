"""The infrastructure section: CPU and memory from the standard library, GPUs via NVML."""

from __future__ import annotations

import os
import sys
import time
import types
from typing import Any

import pytest

from inferwatch.status import _infra
from inferwatch.status._infra import ProcessSampler, gpu_devices


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_and_memory_are_this_process_s() -> None:
    sampler = ProcessSampler(gpu=False)
    first = sampler.read()
    assert first["pid"] == os.getpid() and first["threads"] >= 1
    _burn(0.3)  # process CPU time, whatever the machine's load
    second = sampler.read()
    assert second["cpu_seconds"] - first["cpu_seconds"] >= 0.3 - 0.02
    assert second["gpu"]["reason"] == "GPU readings turned off"
    if sys.platform == "linux":
        assert second["rss_bytes"] > 1_000_000
        assert second["max_rss_bytes"] >= second["rss_bytes"] // 2
        assert second["uptime_s"] > 0


def test_cpu_share_is_over_the_time_between_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"wall": 100.0, "cpu": 5.0}
    monkeypatch.setattr(_infra, "_cpu_seconds", lambda: clock["cpu"])
    monkeypatch.setattr(_infra, "_uptime_seconds", lambda: 50.0)
    sampler = ProcessSampler(gpu=False, clock=lambda: clock["wall"])
    first = sampler.read()
    assert first["cpu_percent"] == pytest.approx(10.0)  # 5 s of CPU in 50 s of life
    assert first["cpu_percent_over"] == "since the process started"
    clock.update(wall=102.0, cpu=6.5)
    second = sampler.read()
    assert second["cpu_percent"] == pytest.approx(75.0)  # 1.5 s of CPU in 2 s
    assert second["cpu_percent_over"] == "since the previous read"


def _fake_nvml(*, init_fails: bool = False, count: int = 1) -> types.ModuleType:
    nvml: Any = types.ModuleType("pynvml")

    def init() -> None:
        if init_fails:
            raise RuntimeError("NVML Shared Library Not Found")

    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: None
    nvml.nvmlDeviceGetCount = lambda: count
    nvml.nvmlDeviceGetHandleByIndex = lambda i: f"h{i}"
    nvml.nvmlDeviceGetName = lambda h: b"NVIDIA H200"
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=37)
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=2 << 30, total=141 << 30)
    nvml.nvmlDeviceGetTemperature = lambda h, sensor: 41

    def power(h: str) -> int:
        raise RuntimeError("Not Supported")  # a reading a device lacks is left out

    nvml.nvmlDeviceGetPowerUsage = power
    return nvml


def test_gpus_are_read_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(count=2))
    gpu = gpu_devices()
    assert gpu["available"] is True and len(gpu["devices"]) == 2
    assert gpu["devices"][1] == {
        "index": 1, "name": "NVIDIA H200", "utilization": 0.37,
        "memory_used_bytes": 2 << 30, "memory_total_bytes": 141 << 30,
        "temperature_c": 41, "power_w": None,
    }


@pytest.mark.parametrize(("module", "reason"), [
    (None, "no GPU support installed (pip install nvidia-ml-py)"),
    (_fake_nvml(init_fails=True), "no NVIDIA driver"),
    (_fake_nvml(count=0), "no GPU"),
])
def test_no_gpu_is_normal(monkeypatch: pytest.MonkeyPatch, module: Any, reason: str) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", module)  # None: the import fails
    assert gpu_devices() == {"available": False, "devices": [], "reason": reason}
