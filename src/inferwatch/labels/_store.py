"""The prediction store: what a label needs to join, keyed by inference id.

An entry (:class:`StoredPrediction`) holds only what the quality metrics
need: the prediction in compact form (a class, a number, the positive
class's probability and the confidence), the model, version, variant and
segment, the call's wall-clock time, the drift window it fell in and the
logging policy's propensity (with the evaluated policy's probability of the
same action) when the call logged one. Never
features, never attributes other than those two, never a request field.

:class:`PredictionStore` is the protocol a store implements (the shared
:class:`~._redis_store.RedisStore`, for fleets where a label can reach
another replica than the prediction did, is a second implementation of
it). :class:`MemoryStore` is the default: bounded by entries and by age,
oldest evicted first, every eviction counted by reason. It is written on the aggregator thread and
read there (and by collection), never on the request path.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from .. import _forks

__all__ = [
    "AMBIGUOUS",
    "DUPLICATE",
    "JOINED",
    "MISSING",
    "MemoryStore",
    "PredictionStore",
    "StoredPrediction",
]

#: ``claim`` results.
JOINED, DUPLICATE, MISSING, AMBIGUOUS = "joined", "duplicate", "missing", "ambiguous"


class StoredPrediction:
    """One prediction waiting for its label (and outcomes).

    ``prediction`` is the predicted class (str, int or bool) for
    classification, a float for regression; ``score`` the probability of
    the positive class when known (NaN otherwise); ``confidence`` the
    model's confidence (NaN when absent); ``timestamp`` epoch seconds of the
    call; ``window`` the drift window index open when it was stored (None
    without drift); ``policy`` the ``(propensity, target)`` the call logged
    with ``inferwatch.feedback.set_propensity`` (None when it logged no
    propensity; the target is the propensity when none was given).
    ``claimed`` names the joins already made (``label:organic``,
    ``outcome:revenue``) so a repeated label is a duplicate, not a second
    pair. ``next`` chains another model's prediction under the same id.
    """

    __slots__ = ("claimed", "confidence", "inference_id", "model", "next", "policy",
                 "prediction", "score", "segment", "timestamp", "variant", "version", "window")

    def __init__(
        self, inference_id: str, model: str, version: str, prediction: str | int | bool | float,
        score: float, confidence: float, timestamp: float, *, variant: str | None = None,
        segment: str | None = None, window: int | None = None,
        policy: tuple[float, float] | None = None,
    ) -> None:
        self.inference_id = inference_id
        self.model = model
        self.version = version
        self.prediction = prediction
        self.score = score
        self.confidence = confidence
        self.timestamp = timestamp
        self.variant = variant
        self.segment = segment
        self.window = window
        self.policy = policy
        self.claimed: tuple[str, ...] = ()
        self.next: StoredPrediction | None = None

    def fields(self) -> dict[str, object]:
        """Every field as a plain mapping (for tests and debugging)."""
        return {name: getattr(self, name) for name in self.__slots__ if name != "next"}

    def __repr__(self) -> str:
        return (f"StoredPrediction({self.inference_id!r}, {self.model!r}, {self.version!r}, "
                f"prediction={self.prediction!r})")


@runtime_checkable
class PredictionStore(Protocol):
    """What the label join needs of a store.

    ``put`` is called on the aggregator thread with each drained batch;
    ``claim`` when a label or outcome is processed (also there); ``expire``
    after each batch. Implementations must be bounded and must count what
    they evict (``evictions``), never raise into the aggregator for a full
    or unreachable backend (count it instead): reasons other than
    ``entries`` and ``age`` are exported as ``label_store_<reason>``. A store
    over the network may also have ``prefetch(requests)``, given the queued
    ``(id, model, claim)`` triples before they are claimed one by one, to
    look them up in one round trip (:class:`RedisStore` does).
    """

    def put(self, predictions: Iterable[StoredPrediction], now: float) -> None:
        """Store predictions (a later one for the same id and model replaces it)."""

    def claim(self, inference_id: str, model: str | None,
              key: str) -> tuple[str, StoredPrediction | None]:
        """Find the prediction for a label or outcome and mark ``key`` joined on it.

        Returns ``(JOINED, entry)`` the first time, ``(DUPLICATE, entry)``
        when ``key`` was joined before, ``(MISSING, None)`` for an unknown id
        (or one of another model), ``(AMBIGUOUS, None)`` when several models'
        predictions share the id and ``model`` is None.
        """

    def expire(self, now: float) -> None:
        """Evict entries older than the store's age bound."""

    def evictions(self) -> Mapping[str, int]:
        """Entries evicted so far, by reason (``entries``, ``age``)."""

    def __len__(self) -> int:
        """Entries held now."""


