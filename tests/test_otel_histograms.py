"""Histograms: exponential buckets beside explicit ones, their accuracy, merge and delta,
added boundaries, and both forms handed to OpenTelemetry."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    InMemoryMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation

import inferwatch
from inferwatch._catalogue import METRICS, MetricPoint
from inferwatch._histogram import (
    LATENCY_BOUNDS_S,
    VALUE_BOUNDS,
    ExpBuckets,
    Histogram,
    exp_index,
)
from inferwatch.otel import add_boundaries, instrument_reader


def _latencies(n: int, seed: int = 7) -> np.ndarray:
    # Model latencies: lognormal around 60 ms with a long tail.
    return np.random.default_rng(seed).lognormal(math.log(0.06), 0.5, n)


def _explicit_quantile(bounds: list[float], counts: list[int], q: float) -> float:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket."""
    total = sum(counts)
    rank = q * total
    cumulative = 0
    for i, count in enumerate(counts):
        if cumulative + count >= rank and count:
            lower = bounds[i - 1] if i > 0 else 0.0
            upper = bounds[i] if i < len(bounds) else bounds[-1]
            return lower + (upper - lower) * (rank - cumulative) / count
        cumulative += count
    return bounds[-1]


def _exponential_quantile(point: Any, q: float) -> float:
    """From an exported point: the geometric midpoint of the bucket holding rank q."""
    base = 2.0 ** (2.0 ** -point.scale)
    rank = q * point.count
    cumulative = point.zero_count
    for k, count in enumerate(point.positive.bucket_counts):
        cumulative += count
        if cumulative >= rank:
            return float(base ** (point.positive.offset + k + 0.5))
    raise AssertionError("rank past the last bucket")


def _export(values: np.ndarray, aggregation: Any = None) -> Any:
    """The predict.duration point for ``values`` through a real monitor and reader."""
    preferred = {HistogramInstrument: aggregation} if aggregation is not None else None
    reader = InMemoryMetricReader(preferred_aggregation=preferred)
    provider = MeterProvider(metric_readers=[reader])
    mon = inferwatch.Monitor(meter_provider=provider, environ={}, log_sink="none")
    instrument_reader(reader, mon)
    try:
        # The aggregator bins what it drains; feed it values as the aggregation does.
        hist = Histogram(LATENCY_BOUNDS_S)
        hist.add(values)
        mon.add_collector(lambda: [MetricPoint(
            "inferwatch.predict.duration", {"model.name": "m"}, hist.copy())])
        data = reader.get_metrics_data()
    finally:
        mon.shutdown()
        provider.shutdown()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "inferwatch.predict.duration":
                    points = [p for p in metric.data.data_points
                              if p.attributes == {"model.name": "m"}]
                    return points[0]
    raise AssertionError("no predict.duration exported")


def test_exponential_export_is_accurate_where_explicit_buckets_are_not() -> None:
    values = _latencies(20_000)
    truth = float(np.quantile(values, 0.9))
    explicit = _export(values)
    exponential = _export(values, ExponentialBucketHistogramAggregation())
    assert isinstance(explicit, HistogramDataPoint)
    assert isinstance(exponential, ExponentialHistogramDataPoint)
    explicit_error = abs(_explicit_quantile(list(explicit.explicit_bounds),
                                            list(explicit.bucket_counts), 0.9) / truth - 1)
    exponential_error = abs(_exponential_quantile(exponential, 0.9) / truth - 1)
    print(f"p90 {truth * 1e3:.1f} ms: explicit buckets off by {explicit_error:.1%}, "
          f"exponential by {exponential_error:.1%}")
    assert explicit_error > 0.15  # the default bounds are coarse at ~100 ms
    assert exponential_error < 0.025  # half a bucket at scale 4 is 2.2 %
    assert exponential.count == explicit.count == values.size
    assert exponential.sum == pytest.approx(float(values.sum()))


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99, 0.999])
def test_quantiles_within_bucket_resolution(q: float) -> None:
    values = _latencies(50_000, seed=3)
    hist = Histogram(LATENCY_BOUNDS_S)
    hist.add(values)
    estimate = hist.quantile(q)
    assert estimate is not None
    assert estimate / float(np.quantile(values, q)) == pytest.approx(1.0, abs=0.025)


def test_exponential_buckets_follow_otel_bucket_edges() -> None:
    # Bucket i holds (base**i, base**(i+1)]: a power of two closes its bucket.
    assert exp_index(1.0) == -1
    assert exp_index(2.0) == 15
    assert exp_index(2.0 + 1e-12) == 16
    assert exp_index(0.5) == -17
    buckets = ExpBuckets()
    buckets.add(np.array([1.0, 2.0, 2.0 + 1e-12]))
    index = {buckets.positive.offset + k: int(c)
             for k, c in enumerate(buckets.positive.counts) if c}
    assert index == {-1: 1, 15: 1, 16: 1}
    # The small-batch path (pure Python) and the numpy path bin alike.
    values = _latencies(8, seed=11)
    small, large = ExpBuckets(), ExpBuckets()
    small.add(_latencies(1000))
    large.add(_latencies(1000))
    small.add(values)
    small.add(values)
    large.add(np.concatenate([values, values]))  # 16 values: the numpy path
    assert np.array_equal(small.positive.counts, large.positive.counts)


