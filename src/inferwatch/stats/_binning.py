"""Reference-frozen bins: the one binning convention behind PSI, JS and Hellinger.

Bins are fixed once from the reference sample's quantiles, so every later
window is counted in the same bins and counts from different replicas or
windows add up exactly. Edges ``e_0 < ... < e_k`` give ``k + 2`` bins::

    0:        x < e_0                 (below the reference minimum)
    i=1..k:   e_(i-1) <= x < e_i      (the last one closed: e_(k-1) <= x <= e_k)
    k + 1:    x > e_k                 (above the reference maximum)

so nothing in the current window is lost when it leaves the reference range.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._validation import FloatArray

IntArray = npt.NDArray[np.int64]


def quantile_edges(reference: FloatArray, bins: int | npt.ArrayLike = 10) -> FloatArray:
    """Edges frozen from ``reference``: its ``bins``-quantiles, or explicit edges.

    With an integer, the edges are the quantiles at ``0, 1/bins, ..., 1``
    (minimum and maximum included) so the interior bins hold equal reference
    mass. Duplicate quantiles (discrete data) collapse into one edge. Explicit
    edges must be finite and strictly increasing.
    """
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        probs = np.linspace(0.0, 1.0, int(bins) + 1)
        edges = np.unique(_quantiles(reference, probs))
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size == 0:
            raise ValueError("explicit bins must be a non-empty 1-D array of edges")
        if not np.isfinite(edges).all():
            raise ValueError("explicit bin edges must be finite; overflow bins are added for you")
        # [c, c] is the one degenerate form allowed: what a constant reference
        # gives (below), so that edges frozen from one round-trip through here.
        degenerate = edges.size == 2 and edges[0] == edges[1]
        if edges.size > 1 and not degenerate and not (edges[1:] > edges[:-1]).all():
            raise ValueError("explicit bin edges must be strictly increasing")
    if edges.size == 1:
        # A constant reference: keep one degenerate bin [c, c] between the overflows.
        edges = np.repeat(edges, 2)
    return edges


#: Above this magnitude the difference of two float64 values can overflow.
_LARGE = 1e300


def _quantiles(values: FloatArray, probs: FloatArray) -> FloatArray:
    """``np.quantile``, exact near the float limit too (its interpolation would overflow)."""
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    if scale <= _LARGE:
        return np.asarray(np.quantile(values, probs), dtype=np.float64)
    # A power of two rescales without rounding; quantiles scale with the data.
    exponent = int(np.frexp(scale)[1])
    scaled = np.quantile(np.ldexp(values, -exponent), probs)
    return np.asarray(np.ldexp(scaled, exponent), dtype=np.float64)


def bin_indices(values: FloatArray, edges: FloatArray) -> IntArray:
    """Bin index of each value under the convention in the module docstring."""
    idx = np.searchsorted(edges, values, side="right").astype(np.int64)
    idx[values == edges[-1]] = edges.size - 1
    return idx


def bin_counts(values: FloatArray, edges: FloatArray) -> IntArray:
    """Counts per bin (``len(edges) + 1`` of them) of finite ``values``."""
    return np.bincount(bin_indices(values, edges), minlength=edges.size + 1).astype(np.int64)
