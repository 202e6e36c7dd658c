"""Where per-inference log events go: JSON lines on a stream or a rotating file, or OTLP.

Every sink takes a batch of already-sampled, already-redacted event dicts from
inferwatch's background log thread. A sink may do I/O, counts what it could not
write in ``errors`` (failed writes) and ``dropped`` (events lost), and keeps
working on the next call after any failure: nothing it does raises.
"""

from __future__ import annotations

from inferwatch.logsinks._base import JsonLinesRenderer, LogSink, NullSink
from inferwatch.logsinks._file import RotatingFileSink
from inferwatch.logsinks._otlp import OtlpLogSink
from inferwatch.logsinks._stream import StreamSink

__all__ = [
    "JsonLinesRenderer",
    "LogSink",
    "NullSink",
    "OtlpLogSink",
    "RotatingFileSink",
    "StreamSink",
]
