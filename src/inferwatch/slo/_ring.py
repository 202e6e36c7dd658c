"""A fixed-size ring of cumulative (time, good, total) snapshots."""

from __future__ import annotations

import numpy as np

__all__ = ["SnapshotRing"]


class SnapshotRing:
    """The last ``capacity`` snapshots of cumulative event counts, oldest first.

    Memory is ``24 * capacity`` bytes whatever the traffic: the counts are
    cumulative, so the events of any window the ring spans are the difference
    between now and the snapshot taken just before the window began.
    """

    __slots__ = ("_good", "_next", "_size", "_times", "_total", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a ring holds at least one snapshot")
        self.capacity = capacity
        self._times = np.zeros(capacity, dtype=np.float64)
        self._good = np.zeros(capacity, dtype=np.float64)
        self._total = np.zeros(capacity, dtype=np.float64)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        return self._times.nbytes + self._good.nbytes + self._total.nbytes

    def append(self, t: float, good: float, total: float) -> None:
        i = self._next
        self._times[i], self._good[i], self._total[i] = t, good, total
        self._next = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def oldest(self) -> float | None:
        """The time of the oldest snapshot kept, None when empty."""
        if not self._size:
            return None
        return float(self._times[(self._next - self._size) % self.capacity])

    def at_or_before(self, t: float) -> tuple[float, float, float] | None:
        """The latest snapshot taken at or before ``t``; None when every one is later."""
        size, nxt, times = self._size, self._next, self._times
        if not size:
            return None
        # Times rise in ring order: [0, next) holds the newest run, and once the
        # ring has wrapped [next, capacity) the older one. Search each as sorted.
        if size < self.capacity:
            k = int(np.searchsorted(times[:size], t, side="right")) - 1
            i = k if k >= 0 else None
        elif nxt > 0 and times[0] <= t:
            i = int(np.searchsorted(times[:nxt], t, side="right")) - 1
        else:
            k = int(np.searchsorted(times[nxt:], t, side="right")) - 1
            i = nxt + k if k >= 0 else None
        if i is None:
            return None
        return float(times[i]), float(self._good[i]), float(self._total[i])

    def clear(self) -> None:
        self._next = self._size = 0
