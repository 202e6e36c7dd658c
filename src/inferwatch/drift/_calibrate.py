"""Thresholds from the reference itself: the distance's spread over reference chunks.

A feature with few distinct values, or a small live window, has a higher
no-drift PSI floor than a smooth feature on a big window. Splitting the
reference (shuffled, so chunks are exchangeable) into chunks of the live
window's size and measuring each chunk's PSI against the whole reference
shows how large PSI gets when nothing changed; ``mean + 3·std`` of that is
the drift threshold (as NannyML does), ``mean + 2·std`` the warning one.
"""

from __future__ import annotations

import numpy as np

from ..sketches import TopKCounts
from ..stats import bin_counts, psi_from_counts
from ._align import aligned_counts
from ._columns import CategoricalColumn, NumericColumn
from ._feature_profile import Calibration, CategoricalProfile, NumericProfile

MAX_CHUNKS = 50


def chunk_plan(n: int, chunk_rows: int | None) -> tuple[int, int]:
    """(rows per chunk, number of chunks) for ``n`` reference values, or (0, 0)."""
    rows = chunk_rows if chunk_rows is not None else min(10_000, n // 10)
    if rows < 50 or n < 2 * rows:
        return 0, 0
    return rows, min(MAX_CHUNKS, n // rows)


def calibrate_numeric(
    prof: NumericProfile, col: NumericColumn, chunk_rows: int | None, seed: int
) -> Calibration | None:
    if prof.counts is None:
        return None
    finite = col.values[np.isfinite(col.values)]
    rows, chunks = chunk_plan(finite.size, chunk_rows)
    if not chunks:
        return None
    shuffled = np.random.default_rng(seed).permutation(finite)
    edges = prof.counts.edges
    ref = prof.counts.counts
    psis = [
        psi_from_counts(ref, bin_counts(shuffled[i * rows : (i + 1) * rows], edges)).statistic
        for i in range(chunks)
    ]
    return Calibration("psi", rows, float(np.mean(psis)), float(np.std(psis)), chunks)


def calibrate_categorical(
    prof: CategoricalProfile, col: CategoricalColumn, chunk_rows: int | None, seed: int
) -> Calibration | None:
    flags = zip(col.values, col.missing, col.invalid, strict=True)
    values = [v for v, m, b in flags if not (m or b)]
    rows, chunks = chunk_plan(len(values), chunk_rows)
    if not chunks:
        return None
    order = np.random.default_rng(seed).permutation(len(values))
    psis = []
    for i in range(chunks):
        chunk = TopKCounts(k=prof.topk.k)
        chunk.update_batch([values[j] for j in order[i * rows : (i + 1) * rows]])
        _, r, c = aligned_counts(prof.topk, chunk)
        psis.append(psi_from_counts(r, c).statistic)
    return Calibration("psi", rows, float(np.mean(psis)), float(np.std(psis)), chunks)
