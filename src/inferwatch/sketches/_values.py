"""Turn what a caller passes to a numeric sketch into float64, or say clearly why not."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..stats._validation import float64_array

FloatArray = npt.NDArray[np.float64]


def as_floats(values: Any, who: str) -> FloatArray:
    """``values`` as a flat float64 array; a ``TypeError`` naming ``who`` when not numeric.

    ``None`` becomes NaN (a missing value, counted by the sketch); integers too
    large for a float become ±inf (counted likewise); complex numbers,
    non-numeric strings and ragged nesting are refused before anything is
    counted, so a bad batch never half-applies.
    """
    try:
        return float64_array(values).ravel()
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{who} needs numeric values ({exc}); pass categorical data to TopKCounts, "
            "or convert the column to numbers first"
        ) from None
