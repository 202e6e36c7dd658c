"""The standard normal distribution: cdf, survival function and quantile.

Written here so that the runtime needs numpy only (scipy is a test
dependency, and the tests compare against it). The quantile starts from
Acklam's rational approximation (relative error below 1.2e-9) and takes one
Halley step on ``math.erfc``, which brings it to full double precision.
"""

from __future__ import annotations

import math

__all__ = ["norm_cdf", "norm_ppf", "norm_sf"]

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)

# Acklam's coefficients: central region, then the tails.
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)
_P_LOW = 0.02425


def norm_cdf(x: float) -> float:
    """P(Z <= x) for a standard normal Z."""
    return 0.5 * math.erfc(-x / _SQRT2)


def norm_sf(x: float) -> float:
    """P(Z > x) for a standard normal Z, accurate far into the upper tail."""
    return 0.5 * math.erfc(x / _SQRT2)


def _lower_half(p: float) -> float:
    """The quantile for 0 < p <= 0.5 (the upper half follows by symmetry)."""
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        x = ((((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5])
             / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0))
    else:
        q = p - 0.5
        r = q * q
        x = (((((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q)
             / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0))
    # One Halley step on the exact cdf.
    e = norm_cdf(x) - p
    u = e * _SQRT2PI * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


def norm_ppf(p: float) -> float:
    """The standard normal quantile: the x with P(Z <= x) = p, for 0 < p < 1.

    >>> round(norm_ppf(0.975), 6)
    1.959964
    """
    if not 0.0 < p < 1.0:  # also refuses NaN
        raise ValueError(f"a probability strictly between 0 and 1 is needed, got {p!r}")
    if p > 0.5:
        return -_lower_half(1.0 - p)
    return _lower_half(p)
