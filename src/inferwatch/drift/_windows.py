"""Live windows by row count or by time, with the previous window kept for comparison.

``"count:10000"`` closes a window every 10,000 rows (a drained batch that
crosses the boundary is split there); ``"time:300"``, ``"300s"`` or ``300``
closes one every 300 seconds of the injected clock. At most three windows
exist at once (the open one and the last two closed), so memory does not
grow with traffic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ._ingest import Batch
from ._window import Window


@dataclass(frozen=True)
class WindowSpec:
    """``kind`` is "count" (size in rows) or "time" (size in seconds)."""

    kind: str
    size: float

    def describe(self) -> str:
        return f"count:{int(self.size)}" if self.kind == "count" else f"time:{self.size:g}"


def parse_window(spec: str | float | int | WindowSpec) -> WindowSpec:
    """Parse ``"count:N"``, ``"time:S"``, ``"Ss"`` or a number of seconds."""
    if isinstance(spec, WindowSpec):
        return spec
    if isinstance(spec, bool):
        raise ValueError("window must be 'count:N', 'time:SECONDS' or a number of seconds")
    if isinstance(spec, (int, float)):
        if spec <= 0:
            raise ValueError(f"a time window needs a positive number of seconds, got {spec}")
        return WindowSpec("time", float(spec))
    text = str(spec).strip().lower()
    kind, _, value = text.partition(":")
    try:
        if kind == "count" and value:
            n = int(value)
            if n < 1:
                raise ValueError
            return WindowSpec("count", n)
        seconds = float((value if kind == "time" and value else text).rstrip("s"))
        if seconds <= 0:
            raise ValueError
        return WindowSpec("time", seconds)
    except ValueError:
        raise ValueError(
            f"window {spec!r} is not understood; use 'count:10000' (rows), 'time:300' "
            "(seconds) or a number of seconds"
        ) from None


class Windows:
    """The open window and the last two closed ones."""

    def __init__(
        self, spec: WindowSpec, factory: Callable[[int, float], Window], clock: Callable[[], float]
    ) -> None:
        self.spec = spec
        self._factory = factory
        self._clock = clock
        self._index = 0
        self.open = factory(0, clock())
        self.closed: deque[Window] = deque(maxlen=2)

    def _roll(self, at: float) -> None:
        self.open.fold()
        self.open.closed_at = at
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

    def current(self, which: str = "auto") -> Window:
        """The window a report is about: the last closed one ("auto") or the open one."""
        if which == "open" or not self.closed:
            return self.open
        if which in ("auto", "closed"):
            return self.closed[-1]
        raise ValueError(f"window must be 'auto', 'closed' or 'open', got {which!r}")

    def before(self, window: Window) -> Window | None:
        """The window that closed just before ``window``, if still kept."""
        for w in self.closed:
            if w.index == window.index - 1:
                return w
        return None
