"""The Monitor's fail-safe paths: sinks that raise or block, fork, shutdown."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

import inferwatch
from inferwatch.testing import MemorySink


class RaisingSink(MemorySink):
    def emit(self, events: list[dict[str, Any]]) -> None:
        raise OSError("disk full")


class BlockingSink(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def emit(self, events: list[dict[str, Any]]) -> None:
        self.release.wait(10)
        super().emit(events)


def test_raising_sink_is_counted_and_metrics_go_on(make_monitor: Any) -> None:
    mon = make_monitor(log_sink=RaisingSink())

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        return x

    assert [predict(i) for i in range(50)] == list(range(50))
    mon.flush()
    summary = mon.summary()
    assert summary["models"]["m:unversioned"]["calls"] == 50
    assert summary["errors"]["log_sink"] >= 1


def test_blocking_sink_never_blocks_predict(make_monitor: Any) -> None:
    sink = BlockingSink()
    mon = make_monitor(log_sink=sink, log_queue_size=100, flush_interval_ms=5)

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        return x

    started = time.monotonic()
    for i in range(2000):
        predict(i)
        if i % 500 == 0:
            time.sleep(0.02)  # let the aggregator run and hand logs to the stuck writer
    elapsed = time.monotonic() - started
    assert elapsed < 5.0  # the sink blocks for 10 s; predict must not wait on it
    summary = mon.summary()  # metrics do not wait for the log writer either
    assert summary["models"]["m:unversioned"]["calls"] == 2000
    assert summary["dropped"]["log_queue_full"] > 0  # bounded, and the drops are counted
    sink.release.set()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_gives_the_child_fresh_threads_and_counts(make_monitor: Any, sink: Any) -> None:
    mon = make_monitor()

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        return x

    for i in range(10):
        predict(i)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must count only its own calls, with live threads
        try:
            for i in range(3):
                predict(i)
            time.sleep(0.3)  # the child's own aggregator thread drains
            calls = mon._aggregates.summary()["m:unversioned"]["calls"]
            os.write(write_fd, f"{calls},{mon._aggregator.is_alive()}".encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    answer = os.read(read_fd, 100).decode()
    os.close(read_fd)
    assert answer == "3,True"
    assert mon.summary()["models"]["m:unversioned"]["calls"] == 10


def test_shutdown_flushes_pending_logs(make_monitor: Any, sink: Any) -> None:
    mon = make_monitor(flush_interval_ms=60000)

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        return x

    for i in range(5):
        predict(i)
    mon.shutdown()
    assert len(sink.events) == 5
    assert [e["prediction"] for e in sink.events] == [0, 1, 2, 3, 4]


def test_shutdown_is_bounded_by_its_timeout_even_with_a_blocked_sink(make_monitor: Any) -> None:
    sink = BlockingSink()
    mon = make_monitor(log_sink=sink, flush_interval_ms=5)

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        return x

    for i in range(10):
        predict(i)
    time.sleep(0.05)  # the log writer is now stuck in the sink
    started = time.monotonic()
    mon.shutdown(timeout=0.5)
    assert time.monotonic() - started < 2.0
    assert mon.summary()["errors"].get("shutdown_timeout") == 1
    sink.release.set()
