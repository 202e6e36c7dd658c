"""Drained records -> a :class:`Batch` of converted columns for one model.

Runs on the aggregator thread once per drained batch: one pass over the
records to gather features and outputs, then one conversion per feature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._record import InferenceRecord
from ._columns import (
    ABSENT,
    CategoricalColumn,
    Column,
    NumericColumn,
    Table,
    TableBuilder,
    to_categorical,
    to_numeric,
    to_vector,
)
from ._feature_profile import CATEGORICAL, NUMERIC, NumericProfile, VectorProfile
from ._outputs import output_cells
from ._profile import ReferenceProfile


@dataclass(frozen=True)
class Schema:
    """What ingestion needs from a profile: names, kinds, widths, output kind."""

    names: tuple[str, ...]
    kinds: dict[str, str]
    dims: dict[str, int]
    outputs: dict[str, str]
    output_kind: str | None
    row_features: tuple[str, ...]

    @classmethod
    def from_profile(cls, profile: ReferenceProfile) -> Schema:
        return cls(
            names=tuple(profile.features),
            kinds={n: f.kind for n, f in profile.features.items()},
            dims={n: f.dim for n, f in profile.features.items() if isinstance(f, VectorProfile)},
            outputs={n: f.kind for n, f in profile.outputs.items()},
            output_kind=profile.output_kind,
            row_features=tuple(
                n for n in profile.row_features
                if isinstance(profile.features.get(n), NumericProfile)
            ),
        )


@dataclass
class Batch:
    """Converted, row-aligned columns of the known features, plus the outputs."""

    n_rows: int
    features: dict[str, Column]
    outputs: dict[str, Column] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    n_unreadable: int = 0

    def slice(self, start: int, stop: int) -> Batch:
        def cut(col: Column) -> Column:
            if len(col) == self.n_rows:
                return col.slice(start, stop)
            # Outputs of a different length than the features: split in proportion.
            a = round(len(col) * start / max(self.n_rows, 1))
            b = round(len(col) * stop / max(self.n_rows, 1))
            return col.slice(a, b)

        first = start == 0
        return Batch(
            stop - start,
            {n: cut(c) for n, c in self.features.items()},
            {n: cut(c) for n, c in self.outputs.items()},
            self.unknown if first else {},
            self.n_unreadable if first else 0,
        )


def gather(
    records: Iterable[InferenceRecord], positional: tuple[str, ...], model: str | None
) -> tuple[Table, dict[str, list[Any]], str | None]:
    """Raw feature table and raw output cells of the records (of ``model`` if given)."""
    builder = TableBuilder(positional)
    preds: list[Any] = []
    confs: list[Any] = []
    sizes: list[Any] = []
    seen_model = None
    for r in records:
        if model is not None and r.endpoint.model_name != model:
            continue
        seen_model = r.endpoint.model_name
        bs = r.batch_size if r.batch_size > 0 else 1
        builder.add(r.features, bs)
        preds.append(r.prediction if r.outcome == "ok" else None)
        confs.append(r.confidence)
        sizes.append(bs)
    raw = {"prediction": preds, "confidence": confs, "sizes": sizes}
    return builder.build(), raw, seen_model


def output_parts(raw: list[Any], sizes: list[Any], kind: str | None) -> list[Any]:
    return [output_cells(v, bs, kind) for v, bs in zip(raw, sizes, strict=True)]


def convert(table: Table, raw_outputs: dict[str, list[Any]], schema: Schema, max_unknown: int,
            ) -> Batch:
    """Convert a gathered table to the schema's kinds; unknown names are only counted."""
    features: dict[str, Column] = {}
    for name in schema.names:
        parts = table.column(name)
        kind = schema.kinds[name]
        if kind == NUMERIC:
            features[name] = to_numeric(parts)
        elif kind == CATEGORICAL:
            features[name] = to_categorical(parts)
        else:
            features[name] = to_vector(parts, schema.dims[name])
    known = set(schema.names)
    unknown: dict[str, int] = {}
    for name, parts in table.parts.items():
        if name in known or len(unknown) >= max_unknown:
            continue
        present = sum(
            p.size if isinstance(p, np.ndarray) else sum(v is not ABSENT for v in p) for p in parts
        )
        if present:
            unknown[name] = present
    outputs: dict[str, Column] = {}
    sizes = raw_outputs["sizes"]
    if "prediction" in schema.outputs:
        parts = output_parts(raw_outputs["prediction"], sizes, schema.output_kind)
        outputs["prediction"] = (
            to_categorical(parts) if schema.outputs["prediction"] == CATEGORICAL
            else to_numeric(parts)
        )
    if "confidence" in schema.outputs:
        outputs["confidence"] = to_numeric(
            output_parts(raw_outputs["confidence"], sizes, "probability")
        )
    return Batch(table.n_rows, features, outputs, unknown, table.n_unreadable)


def numeric_matrix(batch: Batch, names: tuple[str, ...]) -> np.ndarray[Any, Any] | None:
    """The numeric features ``names`` as an (n, d) matrix, for the multivariate sample."""
    cols = [batch.features.get(n) for n in names]
    if not cols or not all(isinstance(c, NumericColumn) for c in cols):
        return None
    return np.column_stack([c.values for c in cols if isinstance(c, NumericColumn)])


__all__ = ["Batch", "CategoricalColumn", "Schema", "convert", "gather", "numeric_matrix"]
