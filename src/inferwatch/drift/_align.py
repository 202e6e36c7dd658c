"""Align two top-K category summaries on one list of categories (plus "other")."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..sketches import TopKCounts
from ._columns import FloatArray


def aligned_counts(ref: TopKCounts, cur: TopKCounts) -> tuple[list[Any], FloatArray, FloatArray]:
    """Categories (reference first, then new ones) and both sides' counts.

    Mass neither summary attributes to a tracked category goes to a final
    ``"<other>"`` column, so both rows keep their true totals.
    """
    ref_counts = ref.counts
    cur_counts = cur.counts
    cats = list(ref_counts)
    cats.extend(c for c in cur_counts if c not in ref_counts)
    r = [float(ref_counts.get(c, 0)) for c in cats]
    c = [float(cur_counts.get(k, 0)) for k in cats]
    if ref.other or cur.other:
        cats.append("<other>")
        r.append(float(ref.other))
        c.append(float(cur.other))
    return cats, np.array(r), np.array(c)