class MemoryStore:
    """The in-process store: at most ``max_entries`` predictions, none older than
    ``max_age`` seconds, oldest evicted first.

    ::

        inferwatch.labels.track(store=MemoryStore(max_entries=200_000, max_age=3 * 86400))

    An entry costs about 450 bytes with its key (``nbytes`` estimates the
    total); the default bound, 100,000 entries, is about 45 MB at most.
    """

    def __init__(self, max_entries: int = 100_000, max_age: float = 7 * 86400.0) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
        if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or not (
                max_age > 0):
            raise ValueError(f"max_age must be a positive number of seconds, got {max_age!r}")
        self.max_entries = max_entries
        self.max_age = float(max_age)
        self._entries: OrderedDict[str, StoredPrediction] = OrderedDict()
        self._evicted = {"entries": 0, "age": 0}
        self._lock = threading.Lock()
        _forks.register(self)

    def _after_fork_in_child(self) -> None:
        # A worker forked from a parent that served traffic starts empty: the
        # parent's predictions are the parent's to join (and its lock may be held).
        self._lock = threading.Lock()
        self._entries = OrderedDict()
        self._evicted = {"entries": 0, "age": 0}

    def put(self, predictions: Iterable[StoredPrediction], now: float) -> None:
        entries = self._entries
        with self._lock:
            for entry in predictions:
                key = entry.inference_id
                head = entries.get(key)
                if head is not None:
                    entries[key] = _chain_replace(head, entry)
                    entries.move_to_end(key)
                else:
                    entries[key] = entry
            while len(entries) > self.max_entries:
                _, gone = entries.popitem(last=False)
                self._evicted["entries"] += _chain_length(gone)
        self.expire(now)

    def claim(self, inference_id: str, model: str | None,
              key: str) -> tuple[str, StoredPrediction | None]:
        with self._lock:
            entry = self._entries.get(inference_id)
            if entry is None:
                return MISSING, None
            if model is None:
                if entry.next is not None:
                    return AMBIGUOUS, None
            else:
                while entry is not None and entry.model != model:
                    entry = entry.next
                if entry is None:
                    return MISSING, None
            if key in entry.claimed:
                return DUPLICATE, entry
            entry.claimed = (*entry.claimed, key)
            return JOINED, entry

    def expire(self, now: float) -> None:
        cutoff = now - self.max_age
        entries = self._entries
        with self._lock:
            while entries:
                key = next(iter(entries))
                head = entries[key]
                if head.timestamp >= cutoff:
                    break
                del entries[key]
                self._evicted["age"] += _chain_length(head)

    def evictions(self) -> dict[str, int]:
        with self._lock:
            return dict(self._evicted)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Estimated memory held: entries, their keys and the index."""
        with self._lock:
            sample = next(iter(self._entries.values()), None)
            n = len(self._entries)
        if sample is None:
            return 0
        per = (sys.getsizeof(sample) + sys.getsizeof(sample.inference_id)
               + sys.getsizeof(sample.prediction) + 2 * 24 + 100)  # floats, dict slot, links
        return n * per


def _chain_replace(head: StoredPrediction, entry: StoredPrediction) -> StoredPrediction:
    """``head``'s chain with ``entry`` replacing the prediction of its model (or added)."""
    kept = [e for e in _chain(head) if e.model != entry.model]
    entry.next = None
    for other in reversed(kept):
        other.next = entry
        entry = other
    return entry


def _chain(head: StoredPrediction | None) -> list[StoredPrediction]:
    out = []
    while head is not None:
        out.append(head)
        head = head.next
    return out


def _chain_length(head: StoredPrediction) -> int:
    return len(_chain(head))
