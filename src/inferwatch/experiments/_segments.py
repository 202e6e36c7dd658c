"""Per-segment effects, and the segment that degrades while the total improves.

Each segment of a low-cardinality attribute (device, country, a customer
tier; capped, ``_other`` past the cap) gets the same always-valid test as
the total, at alpha divided by the number of segment tests (Bonferroni), so
scanning every segment at every readout keeps the chance of any false
alarm below alpha. A segment whose effect is significantly bad while the
total's estimate is good is flagged: the average hides a group that the
treatment hurts (the Simpson's-paradox pattern; often a mix that differs
between segments, sometimes a real interaction worth a look before
shipping).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ._compare import Effect, compare
from ._moments import Moments

__all__ = ["SegmentResult", "segment_results"]


@dataclasses.dataclass(frozen=True)
class SegmentResult:
    """One segment's effect for one treatment arm."""

    segment: str
    effect: Effect
    #: The effect is significantly bad (at the Bonferroni-corrected level).
    degrades: bool
    #: ``degrades`` while the total's estimate is good.
    simpson: bool


def segment_results(cells: Mapping[str, tuple[Moments, Moments]], total: Effect, *,
                    higher_is_better: bool, alpha: float, tau2: float | None,
                    min_samples: int, tests: int | None = None) -> list[SegmentResult]:
    """Results for every segment with data; ``tests`` the Bonferroni count (default: segments)."""
    level = alpha / max(1, tests if tests is not None else len(cells))
    sign = 1.0 if higher_is_better else -1.0
    total_good = sign * total.delta > 0
    out = []
    for name in sorted(cells):
        control, treatment = cells[name]
        effect = compare(control, treatment, alpha=level, tau2=tau2,
                         names=(total.control, total.variant), min_samples=min_samples)
        degrades = effect.significant and sign * effect.delta < 0
        out.append(SegmentResult(name, effect, degrades, degrades and total_good))
    return out
