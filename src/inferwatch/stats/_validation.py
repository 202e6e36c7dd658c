"""Input cleaning shared by every statistic: drop non-finite values, fail clearly.

Drift is computed on live traffic, where NaN and inf are routine (missing
features, overflowed transforms). A drift report must never crash on them, so
they are dropped and counted; only input that leaves nothing to compare raises.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Past this magnitude squares (variances, distances) overflow float64; samples
#: this large are rescaled by a power of two, which rounds nothing.
LARGE = 1e150


def _to_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except OverflowError:  # an int past the float range is infinite as far as floats go
        return math.inf if value > 0 else -math.inf


def float64_array(values: Any) -> FloatArray:
    """``np.asarray(values, float64)``, minus its surprises.

    Complex input is refused (numpy would drop the imaginary part with a
    warning) and integers past the float range become ±inf (numpy raises
    OverflowError), so they are dropped and counted like any infinite value.
    Raises ``TypeError`` or ``ValueError`` for anything else not numeric.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind == "c":
        raise TypeError("complex values are not supported; pass .real or abs()")
    try:
        return np.asarray(values, dtype=np.float64)
    except OverflowError:
        objects = np.asarray(values, dtype=object)
        flat = [_to_float(v) for v in objects.ravel()]
        return np.asarray(flat, dtype=np.float64).reshape(objects.shape)


def rescaled(values: FloatArray) -> tuple[FloatArray, float]:
    """``(values / scale, scale)`` with a power-of-two scale when ``values`` are near
    either float limit, else ``(values, 1.0)``: every statistic here is either
    scale-free or scales linearly, and squares of huge values overflow, squares of
    tiny ones underflow to 0 (and every distance with them)."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if 1.0 / LARGE <= peak <= LARGE or peak == 0.0:
        return values, 1.0
    exponent = int(np.frexp(peak)[1]) - 1  # 2**exponent <= peak: the scale is a float
    return np.ldexp(values, -exponent), math.ldexp(1.0, exponent)


def clean_1d(values: npt.ArrayLike, name: str) -> tuple[FloatArray, int]:
    """Return the finite values of a 1-D numeric sample and how many were dropped."""
    try:
        arr = float64_array(values)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be numeric ({exc}); pass categorical data to the "
            "*_categorical functions"
        ) from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}; flatten it or pick a column")
    finite = np.isfinite(arr)
    kept = arr[finite] if not finite.all() else arr
    if kept.size == 0:
        what = "empty" if arr.size == 0 else f"all {arr.size} values are NaN or inf"
        raise ValueError(f"{name} has no finite values ({what}); nothing to compare")
    return kept, int(arr.size - kept.size)


def clean_2d(values: npt.ArrayLike, name: str) -> tuple[FloatArray, int]:
    """Return the finite rows of a (n, d) sample (1-D means d = 1) and the rows dropped."""
    try:
        arr = float64_array(values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array ({exc})") from exc
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D (rows x features), got shape {arr.shape}")
    finite = np.isfinite(arr).all(axis=1)
    kept = arr[finite] if not finite.all() else arr
    if kept.shape[0] == 0:
        what = "empty" if arr.shape[0] == 0 else f"all {arr.shape[0]} rows have NaN or inf"
        raise ValueError(f"{name} has no finite rows ({what}); nothing to compare")
    if kept.shape[1] == 0:
        raise ValueError(f"{name} has zero features; pass at least one column")
    return kept, int(arr.shape[0] - kept.shape[0])


def clean_pair_2d(
    reference: npt.ArrayLike, current: npt.ArrayLike
) -> tuple[FloatArray, int, FloatArray, int]:
    """``clean_2d`` of both samples, which must have the same number of features."""
    x, x_dropped = clean_2d(reference, "reference")
    y, y_dropped = clean_2d(current, "current")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"reference has {x.shape[1]} features and current {y.shape[1]}; "
            "pass the same columns in the same order"
        )
    return x, x_dropped, y, y_dropped


def clean_counts(counts: npt.ArrayLike, name: str) -> FloatArray:
    """Validate a vector of bin counts: 1-D, finite, non-negative, positive total."""
    arr = np.asarray(counts, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of counts, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf; counts must be finite")
    if (arr < 0).any():
        raise ValueError(f"{name} contains negative counts; counts must be >= 0")
    if arr.sum() <= 0:
        raise ValueError(f"{name} sums to zero; there is nothing to compare")
    return arr


def check_same_length(a: FloatArray, b: FloatArray, names: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{names} must have the same number of bins, got {a.size} and {b.size}; "
            "compute both with the same edges"
        )


def _is_missing(value: Any) -> bool:
    # Any NaN, numpy's float32 included: NaN != NaN would make each one a category.
    return value is None or (
        isinstance(value, (float, complex, np.floating, np.complexfloating)) and value != value
    )


def clean_categories(values: Iterable[Hashable], name: str) -> tuple[list[Hashable], int]:
    """Return the non-missing categories (None and NaN are missing) and how many were dropped."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of categories, not a single string")
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    kept = [v for v in items if not _is_missing(v)]
    if not kept:
        what = "empty" if not items else f"all {len(items)} values are missing"
        raise ValueError(f"{name} has no categories ({what}); nothing to compare")
    return kept, len(items) - len(kept)
