"""Cost per prediction: prices apportioned by measured CPU and GPU time, with injected readings."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import pytest
from infratools import fake_nvml

from inferwatch.infra import CostTracker


class Readings:
    """Clock, CPU seconds, predictions, device seconds and GPU utilisations, set by the test."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.cpu = 50.0
        self.predictions = 0
        self.device = 0.0
        self.utils: list[float] = []

    def tracker(self, **prices: Any) -> CostTracker:
        return CostTracker(lambda: self.predictions, cpu_seconds=lambda: self.cpu,
                           device_seconds=lambda: self.device,
                           utilizations=lambda: self.utils, cores=16,
                           clock=lambda: self.t, **prices)

    def advance(self, seconds: float, cpu: float = 0.0, predictions: int = 0,
                device: float = 0.0) -> None:
        self.t += seconds
        self.cpu += cpu
        self.predictions += predictions
        self.device += device


def test_the_machine_is_charged_by_this_process_s_share_of_its_cores() -> None:
    r = Readings()
    tracker = r.tracker(cost_per_hour=3.2)
    tracker.sample()
    r.advance(60, cpu=30.0, predictions=6000)  # half a core of a 16-core machine
    window = tracker.window()
    # 3.2 $/h x 30 CPU-seconds / 16 cores / 3600 s = $0.001666...
    assert window["cost"] == pytest.approx(3.2 * 30 / 16 / 3600)
    assert window["per_prediction"] == pytest.approx(3.2 * 30 / 16 / 3600 / 6000)
    assert window["cpu_share"] == pytest.approx(30 / (60 * 16))
    assert window["hourly"] == pytest.approx(3.2 * 0.5 / 16)
    assert window["gpu_cost"] == 0.0 and window["predictions"] == 6000


def test_gpu_time_comes_from_nvml_utilisation_between_samples() -> None:
    r = Readings()
    r.utils = [0.2, 0.0]
    tracker = r.tracker(gpu_cost_per_hour=4.0)
    tracker.sample()
    r.utils = [0.6, 1.0]
    r.advance(10, predictions=100)
    window = tracker.window()
    busy = 10 * ((0.2 + 0.6) / 2 + (0.0 + 1.0) / 2)  # the trapezoid per device: 9 GPU-seconds
    assert window["gpu_busy_s"] == pytest.approx(busy)
    assert window["gpu_cost"] == pytest.approx(4.0 * busy / 3600)
    assert window["per_prediction"] == pytest.approx(4.0 * busy / 3600 / 100)
    assert window["gpu_source"] == "nvml"
    assert window["cpu_cost"] == 0.0


def test_measured_device_time_wins_over_utilisation() -> None:
    r = Readings()
    r.utils = [1.0]  # another process keeps the GPU busy: not ours to pay
    tracker = r.tracker(cost_per_hour=1.6, gpu_cost_per_hour=3.6)
    tracker.sample()
    r.advance(20, cpu=4.0, predictions=400, device=2.5)
    window = tracker.window()
    assert window["gpu_source"] == "cuda_events"
    assert window["gpu_busy_s"] == pytest.approx(2.5)
    expected = 1.6 * 4.0 / 16 / 3600 + 3.6 * 2.5 / 3600
    assert window["cost"] == pytest.approx(expected)
    assert window["per_prediction"] == pytest.approx(expected / 400)


def test_device_time_is_capped_at_every_gpu_busy_all_along() -> None:
    r = Readings()
    r.utils = [0.5]
    tracker = r.tracker(gpu_cost_per_hour=3.6)
    tracker.sample()
    r.advance(1, device=5.0, predictions=1)  # overlapping streams summed to 5 s in 1 s
    assert tracker.window()["gpu_busy_s"] == pytest.approx(1.0)


