"""Expected binary measures under calibrated probabilities (the CBPE point estimates).

With ``p_i`` the calibrated probability that row ``i`` is positive and
``d_i`` whether it was predicted positive, the expected confusion matrix is
``E[TP] = sum_{d} p``, ``E[FP] = sum_{d} (1 - p)``, ``E[FN] = sum_{not d} p``,
``E[TN] = sum_{not d} (1 - p)``; accuracy, precision, recall and F1 are
computed from it. Accuracy and precision (whose denominator, the predicted
positives, is known) are then exact expectations; recall and F1 are ratios
of expectations, as CBPE defines them.

ROC AUC: the expected number of correctly ordered (positive, negative) pairs
over the expected number of such pairs,
``sum_{i != j} p_i (1 - p_j) [s_i > s_j] (ties 1/2) / sum_{i != j} p_i (1 - p_j)``,
computed exactly in O(n log n) from the raw scores ``s`` (whose order the
realised AUC uses).
"""

from __future__ import annotations

import numpy as np

__all__ = ["average_ranks", "expected_auc", "expected_binary"]


def expected_binary(p: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """``accuracy``, ``precision``, ``recall``, ``f1`` from the expected confusion matrix."""
    n = p.size
    tp = float(p[predicted].sum())
    fp = float(predicted.sum()) - tp
    fn = float(p[~predicted].sum())
    tn = float((~predicted).sum()) - fn
    return {
        "accuracy": (tp + tn) / n if n else None,
        "precision": tp / (tp + fp) if tp + fp > 0 else None,
        "recall": tp / (tp + fn) if tp + fn > 0 else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else None,
    }


def average_ranks(score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ranks, order, group)``: average ranks from 1 (ties share theirs), the sorting
    order and each sorted value's tie-group number."""
    order = np.argsort(score, kind="mergesort")
    ordered = score[order]
    new = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], ordered.size]
    ranks = np.empty(ordered.size, dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks, order, np.cumsum(new) - 1


def expected_auc(p: np.ndarray, score: np.ndarray) -> float | None:
    """Expected-pairs ROC AUC of ``score`` when row ``i`` is positive with probability
    ``p[i]`` (None when no pair can be formed)."""
    if p.size < 2:
        return None
    _, order, group = average_ranks(score)
    ps, qs = p[order], 1.0 - p[order]
    q_group = np.bincount(group, weights=qs)
    below = np.r_[0.0, np.cumsum(q_group)[:-1]]  # negatives' mass under each group
    numerator = float(np.sum(ps * (below[group] + 0.5 * (q_group[group] - qs))))
    denominator = float(ps.sum() * qs.sum() - np.sum(ps * qs))
    return numerator / denominator if denominator > 0 else None
