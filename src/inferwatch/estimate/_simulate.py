"""Measures of simulated windows: labels drawn from the calibrated probabilities.

A band is the central interval of a measure over ``draws`` windows whose
labels are drawn ``y_i ~ Bernoulli(p_i)`` from the rows' calibrated
probabilities, with a fixed seed (the same rows give the same band). Each
draw also perturbs the calibration itself: every block (isotonic) or bin
(histogram) value moves by a normal draw of its standard error, shared by
all rows in the block, so the band holds the calibration's sampling error
from a finite reference as well as the window's own label noise.

Draws are made in chunks of at most ``CHUNK`` values, so memory stays a few
megabytes whatever the window's size.
"""

from __future__ import annotations

import numpy as np

from ._calibrator import Calibrator

__all__ = ["CHUNK", "binary_draws", "probability_draws", "top_label_draws"]

CHUNK = 1_000_000


def probability_draws(calibrator: Calibrator, raw: np.ndarray, draws: int,
                      rng: np.random.Generator, calibration_error: bool) -> tuple[
                          np.ndarray, list[np.ndarray]]:
    """The calibrated probabilities (smoothed) and chunks (``draws x n`` in all) of
    perturbed ones."""
    n = raw.size
    per = max(1, CHUNK // max(n, 1))
    base, left, right, share = calibrator.smoothed(raw)
    if calibration_error:
        e_left = share * calibrator.errors[left]
        e_right = (1.0 - share) * calibrator.errors[right]
    out = []
    for start in range(0, draws, per):
        size = min(per, draws - start)
        if not calibration_error:
            out.append(np.broadcast_to(base, (size, n)))
            continue
        z = rng.standard_normal((size, calibrator.values.size))
        p = base + e_left * z[:, left] + e_right * z[:, right]
        out.append(np.clip(p, 0.0, 1.0, out=p))
    return base, out


def binary_draws(chunks: list[np.ndarray], predicted: np.ndarray, ranks: np.ndarray,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per draw: accuracy, precision, recall, F1 and ROC AUC (NaN where undefined)."""
    n = predicted.size
    n_pred = int(predicted.sum())
    parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("accuracy", "precision", "recall", "f1", "roc_auc")}
    with np.errstate(divide="ignore", invalid="ignore"):
        for p in chunks:
            y = rng.random(p.shape) < p
            pos = y.sum(axis=1).astype(np.float64)
            tp = y[:, predicted].sum(axis=1).astype(np.float64)
            tn = (n - n_pred) - (pos - tp)
            parts["accuracy"].append((tp + tn) / n)
            parts["precision"].append(tp / n_pred if n_pred else np.full(pos.size, np.nan))
            parts["recall"].append(np.where(pos > 0, tp / pos, np.nan))
            parts["f1"].append(np.where(n_pred + pos > 0, 2 * tp / (n_pred + pos), np.nan))
            u = y.astype(np.float64) @ ranks - pos * (pos + 1) / 2.0
            neg = n - pos
            parts["roc_auc"].append(np.where((pos > 0) & (neg > 0), u / (pos * neg), np.nan))
    return {k: np.concatenate(v) for k, v in parts.items()}


def top_label_draws(chunks: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Per draw: accuracy (the share of rows whose drawn outcome is "right")."""
    return np.concatenate([(rng.random(p.shape) < p).mean(axis=1) for p in chunks])
