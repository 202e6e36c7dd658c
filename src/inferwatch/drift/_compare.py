"""Statistics of one feature, current window against a reference, from sketches only.

Numeric: PSI and Jensen-Shannon from exact counts in the frozen reference
bins; KS (with p-value) and Wasserstein from the two sorted views: a KLL
sketch's, or a small live window's exact values (see ``_window.NumericState``).
Categorical: PSI, Jensen-Shannon and chi-square on the aligned top-K counts.
Vector: MMD on the two row samples. A statistic that cannot be computed
(nothing finite on one side) is left out, never raised.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

import numpy as np

from ..sketches import BinnedCounts, TopKCounts
from ..stats import (
    chi_square_from_counts,
    jensen_shannon_from_counts,
    ks_from_cdfs,
    ks_pvalue,
    mmd,
    psi_from_counts,
    wasserstein_from_cdfs,
)
from ._align import aligned_counts
from ._report import Statistic

#: Statistics computed when ``tests`` is not given.
DEFAULT_TESTS = frozenset({"psi", "js", "ks", "wasserstein", "chi_square", "mmd"})
ALL_TESTS = DEFAULT_TESTS

#: The hypothesis test behind each kind's p-value.
TEST_FOR_KIND = {"numeric": "ks", "categorical": "chi_square", "vector": "mmd"}


class SortedView(Protocol):
    """A weighted empirical CDF: a :class:`KLLSketch` or a window's exact values."""

    @property
    def n(self) -> int: ...

    def sorted_view(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]: ...


def _rank_error(view: SortedView) -> float:
    rank_error = getattr(view, "rank_error", None)
    return float(rank_error()) if rank_error is not None else 0.0


def numeric_stats(
    ref_counts: BinnedCounts | None,
    ref_kll: SortedView | None,
    ref_std: float | None,
    cur_counts: BinnedCounts | None,
    cur_kll: SortedView,
    tests: Collection[str],
) -> dict[str, Statistic]:
    out: dict[str, Statistic] = {}
    if ref_counts is not None and cur_counts is not None and ref_counts.n and cur_counts.n:
        psi = psi_from_counts(ref_counts.counts, cur_counts.counts)
        out["psi"] = Statistic("psi", psi.statistic)
        if "js" in tests:
            js = jensen_shannon_from_counts(ref_counts.counts, cur_counts.counts)
            out["js"] = Statistic("js", js.statistic)
    if ref_kll is None or not ref_kll.n or not cur_kll.n:
        return out
    if "ks" in tests or "wasserstein" in tests:
        rv, rw = ref_kll.sorted_view()
        cv, cw = cur_kll.sorted_view()
        if "ks" in tests:
            ks = ks_from_cdfs(rv, rw, cv, cw, n_ref=ref_kll.n, n_cur=cur_kll.n)
            # The statistic read off sketches can be off by their rank error,
            # and at large n a few thousandths move the p-value by tenths (an
            # unshifted feature then looks drifted). The p-value is computed
            # for the statistic less that error: conservative, never inflated.
            slack = _rank_error(ref_kll) + _rank_error(cur_kll)
            pvalue = ks.pvalue
            if slack > 0.0:
                pvalue = ks_pvalue(max(ks.statistic - slack, 0.0), max(ref_kll.n, 1),
                                   max(cur_kll.n, 1), method="asymp")
            out["ks"] = Statistic("ks", ks.statistic, pvalue)
        if "wasserstein" in tests:
            std = ref_std if ref_std is not None and np.isfinite(ref_std) else None
            w = wasserstein_from_cdfs(rv, rw, cv, cw, reference_std=std)
            out["wasserstein"] = Statistic("wasserstein", w.statistic)
    return out


def categorical_stats(
    ref: TopKCounts, cur: TopKCounts, tests: Collection[str]
) -> dict[str, Statistic]:
    if not ref.n or not cur.n:
        return {}
    _, r, c = aligned_counts(ref, cur)
    out = {"psi": Statistic("psi", psi_from_counts(r, c).statistic)}
    if "js" in tests:
        out["js"] = Statistic("js", jensen_shannon_from_counts(r, c).statistic)
    if "chi_square" in tests:
        chi = chi_square_from_counts(r, c)
        out["chi_square"] = Statistic("chi_square", chi.statistic, chi.pvalue)
    return out


def vector_stats(
    ref_rows: np.ndarray[Any, Any], cur_rows: np.ndarray[Any, Any], tests: Collection[str],
    *, permutations: int = 100, max_samples: int = 256, scale: np.ndarray[Any, Any] | None = None,
    center: np.ndarray[Any, Any] | None = None,
) -> dict[str, Statistic]:
    if "mmd" not in tests or ref_rows.shape[0] < 2 or cur_rows.shape[0] < 2:
        return {}
    if center is not None and scale is not None:
        safe = np.where(scale > 0, scale, 1.0)
        ref_rows = (ref_rows - center) / safe
        cur_rows = (cur_rows - center) / safe
    res = mmd(ref_rows, cur_rows, n_permutations=permutations, max_samples=max_samples)
    return {"mmd": Statistic("mmd", res.statistic, res.pvalue)}
