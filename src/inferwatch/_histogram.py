"""Histograms fed in numpy batches off the request path, and how they merge.

``Histogram`` keeps two views of the same values:

* explicit buckets with OpenTelemetry's convention (bucket i holds values in
  ``(bounds[i-1], bounds[i]]``): exact at every boundary, so a latency SLO
  threshold that is a boundary is counted exactly; boundaries can be added
  (``add_boundaries``);
* ``ExpBuckets``, base-2 exponential buckets laid out exactly as an OTel
  exponential histogram point (scale, offset, counts; bucket i holds
  ``(base**i, base**(i+1)]`` with ``base = 2**(2**-scale)``). At the default
  scale 4 (16 buckets per doubling) a quantile read from them is within
  2.2 % of the true value; explicit buckets are off by up to half a bucket
  (about 30 % at p90 for typical latencies with the default bounds).

Which view is exported is decided at export time (``_otel``), following
``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``.

Merging is in one place: ``merge`` adds another replica's or series'
histogram, ``delta`` is what was added since an earlier snapshot of the same
histogram (for delta temporality). Both work on both views.

``LogHistogram`` is the fixed-layout nanosecond histogram behind the local
latency percentiles (``summary()``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "BATCH_BOUNDS",
    "CONFIDENCE_BOUNDS",
    "DEFAULT_SCALE",
    "LATENCY_BOUNDS_S",
    "MAX_EXP_BUCKETS",
    "SIZE_BOUNDS",
    "VALUE_BOUNDS",
    "ExpBuckets",
    "Histogram",
    "LogHistogram",
    "exp_index",
    "merge_bounds",
]

#: Seconds; finer than OTel's HTTP defaults at the low end, where models live.
LATENCY_BOUNDS_S: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)
BATCH_BOUNDS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
CONFIDENCE_BOUNDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 21))
SIZE_BOUNDS: tuple[float, ...] = (
    100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000,
)


def _value_bounds() -> tuple[float, ...]:
    """A fixed 1-2-5 series from 1e-3 to 1e6 on both sides of zero.

    Fixed rather than learned bounds, so every replica's histogram merges.
    """
    positive = [m * 10.0**e for e in range(-3, 7) for m in (1, 2, 5)]
    return (*(-v for v in reversed(positive)), 0.0, *positive)


VALUE_BOUNDS: tuple[float, ...] = _value_bounds()

#: Scale of new exponential buckets: 2**4 = 16 buckets per doubling.
DEFAULT_SCALE = 4
#: Buckets per sign before the scale is lowered (two buckets merge into one).
#: 320 buckets at scale 4 span 2**20 (100 µs to 100 s at full resolution).
MAX_EXP_BUCKETS = 320
_MIN_SCALE = -10  # OTel's lowest scale: covers every float64 in two buckets


def merge_bounds(bounds: Iterable[float], extra: Iterable[float]) -> tuple[float, ...]:
    """Sorted, de-duplicated finite bounds: ``bounds`` plus ``extra``.

    >>> merge_bounds((0.1, 0.5), [0.25, 0.5])
    (0.1, 0.25, 0.5)
    """
    values = {float(b) for b in (*bounds, *extra)}
    bad = [b for b in values if not math.isfinite(b)]
    if bad:
        raise ValueError(f"histogram boundaries must be finite numbers, got {bad[0]!r}")
    return tuple(sorted(values))


def exp_index(value: float, scale: int = DEFAULT_SCALE) -> int:
    """The exponential bucket index of one positive value (pure Python, for hot paths).

    >>> exp_index(1.0), exp_index(2.0), exp_index(2.01)
    (-1, 15, 16)
    """
    return math.ceil(math.ldexp(math.log2(value), scale)) - 1


_EMPTY = np.zeros(0, dtype=np.int64)
_SMALL = 8  # batches up to this size are binned in pure Python


def _indices(magnitudes: np.ndarray, scale: int) -> np.ndarray:
    # ceil(log2(v) * 2**scale) - 1: (base**i, base**(i+1)] holds v, as in OTel.
    # Multiplying by a power of two is exact, so values on a bucket edge stay there.
    position = np.log2(magnitudes)
    position *= 2.0**scale
    index: np.ndarray = np.ceil(position, out=position).astype(np.int64)
    index -= 1
    return index


class _Side:
    """Counts of one sign: ``counts[k]`` is bucket ``offset + k``."""

    __slots__ = ("counts", "offset")

    def __init__(self, offset: int = 0, counts: np.ndarray | None = None) -> None:
        self.offset = offset
        self.counts = np.zeros(0, dtype=np.int64) if counts is None else counts

    @property
    def end(self) -> int:
        return self.offset + int(self.counts.size)

    def copy(self) -> _Side:
        return _Side(self.offset, self.counts.copy())

    def downscale(self, by: int) -> None:
        if by <= 0 or self.counts.size == 0:
            return
        index = (np.arange(self.counts.size, dtype=np.int64) + self.offset) >> by
        start = int(index[0])
        size = int(index[-1]) - start + 1
        merged = np.bincount(index - start, weights=self.counts, minlength=size)
        self.offset, self.counts = start, np.rint(merged).astype(np.int64)

    def add_counts(self, index: np.ndarray, counts: np.ndarray | None = None) -> None:
        """Add one count per entry of ``index`` (or ``counts[k]`` for ``index[k]``)."""
        if index.size == 0:
            return
        lo, hi = int(index.min()), int(index.max())
        if self.counts.size:
            lo, hi = min(lo, self.offset), max(hi, self.end - 1)
        size = hi - lo + 1
        if self.counts.size == 0 or lo != self.offset or size != self.counts.size:
            grown = np.zeros(size, dtype=np.int64)
            if self.counts.size:
                grown[self.offset - lo:self.end - lo] = self.counts
            self.offset, self.counts = lo, grown
        weights = None if counts is None else counts.astype(np.float64)
        added = np.bincount(index - lo, weights=weights, minlength=size)
        self.counts += np.rint(added).astype(np.int64)

    def subtract(self, other: _Side) -> None:
        """Remove ``other``'s counts (an earlier snapshot: its range lies inside ours)."""
        if other.counts.size == 0:
            return
        start = other.offset - self.offset
        self.counts[start:start + other.counts.size] -= other.counts

    def span_with(self, index: np.ndarray) -> int:
        if index.size == 0:
            return int(self.counts.size)
        lo, hi = int(index.min()), int(index.max())
        if self.counts.size:
            lo, hi = min(lo, self.offset), max(hi, self.end - 1)
        return hi - lo + 1


