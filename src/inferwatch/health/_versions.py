"""Model version events: each (model, version) a monitor serves, recorded once.

A :class:`VersionTracker` reads the live aggregates' call counts (a ticker on
the aggregator thread, and again at collection and summary time). The first
time a version has calls it writes one log record through the monitor's sink
(``"event": "model_version_seen"``, with first seen, last seen and calls at
that moment); from then on the summary (``summary()["model_versions"]``) and
the ``inferwatch.model.info`` gauge carry it, one series per version whose
value is when this process first saw it (epoch seconds): in Grafana, an
annotation query ``inferwatch_model_info_seconds`` with "series value as
timestamp" (Unix seconds) marks each deploy.

"First seen" is this process's first sight (nothing survives a restart): the
backend, which sees every replica, keeps the fleet's history.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _forks
from .._catalogue import MetricPoint
from .._logs import _rfc3339

if TYPE_CHECKING:
    from .._monitor import Monitor

__all__ = ["ModelVersion", "VersionTracker"]

#: Versions tracked at most; later ones are counted (``model_versions_full``).
MAX_VERSIONS = 256
EVENT = "model_version_seen"

# The tracker attached to each monitor (one is enough: health reuses it).
_on_monitor: weakref.WeakKeyDictionary[Any, VersionTracker] = weakref.WeakKeyDictionary()
#: Seconds between two reads of the aggregates from the aggregator thread.
TICK_SECONDS = 1.0




@dataclasses.dataclass(frozen=True)
class ModelVersion:
    """One model version as this process saw it (times in epoch seconds)."""

    model: str
    version: str
    first_seen: float
    last_seen: float
    calls: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "model.name": self.model,
            "model.version": self.version,
            "first_seen": _rfc3339(int(self.first_seen * 1e9)),
            "last_seen": _rfc3339(int(self.last_seen * 1e9)),
            "calls": self.calls,
        }


def _calls_by_version(monitor: Monitor) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    with monitor.aggregation_lock:
        for (endpoint, _dyn, _outcome, _error), n in monitor.snapshot().calls.items():
            key = (endpoint.model_name, endpoint.model_version)
            totals[key] = totals.get(key, 0) + n
    return totals


class VersionTracker:
    """Every model version a monitor has served: first seen, last seen, calls.

    ::

        versions = VersionTracker(clock=time.time).attach(monitor)
        for v in versions.versions():
            print(v.model, v.version, v.calls)

    ``clock`` (epoch seconds) is the only time read, so tests drive it.
    Memory is bounded by ``max_versions`` (and the monitor's own
    ``max_endpoints``), never by traffic.
    """

    def __init__(self, *, clock: Callable[[], float] | None = None,
                 max_versions: int = MAX_VERSIONS) -> None:
        if max_versions < 1:
            raise ValueError(f"max_versions must be >= 1, got {max_versions}")
        self._clock = clock if clock is not None else time.time
        self.max_versions = max_versions
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], list[Any]] = {}  # [first, last, calls]
        self._monitor: Monitor | None = None
        self._last_tick: float | None = None
        _forks.register(self)

    def _after_fork_in_child(self) -> None:
        # A forked worker is a process of its own: it sees (and logs) its versions anew.
        self._lock = threading.Lock()
        self._seen = {}
        self._last_tick = None

    @classmethod
    def of(cls, monitor: Monitor, *, clock: Callable[[], float] | None = None) -> VersionTracker:
        """The tracker attached to ``monitor``, attaching one (with ``clock``) if none is."""
        existing = _on_monitor.get(monitor)
        return existing if existing is not None else cls(clock=clock).attach(monitor)

    @property
    def monitor(self) -> Monitor | None:
        return self._monitor

    def attach(self, monitor: Monitor) -> VersionTracker:
        """Watch ``monitor``: a ticker, the ``inferwatch.model.info`` collector and
        the ``model_versions`` summary section."""
        if self._monitor is not None:
            raise ValueError("this VersionTracker is attached already; make one per monitor")
        if monitor in _on_monitor:
            raise ValueError("this monitor has a VersionTracker already; use "
                             "VersionTracker.of(monitor)")
        self._monitor = monitor
        _on_monitor[monitor] = self
        # The monitor keeps the tracker alive: its events are the monitor's own.

        def tick(_now: float) -> None:
            # The aggregator ticks every flush interval; a second is soon enough.
            now = self._clock()
            if self._last_tick is None or not 0 <= now - self._last_tick < TICK_SECONDS:
                self._last_tick = now
                self.refresh()

        def summary() -> list[dict[str, Any]]:
            return [v.to_dict() for v in self.versions()]

        monitor.add_ticker(tick)
        monitor.add_collector(self.metric_points)
        monitor.add_summary("model_versions", summary)
        self.refresh()
        return self

    def refresh(self) -> None:
        """Fold in the calls counted since the last read; log versions seen the first time."""
        monitor = self._monitor
        if monitor is None:
            return
        totals = _calls_by_version(monitor)
        now = self._clock()
        new: list[ModelVersion] = []
        overflow = 0
        with self._lock:
            for key, calls in totals.items():
                entry = self._seen.get(key)
                if entry is None:
                    if len(self._seen) >= self.max_versions:
                        overflow += 1
                        continue
                    entry = self._seen[key] = [now, now, calls]
                    new.append(ModelVersion(key[0], key[1], now, now, calls))
                elif calls != entry[2]:
                    entry[1], entry[2] = now, calls
        for _ in range(overflow):
            monitor.count_dropped("model_versions_full")
        for version in new:
            event = {
                "timestamp": _rfc3339(int(now * 1e9)),
                "level": "info",
                "event": EVENT,
                "service.name": monitor.config.service_name,
                **version.to_dict(),
            }
            monitor.log_event(event)

    def versions(self) -> list[ModelVersion]:
        """Every version seen, oldest first (current as of now)."""
        self.refresh()
        with self._lock:
            items = [ModelVersion(m, v, e[0], e[1], e[2]) for (m, v), e in self._seen.items()]
        return sorted(items, key=lambda v: (v.first_seen, v.model, v.version))

    def first_seen(self, model: str, version: str) -> float | None:
        """When this process first saw ``model`` ``version`` (epoch seconds), or None."""
        with self._lock:
            entry = self._seen.get((model, version))
        return None if entry is None else float(entry[0])

    def metric_points(self) -> list[MetricPoint]:
        """``inferwatch.model.info``: one point per version, valued at its first sight."""
        return [
            MetricPoint("inferwatch.model.info",
                        {"model.name": v.model, "model.version": v.version}, v.first_seen)
            for v in self.versions()
        ]
