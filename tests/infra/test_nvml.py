"""GPUs through NVML: initialised once, read at collection time, no GPU is normal."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import pytest
from infratools import fake_nvml

from inferwatch.infra import GpuReader, gpu_reader
from inferwatch.infra._nvml import NO_DEVICE, NO_DRIVER, NO_PACKAGE

GPU_NAMES = {"inferwatch.gpu.utilization", "inferwatch.gpu.memory.used",
             "inferwatch.gpu.memory.total", "inferwatch.gpu.temperature", "inferwatch.gpu.power"}


def _gpu_points(monitor: Any) -> list[Any]:
    return [p for p in monitor.collect() if p.name.startswith("inferwatch.gpu.")]


def test_each_device_is_read_with_its_index_and_name(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml(devices=2)
    nvml.utilization = [0.37, 0.9]
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    reading = GpuReader().read()
    assert reading["available"] is True and reading["reason"] == ""
    assert reading["devices"][1] == {
        "index": 1, "name": "NVIDIA H200 #1", "utilization": 0.9,
        "memory_used_bytes": 3 << 30, "memory_total_bytes": 141 << 30,
        "temperature_c": 42.0, "power_w": 250.001,
    }


def test_nvml_is_initialised_once_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml(devices=1)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    reader = GpuReader()
    for _ in range(5):
        reader.read()
        reader.points()
    assert nvml.calls["nvmlInit"] == 1
    assert "nvmlShutdown" not in nvml.calls
    assert nvml.calls["nvmlDeviceGetUtilizationRates"] == 10  # every read reads anew
    assert nvml.calls["nvmlDeviceGetName"] == 1  # names once, with the handles


def test_a_forked_child_initialises_nvml_again(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml(devices=1)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    reader = GpuReader()
    reader.read()
    reader._after_fork_in_child()  # what os.register_at_fork runs in the child
    assert reader.read()["available"] is True
    assert nvml.calls["nvmlInit"] == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_child_of_a_real_fork_reads_its_own_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml(devices=1)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    reader = GpuReader()
    reader.read()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how often NVML was initialised, then leave at once
        try:
            ok = reader.read()["available"]
            os.write(write_fd, f"{nvml.calls['nvmlInit']} {ok}".encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    answer = os.read(read_fd, 100).decode()
    os.close(read_fd)
    os.waitpid(pid, 0)
    inits, ok = answer.split()
    assert ok == "True" and int(inits) >= 2  # the child initialised NVML anew
    assert nvml.calls["nvmlInit"] == 1  # the parent's own reader is untouched


def test_a_reading_the_device_does_not_support_is_left_out_and_not_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nvml = fake_nvml(devices=1, power=False)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    reader = GpuReader()
    for _ in range(3):
        assert reader.read()["devices"][0]["power_w"] is None
    assert nvml.calls["nvmlDeviceGetPowerUsage"] == 1
    names = {p.name for p in reader.points()}
    assert names == GPU_NAMES - {"inferwatch.gpu.power"}


def test_a_reading_that_fails_once_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml(devices=1)
    flaky = {"n": 0}

    def temperature(h: int, sensor: int) -> int:
        flaky["n"] += 1
        if flaky["n"] == 1:
            raise nvml.NVMLError("Timeout")
        return 50

    nvml.nvmlDeviceGetTemperature = temperature
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    reader = GpuReader()
    assert reader.read()["devices"][0]["temperature_c"] is None
    assert reader.read()["devices"][0]["temperature_c"] == 50.0


def test_names_come_as_bytes_or_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(devices=1, names_as_bytes=False))
    assert GpuReader().read()["devices"][0]["name"] == "NVIDIA H200 #0"


@pytest.mark.parametrize(("module", "reason"), [
    (None, NO_PACKAGE),
    (fake_nvml(init_fails=True), NO_DRIVER),
    (fake_nvml(devices=0), NO_DEVICE),
])
def test_no_gpu_is_normal_no_series_and_nothing_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, make_monitor: Any,
    module: Any, reason: str,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", module)  # None: the import fails
    with caplog.at_level(logging.DEBUG):
        reader = gpu_reader()
        assert reader.read() == {"available": False, "devices": [], "reason": reason}
        assert reader.points() == [] and reader.utilizations() == []
        monitor = make_monitor()
        assert _gpu_points(monitor) == []
        assert monitor.summary()["errors"] == {}
    assert caplog.records == []


def test_the_real_package_without_a_driver(caplog: pytest.LogCaptureFixture) -> None:
    # nvidia-ml-py is in the test environment (the 'gpu' extra); this machine has no GPU.
    importlib.import_module("pynvml")
    with caplog.at_level(logging.DEBUG):
        reading = GpuReader().read()
    assert caplog.records == []
    if reading["available"]:  # a GPU machine: every device answered something
        assert all(d["memory_total_bytes"] for d in reading["devices"])
    else:
        assert reading == {"available": False, "devices": [], "reason": NO_DRIVER}


def test_a_monitor_exports_the_gauges_at_collection_time(
    monkeypatch: pytest.MonkeyPatch, make_monitor: Any,
) -> None:
    nvml = fake_nvml(devices=2)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monitor = make_monitor()
    assert "nvmlInit" not in nvml.calls  # nothing at start, nothing on the request path
    points = _gpu_points(monitor)
    assert {p.name for p in points} == GPU_NAMES
    assert len(points) == 2 * len(GPU_NAMES)
    util = {p.attributes["inferwatch.gpu.index"]: p.value for p in points
            if p.name == "inferwatch.gpu.utilization"}
    assert util == {"0": 0.37, "1": 0.37}
    assert {p.attributes["inferwatch.gpu.name"] for p in points} == {
        "NVIDIA H200 #0", "NVIDIA H200 #1"}
    nvml.utilization = [0.5, 0.0]
    util = {p.attributes["inferwatch.gpu.index"]: p.value for p in _gpu_points(monitor)
            if p.name == "inferwatch.gpu.utilization"}
    assert util == {"0": 0.5, "1": 0.0}


def test_gpu_metrics_can_be_turned_off(monkeypatch: pytest.MonkeyPatch,
                                       make_monitor: Any) -> None:
    nvml = fake_nvml(devices=1)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    assert _gpu_points(make_monitor(gpu_metrics=False)) == []
    assert nvml.calls == {}


def test_the_status_page_reads_through_the_shared_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from inferwatch.status._infra import ProcessSampler

    nvml = fake_nvml(devices=1)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    gpu_reader().points()  # the metrics read first
    sampler = ProcessSampler()
    for _ in range(3):
        assert sampler.read()["gpu"]["devices"][0]["name"] == "NVIDIA H200 #0"
    assert nvml.calls["nvmlInit"] == 1
