"""The label tracker's quality as a component of the model health score.

::

    labels = inferwatch.labels.track(task="classification", positive=1)
    inferwatch.health.track(
        weights={**inferwatch.health.DEFAULT_WEIGHTS, "quality": 20},
        components={"quality": inferwatch.labels.quality_component(
            labels, metric="accuracy", baseline=0.91)})

Full points while the metric (the tracker's first window, organic labels) is
within ``tolerance`` of ``baseline`` (relative, the way a quality SLO counts
a good minute); then linearly fewer, none at twice the tolerance; unknown
(left out of the weights) with fewer than ``min_pairs`` joined pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..health._score import Assessment
from ..slo._spec import QUALITY_METRICS

if TYPE_CHECKING:
    from ._tracker import LabelTracker

__all__ = ["quality_component"]


def quality_component(tracker: LabelTracker, *, metric: str = "accuracy", baseline: float,
                      tolerance: float = 0.05, min_pairs: int = 100,
                      ) -> Callable[[str, str], Assessment]:
    """A health component ``fn(model, version)`` scoring ``metric`` against ``baseline``."""
    if metric not in QUALITY_METRICS:
        raise ValueError(f"metric {metric!r}: choose one of {', '.join(QUALITY_METRICS)}")
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float)) or not (
            math.isfinite(baseline) and baseline > 0):
        raise ValueError(f"baseline must be a positive number, got {baseline!r}")
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
        raise ValueError(f"tolerance must be strictly between 0 and 1, got {tolerance!r}")
    if isinstance(min_pairs, bool) or not isinstance(min_pairs, int) or min_pairs < 1:
        raise ValueError(f"min_pairs must be a whole number >= 1, got {min_pairs!r}")
    higher = QUALITY_METRICS[metric]

    def assess(model: str, version: str) -> Assessment:
        rows = [r for r in tracker.summary()["quality"]
                if r["model"] == model and r["version"] == version
                and r["source"] == "organic" and r["windows"]]
        windows = [r["windows"][0] for r in rows]
        usable = [w for w in windows if w["pairs"] >= min_pairs
                  and w["measures"].get(metric) is not None]
        if not usable:
            pairs = sum(w["pairs"] for w in windows)
            return Assessment(None, f"{pairs} of {min_pairs} labelled predictions joined")
        # Variants apart: the worst one speaks for the version.
        values = [float(w["measures"][metric]) for w in usable]
        value = min(values) if higher else max(values)
        change = value / baseline - 1.0
        worse = max(0.0, -change if higher else change)
        share = 1.0 if worse <= tolerance else max(0.0, 1.0 - (worse - tolerance) / tolerance)
        pairs = sum(w["pairs"] for w in usable)
        return Assessment(share, f"{metric} {value:.3f} on {pairs:,} labelled predictions "
                                 f"({change:+.1%} against the baseline {baseline:g})", value)

    return assess
