"""Checks of the arrays users hand to a calibrator or an estimate.

Every problem is a ``ValueError`` (or ``TypeError``) that names the argument
and says what to pass instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MIN_REFERENCE_ROWS", "labels01", "numbers", "probabilities"]

#: Fewest labelled reference rows a calibrator or a loss model is fitted from.
MIN_REFERENCE_ROWS = 100


def _vector(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D sequence of numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def probabilities(values: Any, name: str = "probability") -> np.ndarray:
    """A 1-D float64 array of finite probabilities in [0, 1]."""
    arr = _vector(values, name)
    bad = ~(np.isfinite(arr) & (arr >= 0.0) & (arr <= 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] is {float(arr[i])!r}: probabilities must be finite and in "
                         "[0, 1] (pass the model's probability of the positive class, not a "
                         "logit or a score)")
    return arr


def numbers(values: Any, name: str) -> np.ndarray:
    """A 1-D float64 array of finite numbers."""
    arr = _vector(values, name)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] is {float(arr[i])!r}: every value must be finite (drop the "
                         "rows without one first)")
    return arr


def labels01(values: Any, n: int, name: str = "label") -> np.ndarray:
    """Outcomes as a 0/1 float64 array of length ``n`` (bools, 0/1 ints or floats)."""
    arr = _vector(values, name)
    if arr.size != n:
        raise ValueError(f"{name} has {arr.size} values for {n} probabilities: pass one "
                         "label per row")
    bad = ~((arr == 0.0) | (arr == 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] is {float(arr[i])!r}: labels must be 0/1 or booleans "
                         "(compare a class label with the positive class first: "
                         "label == positive)")
    return arr


def reference_size(n: int, what: str) -> None:
    if n < MIN_REFERENCE_ROWS:
        raise ValueError(f"{what} needs at least {MIN_REFERENCE_ROWS} labelled reference rows, "
                         f"got {n}: fit it on a larger labelled sample from before the shift")
