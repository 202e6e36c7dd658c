"""Known data-generating processes for the estimate tests (the benchmark has its own copy).

Binary: two features ``x ~ N(mu, I)``; the model's score is
``s = sigmoid(1.5 x0 - x1)``; the label's probability is
``sigmoid(1.3 logit(s) + 0.4)`` (the model ranks well but is miscalibrated,
and its score carries every bit of x the label depends on, which is what a
confidence-based estimate assumes). Covariate shift moves ``mu`` only;
concept drift changes how the label depends on x.

Multiclass: three classes with true probabilities ``softmax(W x)``; the model
predicts ``softmax(1.6 W x)`` (over-confident).

Regression: predicted ``f = 2 x0 + 0.8 sin(x1)``, true
``y = 2 x0 + sin(x1) + noise * (0.3 + 0.25 |f|)`` (the error's spread grows with the
prediction, so the prediction carries what the error depends on); covariate shift
moves x0; concept drift adds ``0.8 x1`` to the truth.
"""

from __future__ import annotations

import numpy as np

__all__ = ["binary", "multiclass", "regression"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def binary(rng: np.random.Generator, n: int, shift: np.ndarray | None = None,
           concept: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(score, label)`` of ``n`` rows."""
    x = rng.normal(size=(n, 2)) + (0.0 if shift is None else shift)
    logit = 1.5 * x[:, 0] - x[:, 1]
    # Concept drift: the label now leans the other way on x1.
    p = _sigmoid(1.3 * (1.5 * x[:, 0] + x[:, 1]) + 0.4) if concept else _sigmoid(
        1.3 * logit + 0.4)
    return _sigmoid(logit), rng.random(n) < p


_W = np.array([[1.5, 0.0], [-0.8, 1.3], [-0.7, -1.3]])


def multiclass(rng: np.random.Generator, n: int,
               shift: np.ndarray | None = None,
               concept: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(confidence, predicted, label)`` of ``n`` rows."""
    x = rng.normal(size=(n, 2)) + (0.0 if shift is None else shift)
    z = x @ _W.T
    true = np.exp(z - z.max(axis=1, keepdims=True))
    true /= true.sum(axis=1, keepdims=True)
    if concept:
        true = true[:, [1, 2, 0]]
    model = np.exp(1.6 * (z - z.max(axis=1, keepdims=True)))
    model /= model.sum(axis=1, keepdims=True)
    label = (rng.random((n, 1)) > np.cumsum(true, axis=1)).sum(axis=1)
    return model.max(axis=1), model.argmax(axis=1), np.minimum(label, 2)


def regression(rng: np.random.Generator, n: int, shift: float = 0.0,
               concept: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, prediction, truth)`` of ``n`` rows."""
    x = rng.normal(size=(n, 2)) + np.array([shift, 0.0])
    pred = 2 * x[:, 0] + 0.8 * np.sin(x[:, 1])
    truth = 2 * x[:, 0] + np.sin(x[:, 1]) + rng.normal(size=n) * (0.3 + 0.25 * np.abs(pred))
    if concept:
        truth = truth + 0.8 * x[:, 1]
    return x, pred, truth
