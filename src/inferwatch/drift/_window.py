"""One live window: per-feature sketches and data-quality counts, bounded in size.

Converted columns are staged and folded into the sketches once ``fold_rows``
rows are pending (or when the window is read), so the per-call overhead of
the sketches is paid per few thousand rows, not per drained batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..sketches import DEFAULT_K, BinnedCounts, KLLSketch, Reservoir, TopKCounts
from ._columns import CategoricalColumn, Column, FloatArray, NumericColumn, VectorColumn
from ._feature_profile import (
    CATEGORICAL,
    NUMERIC,
    CategoricalProfile,
    FeatureProfile,
    NumericProfile,
)
from ._ingest import Batch, numeric_matrix
from ._profile import ReferenceProfile

#: Finite values per numeric feature a window keeps exactly before switching to its
#: KLL sketch (16 KB of float64): small windows, where a KLL's rank error would
#: inflate KS most, get exact statistics.
EXACT_ROWS = 2048


class FeatureState:
    """Rows, missing and invalid counts every feature kind keeps."""

    def __init__(self) -> None:
        self.rows = 0
        self.missing = 0
        self.invalid = 0
        self._pending: list[Any] = []

    def add(self, col: Any) -> None:
        self._pending.append(col)

    def fold(self) -> None:
        pending, self._pending = self._pending, []
        for col in pending:
            self.rows += len(col)
            self.missing += int(col.missing.sum())
            self.invalid += int(col.invalid.sum())
        if pending:
            self._fold(pending)

    def _fold(self, pending: list[Any]) -> None:
        raise NotImplementedError

    @property
    def n(self) -> int:
        """Usable values (what the statistics see)."""
        raise NotImplementedError


class NumericState(FeatureState):
    """Reference-bin counts plus the window's values: exact up to ``exact_rows``, then a KLL.

    A small window's KS statistic read off a KLL sketch is inflated by the
    sketch's rank error (a KLL with k=200 fed 300 values has already
    compacted once, so its CDF is off by up to 1/300 at half the points),
    which pushed the false-alarm rate of the KS test above its nominal level.
    So the first ``exact_rows`` finite values are kept as they are, in a
    buffer that grows geometrically up to that bound; the statistics see them
    exactly. The value that would overflow the buffer spills all of it into the
    KLL and frees it, so memory stays bounded by ``8 * exact_rows`` bytes plus
    the sketch, whatever the traffic. NaN and inf are counted by the KLL
    either way (never inserted).
    """

    def __init__(self, prof: NumericProfile | None, kll_k: int, exact_rows: int = 0) -> None:
        super().__init__()
        edges = None if prof is None else prof.edges
        self.counts = None if edges is None else BinnedCounts(edges)
        self.kll = KLLSketch(k=kll_k)
        self.exact_rows = exact_rows
        self._exact: FloatArray | None = np.empty(0) if exact_rows > 0 else None
        self._n_exact = 0
        self._sorted = True

    def _fold(self, pending: list[NumericColumn]) -> None:
        values = np.concatenate([c.values for c in pending]) if len(pending) > 1 else (
            pending[0].values)
        if self.counts is not None:
            self.counts.update_batch(values)
        if self._exact is None:
            self.kll.update_batch(values)
            return
        finite = np.isfinite(values)
        if not finite.all():
            self.kll.update_batch(values[~finite])  # counted, not inserted
            values = values[finite]
        self._keep_exact(values)

    def _keep_exact(self, values: FloatArray) -> None:
        assert self._exact is not None
        n, add = self._n_exact, values.size
        if n + add > self.exact_rows:
            # Past the bound: from now on this window is a KLL sketch.
            self.kll.update_batch(np.concatenate([self._exact[:n], values]))
            self._exact, self._n_exact = None, 0
            return
        if n + add > self._exact.size:
            grown = np.empty(min(self.exact_rows, max(256, 2 * (n + add))))
            grown[:n] = self._exact[:n]
            self._exact = grown
        self._exact[n : n + add] = values
        self._n_exact = n + add
        self._sorted = self._sorted and add == 0

    @property
    def exact(self) -> bool:
        """True while every finite value is held as is (no sketch error)."""
        return self._exact is not None

    def sorted_view(self) -> tuple[FloatArray, FloatArray]:
        """Values ascending and cumulative weights, like :meth:`KLLSketch.sorted_view`."""
        if self._exact is None:
            return self.kll.sorted_view()
        n = self._n_exact
        if not n:
            raise ValueError("the window holds no finite value")
        if not self._sorted:
            self._exact[:n].sort()
            self._sorted = True
        return self._exact[:n].copy(), np.arange(1.0, n + 1.0)

    @property
    def n(self) -> int:
        return self.kll.n + self._n_exact

    def rank_error(self) -> float:
        """0 while the window holds its values exactly, else the sketch's bound."""
        return 0.0 if self._exact is not None else self.kll.rank_error()

    @property
    def nan(self) -> int:
        return self.kll.n_nan - self.missing - self.invalid

    @property
    def inf(self) -> int:
        return self.kll.n_inf

    @property
    def out_of_range(self) -> int:
        """Values below the reference minimum or above its maximum (the overflow bins)."""
        if self.counts is None:
            return 0
        return int(self.counts.counts[0] + self.counts.counts[-1])

    @property
    def nbytes(self) -> int:
        exact = 0 if self._exact is None else self._exact.nbytes
        return self.kll.nbytes + exact + (0 if self.counts is None else self.counts.nbytes)


