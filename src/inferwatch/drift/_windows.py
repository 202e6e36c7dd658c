"""Live windows by row count or by time, with the previous window kept for comparison.

``"count:10000"`` closes a window every 10,000 rows (a drained batch that
crosses the boundary is split there); ``"time:300"``, ``"300s"``, ``"5m"`` or
``"1h"`` closes one every so many seconds of the injected clock. A bare
number (``"2000"``, ``2000``) is refused: rows or seconds, it cannot tell.
At most two windows exist at once (the open one and the last closed one),
so memory does not grow with traffic; ``on_close`` is called with each
window as it closes, while the one before it is still kept.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ._ingest import Batch
from ._window import Window

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class WindowSpec:
    """``kind`` is "count" (size in rows) or "time" (size in seconds)."""

    kind: str
    size: float

    def describe(self) -> str:
        return f"count:{int(self.size)}" if self.kind == "count" else f"time:{self.size:g}"


def _usage(spec: object) -> str:
    return (f"window {spec!r} is not understood; give rows as 'count:10000' or seconds as "
            "'time:300' (or '300s', '5m', '1h')")


def _seconds(text: str, spec: object, *, unit_required: bool) -> float:
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit is not None else text
    if unit is None:
        if unit_required:
            raise ValueError(_usage(spec))
        unit = 1.0
    try:
        seconds = float(number.strip()) * unit
    except ValueError:
        raise ValueError(_usage(spec)) from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"a time window needs a positive number of seconds; {_usage(spec)}")
    return seconds


def parse_window(spec: str | WindowSpec) -> WindowSpec:
    """Parse ``"count:N"``, ``"time:S"`` or a duration with a unit (``"300s"``, ``"5m"``)."""
    if isinstance(spec, WindowSpec):
        return spec
    if not isinstance(spec, str):
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            raise ValueError(
                f"window={spec!r} has no unit: write window='count:{spec:g}' for {spec:,g} "
                f"rows or window='time:{spec:g}' for {spec:,g} seconds"
            )
        raise ValueError(_usage(spec))
    text = spec.strip().lower()
    kind, sep, value = text.partition(":")
    if sep and kind == "count":
        try:
            n = int(value.strip())
        except ValueError:
            raise ValueError(_usage(spec)) from None
        if n < 1:
            raise ValueError(f"a count window needs at least 1 row; {_usage(spec)}")
        return WindowSpec("count", n)
    if sep and kind == "time":
        return WindowSpec("time", _seconds(value.strip(), spec, unit_required=False))
    if sep:
        raise ValueError(_usage(spec))
    try:
        bare = float(text)
    except ValueError:
        return WindowSpec("time", _seconds(text, spec, unit_required=True))
    raise ValueError(
        f"window={spec!r} has no unit: write window='count:{text}' for {bare:,g} rows or "
        f"window='time:{text}' (or '{text}s') for {bare:,g} seconds"
    )


class Windows:
    """The open window and the last closed one."""

    def __init__(
        self, spec: WindowSpec, factory: Callable[[int, float], Window],
        clock: Callable[[], float], on_close: Callable[[Window], None] | None = None,
    ) -> None:
        self.spec = spec
        self._on_close = on_close
        self._factory = factory
        self._clock = clock
        self._index = 0
        self.open = factory(0, clock())
        # Only the last closed window is kept: each window's report is made as it
        # closes, and the last closed one is what the open window compares with.
        self.closed: deque[Window] = deque(maxlen=1)

    def _roll(self, at: float) -> None:
        self.open.fold()
        self.open.closed_at = at
        if self._on_close is not None:
            self._on_close(self.open)  # the window before it is still kept here
        self.closed.append(self.open)
        self._index += 1
        self.open = self._factory(self._index, at)

    def tick(self) -> bool:
        """Close the open time window if its time is up; True if anything closed."""
        if self.spec.kind != "time":
            return False
        now = self._clock()
        end = self.open.opened_at + self.spec.size
        if now < end:
            return False
        self._roll(end)
        if now >= end + self.spec.size:
            # Idle for more than a whole window: the gap becomes one empty window.
            skipped = (now - end) // self.spec.size
            self._roll(end + skipped * self.spec.size)
        return True

    def add(self, batch: Batch) -> None:
        self.tick()
        if self.spec.kind == "time":
            self.open.add(batch)
            return
        size = int(self.spec.size)
        start = 0
        while start < batch.n_rows:
            room = size - self.open.rows
            stop = min(batch.n_rows, start + room)
            part = batch if (start == 0 and stop == batch.n_rows) else batch.slice(start, stop)
            self.open.add(part)
            start = stop
            if self.open.rows >= size:
                self._roll(self._clock())
