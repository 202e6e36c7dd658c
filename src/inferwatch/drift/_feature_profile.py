"""The profile of one feature, by kind, and how each kind is stored.

One :class:`FeatureProfile` per feature: numeric (frozen reference bins and
their counts, a KLL sketch, moments), categorical (top-K counts plus "other")
or vector (a row sample for MMD, plus moments); the model's outputs
(``prediction``, ``confidence``) are profiled the same way. Each kind writes
and reads its own part of the profile file beside its type
(``manifest_entry`` / ``sketch_blobs`` / ``from_manifest``); the archive
around them is :mod:`._profile`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..sketches import DEFAULT_K, BinnedCounts, KLLSketch, Reservoir, TopKCounts
from ..stats import quantile_edges
from ._columns import CategoricalColumn, FloatArray, NumericColumn, VectorColumn

NUMERIC = "numeric"
CATEGORICAL = "categorical"
VECTOR = "vector"
KINDS = (NUMERIC, CATEGORICAL, VECTOR)

#: How a model's prediction is read: numbers (probability, score, regression) or classes.
OUTPUT_KINDS = ("probability", "score", "class", "regression")


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _unnum(x: Any) -> float:
    return float("nan") if x is None else float(x)


#: Reads one archive member's bytes by name.
Reader = Callable[[str], bytes]


@dataclass
class FeatureProfile:
    """Counts every feature kind shares: rows seen and why values were unusable."""

    name: str
    n_rows: int = 0
    n_missing: int = 0
    n_invalid: int = 0

    kind = ""

    @property
    def missing_rate(self) -> float:
        return self.n_missing / self.n_rows if self.n_rows else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.n_rows,
            "missing_rate": self.missing_rate,
            "invalid": self.n_invalid,
        }

    def manifest_entry(self) -> dict[str, Any]:
        """The JSON part of this feature in the profile file (its sketches aside)."""
        return {"name": self.name, "kind": self.kind, "rows": self.n_rows,
                "missing": self.n_missing, "invalid": self.n_invalid}

    def sketch_blobs(self) -> dict[str, bytes]:
        """This feature's sketches, by member suffix (``binned``, ``kll``, ...)."""
        return {}


def _counts(entry: dict[str, Any]) -> tuple[str, int, int, int]:
    return (str(entry["name"]), int(entry["rows"]), int(entry["missing"]),
            int(entry["invalid"]))


@dataclass
class NumericProfile(FeatureProfile):
    """Frozen bins (``stats.psi`` convention), their counts, a KLL sketch and moments."""

    counts: BinnedCounts | None = None
    kll: KLLSketch | None = None
    mean: float = float("nan")
    std: float = float("nan")
    min: float = float("nan")
    max: float = float("nan")
    n_nan: int = 0
    n_inf: int = 0

    kind = NUMERIC

    @property
    def edges(self) -> FloatArray | None:
        return None if self.counts is None else self.counts.edges

    @property
    def n(self) -> int:
        """Finite values profiled."""
        return 0 if self.counts is None else self.counts.n

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        out.update(
            n=self.n, mean=self.mean, std=self.std, min=self.min, max=self.max,
            nan=self.n_nan, inf=self.n_inf,
            bins=0 if self.counts is None else int(self.counts.counts.size),
        )
        return out

    def manifest_entry(self) -> dict[str, Any]:
        entry = super().manifest_entry()
        entry.update(mean=_num(self.mean), std=_num(self.std), min=_num(self.min),
                     max=_num(self.max), nan=self.n_nan, inf=self.n_inf)
        return entry

    def sketch_blobs(self) -> dict[str, bytes]:
        if self.counts is None or self.kll is None:
            return {}
        return {"binned": self.counts.to_bytes(), "kll": self.kll.to_bytes()}

    @classmethod
    def from_manifest(cls, entry: dict[str, Any], members: dict[str, str],
                      read: Reader) -> NumericProfile:
        prof = cls(
            *_counts(entry), mean=_unnum(entry["mean"]), std=_unnum(entry["std"]),
            min=_unnum(entry["min"]), max=_unnum(entry["max"]),
            n_nan=int(entry["nan"]), n_inf=int(entry["inf"]),
        )
        if "binned" in members:
            prof.counts = BinnedCounts.from_bytes(read(members["binned"]))
            prof.kll = KLLSketch.from_bytes(read(members["kll"]))
        return prof


@dataclass
class CategoricalProfile(FeatureProfile):
    """Top-K category counts plus an "other" bucket."""

    topk: TopKCounts = field(default_factory=TopKCounts)

    kind = CATEGORICAL

    @property
    def n(self) -> int:
        return self.topk.n

    @property
    def categories(self) -> set[Any]:
        return set(self.topk.counts)

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        top = list(self.topk.shares().items())[:5]
        out.update(
            n=self.n, categories=len(self.topk.counts), other_share=self.topk.other_share,
            top=[[c, round(s, 4)] for c, s in top],
        )
        return out

    def sketch_blobs(self) -> dict[str, bytes]:
        return {"topk": self.topk.to_bytes()}

    @classmethod
    def from_manifest(cls, entry: dict[str, Any], members: dict[str, str],
                      read: Reader) -> CategoricalProfile:
        return cls(*_counts(entry), topk=TopKCounts.from_bytes(read(members["topk"])))


