"""JSON lines on a text or binary stream (stdout by default)."""

from __future__ import annotations

import io
import sys
import threading
from typing import IO, Any

from inferwatch.logsinks._base import JsonLinesRenderer

__all__ = ["StreamSink"]


class StreamSink:
    """Write each batch of events as JSON lines to ``stream`` and flush it.

    ``stream=None`` means whatever ``sys.stdout`` is at the time of each write,
    so redirection (and pytest's capture) work. The stream is never closed.

    >>> import io
    >>> buf = io.StringIO()
    >>> StreamSink(buf).emit([{"event": "inference"}])
    >>> buf.getvalue()
    '{"event":"inference"}\\n'
    """

    def __init__(self, stream: IO[Any] | None = None, *, use_orjson: bool | None = None) -> None:
        self._stream = stream
        self._renderer = JsonLinesRenderer(use_orjson)
        self._lock = threading.Lock()
        #: Failed writes and flushes.
        self.errors = 0
        #: Events not written (unrenderable, or lost with a failed write).
        self.dropped = 0

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Render and write ``events``; failures are counted, never raised."""
        if not events:
            return
        data, failed = self._renderer.render(events)
        with self._lock:
            self.dropped += failed
            stream = self._stream if self._stream is not None else sys.stdout
            try:
                if isinstance(stream, (io.RawIOBase, io.BufferedIOBase)):
                    stream.write(data)
                else:
                    stream.write(data.decode("utf-8", "replace"))
                stream.flush()
            except Exception:  # a closed or broken pipe must not stop the log thread
                self.errors += 1
                self.dropped += len(events) - failed

    def flush(self) -> None:
        """Flush the stream."""
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            try:
                stream.flush()
            except Exception:
                self.errors += 1

    def close(self) -> None:
        """Flush; the stream belongs to the caller and stays open."""
        self.flush()
