"""Every log record a sink loses is counted with its reason; flush and close keep their deadline.

The OTLP tests talk to loopback only: a closed port (refusing), a socket that
accepts and never answers (hanging), and a tiny HTTP receiver that fails every
other request (flapping). Each is bounded in requests and time.
"""

from __future__ import annotations

import errno
import http.server
import io
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from otlptools import HangingServer

from inferwatch._logs import make_log_sink
from inferwatch.logsinks import (
    FanoutSink,
    LogSink,
    NullSink,
    OtlpLogSink,
    RotatingFileSink,
    StreamSink,
)

EVENTS = [{"event": "inference", "n": i, "level": "info"} for i in range(10)]


def otlp_exporter(port: int, timeout: float = 1.0) -> Any:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs", timeout=timeout)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def hanging_port() -> Iterator[int]:
    server = HangingServer()
    yield server.port
    server.close()


class Receiver(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP logs receiver on loopback that can fail every other request."""

    daemon_threads = True

    def __init__(self, flapping: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.flapping = flapping
        self.requests = 0
        self.delivered = 0
        self.resources: list[dict[str, Any]] = []
        self.lock = threading.Lock()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # http.server's naming
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )

        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.server.lock:
            self.server.requests += 1
            fail = self.server.flapping and self.server.requests % 2 == 0
            if not fail:
                request = ExportLogsServiceRequest.FromString(body)
                self.server.resources.extend(
                    {kv.key: kv.value.string_value for kv in r.resource.attributes}
                    for r in request.resource_logs
                )
                self.server.delivered += sum(
                    len(scope.log_records)
                    for resource in request.resource_logs
                    for scope in resource.scope_logs
                )
        # 400 is not retried by any exporter version, so the test stays bounded.
        self.send_response(400 if fail else 200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(flapping=getattr(request, "param", False))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# -- protocol ------------------------------------------------------------------------------


def test_every_sink_has_losses_flush_and_close(tmp_path: Path) -> None:
    sinks = [
        StreamSink(io.StringIO()),
        RotatingFileSink(tmp_path / "l.jsonl"),
        NullSink(),
        FanoutSink([NullSink()]),
        OtlpLogSink(exporter=otlp_exporter(closed_port())),
    ]
    for sink in sinks:
        assert isinstance(sink, LogSink)
        assert sink.losses() == {}
        assert sink.flush(1.0) is True
        assert sink.close(1.0) is True


# -- stream sink ---------------------------------------------------------------------------


def test_closed_stdout_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = io.StringIO()
    stdout.close()
    monkeypatch.setattr(sys, "stdout", stdout)
    sink = StreamSink()
    sink.emit(EVENTS)
    sink.emit(EVENTS[:3])
    assert sink.losses() == {"sink_closed": 13}


def test_stdout_of_none_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    sink = StreamSink()
    sink.emit(EVENTS)
    assert sink.losses() == {"sink_closed": 10}


def test_reader_gone_is_counted() -> None:
    r, w = os.pipe()
    os.close(r)
    with open(w, "wb", buffering=0) as stream:
        sink = StreamSink(stream)
        sink.emit(EVENTS)  # EPIPE (Python ignores SIGPIPE)
    assert sink.losses() == {"sink_closed": 10}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_on_a_stream_is_counted() -> None:
    with open("/dev/full", "wb", buffering=0) as stream:
        sink = StreamSink(stream)
        sink.emit(EVENTS)
    assert sink.losses() == {"sink_disk_full": 10}


class RaisingStream(io.RawIOBase):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "sink_disk_full"),
        (OSError(errno.EIO, "I/O error"), "sink_write_error"),
        (RuntimeError("odd stream"), "sink_write_error"),
        (UnicodeEncodeError("ascii", "é", 0, 1, "no"), "sink_write_error"),
        (ValueError("I/O operation on closed file."), "sink_closed"),
    ],
)
def test_raising_stream_is_counted_by_cause(exc: BaseException, reason: str) -> None:
    sink = StreamSink(RaisingStream(exc))
    sink.emit(EVENTS)
    sink.emit(EVENTS[:1])
    assert sink.losses() == {reason: 11}
    assert sink.errors == 2


def test_unrenderable_events_are_counted() -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    sink = StreamSink(io.StringIO())
    sink.emit([circular, {"ok": 1}])
    assert sink.losses() == {"sink_render_error": 1}


# -- file sink -----------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_on_the_file_sink_is_counted() -> None:
    sink = RotatingFileSink("/dev/full", retry_seconds=0)
    sink.emit(EVENTS)
    sink.emit(EVENTS[:4])
    sink.close()
    assert sink.losses() == {"sink_disk_full": 14}


def test_unwritable_file_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.mkdir()  # a directory where the file should be: every open fails
    sink = RotatingFileSink(path, retry_seconds=0)
    sink.emit(EVENTS)
    sink.emit(EVENTS[:2])
    assert sink.losses() == {"sink_write_error": 12}
    assert sink.errors == 2


def test_partial_write_then_full_disk_keeps_whole_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.jsonl"
    sink = RotatingFileSink(path, retry_seconds=0)
    real_write = os.write
    state = {"calls": 0}

    def write(fd: int, data: Any) -> int:
        state["calls"] += 1
        if state["calls"] == 1:
            return real_write(fd, bytes(data[: len(data) // 2 + 3]))  # a cut mid-line
        if state["calls"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    sink.emit(EVENTS)
    whole = [json.loads(x) for x in path.read_text().splitlines()[:-1]]
    lost = sink.losses()["sink_disk_full"]
    assert len(whole) + lost == len(EVENTS) and lost > 0
    sink.emit(EVENTS[:2])
    sink.close()
    lines = path.read_bytes().decode("utf-8").split("\n")
    assert lines[-1] == ""
    valid = []
    for line in lines[:-1]:
        try:
            valid.append(json.loads(line))
        except ValueError:
            continue
    # The cut line is ended before the next write, so the next records stay whole.
    assert valid == whole + EVENTS[:2]


# -- OTLP sink -----------------------------------------------------------------------------


def test_otlp_refusing_endpoint_counts_every_record() -> None:
    sink = OtlpLogSink(exporter=otlp_exporter(closed_port(), timeout=0.5))
    sink.emit(EVENTS)
    sink.emit(EVENTS[:5])
    sink.flush(10.0)
    assert sink.losses() == {"otlp_export_failed": 15}
    assert sink.close(5.0) is True
    assert sink.losses() == {"otlp_export_failed": 15}


def test_otlp_hanging_endpoint_flush_and_close_keep_their_timeout(hanging_port: int) -> None:
    sink = OtlpLogSink(exporter=otlp_exporter(hanging_port, timeout=3.0))
    sink.emit(EVENTS)
    t0 = time.monotonic()
    assert sink.flush(0.3) is False
    assert sink.flush(0.3) is False  # waits on the same SDK call, starts no second one
    assert sink.close(0.3) is False
    elapsed = time.monotonic() - t0
    assert elapsed < 2.5, elapsed  # each call 0.3 s; the SDK alone would block >= 3 s
    assert sink.losses() == {"shutdown_timeout": 10}
    sink.emit(EVENTS[:2])
    assert sink.losses() == {"shutdown_timeout": 10, "sink_closed": 2}


@pytest.mark.parametrize("receiver", [True], indirect=True)
def test_otlp_flapping_endpoint_every_record_delivered_or_counted(receiver: Receiver) -> None:
    sink = OtlpLogSink(exporter=otlp_exporter(receiver.server_address[1]))
    sent = 0
    for i in range(6):
        batch = [{"event": "inference", "n": i * 10 + j} for j in range(7)]
        sink.emit(batch)
        sent += len(batch)
        assert sink.flush(10.0)
    assert sink.close(10.0)
    losses = sink.losses()
    assert set(losses) == {"otlp_export_failed"}
    assert receiver.delivered > 0 and losses["otlp_export_failed"] > 0
    assert receiver.delivered + losses["otlp_export_failed"] == sent


def test_otlp_healthy_endpoint_loses_nothing(receiver: Receiver) -> None:
    sink = OtlpLogSink(exporter=otlp_exporter(receiver.server_address[1]))
    sink.emit(EVENTS)
    assert sink.close(10.0) is True
    assert receiver.delivered == 10
    assert sink.losses() == {}


class BlockingExporter:
    """An in-process exporter that holds every export until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.exported = 0

    def export(self, batch: Any) -> Any:
        from opentelemetry.sdk._logs import export

        self.release.wait(10)
        self.exported += len(batch)
        result = getattr(export, "LogRecordExportResult", None) or export.LogExportResult
        return result.SUCCESS

    def shutdown(self) -> None:
        self.release.set()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_otlp_queue_full_is_counted_not_silent() -> None:
    exporter = BlockingExporter()
    sink = OtlpLogSink(exporter=exporter, max_queue_size=16)
    events = [{"event": "inference", "n": i} for i in range(200)]
    for i in range(0, 200, 10):
        sink.emit(events[i : i + 10])
    full = sink.losses().get("otlp_queue_full", 0)
    assert full >= 200 - 16 - 16  # at most one queue plus one batch in export were taken
    exporter.release.set()
    assert sink.close(10.0)
    assert exporter.exported + sum(sink.losses().values()) == 200
    assert set(sink.losses()) == {"otlp_queue_full"}


def test_otlp_user_provider_flush_keeps_its_timeout() -> None:
    class HangingProvider:
        def get_logger(self, name: str) -> Any:
            from opentelemetry.sdk._logs import LoggerProvider

            return LoggerProvider().get_logger(name)

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            time.sleep(5)
            return True

    sink = OtlpLogSink(HangingProvider())
    t0 = time.monotonic()
    assert sink.flush(0.2) is False
    assert sink.close(0.2) is False
    assert time.monotonic() - t0 < 2.0


# -- fan-out -------------------------------------------------------------------------------


def test_fanout_losses_are_per_sink(tmp_path: Path) -> None:
    closed = io.StringIO()
    closed.close()
    good = io.StringIO()

    class Raising:
        def emit(self, events: list[dict[str, Any]]) -> None:
            raise RuntimeError("user sink")

        def flush(self) -> None:
            raise RuntimeError("user sink")

        def close(self) -> None:
            pass

    sink = FanoutSink(
        [StreamSink(good), StreamSink(closed), Raising()], names=["stdout", "stderr", "mine"]
    )
    sink.emit(EVENTS)
    assert len(good.getvalue().splitlines()) == 10
    assert sink.losses_by_sink() == {
        "stdout": {},
        "stderr": {"sink_closed": 10},
        "mine": {"sink_write_error": 10},
    }
    assert sink.losses() == {"sink_closed": 10, "sink_write_error": 10}
    assert sink.flush(1.0) is False  # the user's flush raised
    assert sink.close(1.0) is True


def test_fanout_shares_one_deadline(hanging_port: int, tmp_path: Path) -> None:
    otlp = OtlpLogSink(exporter=otlp_exporter(hanging_port, timeout=3.0))
    file_sink = RotatingFileSink(tmp_path / "l.jsonl")
    sink = FanoutSink([otlp, file_sink], names=["otlp", "file"])
    sink.emit(EVENTS)
    t0 = time.monotonic()
    assert sink.close(0.4) is False
    assert time.monotonic() - t0 < 2.5
    assert len((tmp_path / "l.jsonl").read_text().splitlines()) == 10
    assert sink.losses_by_sink() == {"otlp": {"shutdown_timeout": 10}, "file": {}}


# -- the OTel environment ------------------------------------------------------------------


def test_otlp_sink_reads_environ_and_carries_the_monitors_service_name(
    receiver: Receiver,
) -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": (
            f"http://127.0.0.1:{receiver.server_address[1]}/v1/logs"
        ),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,service.name=ignored",
    }
    sink = make_log_sink("otlp", service_name="churn-api", environ=environ)
    sink.emit(EVENTS[:3])
    assert sink.close(10.0)
    assert receiver.delivered == 3
    resource = receiver.resources[0]
    assert resource["service.name"] == "churn-api"
    assert resource["deployment.environment"] == "prod"


