"""The mixture sequential probability ratio test (mSPRT) for a difference of means.

Johari, Koomen, Pekelis and Walsh, "Always Valid Inference" (2017/2022), the
test behind Optimizely's stats engine. With ``delta`` the observed
difference of means d (treatment - control) and ``variance`` V its variance
(``s_t²/n_t + s_c²/n_c``), the likelihood ratio of "the difference is
theta ~ N(theta0, tau²)" against "it is theta0", mixed over theta, is

    LR = sqrt(V / (V + tau²)) · exp(tau² (d - theta0)² / (2 V (V + tau²)))

Under the null LR is a nonnegative martingale with mean 1, so by Ville's
inequality P(LR ever reaches 1/alpha) <= alpha: ``p = min(1, 1/LR)`` is a
p-value that may be read after every batch, and the set of theta0 with
LR < 1/alpha is a confidence sequence (an interval that covers the true
difference at every time at once with probability >= 1 - alpha). The two are
dual: p < alpha exactly when theta0 lies outside the interval.

Assumptions: independent observations (one per unit), and enough of them
that the difference of means is close to normal with the plug-in variance
(the central limit theorem; conversion rates are the Bernoulli case of the
same statistic). The benchmark measures what "enough" means.

tau sets where the test is most sensitive; tau near the minimum detectable
effect makes the interval tightest around the fixed-horizon sample size for
that effect (its optimum is tau² ≈ 7 V for alpha = 0.05, and at the horizon
V = mde² / 7.85).

Each function takes numpy arrays or floats, so a simulation can evaluate
every peek of many experiments in one call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["log_likelihood_ratio", "mixture_interval", "mixture_pvalue"]

FloatArray = npt.NDArray[np.float64]


def _arrays(*values: npt.ArrayLike) -> list[FloatArray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def log_likelihood_ratio(delta: npt.ArrayLike, variance: npt.ArrayLike, tau2: npt.ArrayLike,
                         theta0: npt.ArrayLike = 0.0) -> FloatArray:
    """log LR (see the module); 0 (no evidence) where the variance is not positive."""
    d, v, t, th = _arrays(delta, variance, tau2, theta0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = d - th
        out = 0.5 * np.log(v / (v + t)) + t * shift * shift / (2.0 * v * (v + t))
    return np.where((v > 0) & np.isfinite(v), out, 0.0)


def mixture_pvalue(delta: npt.ArrayLike, variance: npt.ArrayLike, tau2: npt.ArrayLike,
                   theta0: npt.ArrayLike = 0.0) -> FloatArray:
    """The always-valid p-value ``min(1, 1/LR)`` of "the difference is ``theta0``"."""
    llr = log_likelihood_ratio(delta, variance, tau2, theta0)
    return np.exp(-np.maximum(llr, 0.0))


def mixture_interval(delta: npt.ArrayLike, variance: npt.ArrayLike, tau2: npt.ArrayLike,
                     alpha: float) -> tuple[FloatArray, FloatArray]:
    """The confidence sequence at level ``1 - alpha``: ``(low, high)`` for the difference.

    Infinite where the variance is not positive (nothing is known yet).
    """
    d, v, t = _arrays(delta, variance, tau2)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = 2.0 * v * (v + t) / t * (np.log(1.0 / alpha) + 0.5 * np.log((v + t) / v))
        half = np.sqrt(bound)
    half = np.where((v > 0) & np.isfinite(v), half, np.inf)
    return d - half, d + half


def scalar(value: Any) -> float:
    """A 0-d result as a float."""
    return float(np.asarray(value))
