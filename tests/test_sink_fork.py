"""Sinks after os.fork: no inherited lock held, no double rotation of a shared file."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from inferwatch.logsinks import FanoutSink, OtlpLogSink, RotatingFileSink, StreamSink

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CHILD_SECONDS = 10.0  # a deadlocked child never exits; a healthy one takes milliseconds


def fork(child: Callable[[], None]) -> int:
    """Fork; the child runs ``child`` and leaves with os._exit (0 on success)."""
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads: that is the point here.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover -- runs in the child
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def wait(pid: int, timeout: float) -> int | None:
    """The child's exit status, or None (and the child killed) when it hung."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


@contextlib.contextmanager
def busy(sink: Any, event: dict[str, Any]) -> Iterator[None]:
    """A parent thread emitting to ``sink`` in a tight loop."""
    stop = threading.Event()

    def loop() -> None:
        batch = [event] * 50
        while not stop.is_set():
            sink.emit(batch)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    time.sleep(0.05)
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def memory_exporter() -> Any:
    from opentelemetry.sdk._logs import export

    exporter_cls = getattr(export, "InMemoryLogRecordExporter", None) or export.InMemoryLogExporter
    return exporter_cls()


def memory_provider() -> Any:
    from opentelemetry.sdk._logs import LoggerProvider, export

    exporter_cls = getattr(export, "InMemoryLogRecordExporter", None) or export.InMemoryLogExporter
    provider = LoggerProvider()
    provider.add_log_record_processor(export.BatchLogRecordProcessor(exporter_cls()))
    return provider


def test_children_of_a_busy_parent_log_and_exit(tmp_path: Path) -> None:
    r, w = os.pipe()
    reader_done = threading.Event()

    def drain() -> None:
        while os.read(r, 1 << 16):
            pass
        reader_done.set()

    threading.Thread(target=drain, daemon=True).start()
    # A buffered binary stream, as sys.stdout.buffer is: its own lock is the trap.
    stream = open(w, "wb", buffering=1 << 12)  # noqa: SIM115 -- closed below
    path = tmp_path / "log.jsonl"
    sinks = FanoutSink(
        [
            StreamSink(stream),
            RotatingFileSink(path, max_bytes=1 << 30),
            OtlpLogSink(memory_provider()),
            OtlpLogSink(exporter=memory_exporter()),
        ],
        names=["stream", "file", "otlp", "otlp-own"],
    )
    pad = "x" * 2000  # long lines: the writer spends its time inside write()

    def child(n: int) -> Callable[[], None]:
        def run() -> None:
            sinks.emit([{"child": n}])
            if not sinks.close(2.0):
                raise SystemExit(3)

        return run

    statuses = []
    with busy(sinks, {"parent": pad}):
        for n in range(20):
            pid = fork(child(n))
            statuses.append(wait(pid, CHILD_SECONDS))
    assert statuses == [0] * 20
    sinks.close(2.0)
    stream.close()
    children = set()
    for line in path.read_text().splitlines():
        record = json.loads(line)  # every line whole: no interleaving
        if "child" in record:
            children.add(record["child"])
    assert children == set(range(20))
    assert sinks.losses() == {}


def test_child_counts_start_from_zero(tmp_path: Path) -> None:
    sink = RotatingFileSink(tmp_path / "d")  # a directory below: every open fails
    (tmp_path / "d").mkdir()
    sink.retry_seconds = 0
    sink.emit([{"n": 1}])
    assert sink.losses() == {"sink_write_error": 1}
    r, w = os.pipe()

    def child() -> None:
        os.write(w, json.dumps(sink.losses()).encode())

    assert wait(fork(child), CHILD_SECONDS) == 0
    assert json.loads(os.read(r, 1000)) == {}
    os.close(r)
    os.close(w)
    assert sink.losses() == {"sink_write_error": 1}  # the parent keeps its own


@pytest.mark.parametrize("backups", [200, 0])
@pytest.mark.parametrize("attempt", range(3))  # races: more rounds, more chances to show
def test_processes_sharing_a_file_never_rotate_it_twice(
    tmp_path: Path, backups: int, attempt: int
) -> None:
    path = tmp_path / "shared.jsonl"
    max_bytes = 4000
    sink = RotatingFileSink(path, max_bytes=max_bytes, backups=backups)
    per_process, processes, batch = 300, 4, 3

    def writer(tag: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(0, per_process, batch):
                sink.emit([{"p": tag, "i": i + j, "pad": "y" * 40} for j in range(batch)])

        return run

    sink.emit([{"p": -1, "i": 0, "pad": ""}])  # the parent opened the file before forking
    pids = [fork(writer(tag)) for tag in range(processes)]
    writer(processes)()  # the parent writes too
    assert [wait(pid, 60) for pid in pids] == [0] * processes
    sink.close()
    files = [p for p in tmp_path.iterdir() if p.name.startswith("shared.jsonl")]
    line = len(json.dumps({"p": 0, "i": 100, "pad": "y" * 40}, separators=(",", ":"))) + 1
    for f in files:
        assert f.stat().st_size <= max_bytes, (f.name, f.stat().st_size)
        assert f.stat().st_size >= max_bytes - 2 * line or f == path
    if backups:
        seen = [
            (r["p"], r["i"])
            for f in files
            for r in map(json.loads, f.read_text().splitlines())
        ]
        assert len(seen) == len(set(seen)) == (processes + 1) * per_process + 1


def test_pipeline_counts_start_from_zero_in_a_child() -> None:
    import structlog

    from inferwatch._logs import LogPipeline
    from inferwatch._record import Endpoint, InferenceRecord

    def drop(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        raise structlog.DropEvent

    pipeline = LogPipeline(processors=[drop])
    record = InferenceRecord(Endpoint("f", "m", "1"), 0, 0, 1, None, 0, 0)
    pipeline.render(record, "rate", 1.0)
    r, w = os.pipe()

    def child() -> None:
        pipeline.render(record, "rate", 1.0)
        os.write(w, json.dumps(pipeline.losses()).encode())

    assert wait(fork(child), CHILD_SECONDS) == 0
    assert json.loads(os.read(r, 1000)) == {"log_processor_dropped": 1}
    os.close(r)
    os.close(w)
    assert pipeline.losses() == {"log_processor_dropped": 1}
