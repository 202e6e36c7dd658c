"""A tracker's state turned into metric points (the collector)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._catalogue import REASON, MetricPoint
from ._metrics import (
    BIN,
    ESTIMATOR,
    METRIC_NAMES,
    OUTCOME_NAME,
    RESULT,
    SOURCE,
    VARIANT,
    WINDOW,
)

if TYPE_CHECKING:
    from ._tracker import LabelTracker

__all__ = ["tracker_points"]


def _series(model: str, version: str, variant: str | None) -> dict[str, Any]:
    return {"model.name": model, "model.version": version, VARIANT: variant or ""}


def tracker_points(tracker: LabelTracker) -> list[MetricPoint]:
    points: list[MetricPoint] = []
    join = tracker._join
    with join.lock:
        received = dict(join.received)
        joined = dict(join.joined)
        delays = {k: h.copy() for k, h in join.delays.items()}
    for (tag, kind, result), n in sorted(received.items()):
        if kind == "label":
            points.append(MetricPoint("inferwatch.labels.received",
                                      {SOURCE: tag, RESULT: result}, n))
        else:
            points.append(MetricPoint("inferwatch.outcome.received",
                                      {OUTCOME_NAME: tag, RESULT: result}, n))
    for ((model, version, variant), source), n in sorted(joined.items()):
        points.append(MetricPoint("inferwatch.labels.joined",
                                  {**_series(model, version, variant), SOURCE: source}, n))
    for ((model, version, variant), source), hist in sorted(delays.items()):
        points.append(MetricPoint("inferwatch.labels.delay",
                                  {**_series(model, version, variant), SOURCE: source}, hist))
    points.append(MetricPoint("inferwatch.labels.store.entries", {}, len(tracker.store)))
    for row in tracker._quality():
        base = {**_series(row["model"], row["version"], row["variant"]),
                SOURCE: row["source"]}
        if row["join_rate"] is not None:
            points.append(MetricPoint("inferwatch.labels.join_rate", dict(base),
                                      row["join_rate"]))
        for window in row["windows"]:
            attrs = {**base, WINDOW: window["window"]}
            points.append(MetricPoint("inferwatch.quality.pairs", dict(attrs), window["pairs"]))
            for name, value in window["measures"].items():
                if value is not None:
                    metric = METRIC_NAMES.get(name, f"inferwatch.quality.{name}")
                    points.append(MetricPoint(metric, dict(attrs), value))
            for b in window["reliability"] or ():
                at = {**attrs, BIN: f"{b['upper']:g}"}
                points.append(MetricPoint("inferwatch.quality.reliability.pairs", dict(at),
                                          b["count"]))
                if b["observed"] is not None:
                    points.append(MetricPoint("inferwatch.quality.reliability", at,
                                              b["observed"]))
    for row in tracker._outcomes():
        attrs = {**_series(row["model"], row["version"], row["variant"]),
                 OUTCOME_NAME: row["name"]}
        points.append(MetricPoint("inferwatch.outcome.events", dict(attrs), row["count"]))
        points.append(MetricPoint("inferwatch.outcome.value", dict(attrs), row["sum"]))
        if row["rate"] is not None:
            points.append(MetricPoint("inferwatch.outcome.rate", attrs, row["rate"]))
    points.extend(_policy_points(tracker))
    for reason, n in tracker.drops().items():
        if n:
            points.append(MetricPoint("inferwatch.self.dropped", {REASON: reason}, n))
    if tracker.estimates is not None:
        from ..estimate._metrics import estimate_points

        points.extend(estimate_points(tracker))
    return points


def _policy_points(tracker: LabelTracker) -> list[MetricPoint]:
    join = tracker._join
    with join.lock:
        policy = join.policy
        if policy is None:
            return []
        rewards = dict(policy.rewards)
        rows = policy.rows()
    points = [MetricPoint("inferwatch.policy.rewards",
                          {OUTCOME_NAME: policy.reward, RESULT: result}, n)
              for result, n in rewards.items() if n]
    for row in rows:
        attrs = {**_series(row["model"], row["version"], row["variant"]),
                 OUTCOME_NAME: row["reward"]}
        points.append(MetricPoint("inferwatch.policy.decisions", dict(attrs), row["decisions"]))
        points.append(MetricPoint("inferwatch.policy.weight", dict(attrs), row["weight"]))
        points.append(MetricPoint("inferwatch.policy.weighted_reward", dict(attrs),
                                  row["weighted_reward"]))
        for estimator in ("ipw", "snips"):
            estimate = row[estimator]
            at = {**attrs, ESTIMATOR: estimator}
            if estimate["value"] is not None:
                points.append(MetricPoint("inferwatch.policy.value", dict(at),
                                          estimate["value"]))
            if estimate["stderr"] is not None:
                points.append(MetricPoint("inferwatch.policy.value.stderr", at,
                                          estimate["stderr"]))
    return points
