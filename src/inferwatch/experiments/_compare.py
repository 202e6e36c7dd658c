"""One arm against control: the difference of means with its always-valid test."""

from __future__ import annotations

import dataclasses
import math

from ._cuped import Cuped, cuped
from ._moments import Moments
from ._msprt import mixture_interval, mixture_pvalue, scalar

__all__ = ["DEFAULT_MIN_SAMPLES", "DEFAULT_TAU_SD", "Effect", "compare", "default_tau2"]

#: Observations per arm before the test may reject: below it the plug-in
#: variance is too rough for the normal approximation (benchmarks/bench_experiments.py).
DEFAULT_MIN_SAMPLES = 100
#: With no mde and no tau, the mixture's scale in standard deviations of the metric.
DEFAULT_TAU_SD = 0.1


@dataclasses.dataclass(frozen=True)
class Effect:
    """Treatment minus control for one metric, and its always-valid inference.

    ``ci`` is the confidence sequence at level ``1 - alpha`` (valid at every
    readout at once); ``pvalue`` the always-valid p-value of "no
    difference"; both CUPED-adjusted when ``cuped`` is set.
    """

    control: str
    variant: str
    n: tuple[int, int]
    means: tuple[float, float]
    delta: float
    variance: float
    ci: tuple[float, float]
    pvalue: float
    alpha: float
    tau2: float
    cuped: Cuped | None

    @property
    def significant(self) -> bool:
        return self.pvalue < self.alpha

    @property
    def relative(self) -> float | None:
        """The difference as a share of the control's mean (None when that is 0)."""
        base = self.means[0]
        return self.delta / abs(base) if base else None


def default_tau2(control: Moments, treatment: Moments) -> float:
    """(0.1 pooled standard deviations)²: the mixture scale used with no mde or tau."""
    dof = control.n + treatment.n - 2
    pooled = (control.m2 + treatment.m2) / dof if dof > 0 else 0.0
    return (DEFAULT_TAU_SD ** 2) * pooled


def compare(control: Moments, treatment: Moments, *, alpha: float, tau2: float | None,
            names: tuple[str, str] = ("control", "treatment"),
            min_samples: int = DEFAULT_MIN_SAMPLES, use_cuped: bool = True) -> Effect:
    """The effect of ``treatment`` over ``control`` (mSPRT, CUPED when possible).

    ``tau2`` is the mixture variance (None: :func:`default_tau2`). Below
    ``min_samples`` observations in an arm the test has no evidence yet:
    p = 1 and an infinite interval.
    """
    adjusted = cuped(control, treatment) if use_cuped else None
    if adjusted is not None:
        delta, variance = adjusted.delta, adjusted.variance
        means = adjusted.means
    else:
        delta = treatment.mean - control.mean
        variance = (control.variance / control.n if control.n else math.inf) + (
            treatment.variance / treatment.n if treatment.n else math.inf)
        means = (control.mean, treatment.mean)
    if tau2 is None:
        tau2 = default_tau2(control, treatment)
    ready = min(control.n, treatment.n) >= max(min_samples, 2) and tau2 > 0
    if ready and variance > 0 and math.isfinite(variance):
        pvalue = scalar(mixture_pvalue(delta, variance, tau2))
        low, high = mixture_interval(delta, variance, tau2, alpha)
        ci = (scalar(low), scalar(high))
    else:
        pvalue, ci = 1.0, (-math.inf, math.inf)
    return Effect(names[0], names[1], (control.n, treatment.n), means, delta, variance, ci,
                  pvalue, alpha, tau2, adjusted)
