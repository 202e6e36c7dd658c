"""Make captured values safe to keep after the call returns.

A caller may reuse or mutate its dicts and arrays once predict returns, and a
buffered reference would then show the later values. Snapshots copy just
enough: a dict of immutable scalars is copied shallowly (about 70 ns for 20
fields), an array with ``ndarray.copy`` (about 100 ns), nested containers
element by element. Immutable values are kept as they are.
"""

from __future__ import annotations

import copy
import itertools
import sys
from collections.abc import Mapping
from typing import Any, cast

import numpy as np

__all__ = [
    "TOO_LARGE",
    "estimate_nbytes",
    "infer_batch_size",
    "snapshot",
    "snapshot_rows",
    "snapshot_sized",
]

#: Returned by ``snapshot_sized`` in place of a copy larger than its limit.
TOO_LARGE: Any = object()
# Estimated bytes per element of a container, for the byte bounds (the
# pointer, the boxed scalar, the dict slot): an estimate, not sys.getsizeof.
_PER_ITEM = 64

_IMMUTABLE = frozenset(
    (int, float, str, bool, bytes, complex, type(None), np.float64, np.float32, np.int64,
     np.int32, np.bool_, np.str_)
)


def snapshot(value: Any) -> Any:
    """A copy of ``value`` that later mutations by the caller cannot change."""
    return snapshot_sized(value, sys.maxsize)[0]


def _pydantic_fields(value: Any) -> dict[str, Any] | None:
    """A pydantic model's fields as a dict (v2 ``model_dump``, v1 ``dict``), else None.

    A model passed as features was deep-copied field by field (14 to 74 µs) and
    then not rendered; its fields are what a reader wants.
    """
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, dict):
        return cast(dict[str, Any], value.model_dump())
    if isinstance(getattr(type(value), "__fields__", None), dict) and hasattr(value, "dict"):
        return cast(dict[str, Any], value.dict())
    return None


def snapshot_sized(value: Any, limit: int) -> tuple[Any, int]:
    """``(snapshot(value), estimated bytes)``, or ``(TOO_LARGE, bytes)`` past ``limit``.

    The estimate counts array buffers exactly and containers at a fixed cost per
    element, and stops copying as soon as it passes ``limit``, so an oversized
    value is never copied whole on the request path.
    """
    kind = type(value)
    if kind in _IMMUTABLE:
        return value, len(value) if kind is str or kind is bytes else 0
    if kind is np.ndarray:
        size = value.nbytes
        return (TOO_LARGE, size) if size > limit else (value.copy(), size)
    if kind is dict:
        size = _PER_ITEM * (len(value) + 1)
        if size > limit:
            return TOO_LARGE, size
        copied = value.copy()
        if not _IMMUTABLE.issuperset(map(type, value.values())):
            for k, v in value.items():
                if type(v) not in _IMMUTABLE:
                    copied[k], n = snapshot_sized(v, limit - size)
                    size += n
                    if copied[k] is TOO_LARGE or size > limit:
                        return TOO_LARGE, size
        return copied, size
    if kind is list or kind is tuple:
        size = _PER_ITEM * (len(value) + 1)
        if size > limit:
            return TOO_LARGE, size
        if _IMMUTABLE.issuperset(map(type, value)):
            return (tuple(value) if kind is tuple else list(value)), size
        out = []
        for v in value:
            item, n = snapshot_sized(v, limit - size)
            size += n
            if item is TOO_LARGE or size > limit:
                return TOO_LARGE, size
            out.append(item)
        return out, size
    if isinstance(value, Mapping):
        return snapshot_sized(dict(value.items()), limit)
    if isinstance(value, np.generic):
        return value, int(value.nbytes)
    fields = _pydantic_fields(value)
    if fields is not None:
        return snapshot_sized(fields, limit)
    nbytes = getattr(value, "nbytes", None)  # torch, jax, pandas: check before copying
    if type(nbytes) is int and nbytes > limit:
        return TOO_LARGE, nbytes
    copied = _copy_other(value)
    return copied, nbytes if type(nbytes) is int else estimate_nbytes(copied)


def _copy_other(value: Any) -> Any:
    """A copy of a value none of the cases above knows: frames, tensors, objects."""
    to_numpy = getattr(value, "to_numpy", None)  # pandas / polars frames and series
    if to_numpy is not None and hasattr(value, "columns"):
        return {str(col): value[col].to_numpy().copy() for col in value.columns}
    if to_numpy is not None:
        return np.asarray(to_numpy()).copy()
    if hasattr(value, "__array__"):  # torch tensors on CPU, jax arrays, ...
        return np.array(value, copy=True)
    return copy.deepcopy(value)


def estimate_nbytes(value: Any, depth: int = 3) -> int:
    """Estimated bytes a kept value holds: array buffers exactly, containers at a
    fixed cost per element, nested up to ``depth`` levels (off the request path)."""
    kind = type(value)
    if kind is np.ndarray:
        return int(value.nbytes)
    if kind is str or kind is bytes:
        return len(value) + _PER_ITEM
    if isinstance(value, (dict, list, tuple)):
        size = _PER_ITEM * (len(value) + 1)
        if depth > 0:
            items = value.values() if isinstance(value, dict) else value
            for item in itertools.islice(items, 4096):
                if type(item) not in _IMMUTABLE or type(item) is str or type(item) is bytes:
                    size += estimate_nbytes(item, depth - 1)
        return size
    nbytes = getattr(value, "nbytes", None)
    return nbytes if type(nbytes) is int else _PER_ITEM


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


def snapshot_rows(features: Any, limit: int) -> tuple[Any, int, int]:
    """``(copy or TOO_LARGE, batch size, estimated bytes)`` with one type dispatch
    for the common case of a numpy row or batch."""
    if type(features) is np.ndarray:
        size = features.nbytes
        batch = features.shape[0] if features.ndim >= 2 else 1
        return (TOO_LARGE if size > limit else features.copy()), batch, size
    copied, size = snapshot_sized(features, limit)
    return copied, infer_batch_size(features), size
