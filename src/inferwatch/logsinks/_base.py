"""The sink protocol and the JSON-lines renderer the stream and file sinks share."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import structlog

orjson: Any
try:
    import orjson
except ImportError:  # orjson is the optional "fast" extra
    orjson = None

__all__ = ["HAVE_ORJSON", "JsonLinesRenderer", "LogSink", "NullSink"]

HAVE_ORJSON = orjson is not None


@runtime_checkable
class LogSink(Protocol):
    """What inferwatch's log thread calls. Implementations must not raise."""

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Write a batch of log events."""

    def flush(self) -> None:
        """Push buffered events out."""

    def close(self) -> None:
        """Flush and release resources; later calls to ``emit`` may drop events."""


class NullSink:
    """Discards every event (log sink ``none``)."""

    errors = 0
    dropped = 0

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Discard ``events``."""

    def flush(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Nothing to close."""


def _fallback(obj: Any) -> Any:
    # Only a hand-built event reaches this (record_to_event output is JSON-able).
    # repr() could show personal data, so only the type is written.
    return f"<{type(obj).__name__}>"


class JsonLinesRenderer:
    """Render events as newline-terminated JSON with structlog's ``JSONRenderer``.

    Uses orjson when it is importable (``pip install inferwatch[fast]``), else
    the standard library. structlog is used as a renderer only: inferwatch
    never calls ``structlog.configure()``, so the application's own structlog
    setup is left alone. Rendering a batch and writing it once costs less than
    a bound logger call per event (see ``benchmarks/bench_logs.py``).
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

    def render(self, events: list[dict[str, Any]]) -> tuple[bytes, int]:
        """Return the rendered lines and how many events could not be rendered."""
        render = self._render
        parts: list[bytes] = []
        failed = 0
        for event in events:
            try:
                out = render(None, "info", event)
                if isinstance(out, str):
                    out = (out + "\n").encode("utf-8", "surrogatepass")
            except Exception:  # orjson refuses ints over 64 bits; json is more lenient
                try:
                    out = (self._fallback_render(None, "info", event) + "\n").encode(
                        "utf-8", "surrogatepass"
                    )
                except Exception:
                    failed += 1
                    continue
            parts.append(out)
        return b"".join(parts), failed
