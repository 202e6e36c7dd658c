"""Novelty and primacy: is the effect still moving with days since first exposure?

Users react to a change itself: a new ranking gets clicks because it is
new (novelty, the effect fades) or loses them because it is unfamiliar
(primacy, the effect grows). Both show as a trend in the effect by day
since each unit's first exposure. The daily effects are regressed on the
day by weighted least squares (weights 1 / variance of each day's
effect); a slope significantly different from 0 (two-sided z-test at alpha)
flags the effect as still trending, and the result is not called final.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from ._compare import compare
from ._moments import Moments
from ._normal import norm_sf

__all__ = ["MIN_TREND_DAYS", "NoveltyResult", "novelty"]

#: Days with data needed before a trend is tested.
MIN_TREND_DAYS = 3


@dataclasses.dataclass(frozen=True)
class NoveltyResult:
    """The daily effects of one treatment arm and the trend test on them."""

    variant: str
    #: (day since first exposure, effect, variance of the effect) per day with data.
    days: tuple[tuple[int, float, float], ...]
    slope: float
    slope_se: float
    pvalue: float
    trending: bool
    #: ``novelty`` (the effect fades), ``primacy`` (it grows), or None when not trending.
    kind: str | None

    def text(self) -> str:
        if len(self.days) < MIN_TREND_DAYS:
            return f"{self.variant}: {len(self.days)} day(s) of data, trend not tested yet"
        verdict = (f"effect still trending ({self.kind})" if self.trending
                   else "no trend in the daily effect")
        return (f"{self.variant}: slope {self.slope:+.4g}/day (se {self.slope_se:.2g}, "
                f"p={self.pvalue:.3g}) over {len(self.days)} days: {verdict}")


def novelty(cells: Mapping[int, tuple[Moments, Moments]], variant: str, *,
            alpha: float) -> NoveltyResult:
    """The trend test on the daily effects in ``cells`` (day -> control, treatment)."""
    days = []
    for day in sorted(cells):
        control, treatment = cells[day]
        effect = compare(control, treatment, alpha=alpha, tau2=None, min_samples=2,
                         use_cuped=False)
        if effect.variance > 0 and math.isfinite(effect.variance):
            days.append((day, effect.delta, effect.variance))
    if len(days) < MIN_TREND_DAYS:
        return NoveltyResult(variant, tuple(days), 0.0, math.inf, 1.0, False, None)
    w = [1.0 / v for _, _, v in days]
    sw = math.fsum(w)
    d_bar = math.fsum(wi * d for wi, (d, _, _) in zip(w, days, strict=True)) / sw
    e_bar = math.fsum(wi * e for wi, (_, e, _) in zip(w, days, strict=True)) / sw
    sxx = math.fsum(wi * (d - d_bar) ** 2 for wi, (d, _, _) in zip(w, days, strict=True))
    sxy = math.fsum(wi * (d - d_bar) * (e - e_bar)
                    for wi, (d, e, _) in zip(w, days, strict=True))
    slope = sxy / sxx
    se = 1.0 / math.sqrt(sxx)
    pvalue = min(1.0, 2.0 * norm_sf(abs(slope) / se))
    trending = pvalue < alpha
    kind = None
    if trending:
        kind = "novelty" if slope * e_bar < 0 else "primacy"
    return NoveltyResult(variant, tuple(days), slope, se, pvalue, trending, kind)
