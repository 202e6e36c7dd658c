"""Training data in any supported form -> a :class:`~._columns.Table`.

Accepted: a 2-D numpy array (with ``feature_names`` or positional names
``f0, f1, ...``), a list of dict rows, a dict of columns, a pandas or polars
DataFrame, or a path to a CSV or Parquet file. pandas, polars and pyarrow are
never imported here: DataFrames are read through ``columns`` and
``to_numpy``, and pyarrow is imported only to read Parquet.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import MissingDependencyError
from ._columns import Table, TableBuilder, positional_names


def read_table(data: Any, feature_names: Sequence[str] | None = None) -> Table:
    """Read training data into raw columns; raises ``TypeError``/``ValueError`` if unreadable."""
    if isinstance(data, Table):
        return data
    if isinstance(data, (str, os.PathLike)):
        return read_file(Path(data))
    builder = TableBuilder(feature_names or ())
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise ValueError(
                f"a numpy array of training data must be 2-D (rows x features), got shape "
                f"{data.shape}; reshape it or pass a dict of columns"
            )
        if feature_names is not None and len(feature_names) != data.shape[1]:
            raise ValueError(
                f"feature_names has {len(feature_names)} names for {data.shape[1]} columns"
            )
        names = list(feature_names or positional_names(data.shape[1]))
        builder.add_columns({n: data[:, j] for j, n in enumerate(names)})
    elif _is_dataframe(data):
        builder.add_columns({str(c): np.asarray(data[c].to_numpy()) for c in data.columns})
    elif isinstance(data, Mapping):
        builder.add_columns({str(k): _column(v) for k, v in data.items()})
    elif isinstance(data, Sequence) and data and all(isinstance(r, Mapping) for r in data):
        for row in data:
            builder.add(row)
    else:
        raise TypeError(
            f"cannot read training data of type {type(data).__name__}; pass a 2-D numpy "
            "array, a list of dicts, a dict of columns, a pandas or polars DataFrame, "
            "or a path to a .csv or .parquet file"
        )
    table = builder.build()
    if table.n_rows == 0:
        raise ValueError("the training data has no rows; a profile needs at least one")
    return table


def _column(values: Any) -> Any:
    if isinstance(values, np.ndarray):
        return values
    if hasattr(values, "to_numpy"):
        return np.asarray(values.to_numpy())
    return list(values)


def _is_dataframe(data: Any) -> bool:
    return hasattr(data, "columns") and hasattr(data, "to_numpy") and hasattr(data, "shape")


def read_file(path: Path) -> Table:
    """Read a CSV (stdlib ``csv``) or Parquet (needs pyarrow) file."""
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return read_csv(path, delimiter="\t" if suffix == ".tsv" else ",")
    if suffix in (".parquet", ".pq"):
        return read_parquet(path)
    raise ValueError(
        f"cannot tell the format of {path.name!r} from its extension; use .csv, .tsv or .parquet"
    )


def _parse_cell(text: str) -> Any:
    text = text.strip()
    if text == "" or text.lower() in ("na", "null", "none"):
        return None
    return text


def _numeric_or_text(cells: list[Any]) -> list[Any]:
    # A column is numeric when every present cell parses as a float.
    out: list[Any] = []
    for cell in cells:
        if cell is None:
            out.append(None)
            continue
        try:
            out.append(float(cell))
        except ValueError:
            return cells
    return out


def read_csv(path: Path, delimiter: str = ",") -> Table:
    """CSV with a header row; empty, NA and null cells are missing values."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path.name} is empty; a CSV profile needs a header row")
        names = [h.strip() for h in header]
        cells: list[list[Any]] = [[] for _ in names]
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(names):
                raise ValueError(
                    f"{path.name} line {lineno}: {len(row)} fields, header has {len(names)}"
                )
            for j, text in enumerate(row):
                cells[j].append(_parse_cell(text))
    builder = TableBuilder()
    if cells and cells[0]:
        builder.add_columns({n: _numeric_or_text(c) for n, c in zip(names, cells, strict=True)})
    table = builder.build()
    if table.n_rows == 0:
        raise ValueError(f"{path.name} has a header but no rows")
    return table


def read_parquet(path: Path) -> Table:
    """Parquet via pyarrow (install ``inferwatch[profiles]``)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError(
            "reading Parquet needs pyarrow; install it with: pip install 'inferwatch[profiles]' "
            "(or convert the file to CSV)"
        ) from None
    table = pq.read_table(path)
    builder = TableBuilder()
    builder.add_columns(
        {str(name): np.asarray(table.column(name).to_numpy(zero_copy_only=False))
         for name in table.column_names}
    )
    out = builder.build()
    if out.n_rows == 0:
        raise ValueError(f"{path.name} has no rows")
    return out
