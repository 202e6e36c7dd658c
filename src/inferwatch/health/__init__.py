"""Model health: a 0-100 score per model version, explained, and version events.

::

    import inferwatch.health

    health = inferwatch.health.track(latency_threshold_ms=300)   # the default monitor
    for score in health.scores():
        print(score.text())
    # churn 3: health 83 (green); data drift -12: f03 PSI 0.65; availability -5: ...

The score weighs five components (availability 25, latency 20, data drift
20, prediction stability 20, freshness 15; configurable, and custom ones can
be added); a component without data is unknown and left out of the weights,
never scored as perfect. The scoring bands are in ``_bands``. Exported as
``inferwatch.health.score`` / ``.status`` / ``.component``, and in
``Monitor.summary()["health"]``.

Each model version seen is recorded once (:class:`VersionTracker`): a
``model_version_seen`` log record, the ``inferwatch.model.info`` gauge and
``summary()["model_versions"]``.

Building blocks, one job each: ``_versions`` records versions, ``_bands``
turns measurements into points, ``_inputs`` reads windows of the aggregates
and drift reports, ``_score`` composes and explains a score and ``_tracker``
wires it all to a :class:`inferwatch.Monitor`.
"""

from ._bands import DEFAULT_WEIGHTS
from ._score import Assessment, ComponentScore, HealthScore
from ._tracker import HealthTracker, track
from ._versions import ModelVersion, VersionTracker

__all__ = [
    "DEFAULT_WEIGHTS",
    "Assessment",
    "ComponentScore",
    "HealthScore",
    "HealthTracker",
    "ModelVersion",
    "VersionTracker",
    "track",
]
