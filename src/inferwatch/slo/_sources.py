"""Where each kind of SLO gets its events: the live aggregates and the drift engine.

Every reader returns the source's *cumulative* (good, total) counts; the
budget takes differences (``_budget``). The aggregates are read under the
monitor's aggregation lock by the caller; the drift engine through its
public ``metric_points()`` (its ``inferwatch.drift.windows`` counter of closed
windows by status).

* availability: good = calls whose outcome is not ``error``, total = calls;
* latency: good = ``ok`` calls at or under the threshold, counted exactly
  from the duration histogram's explicit bucket at the threshold boundary
  (the SLO made it a boundary), total = calls;
* drift: good = closed windows whose status is not ``drift`` (ok or
  warning), total = closed windows with data (``no_data`` windows are not
  events). A window's status is the drift engine's decision for the whole
  window (``drift`` once ``dataset_drift_share`` of the features drifted; one
  drifted feature alone makes it ``warning``), the same counter the
  generated Prometheus rules read, so replica and fleet agree;
* freshness: the age of the reference profile (a drift monitor's
  ``created_at``) or else of the model version (when this process first
  saw it) against ``max_age``: one event a minute, good while fresh;
* quality: the label trackers of the monitor (``inferwatch.labels.track``):
  once a minute, one event per (model version, variant) whose first window
  holds at least ``min_pairs`` organic joined pairs, good while ``metric`` is
  within ``tolerance`` of ``baseline``.
"""

from __future__ import annotations

import datetime
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from .._monitor import attached_drift_monitors
from ._spec import DEFAULT_MIN_PAIRS, SLO

if TYPE_CHECKING:
    from .._aggregate import Aggregates
    from .._monitor import Monitor

__all__ = ["availability_events", "drift_events", "latency_events", "profile_time",
           "quality_events", "versions_seen"]


def _matches(slo: SLO, model: str, version: str) -> bool:
    if slo.model is not None and model != slo.model:
        return False
    return slo.version is None or version == slo.version


def availability_events(aggregates: Aggregates, slo: SLO) -> tuple[int, int]:
    good = total = 0
    for (endpoint, _dyn, outcome, _error), n in aggregates.calls.items():
        if _matches(slo, endpoint.model_name, endpoint.model_version):
            total += n
            if outcome != "error":
                good += n
    return good, total


def latency_events(aggregates: Aggregates, slo: SLO) -> tuple[int, int]:
    threshold = slo.threshold_s
    assert threshold is not None
    total = sum(n for (endpoint, _d, _o, _e), n in aggregates.calls.items()
                if _matches(slo, endpoint.model_name, endpoint.model_version))
    good = 0
    for (metric, key), hist in aggregates.histograms.items():
        if metric != "duration" or key[1] != "ok":
            continue
        endpoint = key[0][0]
        if not _matches(slo, endpoint.model_name, endpoint.model_version):
            continue
        k = int(np.searchsorted(hist.bounds, threshold, side="right"))
        if k == 0 or hist.bounds[k - 1] != threshold:
            # Made before the SLO was tracked: the threshold becomes a boundary
            # now (what was counted before is split from the exponential buckets).
            hist.add_boundaries([threshold])
            k = int(np.searchsorted(hist.bounds, threshold, side="right"))
        good += int(hist.counts[:k].sum())
    return good, total


def drift_events(monitor: Monitor, slo: SLO) -> tuple[int, int] | None:
    """Closed windows (good, total) of the drift monitors fed by ``monitor``;
    None when no drift monitor watches the SLO's model."""
    good = total = 0
    watched = False
    for dm in attached_drift_monitors(monitor):
        if slo.model is not None and dm.model is not None and dm.model != slo.model:
            continue
        watched = True
        for point in dm.metric_points():
            if point.name != "inferwatch.drift.windows":
                continue
            attrs = point.attributes
            if not _matches(slo, attrs.get("model.name", ""), attrs.get("model.version", "")):
                continue
            status = attrs.get("inferwatch.drift.status")
            if status == "no_data":
                continue
            total += int(point.value)
            if status != "drift":
                good += int(point.value)
    return (good, total) if watched else None


def profile_time(monitor: Monitor, slo: SLO) -> float | None:
    """When the reference profile the SLO's model is compared with was built (epoch s)."""
    newest: float | None = None
    for dm in attached_drift_monitors(monitor):
        if slo.model is not None and dm.model is not None and dm.model != slo.model:
            continue
        profile = dm.profile
        if profile is None:
            continue
        if slo.model is not None and profile.model_name and profile.model_name != slo.model:
            continue
        try:
            created = datetime.datetime.fromisoformat(profile.created_at)
        except (TypeError, ValueError):
            continue
        if created.tzinfo is None:
            created = created.replace(tzinfo=datetime.timezone.utc)
        t = created.timestamp()
        newest = t if newest is None else max(newest, t)
    return newest


def versions_seen(aggregates: Aggregates) -> set[tuple[str, str]]:
    return {(e.model_name, e.model_version) for (e, _d, _o, _x) in aggregates.calls}


def quality_events(monitor: Monitor, slo: SLO) -> tuple[int, int, str] | None:
    """This minute's events of a quality SLO: (good, total, what was seen); None when
    no label tracker stores the monitor's predictions."""
    # Never imported for an SLO alone: without inferwatch.labels there is no tracker.
    tracking = sys.modules.get("inferwatch.labels._tracker")
    if tracking is None or slo.metric is None:
        return None
    trackers = tracking.trackers_for(monitor)
    if not trackers:
        return None
    need = DEFAULT_MIN_PAIRS if slo.min_pairs is None else slo.min_pairs
    good = total = 0
    seen: list[str] = []
    short: list[str] = []
    for tracker in trackers:
        rows: list[dict[str, Any]] = tracker.summary()["quality"]
        for row in rows:
            if row["source"] != "organic" or not _matches(slo, row["model"], row["version"]):
                continue
            window = row["windows"][0] if row["windows"] else None
            if window is None:
                continue
            who = f"{row['model']}:{row['version']}" + (
                f" variant {row['variant']}" if row.get("variant") else "")
            value = window["measures"].get(slo.metric)
            if window["pairs"] < need or value is None:
                short.append(f"{who} {window['pairs']} of {need} pairs")
                continue
            total += 1
            ok = slo.quality_good(float(value))
            good += int(ok)
            seen.append(f"{who} {slo.metric} {value:.4g} over {window['window']} "
                        f"({'within' if ok else 'past'} {slo.quality_bound:.4g})")
    detail = "; ".join(seen + short) or "no joined labels for this model yet"
    return good, total, detail
