"""What every sink shares: the protocol, loss counting, fork hooks, deadlines, the JSON renderer."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import structlog

orjson: Any
try:
    import orjson
except ImportError:  # orjson is the optional "fast" extra
    orjson = None

__all__ = [
    "HAVE_ORJSON",
    "LOSS_REASONS",
    "JsonLinesRenderer",
    "LogSink",
    "LossCounter",
    "NullSink",
    "loss_reason",
]

HAVE_ORJSON = orjson is not None

#: Why a sink lost log records (the ``inferwatch.reason`` of ``inferwatch.self.dropped``).
LOSS_REASONS = {
    "sink_closed": "the stream was closed or its reader went away (EPIPE, EBADF), "
    "or the sink was closed before the write",
    "sink_disk_full": "the disk was full (ENOSPC, EDQUOT)",
    "sink_write_error": "any other failed open or write",
    "sink_render_error": "the event could not be rendered as JSON",
    "otlp_export_failed": "the OTLP exporter failed or raised for the batch",
    "otlp_queue_full": "the OTLP batch queue was full",
    "shutdown_timeout": "records abandoned when close() gave up waiting for a hung backend",
}


@runtime_checkable
class LogSink(Protocol):
    """What inferwatch's log thread calls. Implementations must not raise.

    ``flush`` and ``close`` return within ``timeout`` seconds whatever the
    backend does, True when they finished; ``losses`` counts the log records
    lost since the sink was built (or since fork), by reason.
    """

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Write a batch of log events."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Push buffered events out."""

    def close(self, timeout: float = 5.0) -> bool:
        """Flush and release resources."""

    def losses(self) -> dict[str, int]:
        """Log records lost so far, by reason."""


class LossCounter:
    """Cumulative lost-record counts by reason; thread-safe, reset in a forked child."""

    __slots__ = ("__weakref__", "_counts", "_lock")

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        register_fork_hooks(self)

    def add(self, reason: str, n: int = 1) -> None:
        if n > 0:
            with self._lock:
                self._counts[reason] = self._counts.get(reason, 0) + n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def reset_after_fork(self) -> None:
        # The child starts from zero, as the Monitor's own counters do: the
        # parent keeps reporting what it lost.
        self._counts = {}
        self._lock = threading.Lock()

    def _before_fork(self) -> None:
        pass

    def _after_fork_in_parent(self) -> None:
        pass

    def _after_fork_in_child(self) -> None:
        self.reset_after_fork()


def loss_reason(exc: BaseException) -> str:
    """The loss reason for an exception raised by a write."""
    if isinstance(exc, UnicodeError):  # a ValueError too: the stream cannot take the text
        return "sink_write_error"
    if isinstance(exc, ValueError):  # "I/O operation on closed file"
        return "sink_closed"
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return "sink_disk_full"
        if exc.errno in (errno.EPIPE, errno.EBADF, errno.ECONNRESET):
            return "sink_closed"
    return "sink_write_error"


# -- fork: one set of hooks for every live sink ------------------------------------------

_fork_aware: list[weakref.ref[Any]] = []


def register_fork_hooks(sink: Any) -> None:
    """Call ``sink._before_fork()``, ``_after_fork_in_parent()`` and ``_after_fork_in_child()``.

    Held by weak reference: a sink that is gone is skipped. Hooks run in the
    forking thread; they must be bounded and never raise.
    """
    if len(_fork_aware) > 64:
        _fork_aware[:] = [ref for ref in _fork_aware if ref() is not None]
    _fork_aware.append(weakref.ref(sink))


def _live() -> list[Any]:
    return [s for s in (ref() for ref in list(_fork_aware)) if s is not None]


def _before_fork() -> None:
    for sink in _live():
        with contextlib.suppress(Exception):  # a hook must never break a fork
            sink._before_fork()


def _after_fork_in_parent() -> None:
    for sink in _live():
        with contextlib.suppress(Exception):  # a hook must never break a fork
            sink._after_fork_in_parent()


def _after_fork_in_child() -> None:
    for sink in _live():
        with contextlib.suppress(Exception):  # a hook must never break a fork
            sink._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )

#: How long a fork waits for a sink's write in progress to finish, so the child
#: never inherits a lock (ours, or the stream's own) held by the writer thread.
FORK_WAIT_SECONDS = 1.0


