"""Where per-inference log events go: JSON lines on a stream or a rotating file, OTLP, or several.

Every sink takes a batch of already-sampled, already-redacted event dicts from
inferwatch's background log thread. A sink may do I/O, never raises, keeps
working on the next call after any failure, and counts every log record it
lost by reason in ``losses()`` (see :data:`LOSS_REASONS`), which the Monitor
exports as ``inferwatch.self.dropped{inferwatch.reason=...}``. ``flush(timeout)``
and ``close(timeout)`` return within their timeout whatever the backend does.
Sinks are fork-safe: their locks and threads are re-created in a forked child.
"""

from __future__ import annotations

from inferwatch.logsinks._base import (
    LOSS_REASONS,
    JsonLinesRenderer,
    LogSink,
    NullSink,
)
from inferwatch.logsinks._fanout import FanoutSink
from inferwatch.logsinks._file import RotatingFileSink
from inferwatch.logsinks._otlp import OtlpLogSink
from inferwatch.logsinks._stream import StreamSink

__all__ = [
    "LOSS_REASONS",
    "FanoutSink",
    "JsonLinesRenderer",
    "LogSink",
    "NullSink",
    "OtlpLogSink",
    "RotatingFileSink",
    "StreamSink",
]
