"""Classification quality of joined pairs, as scikit-learn defines each measure.

Pure functions on numpy arrays (tests compare each with ``sklearn.metrics``
on the same pairs). A measure that is undefined on the pairs given (precision
with no positive prediction, ROC AUC with one class only) is None, never a
made-up 0: a dashboard shows a gap rather than a false alarm.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "binary_counts", "f1", "log_loss", "macro_f1", "precision", "recall",
           "roc_auc"]


def accuracy(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    """Share of pairs whose predicted class is the label (``accuracy_score``)."""
    if truth.size == 0:
        return None
    return float(np.mean(truth == predicted))


def binary_counts(truth: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int, int]:
    """``(tp, fp, fn, tn)`` of boolean arrays (True: the positive class)."""
    tp = int(np.count_nonzero(truth & predicted))
    fp = int(np.count_nonzero(~truth & predicted))
    fn = int(np.count_nonzero(truth & ~predicted))
    return tp, fp, fn, int(truth.size) - tp - fp - fn


def precision(tp: int, fp: int) -> float | None:
    return tp / (tp + fp) if tp + fp else None


def recall(tp: int, fn: int) -> float | None:
    return tp / (tp + fn) if tp + fn else None


def f1(tp: int, fp: int, fn: int) -> float | None:
    """``2tp / (2tp + fp + fn)``, as scikit-learn computes F1 (None when all are 0)."""
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else None


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    """Unweighted mean of per-class F1 over every class in the labels or predictions
    (``f1_score(average="macro")``); class ids are small non-negative ints."""
    if truth.size == 0:
        return None
    n = int(max(truth.max(), predicted.max())) + 1
    tp = np.bincount(truth[truth == predicted], minlength=n)
    in_truth = np.bincount(truth, minlength=n)
    in_predicted = np.bincount(predicted, minlength=n)
    present = (in_truth + in_predicted) > 0
    scores = 2 * tp[present] / (in_truth[present] + in_predicted[present])
    return float(scores.mean())


def roc_auc(truth: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (``roc_auc_score``), from average ranks
    (Mann-Whitney U, ties counted half); None with one class only."""
    positives = int(np.count_nonzero(truth))
    negatives = int(truth.size) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ordered = score[order]
    # Average rank of each run of tied scores (ranks from 1).
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    average = (starts + ends + 1) / 2.0
    ranks = np.empty(ordered.size, dtype=np.float64)
    ranks[order] = np.repeat(average, ends - starts)
    u = float(ranks[truth].sum()) - positives * (positives + 1) / 2.0
    return u / (positives * negatives)


def log_loss(truth: np.ndarray, score: np.ndarray) -> float | None:
    """Mean cross-entropy of the positive-class probability (``log_loss``), with
    probabilities clipped to [eps, 1 - eps] (float64 eps) as scikit-learn does."""
    if truth.size == 0:
        return None
    eps = np.finfo(np.float64).eps
    p = np.clip(score, eps, 1.0 - eps)
    losses = np.where(truth, -np.log(p), -np.log1p(-p))
    return float(losses.mean())