class CountsLosses:
    """What every built-in sink shares: its losses, from its ``_losses`` counter,
    and the fork hooks around its ``_guard`` lock (see ``register_fork_hooks``)."""

    _losses: LossCounter
    _guard: ForkSafeLock

    @property
    def dropped(self) -> int:
        """Events lost (the sum of :meth:`losses`)."""
        return self._losses.total()

    def losses(self) -> dict[str, int]:
        """Log records lost since the sink was built (or since fork), by reason."""
        return self._losses.snapshot()

    def _before_fork(self) -> None:
        self._guard.before_fork()

    def _after_fork_in_parent(self) -> None:
        self._guard.after_fork_in_parent()


class ForkSafeLock:
    """A sink's lock: taken before fork (bounded wait), fresh in the child.

    While it is held no writer of this sink is inside a stream or file call,
    so the child inherits neither our lock nor a stream's internal lock held.
    """

    __slots__ = ("_held_for_fork", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._held_for_fork = False

    def before_fork(self) -> None:
        self._held_for_fork = self.lock.acquire(timeout=FORK_WAIT_SECONDS)

    def after_fork_in_parent(self) -> None:
        if self._held_for_fork:
            self._held_for_fork = False
            self.lock.release()

    def after_fork_in_child(self) -> bool:
        """Replace the lock; True when the state it guards was quiescent at fork."""
        quiescent = self._held_for_fork
        self._held_for_fork = False
        self.lock = threading.Lock()
        return quiescent


class NullSink:
    """Discards every event (log sink ``none``)."""

    errors = 0

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Discard ``events``."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Nothing to flush."""
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Nothing to close."""
        return True

    def losses(self) -> dict[str, int]:
        """Nothing is lost that was not meant to be."""
        return {}

    @property
    def dropped(self) -> int:
        return 0


def _fallback(obj: Any) -> Any:
    # Only a hand-built event reaches this (record_to_event output is JSON-able).
    # repr() could show personal data, so only the type is written.
    return f"<{type(obj).__name__}>"


class JsonLinesRenderer:
    """Render events as newline-terminated UTF-8 JSON with structlog's ``JSONRenderer``.

    Uses orjson when it is importable (``pip install inferwatch[fast]``), else
    the standard library. structlog is used as a renderer only: inferwatch
    never calls ``structlog.configure()``, so the application's own structlog
    setup is left alone. Rendering a batch and writing it once costs less than
    a bound logger call per event (see ``benchmarks/bench_logs.py``).

    Every line is valid UTF-8: a lone surrogate (valid in JSON text, and what
    ``json.loads('"\\ud800"')`` returns) is written as the JSON escape
    ``\\ud800``, which decodes back to the same string.
    """

    __slots__ = ("_fallback_render", "_render", "uses_orjson")

    def __init__(self, use_orjson: bool | None = None) -> None:
        self.uses_orjson = HAVE_ORJSON if use_orjson is None else use_orjson and HAVE_ORJSON
        std = structlog.processors.JSONRenderer(
            serializer=json.dumps, default=_fallback, ensure_ascii=False, separators=(",", ":")
        )
        self._fallback_render: Callable[..., Any] = std
        if self.uses_orjson and orjson is not None:
            self._render: Callable[..., Any] = structlog.processors.JSONRenderer(
                serializer=orjson.dumps,
                default=_fallback,
                option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE,
            )
        else:
            self._render = std

    def render_lines(self, events: list[dict[str, Any]]) -> tuple[list[bytes], int]:
        """One rendered line per renderable event, and how many could not be rendered."""
        render = self._render
        parts: list[bytes] = []
        failed = 0
        for event in events:
            try:
                out = render(None, "info", event)
                if isinstance(out, str):
                    # Lone surrogates only reach here inside JSON strings, where
                    # backslashreplace writes exactly their JSON escape.
                    out = (out + "\n").encode("utf-8", "backslashreplace")
            except Exception:  # orjson refuses lone surrogates and ints over 64 bits
                try:
                    out = (self._fallback_render(None, "info", event) + "\n").encode(
                        "utf-8", "backslashreplace"
                    )
                except Exception:
                    failed += 1
                    continue
            parts.append(out)
        return parts, failed

    def render(self, events: list[dict[str, Any]]) -> tuple[bytes, int]:
        """Return the rendered lines joined, and how many events could not be rendered."""
        parts, failed = self.render_lines(events)
        return b"".join(parts), failed
