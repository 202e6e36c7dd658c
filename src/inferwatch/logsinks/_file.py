"""JSON lines in a file rotated by size and by age."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from inferwatch._errors import ConfigurationError
from inferwatch.logsinks._base import JsonLinesRenderer

__all__ = ["RotatingFileSink"]


class RotatingFileSink:
    """Append JSON lines to ``path``; rotate to ``path.1`` … ``path.<backups>``.

    A file is rotated before a write that would take it past ``max_bytes``,
    and once it has been open ``rotate_seconds``. The oldest backup is
    dropped; ``backups=0`` keeps none. The parent directory is created. If the
    file is deleted or replaced (logrotate), the next batch reopens ``path``.
    If it cannot be opened or written, the batch is dropped and counted, and
    opening is retried after ``retry_seconds``. ``clock`` (seconds, like
    :func:`time.time`) is injectable for tests.
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
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._inode: tuple[int, int] | None = None
        self._size = 0
        self._opened_at = 0.0
        self._retry_at = float("-inf")
        #: Failed opens, writes and rotations.
        self.errors = 0
        #: Events not written.
        self.dropped = 0
        #: Rotations done.
        self.rotations = 0

    # -- file handling ---------------------------------------------------------------

    def _open(self, now: float) -> bool:
        if now < self._retry_at:
            return False
        try:
            parent = os.path.dirname(self.path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            f = open(self.path, "ab")  # noqa: SIM115 -- kept open across calls, closed in close()
            st = os.fstat(f.fileno())
        except OSError:
            self.errors += 1
            self._retry_at = now + self.retry_seconds
            return False
        self._file = f
        self._inode = (st.st_dev, st.st_ino)
        self._size = st.st_size
        self._opened_at = now
        return True

    def _close_file(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError:
                self.errors += 1

    def _still_ours(self) -> bool:
        """Whether ``path`` is still the file we hold open (not deleted or replaced)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._inode

    def _rotate(self) -> None:
        self._close_file()
        self.rotations += 1
        try:
            if self.backups == 0:
                os.remove(self.path)
                return
            for i in range(self.backups - 1, 0, -1):
                src = f"{self.path}.{i}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{i + 1}")
            os.replace(self.path, f"{self.path}.1")
        except OSError:
            # Keep logging into the current file rather than lose events.
            self.errors += 1

    # -- LogSink ---------------------------------------------------------------------

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Render and append ``events``, rotating first when due."""
        if not events:
            return
        data, failed = self._renderer.render(events)
        with self._lock:
            self.dropped += failed
            if not data:
                return
            now = self._clock()
            if self._file is not None and not self._still_ours():
                self._close_file()
            if (
                self._file is not None
                and self._size > 0
                and (
                    self._size + len(data) > self.max_bytes
                    or now - self._opened_at >= self.rotate_seconds
                )
            ):
                self._rotate()
            if self._file is None and not self._open(now):
                self.dropped += len(events) - failed
                return
            f = self._file
            if f is None:  # unreachable: _open() succeeded
                return
            try:
                f.write(data)
                f.flush()
                self._size += len(data)
            except OSError:
                self.errors += 1
                self.dropped += len(events) - failed
                self._close_file()
                self._retry_at = now + self.retry_seconds

    def flush(self) -> None:
        """Flush the open file, if any."""
        with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                except OSError:
                    self.errors += 1

    def close(self) -> None:
        """Close the file; a later ``emit`` opens it again."""
        with self._lock:
            self._close_file()
