"""Counts in fixed reference bins: exact, mergeable by addition, PSI-ready.

This is the sketch behind fleet-wide PSI: the bins are frozen once from the
reference profile, every replica counts into them, and counts sum exactly
(they map one-to-one onto an OTel explicit-bucket histogram).
"""

from __future__ import annotations

import math
import struct

import numpy as np
import numpy.typing as npt

from ..stats._binning import IntArray, bin_counts, bin_indices, quantile_edges
from ..stats._psi import DEFAULT_EPSILON, PSIResult, psi_from_counts
from ..stats._validation import clean_1d
from ._format import frame, unframe
from ._values import as_floats

_KIND = 2
_FIXED = struct.Struct("<IQQ")


class BinnedCounts:
    """int64 counts in ``len(edges) + 1`` bins: below, interior, above (``stats.psi``'s bins).

    >>> ref = np.random.default_rng(0).normal(size=1000)
    >>> counts = BinnedCounts.from_reference(ref)
    >>> counts.update_batch(ref)
    >>> counts.psi_against(BinnedCounts.from_reference(ref)).statistic  # doctest: +SKIP
    """

    def __init__(self, edges: npt.ArrayLike) -> None:
        self.edges = quantile_edges(np.empty(0), edges)
        self.counts: IntArray = np.zeros(self.edges.size + 1, dtype=np.int64)
        self.n_nan = 0
        self.n_inf = 0

    @classmethod
    def from_reference(cls, reference: npt.ArrayLike, bins: int = 10) -> BinnedCounts:
        """Empty counts on edges frozen from ``reference`` exactly as :func:`stats.psi` does."""
        ref, _ = clean_1d(reference, "reference")
        return cls(quantile_edges(ref, bins))

    @property
    def n(self) -> int:
        """Number of finite values counted."""
        return int(self.counts.sum())

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return int(self.counts.nbytes + self.edges.nbytes)

    def update(self, value: float) -> None:
        v = float(as_floats([value], "BinnedCounts.update")[0])
        if math.isnan(v):
            self.n_nan += 1
        elif math.isinf(v):
            self.n_inf += 1
        else:
            self.counts[int(bin_indices(np.array([v]), self.edges)[0])] += 1

    def update_batch(self, values: npt.ArrayLike) -> None:
        arr = as_floats(values, "BinnedCounts.update_batch")
        finite = np.isfinite(arr)
        if not finite.all():
            nan = int(np.isnan(arr).sum())
            self.n_nan += nan
            self.n_inf += int(arr.size - finite.sum()) - nan
            arr = arr[finite]
        self.counts += bin_counts(arr, self.edges)

    def merge(self, other: BinnedCounts) -> BinnedCounts:
        """Add ``other``'s counts (in place; returns self). Edges must be identical."""
        if not isinstance(other, BinnedCounts):
            raise TypeError(f"can only merge BinnedCounts, got {type(other).__name__}")
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("cannot merge BinnedCounts with different edges")
        self.counts += other.counts
        self.n_nan += other.n_nan
        self.n_inf += other.n_inf
        return self

    def psi_against(
        self, reference: BinnedCounts, *, epsilon: float = DEFAULT_EPSILON
    ) -> PSIResult:
        """PSI of these counts (current) against ``reference`` counts on the same edges."""
        if not np.array_equal(self.edges, reference.edges):
            raise ValueError("PSI needs both counts on the same edges")
        return psi_from_counts(reference.counts, self.counts, epsilon=epsilon)

    def to_bytes(self) -> bytes:
        payload = (
            _FIXED.pack(self.edges.size, self.n_nan, self.n_inf)
            + self.edges.astype("<f8").tobytes()
            + self.counts.astype("<i8").tobytes()
        )
        return frame(_KIND, payload)

    @classmethod
    def from_bytes(cls, data: bytes) -> BinnedCounts:
        payload = unframe(data, _KIND)
        try:
            n_edges, n_nan, n_inf = _FIXED.unpack_from(payload)
            if len(payload) != _FIXED.size + 8 * n_edges + 8 * (n_edges + 1):
                raise ValueError("length does not match the edge count")
            edges = np.frombuffer(payload, "<f8", n_edges, _FIXED.size).astype(np.float64)
            counts = np.frombuffer(payload, "<i8", n_edges + 1, _FIXED.size + 8 * n_edges)
            sketch = cls(edges)
        except (struct.error, ValueError) as exc:
            raise ValueError(f"corrupted BinnedCounts payload: {exc}") from None
        if (counts < 0).any():
            raise ValueError("corrupted BinnedCounts payload: a negative count")
        sketch.counts = counts.astype(np.int64)
        sketch.n_nan, sketch.n_inf = n_nan, n_inf
        return sketch

    def __repr__(self) -> str:
        return f"BinnedCounts(bins={self.counts.size}, n={self.n})"
