"""Hellinger distance on reference-frozen bins or categories."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._shares import Shares, shares_from_categories, shares_from_counts, shares_from_samples
from ._validation import FloatArray


@dataclass(frozen=True, eq=False)
class HellingerResult:
    """Hellinger distance in [0, 1]: 0 for identical shares, 1 for disjoint supports."""

    statistic: float
    n_ref: int
    n_cur: int
    n_dropped: int = 0
    edges: FloatArray | None = None
    categories: tuple[Hashable, ...] | None = None
    pvalue: None = None


def _result(s: Shares) -> HellingerResult:
    # ||sqrt(p) - sqrt(q)|| / sqrt(2) rather than sqrt(1 - sum sqrt(pq)): no cancellation
    # for near-identical shares, so tiny drift is not rounded to 0.
    h = float(np.sqrt(0.5 * np.sum((np.sqrt(s.ref) - np.sqrt(s.cur)) ** 2)))
    return HellingerResult(
        statistic=min(h, 1.0),
        n_ref=s.n_ref,
        n_cur=s.n_cur,
        n_dropped=s.n_dropped,
        edges=s.edges,
        categories=s.categories,
    )


def hellinger_from_counts(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> HellingerResult:
    """Hellinger distance from counts in the same bins."""
    return _result(shares_from_counts(ref_counts, cur_counts))


def hellinger(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, bins: int | npt.ArrayLike = 10
) -> HellingerResult:
    """Hellinger distance between binned ``reference`` and ``current``.

    Bounded and symmetric like JS, and needs no epsilon for empty bins.
    Binning is the same as :func:`psi`.
    """
    return _result(shares_from_samples(reference, current, bins))


def hellinger_categorical(
    reference: Iterable[Hashable], current: Iterable[Hashable]
) -> HellingerResult:
    """Hellinger distance of category shares over the union of categories."""
    return _result(shares_from_categories(reference, current))
