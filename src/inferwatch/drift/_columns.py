"""Rows in, per-feature columns out: the one place that reads feature shapes.

Training data and live records arrive in many shapes (2-D arrays, 1-D rows,
dicts, lists of dicts, dicts of columns). Everything downstream works on a
:class:`Table`: one raw column per feature name, row-aligned, with the
sentinel :data:`ABSENT` where a row did not carry the feature. The
``to_numeric``/``to_categorical``/``to_vector`` converters then turn a raw
column into arrays plus masks of missing values and type violations; they
never raise on bad values, they count them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


#: Marks a row that did not carry a feature at all (a missing key).
ABSENT: Any = _Absent()

_NUMBER = (int, float, np.integer, np.floating)


@dataclass
class Table:
    """Raw columns of ``n_rows`` rows; each column is a list of parts (arrays or lists)."""

    n_rows: int = 0
    parts: dict[str, list[Any]] = field(default_factory=dict)
    #: Rows whose shape could not be read at all (counted, never raised).
    n_unreadable: int = 0

    def _pad(self, name: str) -> list[Any]:
        parts = self.parts.get(name)
        if parts is None:
            parts = self.parts[name] = []
            if self.n_rows:
                parts.append([ABSENT] * self.n_rows)
        return parts

    def append_block(self, columns: Mapping[str, Any], n: int) -> None:
        """Add ``n`` rows given as name -> column (an array or list of length n)."""
        for name, col in columns.items():
            self._pad(name).append(col)
        for name, parts in self.parts.items():
            if name not in columns:
                parts.append([ABSENT] * n)
        self.n_rows += n

    def column(self, name: str) -> list[Any]:
        """The parts of one column (all ABSENT if the feature never appeared)."""
        parts = self.parts.get(name)
        if parts is None:
            return [[ABSENT] * self.n_rows] if self.n_rows else []
        return parts

    @property
    def names(self) -> list[str]:
        return list(self.parts)


def positional_names(n: int) -> list[str]:
    """Names given to unnamed columns: ``f0, f1, ...``."""
    return [f"f{i}" for i in range(n)]


def _block_from_matrix(matrix: np.ndarray[Any, Any], names: Sequence[str]) -> dict[str, Any]:
    width = matrix.shape[1]
    all_names = list(names[:width]) + positional_names(width)[len(names) :]
    return {all_names[j]: matrix[:, j] for j in range(width)}


class TableBuilder:
    """Collects rows of mixed shapes and emits one :class:`Table`.

    ``names`` names positional columns (2-D arrays and 1-D rows), in order.
    Runs of dict rows are gathered and turned into columns once, so a batch of
    single-row dict records costs one list comprehension per feature.
    """

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names = list(names)
        self.table = Table()
        self._rows: list[Mapping[str, Any]] = []
        self._matrices: list[np.ndarray[Any, Any]] = []

    def _flush_rows(self) -> None:
        rows = self._rows
        if not rows:
            return
        self._rows = []
        keys: dict[str, None] = {}
        first = rows[0].keys()
        if all(r.keys() == first for r in rows):
            keys = dict.fromkeys(first)
            block = {k: [r[k] for r in rows] for k in keys}
        else:
            for r in rows:
                keys.update(dict.fromkeys(r))
            block = {k: [r.get(k, ABSENT) for r in rows] for k in keys}
        self.table.append_block(block, len(rows))

    def _flush_matrices(self) -> None:
        mats = self._matrices
        if not mats:
            return
        self._matrices = []
        width = mats[0].shape[1]
        if all(m.shape[1] == width for m in mats):
            stacked = mats[0] if len(mats) == 1 else np.concatenate(mats)
            self.table.append_block(_block_from_matrix(stacked, self.names), stacked.shape[0])
        else:
            for m in mats:
                self.table.append_block(_block_from_matrix(m, self.names), m.shape[0])

    def _add_matrix(self, m: np.ndarray[Any, Any]) -> None:
        self._flush_rows()
        self._matrices.append(m)

    def _add_row_dict(self, row: Mapping[str, Any]) -> None:
        self._flush_matrices()
        self._rows.append(row)

    def add(self, features: Any, batch_size: int = 1) -> None:
        """Add one record's features (any shape :func:`inferwatch.monitor` captures)."""
        kind = type(features)
        if features is None:  # no features captured: every feature is missing
            self._flush_rows()
            self._flush_matrices()
            self.table.append_block({}, max(batch_size, 1))
        elif kind is dict or isinstance(features, Mapping):
            if batch_size > 1:
                self._add_columns(features)
            else:
                self._add_row_dict(features)
        elif kind is np.ndarray:
            if features.ndim == 2:
                self._add_matrix(features)
            elif features.ndim == 1:
                self._add_matrix(features.reshape(1, -1))
            elif features.ndim == 0:
                self._add_matrix(features.reshape(1, 1))
            else:
                self.table.n_unreadable += batch_size
        elif kind is list or kind is tuple:
            if features and isinstance(features[0], Mapping):
                for row in features:
                    if isinstance(row, Mapping):
                        self._add_row_dict(row)
                    else:
                        self._flush_rows()
                        self.table.n_unreadable += 1
            elif features and isinstance(features[0], (list, tuple, np.ndarray)):
                try:
                    self._add_matrix(np.asarray(features, dtype=object))
                except ValueError:
                    self.table.n_unreadable += len(features)
            else:
                self._add_matrix(np.asarray([features], dtype=object).reshape(1, -1))
        else:
            self.table.n_unreadable += max(batch_size, 1)

    def _add_columns(self, columns: Mapping[str, Any]) -> None:
        self._flush_rows()
        self._flush_matrices()
        lengths = {_length(v) for v in columns.values()}
        n = lengths.pop() if len(lengths) == 1 else None
        if n is None:
            self.table.n_unreadable += max((k for k in lengths if k is not None), default=1)
            return
        self.table.append_block({str(k): v for k, v in columns.items()}, n)

    def add_columns(self, columns: Mapping[str, Any]) -> None:
        """Add a block given as name -> column of equal lengths (training data)."""
        self._add_columns(columns)

    @property
    def n_rows(self) -> int:
        """Rows added so far (including any not yet turned into columns)."""
        pending = sum(int(m.shape[0]) for m in self._matrices)
        return self.table.n_rows + len(self._rows) + pending

    def build(self) -> Table:
        self._flush_rows()
        self._flush_matrices()
        return self.table