def test_otlp_sink_speaks_grpc_when_asked() -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")
    environ = {
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    }
    sink = OtlpLogSink(environ=environ)
    assert type(sink.exporter).__module__.startswith(
        "opentelemetry.exporter.otlp.proto.grpc"
    )
    sink.emit(EVENTS[:2])
    assert sink.close(3.0) in (True, False)
    assert sum(sink.losses().values()) == 2  # refused: failed or abandoned, never silent


def test_stream_flush_and_close_keep_their_timeout_behind_a_blocked_write() -> None:
    r, w = os.pipe()  # nobody reads: the pipe fills and the write blocks
    stream = open(w, "wb", buffering=0)  # noqa: SIM115 -- closed below
    sink = StreamSink(stream)
    writer = threading.Thread(target=sink.emit, args=([{"pad": "x" * 4096}] * 64,), daemon=True)
    writer.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert sink.flush(0.2) is False
    assert sink.close(0.2) is False
    assert time.monotonic() - t0 < 2.0
    os.close(r)  # the reader goes: the blocked write fails with EPIPE
    writer.join(5)
    stream.close()
    # What fit in the pipe's buffer (64 KiB on Linux) was written; the rest is counted.
    losses = sink.losses()
    assert set(losses) == {"sink_closed"}
    assert 64 - (1 << 16) // 4096 - 1 <= losses["sink_closed"] < 64


class HalfWrites(io.RawIOBase):
    """A raw stream that takes at most 100 bytes a call, as a pipe or socket may."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data[:100])
        self.data += chunk
        return len(chunk)


def test_partial_writes_to_a_raw_stream_are_completed() -> None:
    stream = HalfWrites()
    sink = StreamSink(stream)
    sink.emit([{"pad": "x" * 250, "n": i} for i in range(5)])
    lines = stream.data.decode().splitlines()
    assert [json.loads(line)["n"] for line in lines] == list(range(5))
    assert sink.losses() == {}


def test_file_flush_and_close_keep_their_timeout_behind_a_write_in_progress(
    tmp_path: Path,
) -> None:
    sink = RotatingFileSink(tmp_path / "l.jsonl")
    sink._guard.lock.acquire()  # as a write stuck on a hung network filesystem holds it
    try:
        t0 = time.monotonic()
        assert sink.flush(0.2) is False
        assert sink.close(0.2) is False
        assert time.monotonic() - t0 < 2.0
    finally:
        sink._guard.lock.release()
    assert sink.close(1.0) is True
