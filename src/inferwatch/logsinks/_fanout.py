"""One batch of events to several sinks (``log_sink="file,otlp"``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from inferwatch._errors import ConfigurationError

__all__ = ["FanoutSink"]


class FanoutSink:
    """Give every batch to each of ``sinks``, in order; each keeps its own losses.

    A sink that raises is counted (``sink_write_error`` for that sink) and
    the others still get the batch. :meth:`losses` sums by reason;
    :meth:`losses_by_sink` keeps them apart, keyed by ``names`` (default:
    ``sink0``, ``sink1``, …).

    >>> from inferwatch.logsinks import NullSink
    >>> FanoutSink([NullSink(), NullSink()], names=["a", "b"]).losses_by_sink()
    {'a': {}, 'b': {}}
    """

    def __init__(self, sinks: Sequence[Any], *, names: Sequence[str] | None = None) -> None:
        if not sinks:
            raise ConfigurationError("FanoutSink needs at least one sink")
        names = list(names) if names is not None else [f"sink{i}" for i in range(len(sinks))]
        if len(names) != len(sinks) or len(set(names)) != len(names):
            raise ConfigurationError(
                f"FanoutSink needs one distinct name per sink; got {names!r} for "
                f"{len(sinks)} sinks"
            )
        self.sinks = list(sinks)
        self.names = names
        # Batches a sink raised on (a sink of ours never raises; a user's may).
        self._raised = [0] * len(self.sinks)

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Give ``events`` to every sink; one failing sink never stops the others."""
        for i, sink in enumerate(self.sinks):
            try:
                sink.emit(events)
            except Exception:
                self._raised[i] += len(events)

    def _each(self, method: str, timeout: float) -> bool:
        # Sinks share one deadline; each gets what is left (and may try once at 0).
        deadline = time.monotonic() + timeout
        ok = True
        for sink in self.sinks:
            call = getattr(sink, method, None)
            if call is None:
                continue
            try:
                ok = call(max(0.0, deadline - time.monotonic())) is not False and ok
            except TypeError:  # a user's sink from before timeouts: flush()/close()
                try:
                    call()
                except Exception:
                    ok = False
            except Exception:
                ok = False
        return ok

    def flush(self, timeout: float = 5.0) -> bool:
        """Flush every sink within ``timeout`` seconds in all; True when all finished."""
        return self._each("flush", timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Close every sink within ``timeout`` seconds in all; True when all finished."""
        return self._each("close", timeout)

    def losses_by_sink(self) -> dict[str, dict[str, int]]:
        """Each sink's losses by reason, keyed by the sink's name."""
        out: dict[str, dict[str, int]] = {}
        for name, sink, raised in zip(self.names, self.sinks, self._raised, strict=True):
            losses = getattr(sink, "losses", None)
            counts: dict[str, int] = {}
            if losses is not None:
                try:
                    counts = dict(losses())
                except Exception:
                    counts = {}
            if raised:
                counts["sink_write_error"] = counts.get("sink_write_error", 0) + raised
            out[name] = counts
        return out

    def losses(self) -> dict[str, int]:
        """Records lost by reason, summed over the sinks (one record lost by two sinks
        counts twice: each sink lost it)."""
        total: dict[str, int] = {}
        for counts in self.losses_by_sink().values():
            for reason, n in counts.items():
                total[reason] = total.get(reason, 0) + n
        return total

    @property
    def dropped(self) -> int:
        return sum(self.losses().values())
