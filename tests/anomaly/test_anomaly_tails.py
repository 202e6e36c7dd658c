"""Exact tail scores of small counts, checked against sums written out here."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from inferwatch.anomaly._tails import binomial_z, poisson_z


def _z(tail: float) -> float:
    return -NormalDist().inv_cdf(tail)


def test_binomial_upper_tail() -> None:
    n, p, x = 30, 0.017, 3
    tail = sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(x, n + 1))
    assert binomial_z(x, n, p, upper=True) == pytest.approx(_z(tail), rel=1e-9)


def test_binomial_lower_tail_is_negative() -> None:
    n, p, x = 200, 0.2, 20
    tail = sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(0, x + 1))
    assert binomial_z(x, n, p, upper=False) == pytest.approx(-_z(tail), rel=1e-9)


def test_poisson_tails() -> None:
    mean = 22.0
    lower = sum(math.exp(-mean) * mean**k / math.factorial(k) for k in range(0, 12))
    assert poisson_z(11, mean, upper=False) == pytest.approx(-_z(lower), rel=1e-9)
    upper = 1 - sum(math.exp(-mean) * mean**k / math.factorial(k) for k in range(0, 40))
    assert poisson_z(40, mean, upper=True) == pytest.approx(_z(upper), rel=1e-6)


def test_values_on_the_expected_side_score_zero() -> None:
    assert binomial_z(1, 100, 0.05, upper=True) == 0.0
    assert poisson_z(30, 22.0, upper=False) == 0.0


def test_large_counts_are_left_to_the_normal_approximation() -> None:
    assert binomial_z(600, 100_000, 0.5, upper=True) is None
    assert poisson_z(5000, 4000.0, upper=True) is None
    assert poisson_z(3, 0.0, upper=True) is None


def test_impossible_counts_are_extreme() -> None:
    assert binomial_z(2, 10, 0.0, upper=True) == 40.0