@dataclass
class VectorProfile(FeatureProfile):
    """A vector feature (embedding) of width ``dim``: a row sample for MMD, plus moments."""

    dim: int = 0
    sample: Reservoir | None = None
    mean: FloatArray | None = None
    std: FloatArray | None = None

    kind = VECTOR

    @property
    def n(self) -> int:
        return 0 if self.sample is None else self.sample.n

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        out.update(n=self.n, dim=self.dim)
        return out

    def manifest_entry(self) -> dict[str, Any]:
        entry = super().manifest_entry()
        entry.update(
            dim=self.dim,
            mean=None if self.mean is None else [_num(v) for v in self.mean],
            std=None if self.std is None else [_num(v) for v in self.std],
        )
        return entry

    def sketch_blobs(self) -> dict[str, bytes]:
        return {} if self.sample is None else {"reservoir": self.sample.to_bytes()}

    @classmethod
    def from_manifest(cls, entry: dict[str, Any], members: dict[str, str],
                      read: Reader) -> VectorProfile:
        def moments(values: Any) -> FloatArray | None:
            return None if values is None else np.array([_unnum(v) for v in values])

        sample = (Reservoir.from_bytes(read(members["reservoir"])) if "reservoir" in members
                  else None)
        return cls(*_counts(entry), dim=int(entry["dim"]), sample=sample,
                   mean=moments(entry["mean"]), std=moments(entry["std"]))


@dataclass
class Calibration:
    """Spread of a feature's distance over reference chunks (thresholds = mean + z·std)."""

    statistic: str
    chunk_rows: int
    mean: float
    std: float
    n_chunks: int

    def to_manifest(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "chunk_rows": self.chunk_rows, "mean": self.mean,
                "std": self.std, "chunks": self.n_chunks}

    @classmethod
    def from_manifest(cls, entry: dict[str, Any]) -> Calibration:
        return cls(str(entry["statistic"]), int(entry["chunk_rows"]), float(entry["mean"]),
                   float(entry["std"]), int(entry["chunks"]))


def read_feature(entry: dict[str, Any], read: Reader) -> FeatureProfile:
    """One feature of a profile file, by the kind its manifest entry names."""
    kinds: dict[str, Any] = {NUMERIC: NumericProfile, CATEGORICAL: CategoricalProfile,
                             VECTOR: VectorProfile}
    kind = kinds.get(entry["kind"])
    if kind is None:
        raise ValueError(f"unknown feature kind {entry['kind']!r}")
    members = entry.get("sketches", {})
    prof: FeatureProfile = kind.from_manifest(entry, members, read)
    return prof


# -- building single feature profiles ---------------------------------------------


def numeric_profile(
    name: str, col: NumericColumn, *, bins: int | FloatArray = 10, kll_k: int = DEFAULT_K
) -> NumericProfile:
    values = col.values
    finite = values[np.isfinite(values)]
    nan = int(np.isnan(values).sum()) - int(col.missing.sum()) - int(col.invalid.sum())
    prof = NumericProfile(
        name=name,
        n_rows=len(col),
        n_missing=int(col.missing.sum()),
        n_invalid=int(col.invalid.sum()),
        n_nan=nan,
        n_inf=int(np.isinf(values).sum()),
    )
    if finite.size == 0:
        return prof
    edges = quantile_edges(finite, bins)
    if edges.size == 2 and edges[0] == edges[1]:
        # A constant reference: stats gives [c, c], which BinnedCounts refuses as
        # explicit edges; [c, next float] is the same single bin holding c.
        edges = np.array([edges[0], np.nextafter(edges[0], np.inf)])
    prof.counts = BinnedCounts(edges)
    prof.counts.update_batch(finite)
    prof.kll = KLLSketch(k=kll_k)
    prof.kll.update_batch(finite)
    prof.mean = float(finite.mean())
    prof.std = float(finite.std())
    prof.min = float(finite.min())
    prof.max = float(finite.max())
    return prof


def categorical_profile(
    name: str, col: CategoricalColumn, *, top_k: int = 64
) -> CategoricalProfile:
    topk = TopKCounts(k=top_k)
    topk.update_batch([v for v, bad in zip(col.values, col.invalid, strict=True) if not bad])
    return CategoricalProfile(
        name=name,
        n_rows=len(col),
        n_missing=int(col.missing.sum()),
        n_invalid=int(col.invalid.sum()),
        topk=topk,
    )


def vector_profile(
    name: str, col: VectorColumn, *, sample_rows: int = 512, seed: int = 0
) -> VectorProfile:
    dim = int(col.rows.shape[1])
    sample = Reservoir(capacity=sample_rows, n_features=dim, seed=seed)
    ok = np.isfinite(col.rows).all(axis=1)
    rows = col.rows[ok]
    if rows.size:
        sample.update_batch(rows)
    return VectorProfile(
        name=name,
        n_rows=len(col),
        n_missing=int(col.missing.sum()),
        n_invalid=int(col.invalid.sum()),
        dim=dim,
        sample=sample,
        mean=rows.mean(axis=0) if rows.size else None,
        std=rows.std(axis=0) if rows.size else None,
    )
