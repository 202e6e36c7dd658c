"""Calibration of probabilities against outcomes: reliability bins, ECE, Brier score.

Bins are ``n_bins`` equal-width intervals of [0, 1], assigned as
``sklearn.calibration.calibration_curve(strategy="uniform")`` assigns them
(the first bin [0, 1/n], then (a, b]). The expected calibration error is the
pair-weighted mean gap between the mean probability and the observed
frequency of each non-empty bin.

For a binary task the probability is the positive class's and the outcome
"the label is positive"; for a multiclass task the probability is the
confidence in the predicted class and the outcome "the prediction was right"
(top-label calibration).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DEFAULT_BINS", "brier", "reliability"]

DEFAULT_BINS = 10


def brier(outcome: np.ndarray, probability: np.ndarray) -> float | None:
    """Mean squared gap between probability and outcome (``brier_score_loss``)."""
    if not outcome.size:
        return None
    return float(np.mean((probability - outcome.astype(np.float64)) ** 2))


def reliability(outcome: np.ndarray, probability: np.ndarray,
                n_bins: int = DEFAULT_BINS) -> tuple[float | None, list[dict[str, Any]]]:
    """``(ece, bins)``: each bin's bounds, pairs, mean probability and observed frequency
    (None for an empty bin)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.searchsorted(edges[1:-1], probability)
    counts = np.bincount(index, minlength=n_bins)
    sums = np.bincount(index, weights=probability, minlength=n_bins)
    hits = np.bincount(index, weights=outcome.astype(np.float64), minlength=n_bins)
    bins = []
    gap = 0.0
    for i in range(n_bins):
        n = int(counts[i])
        mean = float(sums[i] / n) if n else None
        observed = float(hits[i] / n) if n else None
        if n:
            gap += n * abs(float(sums[i] / n) - float(hits[i] / n))
        bins.append({"lower": round(float(edges[i]), 9), "upper": round(float(edges[i + 1]), 9),
                     "count": n,
                     "mean_probability": mean, "observed": observed})
    total = int(counts.sum())
    return (gap / total if total else None), bins