class CategoricalState(FeatureState):
    def __init__(self, top_k: int) -> None:
        super().__init__()
        self.topk = TopKCounts(k=top_k)

    def _fold(self, pending: list[CategoricalColumn]) -> None:
        values: list[Any] = []
        for c in pending:
            values.extend(c.values)
        self.topk.update_batch(values)

    @property
    def n(self) -> int:
        return self.topk.n


class VectorState(FeatureState):
    def __init__(self, dim: int, sample_rows: int, seed: int) -> None:
        super().__init__()
        self.sample = Reservoir(capacity=sample_rows, n_features=dim, seed=seed)

    def _fold(self, pending: list[VectorColumn]) -> None:
        self.sample.update_batch(np.concatenate([c.rows for c in pending]))

    @property
    def n(self) -> int:
        return self.sample.n

    @property
    def nan(self) -> int:
        """Rows holding NaN or inf (present, right width, but not finite)."""
        return self.sample.n_dropped - self.missing - self.invalid


State = NumericState | CategoricalState | VectorState


def make_state(prof: FeatureProfile, *, kll_k: int, top_k: int, sample_rows: int,
               seed: int, exact_rows: int = 0) -> State:
    if prof.kind == NUMERIC:
        return NumericState(prof if isinstance(prof, NumericProfile) else None, kll_k,
                            exact_rows)
    if prof.kind == CATEGORICAL:
        k = prof.topk.k if isinstance(prof, CategoricalProfile) else top_k
        return CategoricalState(k)
    return VectorState(getattr(prof, "dim", 1), sample_rows, seed)


class Window:
    """Sketches of one window of live rows, for every feature and output."""

    def __init__(
        self,
        profile: ReferenceProfile,
        index: int,
        opened_at: float,
        *,
        kll_k: int = DEFAULT_K,
        exact_rows: int = EXACT_ROWS,
        sample_rows: int = 256,
        fold_rows: int = 2048,
        max_unknown: int = 32,
        seed: int = 0,
    ) -> None:
        self.index = index
        self.opened_at = opened_at
        self.closed_at: float | None = None
        self.rows = 0
        self.n_unreadable = 0
        self.unknown: dict[str, int] = {}
        self._max_unknown = max_unknown
        self._fold_rows = fold_rows
        self._pending_rows = 0
        if exact_rows < 0:
            raise ValueError(f"exact_rows must be >= 0, got {exact_rows}")
        opts = {"kll_k": kll_k, "top_k": 64, "sample_rows": sample_rows,
                "exact_rows": exact_rows}
        self.features: dict[str, State] = {
            name: make_state(p, seed=seed + i, **opts)
            for i, (name, p) in enumerate(profile.features.items())
        }
        self.outputs: dict[str, State] = {
            name: make_state(p, seed=seed, **opts) for name, p in profile.outputs.items()
        }
        self.row_features = profile.row_features
        self.row_sample = (
            Reservoir(capacity=sample_rows, n_features=len(profile.row_features), seed=seed)
            if profile.rows is not None and profile.row_features else None
        )

    @property
    def complete(self) -> bool:
        return self.closed_at is not None

    def add(self, batch: Batch) -> None:
        self.rows += batch.n_rows
        self.n_unreadable += batch.n_unreadable
        for name, count in batch.unknown.items():
            if name in self.unknown or len(self.unknown) < self._max_unknown:
                self.unknown[name] = self.unknown.get(name, 0) + count
        states: dict[str, State] = self.features
        cols: dict[str, Column] = batch.features
        for name, col in cols.items():
            states[name].add(col)
        for name, col in batch.outputs.items():
            state = self.outputs.get(name)
            if state is not None:
                state.add(col)
        if self.row_sample is not None:
            matrix = numeric_matrix(batch, self.row_features)
            if matrix is not None and matrix.size:
                self.row_sample.update_batch(matrix)
        self._pending_rows += batch.n_rows
        if self._pending_rows >= self._fold_rows:
            self.fold()

    def fold(self) -> None:
        """Fold staged columns into the sketches (before reading them)."""
        self._pending_rows = 0
        for state in self.features.values():
            state.fold()
        for state in self.outputs.values():
            state.fold()

    @property
    def nbytes(self) -> int:
        total = 0
        for state in self.features.values():
            if isinstance(state, NumericState):
                total += state.nbytes
            elif isinstance(state, VectorState):
                total += state.sample.nbytes
        return total
