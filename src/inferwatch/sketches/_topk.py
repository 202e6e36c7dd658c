"""Bounded categorical counts: the top-K categories plus an "other" bucket.

Uses the mergeable Misra-Gries summary (Agarwal et al., 2012): at most ``k``
counters; when a batch or merge leaves more, the (k+1)-th largest count is
subtracted from all and non-positive counters are dropped. Every count is an
underestimate by at most ``(total - sum(counts)) / (k + 1)`` (``error_bound``),
so any category with a share above ``1 / (k + 1)`` is always tracked, and the
counts are exact while the stream has at most ``k`` distinct categories.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Hashable, Iterable
from typing import Any

import numpy as np

from ._format import frame, unframe

_KIND = 3


def _missing(value: Any) -> bool:
    # Any NaN (Python, numpy float32/16, complex): NaN != NaN, so each one kept
    # as a category would be a new category and evict the real ones.
    return value is None or (
        isinstance(value, (float, complex, np.floating, np.complexfloating)) and value != value
    )


class TopKCounts:
    """Heavy-hitter counts for a categorical feature; memory bounded by ``k``.

    ``None`` and NaN count as missing (``n_missing``), not as a category.
    Categories must be str, int, float or bool to be serialised.
    """

    def __init__(self, k: int = 64) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k
        self._counts: dict[Hashable, int] = {}
        self.total = 0
        self.n_missing = 0

    @property
    def n(self) -> int:
        """Number of non-missing values seen."""
        return self.total

    def __len__(self) -> int:
        return self.total

    @property
    def counts(self) -> dict[Hashable, int]:
        """Tracked categories and their (under-)estimated counts, largest first."""
        return dict(sorted(self._counts.items(), key=lambda kv: -kv[1]))

    @property
    def other(self) -> int:
        """Mass not attributed to a tracked category (evicted categories, decrements)."""
        return self.total - sum(self._counts.values())

    @property
    def error_bound(self) -> float:
        """Most any tracked or untracked count can be underestimated by."""
        return self.other / (self.k + 1)

    def shares(self) -> dict[Hashable, float]:
        """Share of the total per tracked category (the rest is ``other_share``)."""
        if not self.total:
            return {}
        return {c: v / self.total for c, v in self.counts.items()}

    @property
    def other_share(self) -> float:
        return self.other / self.total if self.total else 0.0

    def new_categories(self, reference: Iterable[Hashable]) -> set[Hashable]:
        """Tracked categories absent from ``reference`` (e.g. a reference sketch's counts)."""
        known = set(reference)
        return {c for c in self._counts if c not in known}

    def _add(self, counts: dict[Hashable, int]) -> None:
        for c, v in counts.items():
            self._counts[c] = self._counts.get(c, 0) + v
        if len(self._counts) > self.k:
            cut = sorted(self._counts.values(), reverse=True)[self.k]
            self._counts = {c: v - cut for c, v in self._counts.items() if v > cut}

    def update(self, value: Hashable) -> None:
        if _missing(value):
            self.n_missing += 1
            return
        if isinstance(value, np.generic):  # as update_batch's tolist() gives them
            value = value.item()
        self.total += 1
        self._add({value: 1})

    def update_batch(self, values: Iterable[Hashable]) -> None:
        items = values.tolist() if hasattr(values, "tolist") else list(values)
        # Counted first (in C), then each distinct value checked once: missing
        # ones (None, any NaN) set aside, numpy scalars in a plain list made the
        # Python values tolist() would give.
        counts = Counter(items)
        for value in [v for v in counts if _missing(v) or isinstance(v, np.generic)]:
            n = counts.pop(value)
            if _missing(value):
                self.n_missing += n
            else:
                plain = value.item()
                counts[plain] = counts.get(plain, 0) + n
        self.total += sum(counts.values())
        self._add(dict(counts))

    def merge(self, other: TopKCounts) -> TopKCounts:
        """Fold ``other`` in (in place; returns self). Both need the same k."""
        if not isinstance(other, TopKCounts):
            raise TypeError(f"can only merge TopKCounts, got {type(other).__name__}")
        if other.k != self.k:
            raise ValueError(f"cannot merge TopKCounts with k={self.k} and k={other.k}")
        self.total += other.total
        self.n_missing += other.n_missing
        self._add(other._counts)
        return self

    def to_bytes(self) -> bytes:
        for c in self._counts:
            if not isinstance(c, (str, int, float, bool)):
                raise TypeError(
                    f"category {c!r} of type {type(c).__name__} cannot be serialised; "
                    "use str, int, float or bool categories"
                )
        # Keys keep their JSON type (str/int/float/bool) because they travel as list items.
        body = {
            "k": self.k,
            "total": self.total,
            "n_missing": self.n_missing,
            "counts": [[c, v] for c, v in self._counts.items()],
        }
        return frame(_KIND, json.dumps(body, separators=(",", ":")).encode())

    @classmethod
    def from_bytes(cls, data: bytes) -> TopKCounts:
        payload = unframe(data, _KIND)
        try:
            body = json.loads(payload)
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            k, total, n_missing = (_count(body[key]) for key in ("k", "total", "n_missing"))
            sketch = cls(k)
            pairs = [(c, v) for c, v in body["counts"]]
            counts = {c: v for c, v in pairs}
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ValueError(f"corrupted TopKCounts payload: {exc}") from None
        problem = _inconsistency(pairs, counts, k, total)
        if problem:
            raise ValueError(f"corrupted TopKCounts payload: {problem}")
        sketch.total, sketch.n_missing, sketch._counts = total, n_missing, counts
        return sketch

    def __repr__(self) -> str:
        return f"TopKCounts(k={self.k}, n={self.total}, tracked={len(self._counts)})"


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{value!r} is not a count")
    return value


def _inconsistency(
    pairs: list[tuple[Any, Any]], counts: dict[Hashable, Any], k: int, total: int
) -> str | None:
    """What is wrong with deserialised counts, or None (see ``KLLSketch``'s twin)."""
    if len(counts) != len(pairs):
        return "a category appears twice"
    if len(counts) > k:
        return f"{len(counts)} tracked categories, more than k={k}"
    for category, count in counts.items():
        if type(category) not in (str, int, float, bool) or _missing(category):
            return f"category {category!r} is not a str, int, float or bool"
        if type(count) is not int or count <= 0:
            return f"count {count!r} of {category!r} is not a positive integer"
    if sum(counts.values()) > total:
        return f"tracked counts add up to more than the total {total}"
    return None
