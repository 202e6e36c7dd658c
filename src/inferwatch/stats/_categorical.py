"""Align two categorical samples on the union of their categories."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable

import numpy as np

from ._validation import FloatArray, clean_categories


def category_counts(
    reference: Iterable[Hashable], current: Iterable[Hashable]
) -> tuple[list[Hashable], FloatArray, FloatArray, int]:
    """Categories (reference order of first appearance, then new ones) and aligned counts.

    Returns ``(categories, ref_counts, cur_counts, n_dropped)``; a category
    absent from one side gets a zero count there.
    """
    ref, ref_dropped = clean_categories(reference, "reference")
    cur, cur_dropped = clean_categories(current, "current")
    ref_counter = Counter(ref)
    cur_counter = Counter(cur)
    categories = list(ref_counter)
    categories.extend(c for c in cur_counter if c not in ref_counter)
    ref_counts = np.array([ref_counter.get(c, 0) for c in categories], dtype=np.float64)
    cur_counts = np.array([cur_counter.get(c, 0) for c in categories], dtype=np.float64)
    return categories, ref_counts, cur_counts, ref_dropped + cur_dropped
