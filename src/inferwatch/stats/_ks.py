"""Two-sample Kolmogorov-Smirnov test, from raw samples or from weighted sorted views."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._ks_distribution import EXACT_MAX_NM, ks_pvalue
from ._validation import FloatArray, clean_1d


@dataclass(frozen=True, eq=False)
class KSResult:
    """KS statistic (largest CDF gap), two-sided p-value and how it was computed."""

    statistic: float
    pvalue: float
    n_ref: int
    n_cur: int
    method: str
    n_dropped: int = 0


def ks_statistic_from_sorted(ref_sorted: npt.ArrayLike, cur_sorted: npt.ArrayLike) -> float:
    """Largest gap between the empirical CDFs of two ascending arrays.

    Both CDFs are evaluated just after every observed value (right-continuous),
    so tied values move both CDFs at once and ties never inflate the gap.
    """
    a = np.asarray(ref_sorted, dtype=np.float64)
    b = np.asarray(cur_sorted, dtype=np.float64)
    both = np.concatenate([a, b])
    gap = (
        np.searchsorted(a, both, side="right") / a.size
        - np.searchsorted(b, both, side="right") / b.size
    )
    return float(max(-np.min(gap), np.max(gap)))


def _step_cdf(values: FloatArray, cumweights: FloatArray, at: FloatArray) -> FloatArray:
    idx = np.searchsorted(values, at, side="right") - 1
    out = np.where(idx >= 0, cumweights[np.maximum(idx, 0)], 0.0)
    return np.asarray(out / cumweights[-1], dtype=np.float64)


def check_sorted_view(
    values: npt.ArrayLike, cumweights: npt.ArrayLike, name: str
) -> tuple[FloatArray, FloatArray]:
    """Validate a weighted sorted view: ascending values, non-decreasing positive weights."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(cumweights, dtype=np.float64)
    if v.ndim != 1 or v.shape != w.shape or v.size == 0:
        raise ValueError(
            f"{name}: values and cumulative weights must be non-empty 1-D arrays of equal length"
        )
    if not (np.isfinite(v).all() and np.isfinite(w).all()):
        raise ValueError(f"{name}: sorted view contains NaN or inf")
    if (np.diff(v) < 0).any():
        raise ValueError(f"{name}: values must be sorted ascending")
    if w[0] <= 0 or (np.diff(w) < 0).any():
        raise ValueError(f"{name}: cumulative weights must be positive and non-decreasing")
    return v, w


def ks_from_cdfs(
    ref_values: npt.ArrayLike,
    ref_cumweights: npt.ArrayLike,
    cur_values: npt.ArrayLike,
    cur_cumweights: npt.ArrayLike,
    *,
    n_ref: int | None = None,
    n_cur: int | None = None,
) -> KSResult:
    """KS test from two weighted sorted views, e.g. ``KLLSketch.sorted_view()``.

    Each view is ``(values ascending, cumulative weights)``; the CDF is the step
    function ``cumweights[i] / cumweights[-1]`` from ``values[i]`` on. Sample
    sizes for the p-value default to the total weights (a sketch's ``n``). The
    p-value is always asymptotic: a statistic read off a sketch is not on the
    exact lattice. Computing KS this way (rather than a sketch library's
    conservative KS test) keeps the power to see small shifts.

    >>> import numpy as np
    >>> v = np.array([1.0, 2.0, 3.0])
    >>> ks_from_cdfs(v, np.array([1.0, 2.0, 3.0]), v + 10, np.array([1.0, 2.0, 3.0])).statistic
    1.0
    """
    rv, rw = check_sorted_view(ref_values, ref_cumweights, "reference view")
    cv, cw = check_sorted_view(cur_values, cur_cumweights, "current view")
    both = np.concatenate([rv, cv])
    gap = np.abs(_step_cdf(rv, rw, both) - _step_cdf(cv, cw, both))
    statistic = float(min(1.0, np.max(gap)))
    n = round(float(rw[-1])) if n_ref is None else int(n_ref)
    m = round(float(cw[-1])) if n_cur is None else int(n_cur)
    return KSResult(
        statistic=statistic,
        pvalue=ks_pvalue(statistic, max(n, 1), max(m, 1), method="asymp"),
        n_ref=n,
        n_cur=m,
        method="asymp",
    )


def ks(reference: npt.ArrayLike, current: npt.ArrayLike, *, method: str = "auto") -> KSResult:
    """Two-sample Kolmogorov-Smirnov test of ``current`` against ``reference``.

    ``method="auto"`` uses the exact null distribution when ``n * m <= 10_000``
    and neither sample has ties (the exact count assumes continuous data), and
    the asymptotic Kolmogorov distribution otherwise. Statistic equals
    ``scipy.stats.ks_2samp``'s; p-values agree closely in both modes.
    On very large windows any shift gives p ≈ 0: judge drift by the statistic
    (effect size), not the p-value alone.
    """
    ref, ref_dropped = clean_1d(reference, "reference")
    cur, cur_dropped = clean_1d(current, "current")
    ref = np.sort(ref)
    cur = np.sort(cur)
    statistic = ks_statistic_from_sorted(ref, cur)
    if method == "auto":
        both = np.sort(np.concatenate([ref, cur]))
        ties = bool((np.diff(both) == 0).any())
        method = "exact" if ref.size * cur.size <= EXACT_MAX_NM and not ties else "asymp"
    elif method not in ("exact", "asymp"):
        raise ValueError(f'method must be "auto", "exact" or "asymp", got {method!r}')
    if method == "exact":
        # D is a multiple of 1/lcm(n, m); snap away the rounding of the CDF division.
        lcm = ref.size * cur.size // math.gcd(ref.size, cur.size)
        statistic = round(statistic * lcm) / lcm
    return KSResult(
        statistic=statistic,
        pvalue=ks_pvalue(statistic, ref.size, cur.size, method=method),
        n_ref=ref.size,
        n_cur=cur.size,
        method=method,
        n_dropped=ref_dropped + cur_dropped,
    )
