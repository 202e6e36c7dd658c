"""Fakes for the infrastructure tests: a ``pynvml`` with devices, and a ``torch`` with CUDA events.

Both are plain modules put into ``sys.modules`` (``monkeypatch.setitem``), so the
code under test imports them exactly as it imports the real packages.
"""

from __future__ import annotations

import types
from typing import Any


class FakeNVMLError(Exception):
    """pynvml's NVMLError."""


class FakeNotSupported(FakeNVMLError):
    """pynvml's NVMLError_NotSupported."""


def fake_nvml(*, devices: int = 2, init_fails: bool = False, power: bool = True,
              names_as_bytes: bool = True) -> Any:
    """A pynvml whose devices answer fixed readings; ``calls`` counts each function's calls."""
    nvml: Any = types.ModuleType("pynvml")
    nvml.calls = {}
    nvml.utilization = [0.37] * devices  # tests change these between reads
    nvml.NVMLError = FakeNVMLError
    nvml.NVMLError_NotSupported = FakeNotSupported
    nvml.NVML_TEMPERATURE_GPU = 0

    def counted(name: str, fn: Any) -> Any:
        def call(*args: Any) -> Any:
            nvml.calls[name] = nvml.calls.get(name, 0) + 1
            return fn(*args)

        return call

    def init() -> None:
        if init_fails:
            raise FakeNVMLError("Driver Not Loaded")

    def name(h: int) -> Any:
        text = f"NVIDIA H200 #{h}"
        return text.encode() if names_as_bytes else text

    def power_usage(h: int) -> int:
        if not power:
            raise FakeNotSupported("Not Supported")
        return 250_000 + h  # milliwatts

    for fn_name, fn in {
        "nvmlInit": init,
        "nvmlShutdown": lambda: None,
        "nvmlDeviceGetCount": lambda: devices,
        "nvmlDeviceGetHandleByIndex": lambda i: i,
        "nvmlDeviceGetName": name,
        "nvmlDeviceGetUtilizationRates": lambda h: types.SimpleNamespace(
            gpu=round(nvml.utilization[h] * 100), memory=10),
        "nvmlDeviceGetMemoryInfo": lambda h: types.SimpleNamespace(
            used=(2 + h) << 30, total=141 << 30, free=0),
        "nvmlDeviceGetTemperature": lambda h, sensor: 41 + h,
        "nvmlDeviceGetPowerUsage": power_usage,
    }.items():
        setattr(nvml, fn_name, counted(fn_name, fn))
    return nvml


class FakeEvent:
    """torch.cuda.Event: ``record`` stamps where the fake stream is; done once the GPU got there."""

    def __init__(self, cuda: FakeCuda, enable_timing: bool = False) -> None:
        assert enable_timing, "device time needs enable_timing=True"
        self.cuda = cuda
        self.at: float | None = None

    def record(self, stream: Any = None) -> None:
        self.cuda.records += 1
        self.at = self.cuda.device_ms

    def query(self) -> bool:
        if self.cuda.broken:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return self.at is not None and self.cuda.finished_ms >= self.at

    def elapsed_time(self, end: FakeEvent) -> float:
        assert self.at is not None and end.at is not None and end.query()
        return end.at - self.at

    def synchronize(self) -> None:  # never to be called by inferwatch
        raise AssertionError("inferwatch must not synchronise")


class FakeCuda:
    def __init__(self, available: bool = True) -> None:
        self.available = available
        self.device_ms = 0.0  # where the stream is (a test adds a kernel's time)
        self.finished_ms = float("inf")  # how far the GPU has got
        self.records = 0
        self.broken = False

    def is_available(self) -> bool:
        return self.available

    def Event(self, enable_timing: bool = False) -> FakeEvent:
        return FakeEvent(self, enable_timing)

    def synchronize(self) -> None:
        raise AssertionError("inferwatch must not synchronise")


def fake_torch(available: bool = True) -> Any:
    torch: Any = types.ModuleType("torch")
    torch.cuda = FakeCuda(available)
    return torch
