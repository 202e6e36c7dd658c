"""Jensen-Shannon divergence (base 2) on reference-frozen bins or categories."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._shares import Shares, shares_from_categories, shares_from_counts, shares_from_samples
from ._validation import FloatArray


@dataclass(frozen=True, eq=False)
class JensenShannonResult:
    """JS divergence in bits, in [0, 1]; ``distance`` is its square root (a metric)."""

    statistic: float
    distance: float
    n_ref: int
    n_cur: int
    n_dropped: int = 0
    edges: FloatArray | None = None
    categories: tuple[Hashable, ...] | None = None
    pvalue: None = None


def _kl_to_mix(p: FloatArray, m: FloatArray) -> float:
    # 0 * log(0 / m) = 0: only bins where p > 0 contribute, and there m >= p / 2 > 0.
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))


def _result(s: Shares) -> JensenShannonResult:
    mix = 0.5 * (s.ref + s.cur)
    js = 0.5 * _kl_to_mix(s.ref, mix) + 0.5 * _kl_to_mix(s.cur, mix)
    js = min(max(js, 0.0), 1.0)  # rounding can step a hair outside [0, 1]
    return JensenShannonResult(
        statistic=js,
        distance=float(np.sqrt(js)),
        n_ref=s.n_ref,
        n_cur=s.n_cur,
        n_dropped=s.n_dropped,
        edges=s.edges,
        categories=s.categories,
    )


def jensen_shannon_from_counts(
    ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike
) -> JensenShannonResult:
    """JS divergence from counts in the same bins (e.g. ``BinnedCounts.counts``)."""
    return _result(shares_from_counts(ref_counts, cur_counts))


def jensen_shannon(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, bins: int | npt.ArrayLike = 10
) -> JensenShannonResult:
    """Jensen-Shannon divergence of ``current`` from ``reference``, base 2.

    Base 2 bounds it to [0, 1] (1 = disjoint supports), so one threshold fits
    every feature; the natural-log version tops out at ln 2 ≈ 0.69, which is
    easy to misread. Unlike PSI it needs no epsilon: the mixture is never zero
    where either side has mass. Binning is the same as :func:`psi`.
    """
    return _result(shares_from_samples(reference, current, bins))


def jensen_shannon_categorical(
    reference: Iterable[Hashable], current: Iterable[Hashable]
) -> JensenShannonResult:
    """JS divergence (base 2) of category shares over the union of categories."""
    return _result(shares_from_categories(reference, current))
