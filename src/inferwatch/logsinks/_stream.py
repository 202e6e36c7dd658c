"""JSON lines on a text or binary stream (stdout by default)."""

from __future__ import annotations

import codecs
import errno
import functools
import io
import sys
from typing import IO, Any

from inferwatch._bounded import BoundedCalls
from inferwatch.logsinks._base import (
    CountsLosses,
    ForkSafeLock,
    JsonLinesRenderer,
    LossCounter,
    loss_reason,
    register_fork_hooks,
)

__all__ = ["StreamSink"]


class StreamSink(CountsLosses):
    """Write each batch of events as JSON lines to ``stream`` and flush it.

    ``stream=None`` means whatever ``sys.stdout`` is at the time of each write,
    so redirection (and pytest's capture) work. The stream is never closed.
    Lines are UTF-8 whatever the stream's encoding: under a text stream that
    is not UTF-8 (an ASCII or cp1252 console) they go to its byte buffer.
    Lost records are counted in :meth:`losses`: ``sink_closed`` (a closed
    stream, a reader gone: EPIPE), ``sink_disk_full`` (ENOSPC),
    ``sink_write_error``, ``sink_render_error``.

    Fork-safe: a fork waits (at most a second) for a write in progress, so a
    child never inherits the stream's own lock held by this sink's writer.

    >>> import io
    >>> buf = io.StringIO()
    >>> StreamSink(buf).emit([{"event": "inference"}])
    >>> buf.getvalue()
    '{"event":"inference"}\\n'
    """

    def __init__(self, stream: IO[Any] | None = None, *, use_orjson: bool | None = None) -> None:
        self._stream = stream
        self._renderer = JsonLinesRenderer(use_orjson)
        self._guard = ForkSafeLock()
        self._losses = LossCounter()
        #: Failed writes and flushes.
        self.errors = 0
        self._flusher = BoundedCalls("inferwatch-stream-flush")
        register_fork_hooks(self)

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Render and write ``events``; failures are counted, never raised."""
        if not events:
            return
        lines, failed = self._renderer.render_lines(events)
        self._losses.add("sink_render_error", failed)
        if not lines:
            return
        data = b"".join(lines)
        with self._guard.lock:
            stream = self._stream if self._stream is not None else sys.stdout
            written = 0
            try:
                if stream is None:  # sys.stdout is None under pythonw and some daemons
                    raise ValueError("no stdout")
                if isinstance(stream, io.RawIOBase):
                    # A raw stream may take part of the data: write the rest.
                    view = memoryview(data)
                    while written < len(data):
                        n = stream.write(view[written:])
                        if not n:
                            raise OSError(errno.EAGAIN, "the stream took no data")
                        written += n
                elif isinstance(stream, io.BufferedIOBase):
                    stream.write(data)
                else:
                    buffer = getattr(stream, "buffer", None)
                    if buffer is not None and not _is_utf8(getattr(stream, "encoding", None)):
                        # An ASCII or cp1252 console cannot encode every line: write
                        # UTF-8 bytes under it, after what the application printed.
                        stream.flush()
                        buffer.write(data)
                        buffer.flush()
                    else:
                        stream.write(data.decode("utf-8"))
                stream.flush()
            except Exception as exc:  # a closed or broken pipe must not stop the log thread
                self.errors += 1
                self._losses.add(loss_reason(exc), _unwritten(lines, written))

    def flush(self, timeout: float = 5.0) -> bool:
        """Flush the stream; True when done within ``timeout`` seconds."""

        lock = self._guard.lock

        def flush() -> bool:
            # Bounded, so flushes behind a blocked write do not pile up threads.
            if not lock.acquire(timeout=max(0.0, timeout)):
                return False
            try:
                stream = self._stream if self._stream is not None else sys.stdout
                if stream is not None:
                    stream.flush()
            except Exception:
                self.errors += 1
                return False
            finally:
                lock.release()
            return True

        return self._flusher.call(flush, timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Flush; the stream belongs to the caller and stays open."""
        return self.flush(timeout)

    # -- fork (see register_fork_hooks) ------------------------------------------------

    def _after_fork_in_child(self) -> None:
        self._guard.after_fork_in_child()
        self._losses.reset_after_fork()
        self.errors = 0


def _unwritten(lines: list[bytes], written: int) -> int:
    """Lines not written whole when ``written`` bytes of their concatenation got out."""
    offset = 0
    for i, line in enumerate(lines):
        offset += len(line)
        if offset > written:
            return len(lines) - i
    return 0


@functools.lru_cache(maxsize=16)
def _is_utf8(encoding: str | None) -> bool:
    if not encoding:
        return True
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False
