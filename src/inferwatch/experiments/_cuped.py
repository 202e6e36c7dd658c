"""CUPED: variance reduction with a pre-experiment covariate (Deng et al., 2013).

Each value ``y`` is replaced by ``y - theta (x - x̄)``, with ``x`` the same
unit's metric before the experiment (or any quantity the treatment cannot
affect) and theta = cov(y, x) / var(x) pooled within the two arms. The
difference of means keeps its expectation (randomisation makes x̄ alike in
both arms) and its variance shrinks by the share rho² of y's variance that x
explains. A covariate measured after exposure can absorb the effect
itself: only use one fixed before the unit entered the experiment.
"""

from __future__ import annotations

import dataclasses

from ._moments import Moments

__all__ = ["Cuped", "cuped"]


@dataclasses.dataclass(frozen=True)
class Cuped:
    """The adjusted difference of means and how much variance the adjustment removed."""

    theta: float
    #: Adjusted difference of means (treatment - control).
    delta: float
    #: Variance of the adjusted difference.
    variance: float
    #: Variance of the unadjusted difference, for comparison.
    raw_variance: float
    #: Adjusted arm means (control, treatment).
    means: tuple[float, float]

    @property
    def reduction(self) -> float:
        """Share of the difference's variance removed: 1 - adjusted / raw."""
        return 1.0 - self.variance / self.raw_variance if self.raw_variance > 0 else 0.0


def _adjusted_variance(m: Moments, theta: float) -> float:
    m2 = m.m2 - 2.0 * theta * m.c_xy + theta * theta * m.m2_x
    return max(m2, 0.0) / (m.n - 1)


def cuped(control: Moments, treatment: Moments) -> Cuped | None:
    """The CUPED-adjusted comparison, or None where it cannot be made.

    None when an arm has fewer than 2 observations, an observation came
    without a covariate, or the covariate does not vary.
    """
    if control.n < 2 or treatment.n < 2:
        return None
    if not (control.has_covariate and treatment.has_covariate):
        return None
    sxx = control.m2_x + treatment.m2_x
    if not sxx > 0:
        return None
    theta = (control.c_xy + treatment.c_xy) / sxx
    n = control.n + treatment.n
    x_bar = (control.n * control.mean_x + treatment.n * treatment.mean_x) / n
    mean_c = control.mean - theta * (control.mean_x - x_bar)
    mean_t = treatment.mean - theta * (treatment.mean_x - x_bar)
    variance = (_adjusted_variance(control, theta) / control.n
                + _adjusted_variance(treatment, theta) / treatment.n)
    raw = control.variance / control.n + treatment.variance / treatment.n
    return Cuped(theta, mean_t - mean_c, variance, raw, (mean_c, mean_t))
