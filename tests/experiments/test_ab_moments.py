"""Sufficient statistics: one pass, batches and merges agree; shipping them round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from inferwatch.experiments import Moments

RNG = np.random.default_rng(5)


def _one_by_one(y: np.ndarray, x: np.ndarray | None = None) -> Moments:
    m = Moments()
    for i, v in enumerate(y):
        m.add(float(v), None if x is None else float(x[i]))
    return m


def _close(a: Moments, b: Moments) -> None:
    assert a.n == b.n and a.missing == b.missing
    for name in ("mean", "m2", "mean_x", "m2_x", "c_xy"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9, abs=1e-9), name


def test_matches_numpy() -> None:
    y, x = RNG.normal(3, 2, 500), RNG.normal(-1, 4, 500)
    m = _one_by_one(y, x)
    assert m.mean == pytest.approx(y.mean())
    assert m.variance == pytest.approx(y.var(ddof=1))
    assert m.m2_x == pytest.approx(((x - x.mean()) ** 2).sum())
    assert m.c_xy == pytest.approx(((x - x.mean()) * (y - y.mean())).sum())
    _close(m, Moments.of(y, x))


def test_merge_equals_one_pass_in_any_split() -> None:
    y, x = RNG.normal(10, 3, 1000), RNG.normal(0, 1, 1000)
    whole = _one_by_one(y, x)
    for cut in (0, 1, 333, 999, 1000):
        merged = Moments.of(y[:cut], x[:cut]).merge(_one_by_one(y[cut:], x[cut:]))
        _close(merged, whole)


def test_large_values_keep_their_precision() -> None:
    # Latencies in ns: sums of squares in floats would lose the variance entirely.
    y = 1e12 + RNG.normal(0, 1, 10_000)
    m = _one_by_one(y)
    exact = float(np.var(y - 1e12, ddof=1))
    assert m.variance == pytest.approx(exact, rel=1e-4)
    naive = (float((y * y).sum()) - float(y.sum()) ** 2 / y.size) / (y.size - 1)
    assert abs(naive - exact) > 100 * abs(m.variance - exact)


def test_a_missing_covariate_turns_cuped_off_for_good() -> None:
    m = Moments()
    m.add(1.0, 2.0)
    assert m.has_covariate
    m.add(2.0)
    m.add(3.0, 1.0)
    assert not m.has_covariate and m.missing == 1
    assert not Moments().has_covariate
    assert not Moments.of([1.0, 2.0]).merge(Moments.of([1.0], [1.0])).has_covariate


def test_round_trip_and_bad_state() -> None:
    m = Moments.of(RNG.normal(size=50), RNG.normal(size=50))
    _close(Moments.from_list(m.to_list()), m)
    for bad in ([1, 2], [1.5, 0, 0, 0, 0, 0, 0], [-1, 0, 0, 0, 0, 0, 0], [2, 0, -1, 0, 0, 0, 0],
                [2, float("nan"), 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0, 3], "x" * 7):
        with pytest.raises(ValueError, match="moments"):
            Moments.from_list(bad)
    with pytest.raises(ValueError, match="one per value"):
        Moments.of([1.0, 2.0], [1.0])
