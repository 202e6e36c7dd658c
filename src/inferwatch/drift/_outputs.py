"""Read a model's outputs (prediction, confidence) into one cell per row.

A prediction may be a scalar, one value per row, a probability vector for a
single row, or an (n, k) matrix for a batch. Matrices are reduced to one value
per row by the output kind: ``class`` takes the argmax (the predicted class),
the numeric kinds take column 1 of a two-column binary output (the positive
class's probability), the only column of a one-column output, and the row
maximum otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._columns import ABSENT


class _Invalid:
    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


#: A cell that could not be read (wrong length, unreadable type); counted as invalid.
INVALID: Any = _Invalid()

_MAX_CLASS_INTS = 50


def _reduce(matrix: np.ndarray[Any, Any], kind: str | None) -> np.ndarray[Any, Any]:
    k = matrix.shape[1]
    if kind == "class" or (kind is None and k > 2):
        return np.asarray(np.argmax(matrix, axis=1))
    if k == 1:
        return matrix[:, 0]
    if k == 2:
        return matrix[:, 1]
    return np.asarray(np.max(matrix, axis=1))


def output_cells(value: Any, batch_size: int, kind: str | None) -> Any:
    """``batch_size`` cells (a list or 1-D array) for one record's output."""
    if value is None:
        return [ABSENT] * batch_size
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value)
        except ValueError:
            return [INVALID] * batch_size
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return [value.item()] if batch_size == 1 else [INVALID] * batch_size
        if value.ndim == 1:
            if value.size == batch_size:
                return value
            if batch_size == 1 and value.dtype.kind in "fiu":
                return _reduce(value.reshape(1, -1), kind)
            return [INVALID] * batch_size
        if value.ndim == 2 and value.shape[0] == batch_size and value.dtype.kind in "fiub":
            return _reduce(value, kind)
        return [INVALID] * batch_size
    if batch_size == 1:
        return [value]
    return [INVALID] * batch_size


def output_matrix_kind(value: Any) -> str | None:
    """The kind a 2-D training output implies (probabilities or classes), else None."""
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return "class" if value.shape[1] > 2 else "probability"
    return None


def infer_output_kind(values: np.ndarray[Any, Any] | list[Any]) -> str:
    """class for labels and small integer sets, probability within [0, 1], else regression."""
    arr = np.asarray([v for v in values if v is not None and v is not ABSENT], dtype=object)
    if arr.size == 0:
        return "regression"
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
               for v in arr.tolist()):
        return "class"
    num = arr.astype(np.float64)
    num = num[np.isfinite(num)]
    if num.size == 0:
        return "regression"
    if np.all(num == np.round(num)) and np.unique(num).size <= _MAX_CLASS_INTS:
        return "class"
    if num.min() >= 0.0 and num.max() <= 1.0:
        return "probability"
    return "regression"