def test_wide_ranges_lower_the_scale_and_keep_every_count() -> None:
    values = np.concatenate([-np.logspace(-5, 5, 500), np.zeros(3), np.logspace(-300, 300, 2000)])
    buckets = ExpBuckets()
    buckets.add(values)
    assert buckets.count == values.size
    assert buckets.scale < 4
    assert buckets.positive.counts.size <= 320 and buckets.negative.counts.size <= 320
    assert buckets.zero_count == 3
    assert buckets.quantile(0.0) == pytest.approx(-1e5, rel=2 ** (2 ** -buckets.scale))


def test_merge_equals_one_histogram_of_everything() -> None:
    values = np.concatenate([_latencies(3000), -_latencies(100, seed=2), [0.0, 0.0]])
    one = Histogram(VALUE_BOUNDS)
    one.add(values)
    first, second = Histogram(VALUE_BOUNDS), Histogram(VALUE_BOUNDS)
    first.add(values[:1000])
    second.add(values[1000:])
    first.merge(second)
    assert np.array_equal(first.counts, one.counts)
    assert first.exp.scale == one.exp.scale
    for side in ("positive", "negative"):
        mine, theirs = getattr(first.exp, side), getattr(one.exp, side)
        assert mine.offset == theirs.offset and np.array_equal(mine.counts, theirs.counts)
    assert (first.count, first.min, first.max) == (one.count, one.min, one.max)
    assert first.sum == pytest.approx(one.sum)


def test_merge_across_scales_keeps_counts() -> None:
    narrow, wide = ExpBuckets(), ExpBuckets()
    narrow.add(_latencies(500))
    wide.add(np.logspace(-200, 200, 1000))
    narrow.merge(wide)
    assert narrow.scale == wide.scale
    assert narrow.count == 1500


def test_delta_is_what_was_added_since_the_snapshot() -> None:
    hist = Histogram(LATENCY_BOUNDS_S)
    hist.add(_latencies(1000))
    snapshot = hist.copy()
    later = _latencies(500, seed=9)
    hist.add(later)
    hist.add(np.logspace(-200, 200, 400))  # lowers the scale after the snapshot
    delta = hist.delta(snapshot)
    expected = Histogram(LATENCY_BOUNDS_S)
    expected.add(later)
    expected.add(np.logspace(-200, 200, 400))
    assert np.array_equal(delta.counts, expected.counts)
    assert delta.count == 900 == delta.exp.count
    assert int(delta.exp.positive.counts.min()) >= 0
    assert delta.sum == pytest.approx(expected.sum)


def test_added_boundaries_are_exact_for_later_values_and_close_for_earlier() -> None:
    earlier = _latencies(5000, seed=4)
    hist = Histogram(LATENCY_BOUNDS_S)
    hist.add(earlier)
    hist.add_boundaries([0.3, 0.1])  # 0.1 is already a boundary: nothing changes there
    later = _latencies(5000, seed=5)
    hist.add(later)
    bounds = hist.bounds.tolist()
    at = bounds.index(0.3)
    counted = int(hist.counts[:at + 1].sum())
    exact_earlier = int((earlier <= 0.3).sum())
    exact_later = int((later <= 0.3).sum())
    assert abs(counted - exact_later - exact_earlier) <= 0.02 * earlier.size
    assert int(hist.counts.sum()) == hist.count == 10_000
    fresh = Histogram(sorted({*LATENCY_BOUNDS_S, 0.3}))
    fresh.add(later)
    assert int(fresh.counts[:at + 1].sum()) == exact_later  # exact from the start


def test_catalogue_boundaries_for_a_histogram_only() -> None:
    before = METRICS["inferwatch.predict.duration"]
    try:
        # A boundary no other test (an SLO threshold) can have added already.
        new = 0.3 + 1e-9
        assert new not in before.bounds
        add_boundaries("inferwatch.predict.duration", [new])
        assert new in METRICS["inferwatch.predict.duration"].bounds
        assert set(before.bounds) < set(METRICS["inferwatch.predict.duration"].bounds)
    finally:
        METRICS["inferwatch.predict.duration"] = before
    with pytest.raises(ValueError, match="not a histogram"):
        add_boundaries("inferwatch.predict.calls", [1.0])
    with pytest.raises(ValueError, match="finite"):
        add_boundaries("inferwatch.predict.duration", [float("nan")])


