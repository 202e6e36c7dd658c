"""Make captured values safe to keep after the call returns.

A caller may reuse or mutate its dicts and arrays once predict returns, and a
buffered reference would then show the later values. Snapshots copy just
enough: a dict of immutable scalars is copied shallowly (about 70 ns for 20
fields), an array with ``ndarray.copy`` (about 100 ns), nested containers
element by element. Immutable values are kept as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["infer_batch_size", "snapshot", "snapshot_rows"]

_IMMUTABLE = frozenset(
    (int, float, str, bool, bytes, complex, type(None), np.float64, np.float32, np.int64,
     np.int32, np.bool_, np.str_)
)


def snapshot(value: Any) -> Any:
    """A copy of ``value`` that later mutations by the caller cannot change."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is np.ndarray:
        return value.copy()
    if kind is dict:
        copied = value.copy()
        if not _IMMUTABLE.issuperset(map(type, value.values())):
            for k, v in value.items():  # copy only the mutable values, in place
                if type(v) not in _IMMUTABLE:
                    copied[k] = snapshot(v)
        return copied
    if kind is list or kind is tuple:
        if _IMMUTABLE.issuperset(map(type, value)):
            return tuple(value) if kind is tuple else list(value)
        return [snapshot(v) for v in value]
    if isinstance(value, Mapping):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value
    to_numpy = getattr(value, "to_numpy", None)  # pandas / polars frames and series
    if to_numpy is not None and hasattr(value, "columns"):
        return {str(col): value[col].to_numpy().copy() for col in value.columns}
    if to_numpy is not None:
        return np.asarray(to_numpy()).copy()
    if hasattr(value, "__array__"):  # torch tensors on CPU, jax arrays, ...
        return np.array(value, copy=True)
    return copy.deepcopy(value)


def infer_batch_size(features: Any) -> int:
    """Rows in a features value: a 2-D array or a list of rows is a batch."""
    kind = type(features)
    if kind is np.ndarray:
        return int(features.shape[0]) if features.ndim >= 2 else 1
    if kind is list or kind is tuple:
        if features and type(features[0]) in (dict, list, tuple, np.ndarray):
            return len(features)
        return 1
    if kind is dict or isinstance(features, Mapping):
        return 1
    shape = getattr(features, "shape", None)
    if shape is not None and len(shape) >= 2:
        return int(shape[0])
    return 1


def snapshot_rows(features: Any) -> tuple[Any, int]:
    """``(snapshot(features), infer_batch_size(features))`` with one type dispatch
    for the common case of a numpy row or batch."""
    if type(features) is np.ndarray:
        return features.copy(), (features.shape[0] if features.ndim >= 2 else 1)
    return snapshot(features), infer_batch_size(features)
