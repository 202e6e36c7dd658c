"""Sinks through a real Monitor: losses exported, the endpoint field, several sinks, processors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import structlog
from otlptools import HangingServer

import inferwatch
from inferwatch import Monitor
from inferwatch.logsinks import FanoutSink, RotatingFileSink, StreamSink


def dropped(monitor: Monitor) -> dict[str, float]:
    return {
        p.attributes["inferwatch.reason"]: p.value
        for p in monitor.collect()
        if p.name == "inferwatch.self.dropped" and p.value
    }


def test_sink_losses_reach_the_self_metrics() -> None:
    closed = io.StringIO()
    closed.close()
    monitor = Monitor(log_sink=StreamSink(closed), metrics_exporter="none", sample_rate=1.0)
    try:

        @inferwatch.monitor(model="iris", monitor=monitor)
        def predict(x: list[float]) -> int:
            return 1

        for _ in range(7):
            predict([1.0])
        assert monitor.flush(5.0)
        assert dropped(monitor).get("sink_closed") == 7
    finally:
        monitor.shutdown(2.0)


def test_fanout_losses_reach_the_self_metrics(tmp_path: Path) -> None:
    blocked = tmp_path / "dir"
    blocked.mkdir()  # the log file's path is a directory: every write fails
    sink = FanoutSink(
        [RotatingFileSink(blocked, retry_seconds=0), StreamSink(io.StringIO())],
        names=["file", "stdout"],
    )
    monitor = Monitor(log_sink=sink, metrics_exporter="none", sample_rate=1.0)
    try:

        @inferwatch.monitor(model="iris", monitor=monitor)
        def predict(x: list[float]) -> int:
            return 1

        for _ in range(3):
            predict([1.0])
        assert monitor.flush(5.0)
        assert dropped(monitor).get("sink_write_error") == 3
        assert sink.losses_by_sink() == {"file": {"sink_write_error": 3}, "stdout": {}}
    finally:
        monitor.shutdown(2.0)


def test_several_sinks_from_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "log.jsonl"
    monitor = Monitor(
        log_sink="file,stdout", log_file=str(path), metrics_exporter="none", sample_rate=1.0
    )
    try:

        @inferwatch.monitor(model="iris", monitor=monitor)
        def predict_flowers(x: list[float]) -> int:
            return 1

        predict_flowers([1.0])
        assert monitor.flush(5.0)
    finally:
        monitor.shutdown(2.0)
    from_file = json.loads(path.read_text())
    from_stdout = json.loads(capsys.readouterr().out)
    assert from_file == from_stdout
    assert from_file["model.name"] == "iris"


def test_endpoint_is_the_functions_name_not_the_models(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    monitor = Monitor(log_sink="file", log_file=str(path), metrics_exporter="none",
                      sample_rate=1.0)
    try:

        @inferwatch.monitor(model="iris", monitor=monitor)
        def predict_flowers(x: list[float]) -> int:
            return 1

        @inferwatch.monitor(model="iris", name="flowers_v2", monitor=monitor)
        def predict_again(x: list[float]) -> int:
            return 2

        predict_flowers([1.0])
        predict_again([1.0])
        assert monitor.flush(5.0)
    finally:
        monitor.shutdown(2.0)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(e["endpoint"] for e in events) == [
        "flowers_v2",
        "test_endpoint_is_the_functions_name_not_the_models.<locals>.predict_flowers",
    ]
    assert {e["model.name"] for e in events} == {"iris"}


def _monitor_takes_log_processors() -> bool:
    try:
        Monitor(log_sink="none", metrics_exporter="none", log_processors=[]).shutdown(1.0)
    except Exception:
        return False
    return True


@pytest.mark.skipif(
    not _monitor_takes_log_processors(), reason="Monitor(log_processors=...) not wired yet"
)
def test_user_processors_extend_the_monitors_events(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"

    def add_region(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        event_dict["region"] = "eu-west-1"
        return event_dict

    def drop_version_2(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        if event_dict["_record"].endpoint.model_version == "2":
            raise structlog.DropEvent
        return event_dict

    monitor = Monitor(
        log_sink="file", log_file=str(path), metrics_exporter="none", sample_rate=1.0,
        log_processors=[add_region, drop_version_2],
    )
    try:

        @inferwatch.monitor(model="iris", version="1", monitor=monitor)
        def v1(x: list[float]) -> int:
            return 1

        @inferwatch.monitor(model="iris", version="2", monitor=monitor)
        def v2(x: list[float]) -> int:
            return 2

        v1([1.0])
        v2([1.0])
        assert monitor.flush(5.0)
        assert dropped(monitor).get("log_processor_dropped") == 1
    finally:
        monitor.shutdown(2.0)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["model.version"], e["region"]) for e in events] == [("1", "eu-west-1")]


def test_monitor_flush_and_shutdown_keep_their_timeout_with_a_hanging_collector() -> None:
    import time

    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    from inferwatch.logsinks import OtlpLogSink

    server = HangingServer()
    port = server.port
    exporter = OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs", timeout=3.0)
    sink = OtlpLogSink(exporter=exporter)
    monitor = Monitor(log_sink=sink, metrics_exporter="none", sample_rate=1.0)
    try:

        @inferwatch.monitor(model="iris", monitor=monitor)
        def predict(x: list[float]) -> int:
            return 1

        for _ in range(5):
            predict([1.0])
        t0 = time.monotonic()
        monitor.flush(0.5)  # not finished (the sink's flush says False), but back on time
        assert sink.flush(0.2) is False
        monitor.shutdown(0.5)
        assert time.monotonic() - t0 < 3.0  # the SDK alone blocks for its 3 s export timeout
        deadline = time.monotonic() + 2.0  # the sink counts as its own close gives up
        while not dropped(monitor).get("shutdown_timeout") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert dropped(monitor).get("shutdown_timeout") == 5
    finally:
        monitor.shutdown(0.5)
        server.close()