def test_values_binned_on_the_request_path_join_both_views() -> None:
    values = [0.002, 0.004, 0.5]
    direct = Histogram(LATENCY_BOUNDS_S)
    direct.add(np.asarray(values))
    binned = Histogram(LATENCY_BOUNDS_S)
    from bisect import bisect_left

    explicit: dict[int, int] = {}
    exponential: dict[int, int] = {}
    for v in values:
        at = bisect_left(LATENCY_BOUNDS_S, v)
        explicit[at] = explicit.get(at, 0) + 1
        exponential[exp_index(v)] = exponential.get(exp_index(v), 0) + 1
    binned.add_binned(explicit, exponential, count=3, total=sum(values), low=min(values),
                      high=max(values))
    assert np.array_equal(binned.counts, direct.counts)
    assert np.array_equal(binned.exp.positive.counts, direct.exp.positive.counts)
    assert binned.exp.positive.offset == direct.exp.positive.offset


def test_delta_temporality_reader_gets_exponential_deltas() -> None:
    reader = InMemoryMetricReader(
        preferred_temporality={HistogramInstrument: AggregationTemporality.DELTA},
        preferred_aggregation={HistogramInstrument: ExponentialBucketHistogramAggregation()},
    )
    provider = MeterProvider(metric_readers=[reader])
    mon = inferwatch.Monitor(meter_provider=provider, environ={}, log_sink="none")
    instrument_reader(reader, mon)

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        return x

    def duration_count() -> int:
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == "inferwatch.predict.duration":
                        assert metric.data.aggregation_temporality == AggregationTemporality.DELTA
                        return sum(p.count for p in metric.data.data_points)
        return 0

    try:
        for i in range(4):
            predict(i)
        assert duration_count() == 4
        predict(5)
        assert duration_count() == 1
    finally:
        mon.shutdown()
        provider.shutdown()


def test_calls_spilled_under_saturation_reach_both_views() -> None:
    from inferwatch._aggregate import Aggregates
    from inferwatch._spill import SpilledCalls

    durations_ns = [0, 1_500, 2_000_000, 2_300_000, 400_000_000]
    entry = SpilledCalls()
    for ns in durations_ns:
        entry.add(ns, 1)
    folded = Histogram(LATENCY_BOUNDS_S)
    Aggregates._fold_spilled(folded, entry)
    direct = Histogram(LATENCY_BOUNDS_S)
    direct.add(np.asarray(durations_ns, dtype=np.float64) * 1e-9)
    assert np.array_equal(folded.counts, direct.counts)
    assert folded.exp.count == folded.count == 5  # the exponential export counts them too
    assert folded.exp.zero_count == direct.exp.zero_count == 1
    assert folded.exp.positive.offset == direct.exp.positive.offset
    assert np.array_equal(folded.exp.positive.counts, direct.exp.positive.counts)


def test_a_boundary_added_in_the_catalogue_counts_exactly(make_monitor: Any) -> None:
    import time

    name = "inferwatch.predict.duration"
    before = METRICS[name]
    add_boundaries(name, [0.003])  # an SLO threshold of 3 ms
    try:
        mon = make_monitor()

        @inferwatch.monitor(model="m", monitor=mon)
        def predict(slow: bool) -> int:
            if slow:
                time.sleep(0.01)
            return 1

        for i in range(12):
            predict(i % 3 == 0)
        (point,) = [p for p in mon.collect() if p.name == name]
        hist = point.value
        at = hist.bounds.tolist().index(0.003)
        assert int(hist.counts[:at + 1].sum()) == 8  # the fast calls, exactly
        assert int(hist.counts[at + 1:].sum()) == 4
    finally:
        METRICS[name] = before


def test_spilled_calls_binned_against_newer_bounds_fold_exactly() -> None:
    from inferwatch._aggregate import Aggregates
    from inferwatch._spill import SpilledCalls

    entry = SpilledCalls(tuple(sorted({*LATENCY_BOUNDS_S, 0.003})))  # boundaries added since
    durations_ns = [2_000_000, 2_900_000, 3_100_000, 40_000_000_000]
    for ns in durations_ns:
        entry.add(ns, 1)
    older = Histogram(LATENCY_BOUNDS_S)  # made before the boundary was added
    Aggregates._fold_spilled(older, entry)
    direct = Histogram(LATENCY_BOUNDS_S)
    direct.add(np.asarray(durations_ns, dtype=np.float64) * 1e-9)
    assert np.array_equal(older.counts, direct.counts)


def test_testing_capture_merges_both_views() -> None:
    from inferwatch.testing import capture

    with capture() as cap:

        @inferwatch.monitor(model="m")
        def predict(fail: bool) -> int:
            if fail:
                raise ValueError("no")
            return 1

        for i in range(6):
            with contextlib.suppress(ValueError):
                predict(i % 3 == 0)
        merged = cap.value("inferwatch.predict.duration", model__name="m")
    assert merged.count == 6 == int(merged.counts.sum())  # ok and error series together
    assert merged.exp.count == 6
    assert merged.quantile(1.0) == pytest.approx(merged.max, rel=0.05)
