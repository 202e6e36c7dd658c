"""Regression quality of joined pairs, as scikit-learn defines each measure."""

from __future__ import annotations

import numpy as np

__all__ = ["mae", "mape", "rmse"]


def mae(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    """Mean absolute error (``mean_absolute_error``)."""
    return float(np.mean(np.abs(truth - predicted))) if truth.size else None


def rmse(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    """Root mean squared error (``root_mean_squared_error``)."""
    return float(np.sqrt(np.mean((truth - predicted) ** 2))) if truth.size else None


def mape(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    """Mean absolute percentage error as a ratio (``mean_absolute_percentage_error``):
    a label of 0 is divided by float64 eps, so it weighs enormously, as there."""
    if not truth.size:
        return None
    eps = np.finfo(np.float64).eps
    return float(np.mean(np.abs(truth - predicted) / np.maximum(np.abs(truth), eps)))
