"""Turn a pair of samples (numeric or categorical) into aligned bin shares."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._binning import bin_counts, quantile_edges
from ._categorical import category_counts
from ._validation import FloatArray, check_same_length, clean_1d, clean_counts


@dataclass(frozen=True, eq=False)
class Shares:
    """Two aligned probability vectors and the bookkeeping a result reports."""

    ref: FloatArray
    cur: FloatArray
    n_ref: int
    n_cur: int
    n_dropped: int
    edges: FloatArray | None
    categories: tuple[Hashable, ...] | None


def shares_from_counts(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> Shares:
    ref = clean_counts(ref_counts, "ref_counts")
    cur = clean_counts(cur_counts, "cur_counts")
    check_same_length(ref, cur, "ref_counts and cur_counts")
    return Shares(
        ref / ref.sum(),
        cur / cur.sum(),
        round(float(ref.sum())),
        round(float(cur.sum())),
        0,
        None,
        None,
    )


def shares_from_samples(
    reference: npt.ArrayLike, current: npt.ArrayLike, bins: int | npt.ArrayLike
) -> Shares:
    ref, ref_dropped = clean_1d(reference, "reference")
    cur, cur_dropped = clean_1d(current, "current")
    edges = quantile_edges(ref, bins)
    ref_c = bin_counts(ref, edges).astype(np.float64)
    cur_c = bin_counts(cur, edges).astype(np.float64)
    return Shares(
        ref_c / ref.size,
        cur_c / cur.size,
        ref.size,
        cur.size,
        ref_dropped + cur_dropped,
        edges,
        None,
    )


def shares_from_categories(reference: Iterable[Hashable], current: Iterable[Hashable]) -> Shares:
    cats, ref_c, cur_c, dropped = category_counts(reference, current)
    return Shares(
        ref_c / ref_c.sum(),
        cur_c / cur_c.sum(),
        int(ref_c.sum()),
        int(cur_c.sum()),
        dropped,
        None,
        tuple(cats),
    )
