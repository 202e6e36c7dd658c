"""Sample-ratio mismatch: are the assignment counts those the weights promise?

A chi-square goodness-of-fit test of the units per variant against the
configured weights (Fabijan et al., "Diagnosing Sample Ratio Mismatch").
A mismatch means assignment or logging is broken (a variant that crashes
and logs less, bots in one arm, a redirect that loses users), and then no
effect estimate can be trusted. Flagged at p < 0.001 by default: the test
is run at every readout, so a strict threshold keeps false alarms rare.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..stats._gamma import chi2_sf

__all__ = ["SRM_THRESHOLD", "SRMResult", "srm_test"]

#: p-value below which a mismatch is flagged.
SRM_THRESHOLD = 0.001


@dataclasses.dataclass(frozen=True)
class SRMResult:
    """Counts per variant, what the weights expect, and the chi-square test of the two."""

    counts: tuple[int, ...]
    expected: tuple[float, ...]
    statistic: float
    pvalue: float
    flagged: bool


def srm_test(counts: Sequence[int], weights: Sequence[float],
             threshold: float = SRM_THRESHOLD) -> SRMResult:
    """Chi-square goodness of fit of ``counts`` against ``weights`` (normalised here).

    >>> srm_test([5000, 5000], [0.5, 0.5]).flagged
    False
    >>> srm_test([5000, 4600], [0.5, 0.5]).flagged
    True
    """
    if len(counts) != len(weights) or len(counts) < 2:
        raise ValueError("give one count and one weight per variant, at least two of each")
    if any(c < 0 for c in counts) or any(not w > 0 for w in weights):
        raise ValueError("counts must be >= 0 and weights > 0")
    total = sum(counts)
    wsum = sum(weights)
    expected = tuple(total * w / wsum for w in weights)
    if total == 0:
        return SRMResult(tuple(counts), expected, 0.0, 1.0, False)
    statistic = sum((c - e) ** 2 / e for c, e in zip(counts, expected, strict=True))
    pvalue = chi2_sf(statistic, len(counts) - 1)
    return SRMResult(tuple(int(c) for c in counts), expected, statistic, pvalue,
                     pvalue < threshold)
