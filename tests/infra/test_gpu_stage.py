"""``inferwatch.gpu_stage``: CUDA events around the block, read when the record is aggregated."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from infratools import fake_torch

import inferwatch
from inferwatch import MissingDependencyError
from inferwatch.infra import _cuda


@pytest.fixture
def torch(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = fake_torch()
    monkeypatch.setitem(sys.modules, "torch", module)
    return module


def _predictor(monitor: Any, torch: Any, kernel_ms: float = 4.5) -> Any:
    @inferwatch.monitor(model="m", monitor=monitor)
    def predict(x: float) -> float:
        with inferwatch.gpu_stage("infer"):
            torch.cuda.device_ms += kernel_ms  # the kernels the block launched
        return x

    return predict


def _stage_points(monitor: Any) -> dict[str, Any]:
    return {p.attributes["inferwatch.stage"]: p.value for p in monitor.collect()
            if p.name == "inferwatch.predict.stage.duration"}


def test_device_time_joins_the_record_next_to_the_wall_time(
    torch: Any, make_monitor: Any, sink: Any,
) -> None:
    monitor = make_monitor()
    predict = _predictor(monitor, torch)
    for _ in range(3):
        predict(1.0)
    assert torch.cuda.records == 6  # a pair per call, nothing synchronised (the fake raises)
    stages = _stage_points(monitor)
    assert set(stages) == {"infer", "infer.gpu"}
    assert stages["infer.gpu"].count == 3
    assert stages["infer.gpu"].sum == pytest.approx(3 * 4.5e-3)
    assert stages["infer"].count == 3 and stages["infer"].sum < 3 * 4.5e-3  # the launch only
    monitor.flush()
    logged = [e["stages_ms"] for e in sink.events if "stages_ms" in e]
    assert logged and all(s["infer.gpu"] == pytest.approx(4.5) for s in logged)
    assert _cuda.PENDING.waiting() == 0 and _cuda.PENDING.resolved == 3
    assert _cuda.PENDING.device_ns == round(3 * 4.5e6)


def test_events_that_finish_while_the_drain_waits_are_read(
    torch: Any, make_monitor: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monitor = make_monitor()
    predict = _predictor(monitor, torch)
    torch.cuda.finished_ms = 0.0  # the GPU is behind: nothing done yet
    predict(1.0)
    real_sleep = _cuda.time.sleep

    def gpu_catches_up(seconds: float) -> None:
        torch.cuda.finished_ms = float("inf")
        real_sleep(seconds)

    monkeypatch.setattr(_cuda.time, "sleep", gpu_catches_up)
    assert _stage_points(monitor)["infer.gpu"].count == 1
    assert "gpu_event_pending" not in monitor.summary()["dropped"]


def test_events_still_pending_past_the_wait_are_counted_lost(
    torch: Any, make_monitor: Any,
) -> None:
    monitor = make_monitor()
    predict = _predictor(monitor, torch)
    torch.cuda.finished_ms = 0.0  # a stuck GPU: the drain waits SETTLE_SECONDS, no more
    predict(1.0)
    predict(2.0)
    stages = _stage_points(monitor)
    assert "infer.gpu" not in stages and stages["infer"].count == 2
    assert monitor.summary()["dropped"]["gpu_event_pending"] == 2
    assert _cuda.PENDING.waiting() == 0


def test_an_event_cuda_cannot_read_is_counted(torch: Any, make_monitor: Any) -> None:
    monitor = make_monitor()
    _predictor(monitor, torch)(1.0)
    torch.cuda.broken = True
    assert "infer.gpu" not in _stage_points(monitor)
    assert monitor.summary()["dropped"]["gpu_event_error"] == 1


def test_pairs_whose_record_never_arrives_expire(
    torch: Any, make_monitor: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monitor = make_monitor()
    # A record no monitor will ever take (a call whose record was spilled, say).
    orphan = inferwatch.InferenceRecord(monitor.endpoint("m", "1", {}), 0, 0, 0, None, 0, 0)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    _cuda.PENDING.add(orphan, "infer", start, end)
    monitor.collect()
    assert _cuda.PENDING.waiting() == 1  # kept for a while
    monkeypatch.setattr(_cuda, "MAX_AGE_SECONDS", 0.0)
    monitor.collect()
    assert _cuda.PENDING.waiting() == 0
    assert monitor.summary()["dropped"]["gpu_event_expired"] == 1


def test_a_full_queue_keeps_the_wall_time_and_counts(
    torch: Any, make_monitor: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_cuda, "MAX_PENDING", 1)
    monitor = make_monitor()

    @inferwatch.monitor(model="m", monitor=monitor)
    def predict() -> None:
        with inferwatch.gpu_stage("a"):
            torch.cuda.device_ms += 1
        with inferwatch.gpu_stage("b"):  # the queue holds one pair: this one is lost
            torch.cuda.device_ms += 1

    predict()
    stages = _stage_points(monitor)
    assert set(stages) == {"a", "b", "a.gpu"}
    assert monitor.summary()["dropped"]["gpu_events_full"] == 1


def test_the_decorator_form_sync_and_async(torch: Any, make_monitor: Any) -> None:
    monitor = make_monitor()

    @inferwatch.gpu_stage("forward")
    def forward() -> None:
        torch.cuda.device_ms += 2.0

    @inferwatch.gpu_stage("aforward")
    async def aforward() -> None:
        torch.cuda.device_ms += 3.0

    @inferwatch.monitor(model="m", monitor=monitor)
    async def predict() -> None:
        forward()
        await aforward()

    asyncio.run(predict())
    stages = _stage_points(monitor)
    assert stages["forward.gpu"].sum == pytest.approx(2e-3)
    assert stages["aforward.gpu"].sum == pytest.approx(3e-3)


def test_outside_a_monitored_call_it_records_nothing(torch: Any) -> None:
    with inferwatch.gpu_stage("infer"):
        pass
    assert torch.cuda.records == 0 and _cuda.PENDING.waiting() == 0


def test_without_cuda_it_falls_back_to_wall_time(
    monkeypatch: pytest.MonkeyPatch, make_monitor: Any,
) -> None:
    module = fake_torch(available=False)
    monkeypatch.setitem(sys.modules, "torch", module)
    monitor = make_monitor()
    _predictor(monitor, module)(1.0)
    assert set(_stage_points(monitor)) == {"infer"}
    assert module.cuda.records == 0


def test_without_torch_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependencyError, match="pip install torch"):
        inferwatch.gpu_stage("infer")
    with pytest.raises(ValueError, match="non-empty name"):
        inferwatch.stage("")


def test_a_cuda_failure_never_reaches_the_predict_call(
    torch: Any, make_monitor: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monitor = make_monitor()

    def broken(enable_timing: bool = False) -> Any:
        raise RuntimeError("CUDA driver version is insufficient")

    monkeypatch.setattr(torch.cuda, "Event", broken)
    assert _predictor(monitor, torch)(7.0) == 7.0
    assert set(_stage_points(monitor)) == {"infer"}


def test_a_forked_child_forgets_the_parent_s_events(torch: Any, make_monitor: Any) -> None:
    monitor = make_monitor()
    record = inferwatch.InferenceRecord(monitor.endpoint("m", "1", {}), 0, 0, 0, None, 0, 0)
    _cuda.PENDING.add(record, "infer", torch.cuda.Event(enable_timing=True),
                      torch.cuda.Event(enable_timing=True))
    _cuda.PENDING._after_fork_in_child()
    assert _cuda.PENDING.waiting() == 0 and not _cuda.PENDING.active



def test_the_gpu_check_script_exits_cleanly_without_torch_or_cuda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setitem(sys.modules, "torch", None)
    assert script.main([]) == 0
    assert "torch is not installed" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "torch", fake_torch(available=False))
    fake = sys.modules["torch"]
    fake.__version__ = "0.0-fake"
    assert script.main([]) == 0
    assert "sees no CUDA device" in capsys.readouterr().out
