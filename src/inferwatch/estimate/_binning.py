"""Histogram binning: the observed frequency of the outcome per probability bin.

Bins are given by their inner edges; a probability ``p`` falls in bin
``searchsorted(edges, p, side="right")`` (a bin is [a, b), the last one
closed at 1). By default the edges are the reference probabilities'
quantiles (equal-frequency bins, as Zadrozny and Elkan's binning), with
repeated edges removed so no bin is empty by construction. A bin left
empty by explicit edges keeps its raw midpoint, with no reference weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["bin_index", "fit_bins", "quantile_edges"]


def quantile_edges(p: np.ndarray, bins: int) -> np.ndarray:
    """Inner edges of ``bins`` equal-frequency bins of ``p`` (repeats dropped)."""
    inner = np.quantile(p, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    inner = np.unique(inner)
    return inner[(inner > 0.0) & (inner < 1.0)] if inner.size else inner


def check_edges(edges: Sequence[float]) -> np.ndarray:
    arr = np.asarray(edges, dtype=np.float64)
    if (arr.ndim != 1 or not np.isfinite(arr).all() or ((arr <= 0) | (arr >= 1)).any()
            or (np.diff(arr) <= 0).any()):
        raise ValueError("edges must be increasing probabilities strictly between 0 and 1 "
                         "(the inner bin edges, e.g. [0.25, 0.5, 0.75] for four bins)")
    return arr


def bin_index(edges: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, p, side="right")


def fit_bins(edges: np.ndarray, p: np.ndarray, outcome: np.ndarray) -> tuple[
        np.ndarray, np.ndarray]:
    """``(value, weight)`` per bin: the outcome's frequency and the rows it comes from."""
    n_bins = edges.size + 1
    index = bin_index(edges, p)
    counts = np.bincount(index, minlength=n_bins).astype(np.float64)
    hits = np.bincount(index, weights=outcome, minlength=n_bins)
    bounds = np.r_[0.0, edges, 1.0]
    midpoints = (bounds[:-1] + bounds[1:]) / 2.0
    value = np.where(counts > 0, hits / np.maximum(counts, 1.0), midpoints)
    return value, counts
