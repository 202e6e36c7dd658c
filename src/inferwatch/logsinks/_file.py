"""JSON lines in a file rotated by size and by age, safely shared by forked workers.

Several processes may append to one path (gunicorn or uvicorn workers forked
from one parent, each with its own sink). Each batch is written under an
exclusive ``flock`` on the file the path names at that moment: the writer
re-checks, under the lock, that its descriptor is still that file (else it
reopens the path) and reads the file's real size with ``fstat``, so exactly
one process rotates a full file and every other one follows it to the new
file. A file therefore never passes ``max_bytes`` by more than one record.
Where ``flock`` is missing (Windows) rotation is per process.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from inferwatch._errors import ConfigurationError
from inferwatch.logsinks._base import (
    CountsLosses,
    ForkSafeLock,
    JsonLinesRenderer,
    LossCounter,
    loss_reason,
    register_fork_hooks,
)

fcntl: Any
try:
    import fcntl
except ImportError:  # Windows: no flock, rotation is per process
    fcntl = None

__all__ = ["RotatingFileSink"]

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


def _flock(fd: int, op: int) -> None:
    if fcntl is None:
        return
    # ENOLCK on some network filesystems: write unlocked rather than lose.
    with contextlib.suppress(OSError):
        fcntl.flock(fd, op)


class RotatingFileSink(CountsLosses):
    """Append JSON lines to ``path``; rotate to ``path.1`` … ``path.<backups>``.

    A file is rotated before a record that would take it past ``max_bytes``
    (a batch is split at record boundaries; a single record larger than
    ``max_bytes`` gets a file of its own), and once this process has had it
    open ``rotate_seconds``. The oldest backup is dropped; ``backups=0`` keeps
    none. The parent directory is created. If the file is deleted or replaced
    (logrotate, another worker's rotation), the next batch reopens ``path``.
    If it cannot be opened or written, the batch is lost and counted in
    :meth:`losses` (``sink_disk_full`` for ENOSPC, ``sink_write_error``
    otherwise), and opening is retried after ``retry_seconds``. ``clock``
    (seconds, like :func:`time.time`) is injectable for tests.

    Writes go straight to the descriptor (no userspace buffer), so nothing
    is held back, and a forked child holds no half-written buffer: the child
    drops the descriptor it inherited and opens the file afresh.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = 100 * 1024 * 1024,
        rotate_seconds: float = 86400.0,
        backups: int = 5,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        use_orjson: bool | None = None,
    ) -> None:
        if max_bytes <= 0 or rotate_seconds <= 0 or backups < 0:
            raise ConfigurationError(
                "RotatingFileSink needs max_bytes > 0, rotate_seconds > 0 and backups >= 0; "
                f"got {max_bytes}, {rotate_seconds}, {backups}"
            )
        self.path = os.fspath(path)
        self.max_bytes = max_bytes
        self.rotate_seconds = rotate_seconds
        self.backups = backups
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._renderer = JsonLinesRenderer(use_orjson)
        self._guard = ForkSafeLock()
        self._fd: int | None = None
        self._opened_at = 0.0
        self._retry_at = float("-inf")
        self._unavailable = "sink_write_error"
        # A failed write left a partial line: the next write ends it first.
        self._broken_line = False
        self._losses = LossCounter()
        #: Failed opens, writes and rotations.
        self.errors = 0
        #: Rotations done by this process.
        self.rotations = 0
        register_fork_hooks(self)

    # -- file handling ---------------------------------------------------------------

    def _open(self, now: float) -> bool:
        if now < self._retry_at:
            return False
        try:
            parent = os.path.dirname(self.path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            fd = os.open(self.path, _OPEN_FLAGS, 0o666)
        except OSError as exc:
            self._failed(exc, now)
            return False
        self._fd = fd
        self._opened_at = now
        return True

    def _failed(self, exc: BaseException, now: float) -> None:
        self.errors += 1
        self._unavailable = loss_reason(exc)
        self._retry_at = now + self.retry_seconds

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)  # also releases our flock
            except OSError:
                self.errors += 1

    def _is_current(self, fd: int) -> bool:
        """Whether ``path`` still names the file ``fd`` is open on."""
        try:
            st = os.stat(self.path)
            own = os.fstat(fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)

    def _lock_current(self, now: float) -> bool:
        """Open ``path`` if needed and hold ``flock`` on the file it names now."""
        for _ in range(8):
            if self._fd is None and not self._open(now):
                return False
            fd = self._fd
            assert fd is not None  # set by _open
            _flock(fd, fcntl.LOCK_EX if fcntl else 0)
            if self._is_current(fd):
                return True
            # Rotated or deleted by someone else: follow the path.
            self._close_fd()
        return self._fd is not None

    def _rotate(self, now: float) -> bool:
        """Rotate ``path`` (we hold its lock) and lock the new file; the fd may end None.

        False when the rotation itself failed and the current file stays.
        """
        try:
            if self.backups == 0:
                os.remove(self.path)
            else:
                for i in range(self.backups - 1, 0, -1):
                    src = f"{self.path}.{i}"
                    if os.path.exists(src):
                        os.replace(src, f"{self.path}.{i + 1}")
                os.replace(self.path, f"{self.path}.1")
        except OSError:
            # Keep logging into the current file rather than lose events.
            self.errors += 1
            self._opened_at = now
            return False
        self.rotations += 1
        self._close_fd()
        self._lock_current(now)
        return True

    def _write(self, fd: int, data: bytes) -> tuple[int, OSError | None]:
        """Write all of ``data``; the bytes written, and the error that stopped it."""
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += os.write(fd, view[written:])
        except OSError as exc:
            return written, exc
        return written, None

    # -- LogSink ---------------------------------------------------------------------

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Render and append ``events``, rotating first when due."""
        if not events:
            return
        lines, failed = self._renderer.render_lines(events)
        self._losses.add("sink_render_error", failed)
        if not lines:
            return
        with self._guard.lock:
            now = self._clock()
            if not self._lock_current(now):
                self._losses.add(self._unavailable, len(lines))
                return
            try:
                self._append(lines, now)
            finally:
                if self._fd is not None:
                    _flock(self._fd, fcntl.LOCK_UN if fcntl else 0)

    def _append(self, lines: list[bytes], now: float) -> None:
        fd = self._fd
        assert fd is not None  # _lock_current succeeded
        try:
            size = os.fstat(fd).st_size
        except OSError:
            size = 0
        if size > 0 and now - self._opened_at >= self.rotate_seconds:
            self._rotate(now)
            size = self._size()
        i, n = 0, len(lines)
        if size + sum(map(len, lines)) <= self.max_bytes:  # the common case: all fits
            data = b"".join(lines)
            if self._broken_line:
                data = b"\n" + data
            written, exc = self._write(fd, data)
            if exc is not None:
                self._lost_in_write(lines, data, written, exc, now)
            else:
                self._broken_line = False
            return
        while i < n:
            fd = self._fd
            if fd is None:  # the rotated-to file could not be opened
                self._losses.add(self._unavailable, n - i)
                return
            end, total = i, 0
            limit = self.max_bytes - size
            while end < n and (total + len(lines[end]) <= limit or size + total == 0):
                total += len(lines[end])
                end += 1
            if end == i:  # the next record does not fit: rotate, then write it
                if self._rotate(now):
                    # The new file may already hold other processes' records.
                    size = self._size()
                    continue
                end, total = n, sum(len(line) for line in lines[i:])  # keep, don't lose
            data = b"".join(lines[i:end])
            if self._broken_line:
                data = b"\n" + data
            written, exc = self._write(fd, data)
            if exc is not None:
                self._lost_in_write(lines[i:end], data, written, exc, now)
                if end < n:
                    self._losses.add(self._unavailable, n - end)
                return
            self._broken_line = False
            size += len(data)
            i = end

    def _size(self) -> int:
        if self._fd is None:
            return 0
        try:
            return os.fstat(self._fd).st_size
        except OSError:
            return 0

    def _lost_in_write(
        self, lines: list[bytes], data: bytes, written: int, exc: OSError, now: float
    ) -> None:
        # Lines written whole survive; the rest are lost, counted by the cause.
        offset = 1 if self._broken_line else 0
        kept = 0
        for line in lines:
            if offset + len(line) > written:
                break
            offset += len(line)
            kept += 1
        self._broken_line = 0 < written < len(data) and offset != written
        self._failed(exc, now)
        self._losses.add(self._unavailable, len(lines) - kept)
        fd = self._fd
        if fd is not None:
            _flock(fd, fcntl.LOCK_UN if fcntl else 0)
        self._close_fd()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait (at most ``timeout`` seconds) for a write in progress: nothing is buffered."""
        if not self._guard.lock.acquire(timeout=max(0.0, timeout)):
            return False
        self._guard.lock.release()
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Close the file; a later ``emit`` opens it again."""
        lock = self._guard.lock
        if not lock.acquire(timeout=max(0.0, timeout)):
            return False
        try:
            self._close_fd()
        finally:
            lock.release()
        return True

    # -- fork (see register_fork_hooks) ------------------------------------------------

    def _after_fork_in_child(self) -> None:
        quiescent = self._guard.after_fork_in_child()
        # The inherited descriptor shares the parent's open file, flock
        # included: the child opens its own. Closed only when the parent was
        # not mid-write, so the number cannot belong to something else yet.
        if quiescent:
            self._close_fd()
        self._fd = None
        self._broken_line = False
        self._losses.reset_after_fork()
        self.errors = 0
        self.rotations = 0
