"""Joined pairs of one series and label source, in a bounded ring.

A series is (model, version, variant); organic and review labels keep
separate rings. The ring holds the last ``capacity`` pairs in arrival
order as numpy columns (about 50 bytes a pair), so memory is fixed by
configuration, never by traffic. Classes are coded as small ints per ring,
at most ``MAX_CLASSES`` distinct ones (later ones share the code of
``_other``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._windows import WindowSpec

__all__ = ["MAX_CLASSES", "OTHER", "PairRing"]

MAX_CLASSES = 64
OTHER = "_other"


class PairRing:
    """The last ``capacity`` joined pairs of one series and source."""

    def __init__(self, capacity: int, *, numeric: bool) -> None:
        self.capacity = capacity
        self.numeric = numeric
        self.added = 0
        self._head = 0
        self._allocated = 0
        kind = np.float64 if numeric else np.int32
        self._truth = np.zeros(0, dtype=kind)
        self._pred = np.zeros(0, dtype=kind)
        self._score = np.zeros(0)
        self._conf = np.zeros(0)
        self._at = np.zeros(0)
        self._delay = np.zeros(0)
        self._window = np.zeros(0, dtype=np.int64)
        #: Class label -> code (classification).
        self.codes: dict[Any, int] = {}

    def code(self, label: Any) -> int:
        code = self.codes.get(label)
        if code is None:
            if len(self.codes) < MAX_CLASSES - 1:
                code = self.codes[label] = len(self.codes)
            else:
                code = self.codes.setdefault(OTHER, len(self.codes))
        return code

    def _grow(self) -> None:
        size = min(self.capacity, max(64, 2 * self._allocated))
        for name in ("_truth", "_pred", "_score", "_conf", "_at", "_delay", "_window"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[: old.size] = old
            setattr(self, name, new)
        self._allocated = size

    def add(self, truth: Any, predicted: Any, score: float, confidence: float, at: float,
            delay: float, window: int | None) -> None:
        if self._head == self._allocated < self.capacity:
            self._grow()
        i = self._head
        if self.numeric:
            self._truth[i] = truth
            self._pred[i] = predicted
        else:
            self._truth[i] = self.code(truth)
            self._pred[i] = self.code(predicted)
        self._score[i] = score
        self._conf[i] = confidence
        self._at[i] = at
        self._delay[i] = delay if math.isfinite(delay) else np.nan
        self._window[i] = -1 if window is None else window
        self._head = 0 if i + 1 == self.capacity else i + 1
        self.added += 1

    def __len__(self) -> int:
        return min(self.added, self.capacity)

    def _ordered(self, column: np.ndarray) -> np.ndarray:
        if self.added <= self.capacity:
            return column[: self.added]
        head = self._head
        return np.concatenate((column[head:], column[:head]))

    def select(self, spec: WindowSpec, now: float) -> dict[str, np.ndarray]:
        """The pairs of one window, oldest first: ``truth``, ``pred``, ``score``,
        ``conf``, ``at``, ``delay``, ``window`` columns."""
        columns = {name: self._ordered(getattr(self, "_" + name)) for name in
                   ("truth", "pred", "score", "conf", "at", "delay", "window")}
        if spec.kind == "count":
            n = int(spec.size)
            return {k: v[-n:] for k, v in columns.items()}
        keep = columns["at"] >= now - spec.size
        return {k: v[keep] for k, v in columns.items()}

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, "_" + name).nbytes for name in
                   ("truth", "pred", "score", "conf", "at", "delay", "window"))
