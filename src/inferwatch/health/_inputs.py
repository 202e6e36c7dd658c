"""What the health components read: windows of the live aggregates, drift reports.

* availability and latency: cumulative counts per model version (calls,
  calls in error, successful calls, successful calls at or under the latency
  threshold, counted exactly from the duration histogram's bucket at the
  threshold, which is made a boundary), snapshotted at most once a
  ``resolution`` into a bounded ring; a window's counts are now minus the
  snapshot taken just before it began (or, in a process younger than the
  window, everything since it started).
* data drift and prediction stability: the last complete window's
  :class:`inferwatch.drift.DriftReport` of the drift monitors fed by the
  monitor, for that model version; read without flushing the monitor (the
  health score is computed at collection and summary time, which drained it).
* freshness: the reference profile's ``created_at``.
"""

from __future__ import annotations

import datetime
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .._monitor import attached_drift_monitors

if TYPE_CHECKING:
    from .._monitor import Monitor

__all__ = [
    "Counts", "WindowRing", "drift_monitors", "profile_time", "read_counts", "report_for",
]

Key = tuple[str, str]
#: (calls, errors, ok calls, ok calls within the latency threshold)
Counts = tuple[int, int, int, int]
_ZERO: Counts = (0, 0, 0, 0)


def read_counts(monitor: Monitor, threshold_s: float) -> dict[Key, Counts]:
    """Cumulative counts per (model, version), read under the aggregation lock."""
    out: dict[Key, list[int]] = {}
    with monitor.aggregation_lock:
        aggregates = monitor.snapshot()
        for (endpoint, _dyn, outcome, _error), n in aggregates.calls.items():
            entry = out.setdefault((endpoint.model_name, endpoint.model_version), [0, 0, 0, 0])
            entry[0] += n
            if outcome == "error":
                entry[1] += n
            elif outcome == "ok":
                entry[2] += n
        for (metric, key), hist in aggregates.histograms.items():
            if metric != "duration" or key[1] != "ok":
                continue
            endpoint = key[0][0]
            k = int(np.searchsorted(hist.bounds, threshold_s, side="right"))
            if k == 0 or hist.bounds[k - 1] != threshold_s:
                # A histogram made before the threshold was a boundary: it becomes
                # one now (what came before is split from the exponential buckets).
                hist.add_boundaries([threshold_s])
                k = int(np.searchsorted(hist.bounds, threshold_s, side="right"))
            entry = out.setdefault((endpoint.model_name, endpoint.model_version), [0, 0, 0, 0])
            entry[3] += int(hist.counts[:k].sum())
    return {key: (e[0], e[1], e[2], e[3]) for key, e in out.items()}


class WindowRing:
    """Snapshots of every model version's cumulative counts, the last ``capacity`` kept."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ring: deque[tuple[float, dict[Key, Counts]]] = deque(maxlen=capacity)
        self._trimmed = False

    def __len__(self) -> int:
        return len(self._ring)

    @property
    def last_time(self) -> float | None:
        return self._ring[-1][0] if self._ring else None

    def append(self, t: float, counts: dict[Key, Counts]) -> None:
        if len(self._ring) == self.capacity:
            self._trimmed = True
        self._ring.append((t, dict(counts)))

    def base(self, key: Key, start: float) -> Counts:
        """The counts of ``key`` just before ``start``: the latest snapshot at or
        before it, else (nothing that old kept) zero, or the oldest kept once
        the ring has dropped older ones."""
        chosen: dict[Key, Counts] | None = None
        for t, counts in self._ring:
            if t <= start:
                chosen = counts
            else:
                break
        if chosen is None:
            if not self._trimmed or not self._ring:
                return _ZERO
            chosen = self._ring[0][1]
        return chosen.get(key, _ZERO)


def drift_monitors(monitor: Monitor, given: Iterable[Any] | None) -> list[Any]:
    """The drift monitors to read: those given, else every one fed by ``monitor``."""
    if given is not None:
        return list(given)
    return attached_drift_monitors(monitor)


def report_for(monitors: Iterable[Any], model: str, version: str) -> tuple[Any, Any] | None:
    """(report, profile) of the last complete window for this model version
    from the first drift monitor that watches it; None when none does. The
    profile is the reference the monitor was given (None when each version's
    was frozen from its own first rows: its age says nothing of freshness).
    A version whose rows are kept apart by A/B variant is as healthy as its
    worst variant (then the one with most rows in its window)."""
    for dm in monitors:
        if dm.model is not None and dm.model != model:
            continue
        if dm.version is not None and dm.version != version:
            continue
        lock = getattr(dm, "_lock", None)
        streams = getattr(dm, "_streams", None)
        if lock is None or streams is None:
            continue
        with lock:
            reports = [stream.report("auto") for stream in streams.values()
                       if stream.model == model and stream.version == version]
        if reports:
            from ..drift._report import trouble  # drift is loaded: it made these reports

            return max(reports, key=trouble), getattr(dm, "_profile", None)
    return None


def profile_time(profile: Any) -> float | None:
    """When a reference profile was built (epoch seconds), None when it does not say."""
    created = getattr(profile, "created_at", "") if profile is not None else ""
    try:
        when = datetime.datetime.fromisoformat(str(created))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()
