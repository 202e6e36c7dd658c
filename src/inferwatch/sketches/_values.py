"""Turn what a caller passes to a numeric sketch into float64, or say clearly why not."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _to_float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except OverflowError:  # an int past the float range is infinite as far as floats go
        return math.inf if value > 0 else -math.inf


def as_floats(values: Any, who: str) -> FloatArray:
    """``values`` as a flat float64 array; a ``TypeError`` naming ``who`` when not numeric.

    ``None`` becomes NaN (a missing value, counted by the sketch); integers too
    large for a float become ±inf (counted likewise); complex numbers,
    non-numeric strings and ragged nesting are refused before anything is
    counted, so a bad batch never half-applies.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind == "c":
        raise TypeError(f"{who} needs real numbers, got a complex array; pass .real or abs()")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except OverflowError:
        try:
            arr = np.array([_to_float(v) for v in np.asarray(values, dtype=object).ravel()],
                           dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(_message(who, exc)) from None
    except (TypeError, ValueError) as exc:
        raise TypeError(_message(who, exc)) from None
    return arr.ravel()


def _message(who: str, exc: Exception) -> str:
    return (
        f"{who} needs numeric values ({exc}); pass categorical data to TopKCounts, "
        "or convert the column to numbers first"
    )
