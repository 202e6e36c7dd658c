"""The estimate metrics in the catalogue, and a tracker's estimates as metric points.

Estimates get their own names rather than an attribute on the realised
``inferwatch.quality.*`` gauges: a query, rule or SLO on the realised
accuracy must never average in an estimate. One gauge holds every
estimated measure (``inferwatch.quality.measure`` names it, as the
realised gauge's last name part: ``accuracy``, ``f_score``, ``roc_auc``,
``mae``, ...) with ``inferwatch.quality.bound`` ``estimate``, ``lower`` or
``upper``, as the drift gauges name their statistic; a second says, per
window of joined pairs, whether the realised value fell outside the band
estimated from the same predictions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._catalogue import MetricDef, MetricPoint, register
from ..labels._metrics import METRIC_NAMES, SOURCE, VARIANT, WINDOW

if TYPE_CHECKING:
    from ..labels._tracker import LabelTracker

__all__ = ["BOUND", "MEASURE", "estimate_points", "measure_name"]

MEASURE = "inferwatch.quality.measure"
BOUND = "inferwatch.quality.bound"

_M = ("model.name", "model.version", VARIANT)

register(
    MetricDef("inferwatch.quality.estimated", "gauge", "{value}",
              "Quality estimated without labels over the window's latest predictions (CBPE "
              "for classifiers, DLE for regressors; valid under covariate shift only): "
              "inferwatch.quality.bound is estimate, or lower / upper of the band the "
              "realised value should fall in.", (*_M, WINDOW, MEASURE, BOUND)),
    MetricDef("inferwatch.quality.estimated.predictions", "gauge", "{prediction}",
              "Predictions the label-free estimate of the window is computed from.",
              (*_M, WINDOW)),
    MetricDef("inferwatch.quality.estimate.outside", "gauge", "{status}",
              "1 when the realised measure of the window's joined pairs falls outside the "
              "band estimated from the same predictions (a sign of concept drift), else 0.",
              (*_M, SOURCE, WINDOW, MEASURE)),
)


def measure_name(name: str) -> str:
    """The summary's measure name as the metric names it (``f1`` -> ``f_score``)."""
    return METRIC_NAMES.get(name, f"inferwatch.quality.{name}").rsplit(".", 1)[1]


def _series(model: str, version: str, variant: str | None) -> dict[str, str]:
    return {"model.name": model, "model.version": version, VARIANT: variant or ""}


def estimate_points(tracker: LabelTracker) -> list[MetricPoint]:
    """The estimate gauges of ``tracker`` (empty without an estimator)."""
    points: list[MetricPoint] = []
    for row in tracker.estimated():
        base = _series(row["model"], row["version"], row["variant"])
        for window in row["windows"]:
            attrs = {**base, WINDOW: window["window"]}
            points.append(MetricPoint("inferwatch.quality.estimated.predictions", dict(attrs),
                                      window["predictions"]))
            for name, band in window["measures"].items():
                for bound, key in (("estimate", "value"), ("lower", "lower"),
                                   ("upper", "upper")):
                    points.append(MetricPoint("inferwatch.quality.estimated",
                                              {**attrs, MEASURE: measure_name(name),
                                               BOUND: bound}, band[key]))
    for row in tracker._quality():
        base = {**_series(row["model"], row["version"], row["variant"]),
                SOURCE: row["source"]}
        for window in row["windows"]:
            estimated = window.get("estimated")
            for name, m in ((estimated or {}).get("measures") or {}).items():
                if m["outside"] is not None:
                    points.append(MetricPoint(
                        "inferwatch.quality.estimate.outside",
                        {**base, WINDOW: window["window"], MEASURE: measure_name(name)},
                        int(m["outside"])))
    return points
