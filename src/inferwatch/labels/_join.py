"""The join: labels and outcomes queued by callers, matched to stored predictions.

``record_label`` only checks its arguments and appends to a bounded queue
(O(1), any thread). The queue is folded on the aggregator thread after each
drain, and by collection after its own drain, so a label recorded right
after its predict returned finds the prediction: the record was buffered
before the label, and is stored before the label is looked up.

A label whose id is not in the store yet waits ``grace`` seconds (at most
``max_waiting`` of them) for the prediction to arrive — a record still in
the monitor's buffer under a backlog — and is retried only when a
prediction with its id is stored; past the grace it is counted as
``no_prediction``. The first label of each source for a prediction joins;
another of the same source is a duplicate, counted and ignored (so a
retried upload counts once).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from .._histogram import Histogram
from .._record import count_value
from ._metrics import DELAY_BOUNDS
from ._outcomes import Outcomes
from ._pairs import PairRing
from ._policy import PolicyValues
from ._store import AMBIGUOUS, DUPLICATE, JOINED, MISSING, PredictionStore, StoredPrediction
from ._task import Task

__all__ = ["Joiner", "Series"]

Series = tuple[str, str, str]
#: (kind, key, model, payload, source or outcome name, timestamp, received at)
Item = tuple[str, str, str | None, Any, str, float | None, float]

#: Rings (series x source) kept at most; pairs of further ones are dropped, counted.
MAX_RINGS = 128


class Joiner:
    """Queue, waiting room, pair rings and counters of one tracker."""

    def __init__(self, task: Task, store: PredictionStore, *, capacity: int, grace: float,
                 max_pending: int, max_waiting: int, clock: Callable[[], float]) -> None:
        self.task = task
        self.store = store
        self.capacity = capacity
        self.grace = grace
        self.max_pending = max_pending
        self.max_waiting = max_waiting
        self.clock = clock
        self.pending: deque[Item] = deque()
        self.queue_full = itertools.count()
        self.lock = threading.Lock()
        self._waiting: dict[str, list[Item]] = {}
        self._expiry: deque[tuple[float, str]] = deque()
        self.rings: dict[tuple[Series, str], PairRing] = {}
        self.delays: dict[tuple[Series, str], Histogram] = {}
        self.joined: dict[tuple[Series, str], int] = {}
        #: (source or outcome name, kind, result) -> n
        self.received: dict[tuple[str, str, str], int] = {}
        self.outcomes = Outcomes()
        #: The policy-value estimates, when the tracker names a reward outcome.
        self.policy: PolicyValues | None = None
        self.series_full = 0
        #: How an id is keyed in the store (its pseudonym when ids are PII): applied
        #: here, on the aggregator thread, never on the caller's.
        self.keyer: Callable[[str], str] = _same

    # -- any thread -------------------------------------------------------------------

    def enqueue(self, items: list[Item]) -> int:
        """Queue items; returns how many fit (the rest are counted as dropped)."""
        pending = self.pending
        room = self.max_pending - len(pending)
        if room >= len(items):
            pending.extend(items)
            return len(items)
        kept = max(room, 0)
        pending.extend(items[:kept])
        for _ in range(len(items) - kept):
            next(self.queue_full)
        return kept

    @property
    def dropped(self) -> int:
        return count_value(self.queue_full)

    # -- aggregator thread (or collection), under ``lock`` --------------------------

    def stored(self, entries: list[StoredPrediction]) -> None:
        """Predictions just stored: labels waiting for their ids are tried again."""
        if not self._waiting:
            return
        for entry in entries:
            items = self._waiting.pop(entry.inference_id, None)
            if items is not None:
                delays: dict[tuple[Series, str], list[float]] = {}
                for item in items:
                    self._one(item, delays, retry=True)
                self._fold_delays(delays)

    def process(self) -> None:
        """Fold the queued labels and outcomes; expire waiting ones past their grace."""
        now = self.clock()
        pending = self.pending
        delays: dict[tuple[Series, str], list[float]] = {}
        for _ in range(len(pending)):
            self._one(pending.popleft(), delays, retry=False)
        expiry = self._expiry
        expired: list[Item] = []
        while expiry and expiry[0][0] <= now:
            _, key = expiry.popleft()
            expired.extend(self._waiting.pop(key, ()))
        if expired:
            # One last claim before "no prediction": in a shared store another replica
            # may have written the prediction since (its write lags the predict by up
            # to a drain); in this process's own store the arrival retried already.
            prefetch = getattr(self.store, "prefetch", None)
            if prefetch is not None:
                prefetch([(item[1], item[2], f"{item[0]}:{item[4]}") for item in expired])
            for item in expired:
                self._one(item, delays, retry=True)
        self._fold_delays(delays)

    def _count(self, item: Item, result: str) -> None:
        key = (item[4], item[0], result)
        self.received[key] = self.received.get(key, 0) + 1

    def _one(self, item: Item, delays: dict[tuple[Series, str], list[float]], *,
             retry: bool) -> None:
        kind, key, model, payload, tag, timestamp, received = item
        if not retry:
            key = self.keyer(key)
            item = (kind, key, model, payload, tag, timestamp, received)
        claim = f"label:{tag}" if kind == "label" else f"outcome:{tag}"
        status, entry = self.store.claim(key, model, claim)
        if status == MISSING:
            if not retry and self.grace > 0 and len(self._waiting) < self.max_waiting:
                waiting = self._waiting.get(key)
                if waiting is None:
                    waiting = self._waiting[key] = []
                    self._expiry.append((received + self.grace, key))
                waiting.append(item)
            else:
                self._count(item, "no_prediction")
            return
        if status == AMBIGUOUS or entry is None:
            self._count(item, "ambiguous")
            return
        series = (entry.model, entry.version, entry.variant or "")
        if kind == "outcome":
            self._count(item, "joined")
            self.outcomes.add(series, tag, float(payload), first=status == JOINED)
            policy = self.policy
            if policy is not None and status == JOINED and tag == policy.reward:
                policy.add_reward(entry, float(payload), received, self.clock())
            return
        if status == DUPLICATE:
            self._count(item, "duplicate")
            return
        assert status == JOINED
        at = received if timestamp is None else timestamp
        ring_key = (series, tag)
        ring = self.rings.get(ring_key)
        if ring is None:
            if len(self.rings) >= MAX_RINGS:
                self.series_full += 1
                self._count(item, "joined")
                return
            ring = self.rings[ring_key] = PairRing(self.capacity,
                                                   numeric=self.task.kind == "regression")
        self._count(item, "joined")
        self.joined[ring_key] = self.joined.get(ring_key, 0) + 1
        delay = at - entry.timestamp
        ring.add(payload, entry.prediction, entry.score, entry.confidence, at, delay,
                 entry.window)
        if math.isfinite(delay):
            delays.setdefault(ring_key, []).append(max(delay, 0.0))

    def _fold_delays(self, delays: dict[tuple[Series, str], list[float]]) -> None:
        for key, values in delays.items():
            hist = self.delays.get(key)
            if hist is None:
                hist = self.delays[key] = Histogram(DELAY_BOUNDS)
            hist.add(np.asarray(values, dtype=np.float64))

    @property
    def waiting(self) -> int:
        return sum(len(v) for v in self._waiting.values())

    @property
    def nbytes(self) -> int:
        """Memory of the pair rings (the store reports its own)."""
        return sum(r.nbytes for r in self.rings.values())


def _same(text: str) -> str:
    return text
