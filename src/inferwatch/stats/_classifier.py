"""Domain-classifier drift test: can a model tell current rows from reference rows?

If the two windows come from one distribution, no classifier beats chance
(AUC 0.5); the out-of-fold AUC of a small logistic model is therefore both an
effect size and, via the Mann-Whitney null, a test. The model is a ridge
logistic regression fitted by Newton's method (IRLS) on standardised features,
plus their squares so that changes in spread are caught, not just shifts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._validation import FloatArray, clean_pair_2d, rescaled


@dataclass(frozen=True, eq=False)
class ClassifierTestResult:
    """Cross-validated AUC of separating current from reference, and its p-value."""

    statistic: float
    pvalue: float
    n_ref: int
    n_cur: int
    folds: int
    n_dropped: int = 0


#: Standardised values are clipped here: a test row a million training standard
#: deviations out is as far as the model needs to know, and squaring more overflows.
_MAX_Z = 1e6


def _features(z: FloatArray, mean: FloatArray, std: FloatArray, quadratic: bool) -> FloatArray:
    u = np.clip((z - mean) / std, -_MAX_Z, _MAX_Z)
    parts = [np.ones((z.shape[0], 1)), u]
    if quadratic:
        parts.append(u * u - 1.0)
    return np.hstack(parts)


def _fit_logistic(a: FloatArray, y: FloatArray, l2: float, iterations: int = 25) -> FloatArray:
    w = np.zeros(a.shape[1])
    penalty = np.full(a.shape[1], l2)
    penalty[0] = 0.0  # leave the intercept free
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30.0, 30.0)))
        grad = a.T @ (p - y) + penalty * w
        hess = (a.T * (p * (1.0 - p))) @ a + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return w


def _average_ranks(x: FloatArray) -> FloatArray:
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    return np.asarray((upper - (counts - 1) / 2.0)[inverse], dtype=np.float64)


def auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """ROC AUC of ``scores`` for binary ``labels`` (Mann-Whitney U, ties count half)."""
    s = np.asarray(scores, dtype=np.float64)
    lab = np.asarray(labels).astype(bool)
    n1 = int(lab.sum())
    n0 = lab.size - n1
    if n1 == 0 or n0 == 0:
        raise ValueError("AUC needs both classes present")
    ranks = _average_ranks(s)
    return float((ranks[lab].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def classifier_test(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    seed: int = 0,
    folds: int = 5,
    quadratic: bool = True,
    l2: float = 1.0,
    max_samples: int = 5000,
) -> ClassifierTestResult:
    """Drift test by a domain classifier; statistic = out-of-fold AUC.

    Rows are stratified into ``folds`` folds (shuffled by ``seed``); each fold
    is scored by a model fitted on the others, and the AUC is taken over all
    out-of-fold scores. The p-value is one-sided (AUC > 0.5) from the normal
    approximation to the Mann-Whitney null, ``var = (n0 + n1 + 1) / (12 n0 n1)``;
    the cross-validated AUC is slightly conservative under it. Each side is
    subsampled to ``max_samples`` rows.
    """
    x, x_dropped, y, y_dropped = clean_pair_2d(reference, current)
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    rng = np.random.default_rng(seed)
    if x.shape[0] > max_samples:
        x = x[np.sort(rng.choice(x.shape[0], max_samples, replace=False))]
    if y.shape[0] > max_samples:
        y = y[np.sort(rng.choice(y.shape[0], max_samples, replace=False))]
    n0, n1 = x.shape[0], y.shape[0]
    if min(n0, n1) < folds:
        raise ValueError(
            f"need at least {folds} rows per side for {folds}-fold cross-validation, "
            f"got {n0} and {n1}"
        )
    z, _ = rescaled(np.vstack([x, y]))  # standardised below: the scale drops out
    labels = np.concatenate([np.zeros(n0), np.ones(n1)])
    fold_of = np.empty(n0 + n1, dtype=np.int64)
    fold_of[rng.permutation(n0)] = np.arange(n0) % folds
    fold_of[n0 + rng.permutation(n1)] = np.arange(n1) % folds
    scores = np.empty(n0 + n1)
    for f in range(folds):
        test = fold_of == f
        train = ~test
        mean = z[train].mean(axis=0)
        std = z[train].std(axis=0)
        std[std == 0] = 1.0
        w = _fit_logistic(_features(z[train], mean, std, quadratic), labels[train], l2)
        scores[test] = _features(z[test], mean, std, quadratic) @ w
    statistic = auc(scores, labels)
    sd = math.sqrt((n0 + n1 + 1) / (12.0 * n0 * n1))
    pvalue = 0.5 * math.erfc((statistic - 0.5) / sd / math.sqrt(2.0))
    return ClassifierTestResult(
        statistic=statistic,
        pvalue=pvalue,
        n_ref=n0,
        n_cur=n1,
        folds=folds,
        n_dropped=x_dropped + y_dropped,
    )