class ExpBuckets:
    """Base-2 exponential buckets of positive and negative values, and zeros.

    The layout of an OTel ``ExponentialHistogramDataPoint``. New values that
    would need more than ``max_buckets`` buckets on one side lower the scale
    (halving the resolution) instead of growing memory.
    """

    __slots__ = ("max_buckets", "negative", "positive", "scale", "zero_count")

    def __init__(self, scale: int = DEFAULT_SCALE, max_buckets: int = MAX_EXP_BUCKETS) -> None:
        self.scale = scale
        self.max_buckets = max_buckets
        self.zero_count = 0
        self.positive = _Side()
        self.negative = _Side()

    @property
    def count(self) -> int:
        return self.zero_count + int(self.positive.counts.sum()) + int(self.negative.counts.sum())

    def copy(self) -> ExpBuckets:
        other = ExpBuckets(self.scale, self.max_buckets)
        other.zero_count = self.zero_count
        other.positive, other.negative = self.positive.copy(), self.negative.copy()
        return other

    def downscale_to(self, scale: int) -> None:
        if scale < self.scale:
            self.positive.downscale(self.scale - scale)
            self.negative.downscale(self.scale - scale)
            self.scale = scale

    def _fit(self, positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower the scale until both sides fit; the indices at the final scale."""
        while self.scale > _MIN_SCALE and (
            self.positive.span_with(positive) > self.max_buckets
            or self.negative.span_with(negative) > self.max_buckets
        ):
            self.downscale_to(self.scale - 1)
            positive, negative = positive >> 1, negative >> 1
        return positive, negative

    def add(self, values: np.ndarray) -> None:
        """Add a batch of finite values."""
        if values.size == 0:
            return
        if values.size <= _SMALL and self._add_few(values.tolist()):
            return
        if values.min() > 0:  # the common case (durations, sizes): no masks
            self._add_positive(_indices(values, self.scale))
            return
        self.zero_count += int(np.count_nonzero(values == 0))
        positive = _indices(values[values > 0], self.scale)
        negative = _indices(-values[values < 0], self.scale)
        positive, negative = self._fit(positive, negative)
        self.positive.add_counts(positive)
        self.negative.add_counts(negative)

    def _add_few(self, values: list[float]) -> bool:
        """A few positive values inside the current range, without numpy's per-call cost."""
        side = self.positive
        counts, offset, end, scale = side.counts, side.offset, side.end, self.scale
        index = []
        for value in values:
            if not value > 0:
                return False
            i = math.ceil(math.log2(value) * 2.0**scale) - 1
            if not offset <= i < end:
                return False
            index.append(i - offset)
        for i in index:
            counts[i] += 1
        return True

    def _add_positive(self, index: np.ndarray) -> None:
        side = self.positive
        lo, hi = int(index.min()), int(index.max())
        if side.counts.size and side.offset <= lo and hi < side.end:
            # Inside the current range: one bincount, no resizing.
            side.counts += np.bincount(index - side.offset, minlength=side.counts.size)
            return
        index, _ = self._fit(index, _EMPTY)
        side.add_counts(index)

    def add_indexed(self, counts: Mapping[int, int], scale: int = DEFAULT_SCALE) -> None:
        """Add counts of positive values binned elsewhere at ``scale`` (see ``exp_index``)."""
        if not counts:
            return
        index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        n = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        if scale > self.scale:
            index = index >> (scale - self.scale)
        else:
            self.downscale_to(scale)
        index, _ = self._fit(index, _EMPTY)
        self.positive.add_counts(index, n)

    def merge(self, other: ExpBuckets) -> None:
        """Add ``other``'s counts (any scale: the coarser one wins)."""
        other = other.copy()
        self.downscale_to(other.scale)
        other.downscale_to(self.scale)
        self._fit(_range(other.positive), _range(other.negative))
        other.downscale_to(self.scale)  # when fitting lowered the scale further
        self.zero_count += other.zero_count
        self.positive.add_counts(_range(other.positive), other.positive.counts)
        self.negative.add_counts(_range(other.negative), other.negative.counts)

    def delta(self, earlier: ExpBuckets) -> ExpBuckets:
        """Counts added since ``earlier``, a previous snapshot of this histogram."""
        out = self.copy()
        earlier = earlier.copy()
        earlier.downscale_to(out.scale)  # the scale only ever goes down
        out.zero_count -= earlier.zero_count
        out.positive.subtract(earlier.positive)
        out.negative.subtract(earlier.negative)
        return out

    def quantile(self, q: float) -> float | None:
        """The q-quantile (geometric midpoint of its bucket), None when empty."""
        total = self.count
        if total == 0:
            return None
        rank = q * (total - 1) + 1
        base = 2.0 ** (2.0 ** -self.scale)
        negative = self.negative.counts[::-1]  # most negative first
        n_neg = int(negative.sum())
        if rank <= n_neg:
            k = int(np.searchsorted(np.cumsum(negative), rank, side="left"))
            index = self.negative.end - 1 - k
            return -float(base ** (index + 0.5))
        if rank <= n_neg + self.zero_count:
            return 0.0
        cumulative = np.cumsum(self.positive.counts)
        k = int(np.searchsorted(cumulative, rank - n_neg - self.zero_count, side="left"))
        return float(base ** (self.positive.offset + k + 0.5))

    def count_at_most(self, bound: float) -> float:
        """Estimated number of values <= ``bound`` (exact at bucket edges).

        The bucket holding ``bound`` is split by its position on the log scale.
        """
        n_negative = float(self.negative.counts.sum())
        if bound < 0:
            return n_negative - self._below(self.negative, -bound)
        return n_negative + self.zero_count + self._below(self.positive, bound)

    def _below(self, side: _Side, limit: float) -> float:
        """Estimated count of ``side``'s magnitudes <= ``limit``."""
        if side.counts.size == 0 or limit <= 0:
            return 0.0
        position = math.ldexp(math.log2(limit), self.scale)
        holding = math.ceil(position) - 1  # the bucket whose range holds ``limit``
        j = holding - side.offset
        total = float(side.counts[:min(max(j, 0), side.counts.size)].sum())
        if 0 <= j < side.counts.size:
            total += float(side.counts[j]) * (position - holding)
        return total


def _range(side: _Side) -> np.ndarray:
    return np.arange(side.offset, side.end, dtype=np.int64)


class Histogram:
    """Values in explicit buckets and exponential buckets, with count, sum, min and max."""

    __slots__ = ("bounds", "count", "counts", "exp", "max", "min", "sum")

    def __init__(self, bounds: Sequence[float], scale: int = DEFAULT_SCALE) -> None:
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self.counts = np.zeros(len(self.bounds) + 1, dtype=np.int64)
        self.exp = ExpBuckets(scale)
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")

    def add(self, values: np.ndarray) -> None:
        """Add a batch of finite values (callers filter NaN first)."""
        if values.size == 0:
            return
        index = np.searchsorted(self.bounds, values, side="left")
        self.counts += np.bincount(index, minlength=self.counts.size)
        self.exp.add(values)
        self.count += int(values.size)
        self.sum += float(values.sum())
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))

    def add_binned(
        self, explicit: Mapping[int, int], exponential: Mapping[int, int], *,
        count: int, total: float, low: float, high: float, zero_count: int = 0,
        scale: int = DEFAULT_SCALE, explicit_bounds: Sequence[float] | None = None,
    ) -> None:
        """Add non-negative values binned elsewhere (cheaply, on the request path).

        ``explicit`` maps an explicit-bucket index (``bisect_left(explicit_bounds, v)``,
        by default against this histogram's bounds) to a count, ``exponential``
        a positive value's ``exp_index(v, scale)`` to a count, and
        ``zero_count`` counts the zeros; ``count``, ``total``, ``low`` and
        ``high`` are the values' count, sum, min and max. Exact when this
        histogram's bounds are among ``explicit_bounds`` (boundaries are only
        ever added, so binning against the newest bounds is).
        """
        mapped = explicit
        if explicit_bounds is not None and not np.array_equal(explicit_bounds, self.bounds):
            # Each foreign bucket (b[i-1], b[i]] lies inside the bucket of ours that holds b[i].
            upper = [*explicit_bounds, math.inf]
            mapped = {}
            for index, n in explicit.items():
                ours = int(np.searchsorted(self.bounds, upper[index], side="left"))
                mapped[ours] = mapped.get(ours, 0) + n
        for index, n in mapped.items():
            self.counts[index] += n
        self.exp.add_indexed(exponential, scale)
        self.exp.zero_count += zero_count
        self.count += count
        self.sum += total
        self.min = min(self.min, low)
        self.max = max(self.max, high)

    def copy(self) -> Histogram:
        other = Histogram.__new__(Histogram)
        other.bounds = self.bounds
        other.counts = self.counts.copy()
        other.exp = self.exp.copy()
        other.count, other.sum, other.min, other.max = self.count, self.sum, self.min, self.max
        return other

    def add_boundaries(self, bounds: Iterable[float]) -> None:
        """Make each of ``bounds`` a bucket boundary from now on.

        Values added afterwards are counted exactly against the new
        boundaries. Values already counted in a bucket that a new boundary
        splits are divided between the two halves from the exponential
        buckets (within one exponential bucket of exact): add the boundaries
        that matter (SLO thresholds) before traffic.
        """
        new = merge_bounds(self.bounds.tolist(), bounds)
        if len(new) == self.bounds.size:
            return
        old_bounds = self.bounds
        cumulative_old = np.cumsum(self.counts)  # exact count <= each old bound
        counts = np.zeros(len(new) + 1, dtype=np.int64)
        previous = 0
        for i, bound in enumerate(new):
            at = int(np.searchsorted(old_bounds, bound, side="left"))
            if at < old_bounds.size and old_bounds[at] == bound:
                at_most = int(cumulative_old[at])  # an old boundary: exact
            else:
                below = int(cumulative_old[at - 1]) if at > 0 else 0
                above = int(cumulative_old[at])  # count <= the next old bound
                estimate = round(self.exp.count_at_most(bound))
                at_most = min(max(estimate, below), above)
            counts[i] = at_most - previous
            previous = at_most
        counts[-1] = self.count - previous
        self.bounds = np.asarray(new, dtype=np.float64)
        self.counts = counts

    def merge(self, other: Histogram) -> None:
        """Add ``other`` (another replica or series of the same metric)."""
        if not np.array_equal(self.bounds, other.bounds):
            other = other.copy()
            other.add_boundaries(self.bounds.tolist())
            self.add_boundaries(other.bounds.tolist())
        self.counts = self.counts + other.counts
        self.exp.merge(other.exp)
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def delta(self, earlier: Histogram | None) -> Histogram:
        """What was added since ``earlier``, a previous snapshot of this histogram.

        Min and max stay cumulative: they cannot be undone.
        """
        out = self.copy()
        if earlier is None:
            return out
        if not np.array_equal(self.bounds, earlier.bounds):
            earlier = earlier.copy()
            earlier.add_boundaries(self.bounds.tolist())
        out.counts = out.counts - earlier.counts
        out.exp = self.exp.delta(earlier.exp)
        out.count -= earlier.count
        out.sum -= earlier.sum
        return out

    def quantile(self, q: float) -> float | None:
        """The q-quantile from the exponential buckets (within 2.2 % at scale 4)."""
        value = self.exp.quantile(q)
        if value is None:
            return None
        return min(max(value, self.min), self.max)


_SUB = 16  # buckets per doubling
_NBUCKETS = 64 * _SUB


class LogHistogram:
    """Positive integers (nanoseconds) in log-spaced buckets, for percentiles."""

    __slots__ = ("count", "counts")

    def __init__(self) -> None:
        self.counts = np.zeros(_NBUCKETS, dtype=np.int64)
        self.count = 0

    def add(self, values_ns: np.ndarray) -> None:
        if values_ns.size == 0:
            return
        index = np.floor(np.log2(np.maximum(values_ns, 1.0)) * _SUB).astype(np.int64)
        np.clip(index, 0, _NBUCKETS - 1, out=index)
        self.counts += np.bincount(index, minlength=_NBUCKETS)
        self.count += int(values_ns.size)

    def quantile(self, q: float) -> float | None:
        """The q-quantile in nanoseconds (bucket's geometric midpoint), None if empty."""
        if self.count == 0:
            return None
        rank = q * (self.count - 1) + 1
        index = int(np.searchsorted(np.cumsum(self.counts), rank, side="left"))
        return float(2.0 ** ((index + 0.5) / _SUB))
