"""The SLO metrics in the catalogue, and a tracker's budgets turned into points.

Series are bounded by the SLOs declared: one per SLO (and per burn window).
Dimensionless gauges use ``{ratio}`` so their Prometheus names are the same
through OTel's Prometheus exporter and through the Collector (see
``inferwatch._catalogue``).
"""

from __future__ import annotations

from .._catalogue import MetricDef, MetricPoint, register
from ._budget import Budget

__all__ = ["BURN_WINDOW", "EVENT", "KIND", "NAME", "budget_points"]

NAME = "inferwatch.slo.name"
KIND = "inferwatch.slo.kind"
EVENT = "inferwatch.slo.event"
BURN_WINDOW = "inferwatch.slo.burn_window"

_S = (NAME, KIND, "model.name", "model.version")

register(
    MetricDef("inferwatch.slo.events", "counter", "{event}",
              "Events an SLO counted in this process since it started tracking, good or bad "
              "(model.name/model.version only when the SLO names them).", (*_S, EVENT)),
    MetricDef("inferwatch.slo.objective", "gauge", "{ratio}",
              "The SLO's target: the share of good events it promises.", _S),
    MetricDef("inferwatch.slo.sli", "gauge", "{ratio}",
              "Share of good events over the SLO window, as this process saw them "
              "(absent while there are none).", _S),
    MetricDef("inferwatch.slo.budget.remaining", "gauge", "{ratio}",
              "Share of the error budget left over the SLO window: 1 untouched, 0 or less "
              "exhausted (absent while there are no events).", _S),
    MetricDef("inferwatch.slo.burn_rate", "gauge", "{ratio}",
              "Error-budget burn rate over a window (5m, 30m, 1h, 2h, 6h, 1d, 3d): 1 spends "
              "the budget exactly over the SLO window.", (*_S, BURN_WINDOW)),
)


def budget_points(budget: Budget) -> list[MetricPoint]:
    slo = budget.slo
    attrs = {NAME: slo.name, KIND: slo.kind}
    if slo.model is not None:
        attrs["model.name"] = slo.model
    if slo.version is not None:
        attrs["model.version"] = slo.version
    points = [
        MetricPoint("inferwatch.slo.events", {**attrs, EVENT: "good"}, budget.events_good),
        MetricPoint("inferwatch.slo.events", {**attrs, EVENT: "bad"},
                    budget.events_total - budget.events_good),
        MetricPoint("inferwatch.slo.objective", dict(attrs), slo.target),
    ]
    if budget.sli is not None:
        points.append(MetricPoint("inferwatch.slo.sli", dict(attrs), budget.sli))
    if budget.budget_remaining is not None:
        points.append(MetricPoint("inferwatch.slo.budget.remaining", dict(attrs),
                                  budget.budget_remaining))
    for window, rate in budget.burn_rates.items():
        if rate is not None:
            points.append(MetricPoint("inferwatch.slo.burn_rate",
                                      {**attrs, BURN_WINDOW: window}, rate))
    return points