def _length(value: Any) -> int | None:
    if isinstance(value, np.ndarray):
        return int(value.shape[0]) if value.ndim >= 1 else None
    if isinstance(value, (list, tuple)):
        return len(value)
    return None


# -- converters ----------------------------------------------------------------


@dataclass
class NumericColumn:
    """Float values (NaN where no usable value), plus why values are missing."""

    values: FloatArray
    missing: BoolArray  # None or ABSENT
    invalid: BoolArray  # present but not a number (a string, a list, ...)

    def __len__(self) -> int:
        return int(self.values.size)

    def slice(self, start: int, stop: int) -> NumericColumn:
        return NumericColumn(
            self.values[start:stop], self.missing[start:stop], self.invalid[start:stop]
        )


def _numeric_part(part: Any) -> tuple[FloatArray, BoolArray, BoolArray]:
    arr = part if isinstance(part, np.ndarray) else None
    if arr is None:
        try:
            arr = np.asarray(part)
        except (ValueError, TypeError):
            arr = np.empty(len(part), dtype=object)
            arr[:] = [v if not isinstance(v, (list, tuple)) else None for v in part]
    if arr.ndim == 2 and arr.shape[1] == 1:  # 1-element cells (a one-row DataFrame)
        arr = arr[:, 0]
    if arr.ndim == 1 and arr.dtype.kind in "fiu":
        values = arr.astype(np.float64, copy=False)
        none = np.zeros(values.size, dtype=bool)
        return values, none, none
    if arr.ndim == 1 and arr.dtype.kind == "b":
        values = arr.astype(np.float64)
        none = np.zeros(values.size, dtype=bool)
        return values, none, none
    # Mixed lists (a stray string among floats) come back as string arrays: read the
    # original items so the numbers stay numbers.
    items = list(part) if not isinstance(part, np.ndarray) else arr.tolist()
    n = len(items)
    values = np.full(n, np.nan)
    missing = np.zeros(n, dtype=bool)
    invalid = np.zeros(n, dtype=bool)
    for i, v in enumerate(items):
        if v is None or v is ABSENT:
            missing[i] = True
        elif isinstance(v, _NUMBER) and not isinstance(v, bool):
            values[i] = v
        elif isinstance(v, bool):
            values[i] = float(v)
        else:
            invalid[i] = True
    return values, missing, invalid


def to_numeric(parts: list[Any]) -> NumericColumn:
    """Convert raw parts to floats; strings and other non-numbers are ``invalid``."""
    if not parts:
        empty = np.zeros(0, dtype=bool)
        return NumericColumn(np.zeros(0), empty, empty)
    converted = [_numeric_part(p) for p in parts]
    if len(converted) == 1:
        return NumericColumn(*converted[0])
    return NumericColumn(
        np.concatenate([c[0] for c in converted]),
        np.concatenate([c[1] for c in converted]),
        np.concatenate([c[2] for c in converted]),
    )