def test_the_window_slides_and_samples_are_at_most_one_a_second() -> None:
    r = Readings()
    tracker = r.tracker(cost_per_hour=3.6, window_s=60)
    tracker.sample()
    for _ in range(10):  # ten minutes at one core, 100 predictions a minute
        r.advance(60, cpu=60.0, predictions=100)
        tracker.sample()
    r.advance(60, cpu=6.0, predictions=100)  # the last minute: a tenth of a core
    tracker.sample()
    tracker.sample()  # too soon: not taken
    window = tracker.window()
    assert window["over_s"] == pytest.approx(60)
    assert window["per_prediction"] == pytest.approx(3.6 * 6.0 / 16 / 3600 / 100)
    points = {(p.name, tuple(p.attributes.values())): p.value for p in tracker.points()}
    # The counter keeps everything since the start: 606 CPU-seconds.
    assert points[("inferwatch.cost.attributed", ("cpu",))] == pytest.approx(
        3.6 * 606 / 16 / 3600)
    assert points[("inferwatch.cost.per_prediction", ())] == pytest.approx(
        window["per_prediction"])
    assert ("inferwatch.cost.attributed", ("gpu",)) not in points  # no GPU price


def test_no_predictions_no_gauge() -> None:
    r = Readings()
    tracker = r.tracker(cost_per_hour=1.0)
    assert tracker.window()["per_prediction"] is None  # one sample: no window yet
    r.advance(30, cpu=3.0)
    window = tracker.window()
    assert window["per_prediction"] is None and window["cost"] > 0
    assert [p.name for p in tracker.points()] == ["inferwatch.cost.attributed"]


def test_a_forked_child_counts_from_zero() -> None:
    r = Readings()
    tracker = r.tracker(cost_per_hour=1.0)
    tracker.sample()
    r.advance(10, cpu=5.0, predictions=10)
    tracker.sample()
    tracker._after_fork_in_child()
    assert tracker.points() == [] or all(p.value == 0 for p in tracker.points())
    assert tracker.window()["per_prediction"] is None


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_monitor_reports_cost_from_its_predictions(
    monkeypatch: pytest.MonkeyPatch, make_monitor: Any,
) -> None:
    import inferwatch
    from inferwatch.infra import _cost

    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(devices=1))
    monkeypatch.setattr(_cost, "MIN_SAMPLE_SECONDS", 0.0)
    monitor = make_monitor(cost_per_hour=3.6, gpu_cost_per_hour=7.2)

    @inferwatch.monitor(model="m", monitor=monitor, batch_size=lambda x: len(x))
    def predict(x: list[float]) -> float:
        _burn(0.002)
        return 0.0

    monitor.summary()  # the first sample
    for _ in range(100):
        predict([1.0, 2.0])  # 2 rows: 2 predictions
    cost = monitor.summary()["cost"]
    assert cost["predictions"] == 200
    assert cost["gpu_source"] == "nvml" and cost["gpu_busy_s"] > 0
    assert cost["per_prediction"] == pytest.approx(cost["cost"] / 200)
    # price/3600 x CPU-seconds / cores, where CPU-seconds = share x time x cores
    assert cost["cpu_cost"] == pytest.approx(3.6 / 3600 * cost["cpu_share"] * cost["over_s"])
    # At least the CPU the calls burned, less a clock tick at each end (os.times counts
    # in ticks of 10 ms on Linux).
    tick = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
    assert cost["cpu_share"] * cost["over_s"] * cost["cores"] >= 100 * 0.002 - 2 * tick
    names = {p.name for p in monitor.collect() if p.name.startswith("inferwatch.cost.")}
    assert names == {"inferwatch.cost.per_prediction", "inferwatch.cost.attributed"}


def test_without_prices_there_is_no_cost(make_monitor: Any) -> None:
    monitor = make_monitor()
    assert "cost" not in monitor.summary()
    assert not [p for p in monitor.collect() if p.name.startswith("inferwatch.cost.")]


def test_prices_are_validated(make_monitor: Any) -> None:
    from inferwatch import ConfigurationError

    with pytest.raises(ConfigurationError, match="cost_per_hour"):
        make_monitor(cost_per_hour=-1)
    with pytest.raises(ConfigurationError, match="INFERWATCH_GPU_COST_PER_HOUR"):
        from inferwatch import Monitor

        Monitor(environ={"INFERWATCH_GPU_COST_PER_HOUR": "cheap"})
