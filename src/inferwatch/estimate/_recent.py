"""The latest predictions of one series, in a bounded ring (the live estimate's rows).

Each stored prediction keeps what its estimate needs: one number (the
positive class's probability, the confidence or the predicted value), a
flag (predicted positive) and the call's time. About 17 bytes a row; the
capacity is fixed by the tracker's windows, never by traffic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..labels._windows import WindowSpec

__all__ = ["RecentRing"]


class RecentRing:
    """The last ``capacity`` (value, flag, time) rows of one series."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.added = 0
        self._head = 0
        self._value = np.zeros(0)
        self._flag = np.zeros(0, dtype=bool)
        self._at = np.zeros(0)

    def extend(self, value: np.ndarray, flag: np.ndarray, at: np.ndarray) -> None:
        if value.size > self.capacity:
            value, flag, at = value[-self.capacity:], flag[-self.capacity:], at[-self.capacity:]
        if self._value.size < self.capacity and self._head + value.size > self._value.size:
            size = min(self.capacity, max(64, 2 * self._value.size, self._head + value.size))
            for name in ("_value", "_flag", "_at"):
                old = getattr(self, name)
                new = np.zeros(size, dtype=old.dtype)
                new[: old.size] = old
                setattr(self, name, new)
        for column, new in ((self._value, value), (self._flag, flag), (self._at, at)):
            head = self._head
            first = min(new.size, self.capacity - head)
            column[head: head + first] = new[:first]
            column[: new.size - first] = new[first:]
        self._head = (self._head + value.size) % self.capacity
        self.added += int(value.size)

    def _ordered(self, column: np.ndarray) -> np.ndarray:
        if self.added <= self.capacity:
            return column[: self.added]
        return np.concatenate((column[self._head:], column[: self._head]))

    def select(self, spec: WindowSpec, now: float) -> tuple[np.ndarray, np.ndarray]:
        """``(value, flag)`` of the window's rows, oldest first."""
        value, flag = self._ordered(self._value), self._ordered(self._flag)
        if spec.kind == "count":
            n = int(spec.size)
            return value[-n:], flag[-n:]
        keep = self._ordered(self._at) >= now - spec.size
        return value[keep], flag[keep]

    @property
    def nbytes(self) -> int:
        return int(self._value.nbytes + self._flag.nbytes + self._at.nbytes)