@dataclass
class CategoricalColumn:
    """Category values as a list (None where missing or invalid)."""

    values: list[Any]
    missing: BoolArray
    invalid: BoolArray

    def __len__(self) -> int:
        return len(self.values)

    def slice(self, start: int, stop: int) -> CategoricalColumn:
        return CategoricalColumn(
            self.values[start:stop], self.missing[start:stop], self.invalid[start:stop]
        )


_CATEGORY = (str, int, bool, np.str_, np.integer, np.bool_)


def _norm_category(v: Any) -> Any:
    # numpy scalars become plain Python values so categories compare and serialise alike.
    return v.item() if isinstance(v, np.generic) else v


def to_categorical(parts: list[Any]) -> CategoricalColumn:
    """Convert raw parts to hashable categories; unhashable values are ``invalid``."""
    items: list[Any] = []
    for p in parts:
        items.extend(p.tolist() if isinstance(p, np.ndarray) else p)
    n = len(items)
    missing = np.zeros(n, dtype=bool)
    invalid = np.zeros(n, dtype=bool)
    if all(type(v) is str for v in items):
        return CategoricalColumn(items, missing, invalid)
    values: list[Any] = [None] * n
    for i, v in enumerate(items):
        if v is None or v is ABSENT or (isinstance(v, float) and math.isnan(v)):
            missing[i] = True
        elif isinstance(v, _CATEGORY) or (isinstance(v, float) and math.isfinite(v)):
            values[i] = _norm_category(v)
        else:
            invalid[i] = True
    return CategoricalColumn(values, missing, invalid)


@dataclass
class VectorColumn:
    """Rows of a vector feature (e.g. an embedding) of width ``dim``; NaN rows where unusable."""

    rows: FloatArray
    missing: BoolArray
    invalid: BoolArray

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def slice(self, start: int, stop: int) -> VectorColumn:
        return VectorColumn(
            self.rows[start:stop], self.missing[start:stop], self.invalid[start:stop]
        )


def to_vector(parts: list[Any], dim: int) -> VectorColumn:
    """Convert raw parts to an (n, dim) array; wrong widths or non-numbers are ``invalid``."""
    items: list[Any] = []
    for p in parts:
        if isinstance(p, np.ndarray) and p.ndim == 2:
            items.extend(list(p))
        else:
            items.extend(p.tolist() if isinstance(p, np.ndarray) and p.dtype != object else p)
    n = len(items)
    rows = np.full((n, dim), np.nan)
    missing = np.zeros(n, dtype=bool)
    invalid = np.zeros(n, dtype=bool)
    for i, v in enumerate(items):
        if v is None or v is ABSENT:
            missing[i] = True
            continue
        try:
            arr = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            invalid[i] = True
            continue
        if arr.shape != (dim,):
            invalid[i] = True
        else:
            rows[i] = arr
    return VectorColumn(rows, missing, invalid)


Column = NumericColumn | CategoricalColumn | VectorColumn


def looks_like_vector(parts: list[Any]) -> int | None:
    """The common width if the column's cells are 1-D arrays/lists of numbers, else None."""
    for p in parts:
        if isinstance(p, np.ndarray) and p.ndim == 2:
            return int(p.shape[1])
        for v in (p if not isinstance(p, np.ndarray) or p.dtype == object else []):
            if v is None or v is ABSENT:
                continue
            if isinstance(v, (np.ndarray, list, tuple)):
                try:
                    arr = np.asarray(v, dtype=np.float64)
                except (TypeError, ValueError):
                    return None
                return int(arr.size) if arr.ndim == 1 and arr.size > 0 else None
            return None
    return None


def looks_numeric(parts: list[Any], share: float = 0.9) -> bool:
    """True when at least ``share`` of the present values are numbers (not bools).

    A few stray strings in a numeric column are type violations to count, not a
    reason to treat the whole column as categories.
    """
    numbers = others = 0
    for p in parts:
        if isinstance(p, np.ndarray) and p.dtype.kind in "fiu":
            numbers += p.size
            continue
        items = p.tolist() if isinstance(p, np.ndarray) else p
        for v in items:
            if v is None or v is ABSENT:
                continue
            if isinstance(v, bool) or not isinstance(v, _NUMBER):
                others += 1
            else:
                numbers += 1
    return numbers > 0 and numbers >= share * (numbers + others)
