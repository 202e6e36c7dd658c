"""Tracking SLOs on a monitor: read the sources each minute, answer with budgets.

A :class:`SLOTracker` hooks onto a :class:`inferwatch.Monitor` (or follows the
process default, as ``inferwatch.drift.watch`` does): a ticker on the
aggregator thread reads every SLO's source once a minute and snapshots the
counts (``_budget``); a collector exports the ``inferwatch.slo.*`` metrics and
a summary section puts the budgets in ``Monitor.summary()["slos"]`` (and so
in the status route). Reads at collection and summary time are live, so
they include every call finished before them.

Nothing survives a restart (or a fork: a worker starts empty): the budget a
process shows is what it has seen since it started. The backend, fed by
every replica, is the source of truth for the fleet.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .. import _forks
from .._catalogue import MetricPoint, add_boundaries
from .._errors import ConfigurationError
from ._budget import Budget, SLOState
from ._metrics import budget_points
from ._sources import (
    availability_events,
    drift_events,
    latency_events,
    profile_time,
    quality_events,
    versions_seen,
)
from ._spec import SLO

if TYPE_CHECKING:
    from .._monitor import Monitor

__all__ = ["SLOTracker", "track"]

# The trackers reporting on each monitor (one summary section lists them all).
_on_monitor: weakref.WeakKeyDictionary[Any, list[SLOTracker]] = (
    weakref.WeakKeyDictionary()
)


def _as_slos(slos: Iterable[SLO] | str | os.PathLike[str]) -> list[SLO]:
    if isinstance(slos, (str, os.PathLike)):
        from ._openslo import load_slos

        return load_slos(slos)
    out = list(slos)
    names: set[str] = set()
    for slo in out:
        if not isinstance(slo, SLO):
            raise ConfigurationError(
                f"slos: {slo!r} is not an inferwatch.slo.SLO; build one with "
                "SLO(name, kind, target, ...) or load a file with inferwatch.slo.load_slos"
            )
        if slo.name in names:
            raise ConfigurationError(f"slos: SLO {slo.name!r} is declared twice; "
                                     "give each SLO its own name")
        names.add(slo.name)
    return out


class SLOTracker:
    """The error budgets of some SLOs, as the monitor they watch sees them.

    ::

        tracker = inferwatch.slo.track([SLO("churn-availability", "availability", 0.999)])
        for budget in tracker.budgets():
            print(budget.text())   # churn-availability: 43.2 of 43.2 minutes left in ...

    ``clock`` (seconds since the epoch, ``time.time`` by default) is the only
    time the tracker reads, so tests drive it. Memory per SLO is fixed by
    its window (a few tens of KB for 30 days), never by traffic.
    """

    def __init__(
        self, slos: Iterable[SLO] | str | os.PathLike[str], *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.slos: tuple[SLO, ...] = tuple(_as_slos(slos))
        self._clock = clock if clock is not None else time.time
        now = self._clock()
        self._states = {slo.name: SLOState(slo, now) for slo in self.slos}
        self._lock = threading.Lock()
        self._monitor: Monitor | None = None
        self._fixed = False
        self._following = False
        self._listening = False
        self._hooked: weakref.WeakSet[Monitor] = weakref.WeakSet()
        self._first_seen: dict[tuple[str, str], float] = {}
        #: When the ticker next has a minute's snapshot to take.
        self._due = 0.0
        thresholds = [s.threshold_s for s in self.slos if s.threshold_s is not None]
        if thresholds:
            # Exact buckets at each threshold: here and in every backend's SLI.
            add_boundaries("inferwatch.predict.duration", thresholds)
        _forks.register(self)

    # -- wiring -------------------------------------------------------------------

    @property
    def monitor(self) -> Monitor | None:
        """The monitor whose calls count now (None while following no default)."""
        return self._monitor

    def attach(self, monitor: Monitor | None = None) -> SLOTracker:
        """Count ``monitor``'s calls; without one, follow the process default
        (the current one, and whichever ``inferwatch.configure`` makes later)."""
        if monitor is not None:
            self._fixed, self._following = True, False
            self._use(monitor)
            return self
        from .. import _process

        self._fixed, self._following = False, True
        _process.follow_default(self, _switch)
        self._use(_process.get_monitor())
        return self

    def close(self) -> None:
        """Stop counting: no monitor reports these SLOs any more."""
        self._following = self._fixed = False
        self._use(None)

    def _use(self, monitor: Monitor | None) -> None:
        previous = self._monitor
        if monitor is previous:
            return
        if previous is not None:
            # The old source's last calls count before it goes (configure()
            # shuts it down after replacing it).
            try:
                previous.drain()
                self.refresh()
            except BaseException:
                previous.count_error("slo")
        with self._lock:
            self._monitor = monitor
            for state in self._states.values():
                state.rebase()  # the new source's counts start from its baseline
        if monitor is not None:
            self._hook(monitor)
            self.refresh()  # its baseline, read now

    def _hook(self, monitor: Monitor) -> None:
        # The monitor keeps the tracker alive (``configure(slos=...)`` holds no
        # other reference); a monitor has no remove_ticker, so the hooks check
        # that it is still the source.
        if monitor in self._hooked:
            return
        self._hooked.add(monitor)

        def tick(_now: float) -> None:
            # After every drain (10 a second by default): only a clock check
            # until a new minute is due, then the sources are read once.
            if self._monitor is monitor and self._clock() >= self._due:
                self.refresh()

        def collect() -> list[MetricPoint]:
            return self.metric_points() if self._monitor is monitor else []

        monitor.add_ticker(tick)
        monitor.add_collector(collect)  # the slo metrics are registered (_metrics)
        trackers = _on_monitor.get(monitor)
        if trackers is None:
            trackers = _on_monitor[monitor] = []
            monitor.add_summary("slos", lambda: _summary(monitor))
        trackers.append(self)

    def _after_fork_in_child(self) -> None:
        """After a fork: the child starts with nothing. The monitor's aggregates
        start from zero in the child, so they are the baseline; the drift
        engine keeps the parent's window counts, read as the baseline next."""
        self._lock = threading.Lock()
        now = self._clock()
        self._states = {slo.name: SLOState(slo, now) for slo in self.slos}
        for slo in self.slos:
            if slo.kind in ("availability", "latency"):
                self._states[slo.name].update(0, 0)
        self._first_seen = {}
        self._due = 0.0

    # -- reading ------------------------------------------------------------------

    def _read(self, monitor: Monitor, now: float) -> dict[str, tuple[int, int] | None]:
        raw: dict[str, tuple[int, int] | None] = {}
        with monitor.aggregation_lock:
            aggregates = monitor.snapshot()
            for slo in self.slos:
                if slo.kind == "availability":
                    raw[slo.name] = availability_events(aggregates, slo)
                elif slo.kind == "latency":
                    raw[slo.name] = latency_events(aggregates, slo)
            seen = versions_seen(aggregates)
        with self._lock:
            for key in seen:
                self._first_seen.setdefault(key, now)
        for slo in self.slos:
            if slo.kind == "drift":
                raw[slo.name] = drift_events(monitor, slo)
        return raw

    def _age(self, monitor: Monitor, slo: SLO, now: float) -> tuple[float, str] | None:
        built = profile_time(monitor, slo)
        if built is not None:
            return now - built, "reference profile"
        with self._lock:
            times = [t for (model, version), t in self._first_seen.items()
                     if (slo.model is None or model == slo.model)
                     and (slo.version is None or version == slo.version)]
        if not times:
            return None
        return now - max(times), "model version"  # the newest version deployed

    def refresh(self) -> None:
        """Fold in what the sources counted since the last read; at a new minute
        take the snapshots (the ticker calls this after every drain)."""
        monitor = self._monitor
        if monitor is None:
            return
        now = self._clock()
        raw = self._read(monitor, now)
        ages = {slo.name: self._age(monitor, slo, now)
                for slo in self.slos if slo.kind == "freshness"}
        with self._lock:
            due = {slo.name for slo in self.slos
                   if slo.kind == "quality" and self._states[slo.name].minute_due(now)}
        quality = {slo.name: quality_events(monitor, slo) for slo in self.slos
                   if slo.name in due}
        with self._lock:
            if monitor is not self._monitor:
                return  # switched meanwhile: these counts are not the new source's
            for slo in self.slos:
                state = self._states[slo.name]
                counts = raw.get(slo.name)
                if counts is not None:
                    state.update(*counts)
                    state.detail = ""
                elif slo.kind == "drift":
                    # Counted from zero: a drift monitor attached later counts
                    # every window it closes from then on.
                    state.update(0, 0)
                    state.detail = "no drift monitor watches this model"
                if slo.kind == "quality" and state.minute_due(now):
                    events = quality.get(slo.name)
                    if events is None:
                        state.detail = ("no label tracker stores this model's predictions "
                                        "(inferwatch.labels.track)")
                    else:
                        state.add(events[0], events[1])
                        state.detail = events[2]
                if slo.kind == "freshness" and state.minute_due(now):
                    age = ages.get(slo.name)
                    max_age = slo.max_age_seconds
                    if age is None or max_age is None:
                        state.detail = "no model version seen yet"
                    else:
                        state.add(1 if age[0] <= max_age else 0, 1)
                        state.detail = f"{age[1]} is {age[0] / 86400:.1f} days old"
                state.snapshot(now)
            self._due = (math.floor(now / 60.0) + 1) * 60.0

    def budgets(self) -> list[Budget]:
        """Every SLO's budget now, in declaration order, counting every call
        finished before this one (the monitor's buffer is drained first)."""
        monitor = self._monitor
        if monitor is not None:
            monitor.drain()
        return self._budgets()

    def _budgets(self) -> list[Budget]:
        # Collection and summary have drained already.
        self.refresh()
        now = self._clock()
        with self._lock:
            return [self._states[slo.name].budget(now) for slo in self.slos]

    def budget(self, name: str) -> Budget:
        """One SLO's budget by name."""
        for budget in self.budgets():
            if budget.slo.name == name:
                return budget
        raise KeyError(f"no SLO named {name!r}; tracked: "
                       f"{', '.join(s.name for s in self.slos)}")

    def metric_points(self) -> list[MetricPoint]:
        """The ``inferwatch.slo.*`` points (the collector)."""
        return [p for b in self._budgets() for p in budget_points(b)]

    @property
    def nbytes(self) -> int:
        """Memory held by the snapshot rings (fixed by the SLOs' windows)."""
        return sum(state.nbytes for state in self._states.values())


def _summary(monitor: Monitor) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tracker in list(_on_monitor.get(monitor, ())):
        if tracker._monitor is monitor:
            out.extend(b.to_dict() for b in tracker._budgets())
    return out


def track(
    slos: Iterable[SLO] | str | os.PathLike[str],
    monitor: Monitor | None = None,
    *,
    clock: Callable[[], float] | None = None,
) -> SLOTracker:
    """Track SLOs in one line: their budgets in the metrics and the status summary.

    ::

        import inferwatch.slo
        tracker = inferwatch.slo.track("slos.yaml")      # follows the default monitor

    ``slos`` is a list of :class:`SLO` or the path of an OpenSLO v1 file.
    Without ``monitor`` it follows the process default, including one made
    by a later ``inferwatch.configure(...)``.
    """
    return SLOTracker(slos, clock=clock).attach(monitor)


def _switch(tracker: Any, new: Monitor | None) -> None:
    """A new process default: a tracker that follows it moves there."""
    if tracker._following:
        tracker._use(new)
