"""Exact tail scores of small counts, so that a quiet night's discrete noise
(three errors in thirty calls, eleven calls where twenty-two were expected)
is judged by its real probability, not by a normal curve.

Each function returns the z-score with the same tail probability (positive
for the upper tail), or None where the count is large enough for the normal
approximation to hold (and the sum would be long).
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["binomial_z", "poisson_z"]

_NORMAL = NormalDist()
_MAX_TERMS = 4000
_TINY = 1e-300


def _z(tail: float, upper: bool) -> float:
    tail = min(max(tail, _TINY), 1.0)
    if tail >= 0.5:
        return 0.0
    z = -_NORMAL.inv_cdf(tail)
    return z if upper else -z


def _tail(log_pmf: object, start: int, stop: int, step: int) -> float:
    total = 0.0
    k = start
    for _ in range(_MAX_TERMS):
        if (step > 0 and k > stop) or (step < 0 and k < stop):
            break
        term = math.exp(log_pmf(k))  # type: ignore[operator]
        total += term
        if term < total * 1e-12:
            break
        k += step
    return total


def binomial_z(successes: float, trials: float, p: float, *, upper: bool) -> float | None:
    """z of P(X >= x) (``upper``) or P(X <= x) for X ~ Binomial(trials, p)."""
    n = round(trials)
    x = round(successes)
    if n <= 0 or not 0.0 <= p <= 1.0 or n * p * (1 - p) > 1000:
        return None
    if p <= 0.0:
        return 40.0 if (upper and x > 0) else 0.0
    if p >= 1.0:
        return -40.0 if (not upper and x < n) else 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)

    def log_pmf(k: int) -> float:
        return base - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q

    if upper:
        if x <= n * p:
            return 0.0
        return _z(_tail(log_pmf, x, n, 1), True)
    if x >= n * p:
        return 0.0
    return _z(_tail(log_pmf, x, 0, -1), False)


def poisson_z(count: float, mean: float, *, upper: bool) -> float | None:
    """z of P(X >= x) (``upper``) or P(X <= x) for X ~ Poisson(mean)."""
    x = round(count)
    if not mean > 0 or mean > 1000 or x < 0:
        return None
    log_mean = math.log(mean)

    def log_pmf(k: int) -> float:
        return k * log_mean - mean - math.lgamma(k + 1)

    if upper:
        if x <= mean:
            return 0.0
        return _z(_tail(log_pmf, x, x + _MAX_TERMS, 1), True)
    if x >= mean:
        return 0.0
    return _z(_tail(log_pmf, x, 0, -1), False)
