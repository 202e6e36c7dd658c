"""A canonical, order-independent byte encoding of feature values, fed to a keyed hash.

Equal vectors encode equal whatever the dict order, and whether numbers are
Python or numpy ints or floats (values compare as float64; ``-0.0`` equals
``0.0`` and every NaN is the same NaN). Sequence order matters: it carries
the feature's identity. Each value is tagged with its kind and length, so
different structures never encode alike.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

__all__ = ["feed"]

_MAX_DEPTH = 16
_PACK_D = struct.Struct("<d").pack
_PACK_Q = struct.Struct("<q").pack
_CANON_NAN = _PACK_D(math.nan)


def feed(h: Any, value: Any) -> None:
    """Write the canonical encoding of ``value`` into the hash object ``h`` (``update``)."""
    _feed(h, value, 0)


def _feed_float(h: Any, x: float) -> None:
    if x != x:
        h.update(b"f" + _CANON_NAN)
    else:
        h.update(b"f" + _PACK_D(x + 0.0))


def _feed(h: Any, value: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        h.update(b"D")
        return
    if value is None:
        h.update(b"N")
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        h.update(b"s" + _PACK_Q(len(data)) + data)
    elif isinstance(value, (bytes, bytearray)):
        h.update(b"b" + _PACK_Q(len(value)) + bytes(value))
    elif isinstance(value, (int, float)):
        _feed_number(h, value)
    elif isinstance(value, Mapping):
        _feed_mapping(h, value, depth)
    else:
        _feed_other(h, value, depth)


_KEY_BYTES: dict[str, bytes] = {}
_ORDERS: dict[tuple[Any, ...], tuple[tuple[str, Any], ...]] = {}
_MAX_KEY_CACHE = 4096


def _key_bytes(key: str) -> bytes:
    """What _feed() writes for a str key; cached, since feature names repeat."""
    encoded = _KEY_BYTES.get(key)
    if encoded is None:
        kb = key.encode("utf-8", "surrogatepass")
        encoded = b"s" + _PACK_Q(len(kb)) + kb
        if len(_KEY_BYTES) < _MAX_KEY_CACHE:
            _KEY_BYTES[key] = encoded
    return encoded


def _feed_mapping(h: Any, value: Mapping[Any, Any], depth: int) -> None:
    # Writes exactly what _feed() would per key and value, but batches the
    # common str -> number items into one update (3-4x faster for 20 features).
    keys = tuple(value)
    order = _ORDERS.get(keys)
    if order is None:
        # Sorted by the text of the key; the same key set comes back on every
        # row of a model, so the sort and the key bytes are worked out once.
        order = tuple(sorted(((str(k), k) for k in keys), key=_first))
        if len(_ORDERS) < _MAX_KEY_CACHE:
            _ORDERS[keys] = order
    buf = [b"M" + _PACK_Q(len(order))]
    for k, original in order:
        v = value[original]
        buf.append(_key_bytes(k))
        if isinstance(v, float):
            buf.append(b"f" + (_CANON_NAN if v != v else _PACK_D(v + 0.0)))
        elif isinstance(v, int) and -(2**53) <= v <= 2**53:
            buf.append(b"f" + _PACK_D(float(v)))
        else:
            h.update(b"".join(buf))
            buf.clear()
            _feed(h, v, depth + 1)
    h.update(b"".join(buf))


def _first(item: tuple[str, Any]) -> str:
    return item[0]


def _feed_number(h: Any, value: float) -> None:
    if isinstance(value, int) and not -(2**53) <= value <= 2**53:
        text = str(value).encode()
        h.update(b"i" + _PACK_Q(len(text)) + text)
    else:
        _feed_float(h, float(value))


def _feed_array(h: Any, arr: Any) -> None:
    import numpy as np

    a = np.ascontiguousarray(arr, dtype="<f8") + 0.0  # -0.0 -> 0.0, and a copy
    nan = np.isnan(a)
    if nan.any():
        a[nan] = np.nan
    h.update(b"A" + _PACK_Q(a.ndim) + b"".join(_PACK_Q(n) for n in a.shape))
    h.update(a.tobytes())


def _feed_other(h: Any, value: Any, depth: int) -> None:
    import numpy as np  # a hard dependency; imported here to keep this module light

    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            _feed_array(h, value)
            return
        h.update(b"O" + _PACK_Q(value.ndim) + b"".join(_PACK_Q(n) for n in value.shape))
        for v in value.ravel().tolist():
            _feed(h, v, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        # A numeric (possibly nested) list hashes like the numpy array it makes.
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError, OverflowError):
            arr = None
        if arr is not None and arr.dtype.kind in "biuf":
            _feed_array(h, arr)
            return
        h.update(b"L" + _PACK_Q(len(value)))
        for v in value:
            _feed(h, v, depth + 1)
        return
    if isinstance(value, np.generic):
        _feed(h, value.item(), depth)
        return
    tolist = getattr(value, "tolist", None)  # torch tensors, pandas Series
    if tolist is not None and callable(tolist):
        _feed(h, tolist(), depth + 1)
        return
    text = f"{type(value).__qualname__}:{value}".encode("utf-8", "replace")
    h.update(b"o" + _PACK_Q(len(text)) + text)
