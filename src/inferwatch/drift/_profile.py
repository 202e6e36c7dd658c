"""The reference profile: what "normal" looked like, frozen into sketches.

One :class:`FeatureProfile` per feature (numeric, categorical or vector),
the same for the model's outputs (``prediction``, ``confidence``), plus
optional feature importances, a row sample for multivariate tests and
thresholds calibrated on the reference itself. Profiles are built by
:func:`inferwatch.drift.build_profile` and saved to one file by
:mod:`._profile_io`.
"""

from __future__ import annotations

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


@dataclass
class Calibration:
    """Spread of a feature's distance over reference chunks (thresholds = mean + z·std)."""

    statistic: str
    chunk_rows: int
    mean: float
    std: float
    n_chunks: int


@dataclass
class ReferenceProfile:
    """Everything drift is measured against; build with :func:`build_profile`.

    ``features`` keeps the training column order, which is also how unnamed
    live columns (2-D arrays) are matched: by position.
    """

    features: dict[str, FeatureProfile]
    outputs: dict[str, FeatureProfile] = field(default_factory=dict)
    output_kind: str | None = None
    importances: dict[str, float] | None = None
    rows: Reservoir | None = None
    row_features: tuple[str, ...] = ()
    calibration: dict[str, Calibration] = field(default_factory=dict)
    n_rows: int = 0
    bins: int = 10
    model_name: str | None = None
    created_at: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def save(self, path: str) -> None:
        """Write the profile to one file (see :mod:`inferwatch.drift` for the format)."""
        from ._profile_io import save_profile

        save_profile(self, path)

    @classmethod
    def load(cls, path: str) -> ReferenceProfile:
        """Read a profile written by :meth:`save` (or ``inferwatch profile build``)."""
        from ._profile_io import load_profile

        return load_profile(path)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (what ``inferwatch profile show`` prints)."""
        return {
            "rows": self.n_rows,
            "bins": self.bins,
            "model_name": self.model_name,
            "created_at": self.created_at,
            "output_kind": self.output_kind,
            "features": {n: f.summary() for n, f in self.features.items()},
            "outputs": {n: f.summary() for n, f in self.outputs.items()},
            "importances": self.importances,
            "row_sample": None if self.rows is None else {
                "features": list(self.row_features), "rows": int(self.rows.rows.shape[0])},
            "calibrated": sorted(self.calibration),
            "metadata": self.metadata,
        }


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
