"""The health score of every model version a monitor serves, wired to the monitor.

A :class:`HealthTracker` snapshots the live aggregates' counts (a ticker on
the aggregator thread, at most once a ``resolution``) and computes the
scores when asked: at collection (``inferwatch.health.*`` gauges), at
summary time (``summary()["health"]``) and from :meth:`HealthTracker.scores`.
Nothing survives a restart: the window is what this process has seen.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .. import _forks
from .._catalogue import COMPONENT, MetricDef, MetricPoint, add_boundaries, register
from ..slo._spec import parse_duration
from ._bands import (
    DEFAULT_WEIGHTS,
    availability_share,
    freshness_share,
    latency_share,
    psi_share,
)
from ._inputs import (
    Counts,
    WindowRing,
    drift_monitors,
    profile_time,
    read_counts,
    report_for,
)
from ._score import Assessment, HealthScore, compose
from ._versions import VersionTracker

if TYPE_CHECKING:
    from .._monitor import Monitor

__all__ = ["HealthTracker", "track"]

_MODEL = ("model.name", "model.version")
register(
    MetricDef("inferwatch.health.score", "gauge", "{score}",
              "Model health, 0-100, over the components with data (absent while none has "
              "any).", _MODEL),
    MetricDef("inferwatch.health.status", "gauge", "{status}",
              "Health traffic light: 0 green (> 80), 1 yellow (50-80), 2 red (< 50); absent "
              "while unknown.", _MODEL),
    MetricDef("inferwatch.health.component", "gauge", "{point}",
              "Points a health component earned, out of its weight (availability, latency, "
              "data_drift, prediction_stability, freshness; absent while it has no data).",
              (*_MODEL, COMPONENT)),
)
_STATUS_VALUE = {"green": 0, "yellow": 1, "red": 2}


Custom = Callable[[str, str], Assessment]


def _seconds(value: float | str, name: str) -> float:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a duration ('1h', '30d') or seconds > 0, got {value!r}")
    return float(value)


def _psi(feature: Any) -> float:
    value = feature.score("psi")
    return float(value) if value is not None and math.isfinite(value) else 0.0


def _drift_assessment(features: Mapping[str, Any], what: str) -> Assessment:
    flagged = sorted(((name, _psi(f)) for name, f in features.items() if f.status != "ok"),
                     key=lambda item: -item[1])
    if not flagged:
        worst = max((_psi(f) for f in features.values()), default=0.0)
        return Assessment(1.0, f"no {what} drifted ({len(features)} checked, worst PSI "
                               f"{worst:.2f})", worst)
    shown = ", ".join(f"{name} PSI {psi:.2f}" for name, psi in flagged[:3])
    more = f" and {len(flagged) - 3} more" if len(flagged) > 3 else ""
    return Assessment(psi_share(flagged[0][1]), shown + more, flagged[0][1])


class HealthTracker:
    """A 0-100 health score per model version, from weighted components.

    ::

        health = HealthTracker(latency_threshold_ms=300).attach(monitor)
        for score in health.scores():
            print(score.text())   # churn 3: health 88 (green); data drift -12: f03 PSI 0.65

    Args:
        weights: points per component (default availability 25, latency 20,
            data_drift 20, prediction_stability 20, freshness 15); a weight of
            0 leaves a component out. Names beyond the built-in ones need a
            function in ``components``.
        components: custom components, ``name -> fn(model, version)`` returning
            an :class:`Assessment` (share None: unknown).
        window: how far back availability and latency look ("1h").
        latency_threshold_ms: a successful call at or under it is compliant
            (default: the monitor's ``slow_threshold_ms``, else 1000). It
            becomes an exact bucket boundary of the duration histogram.
        min_calls: fewer calls in the window leave availability and latency
            unknown (a handful of calls says little).
        max_age: freshness' maximum age of the reference profile or model
            version ("30d").
        drift: the drift monitors to read (default: every one fed by the
            monitor).
        resolution: seconds between snapshots of the counts (60).
        clock: epoch seconds (``time.time``); tests inject one.
    """

    def __init__(
        self, *, weights: Mapping[str, float] | None = None,
        components: Mapping[str, Custom] | None = None, window: float | str = "1h",
        latency_threshold_ms: float | None = None, min_calls: int = 20,
        max_age: float | str = "30d", drift: Iterable[Any] | None = None,
        resolution: float = 60.0, clock: Callable[[], float] | None = None,
    ) -> None:
        self.custom: dict[str, Custom] = dict(components or {})
        chosen = dict(DEFAULT_WEIGHTS if weights is None else weights)
        for name in self.custom:
            chosen.setdefault(name, 0.0)
        for name, weight in chosen.items():
            if name not in DEFAULT_WEIGHTS and name not in self.custom:
                raise ValueError(
                    f"unknown health component {name!r}: the built-in ones are "
                    f"{', '.join(DEFAULT_WEIGHTS)}; pass components={{{name!r}: fn}} for "
                    "your own")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (
                    math.isfinite(weight) and weight >= 0):
                raise ValueError(f"weight of {name!r} must be a number >= 0, got {weight!r}")
        self.weights: dict[str, float] = {n: float(w) for n, w in chosen.items() if w > 0}
        if not self.weights:
            raise ValueError("every health weight is 0: give at least one component points")
        self.window = _seconds(window, "window")
        self.max_age = _seconds(max_age, "max_age")
        if latency_threshold_ms is not None and not (
                isinstance(latency_threshold_ms, (int, float)) and latency_threshold_ms > 0):
            raise ValueError(f"latency_threshold_ms must be > 0, got {latency_threshold_ms!r}")
        self._threshold_ms = latency_threshold_ms
        if isinstance(min_calls, bool) or not isinstance(min_calls, int) or min_calls < 1:
            raise ValueError(f"min_calls must be an integer >= 1, got {min_calls!r}")
        self.min_calls = min_calls
        if not resolution > 0 or resolution > self.window:
            raise ValueError(f"resolution must be in (0, window], got {resolution!r}")
        self.resolution = float(resolution)
        self._drift = None if drift is None else list(drift)
        self._clock = clock if clock is not None else time.time
        self._ring = WindowRing(math.ceil(self.window / self.resolution) + 2)
        self._lock = threading.Lock()
        self._monitor: Monitor | None = None
        self._versions: VersionTracker | None = None
        _forks.register(self)

    def _after_fork_in_child(self) -> None:
        # The child's aggregates start from zero: the parent's snapshots would be
        # larger than every count it reads.
        self._lock = threading.Lock()
        self._ring = WindowRing(self._ring.capacity)

    @property
    def latency_threshold_ms(self) -> float:
        if self._threshold_ms is not None:
            return float(self._threshold_ms)
        monitor = self._monitor
        slow = monitor.config.slow_threshold_ms if monitor is not None else None
        return float(slow) if slow else 1000.0

    def attach(self, monitor: Monitor) -> HealthTracker:
        """Score ``monitor``'s models: a ticker, the ``inferwatch.health.*`` collector,
        the ``health`` summary section, and its version events (one
        :class:`VersionTracker` per monitor, shared)."""
        if self._monitor is not None:
            raise ValueError("this HealthTracker is attached already; make one per monitor")
        self._monitor = monitor
        add_boundaries("inferwatch.predict.duration", [self.latency_threshold_ms / 1000.0])
        self._versions = VersionTracker.of(monitor, clock=self._clock)
        monitor.add_ticker(lambda _now: self.refresh())
        monitor.add_collector(self.metric_points)
        monitor.add_summary("health", self.summary)
        self.refresh(force=True)
        return self

    # -- reading ------------------------------------------------------------------

    def _counts(self) -> dict[tuple[str, str], Counts]:
        assert self._monitor is not None
        return read_counts(self._monitor, self.latency_threshold_ms / 1000.0)

    def refresh(self, *, force: bool = False) -> None:
        """Snapshot the counts when ``resolution`` has passed since the last one."""
        if self._monitor is None:
            return
        now = self._clock()
        with self._lock:
            last = self._ring.last_time
            if not force and last is not None and now - last < self.resolution:
                return
        counts = self._counts()
        with self._lock:
            self._ring.append(now, counts)

    def scores(self) -> list[HealthScore]:
        """Every model version's score now, in the order they were first seen,
        counting every call finished before this one (the monitor's buffer is
        drained first)."""
        monitor = self._monitor
        if monitor is not None:
            monitor.drain()
        return self._scores()

    def _scores(self) -> list[HealthScore]:
        # Collection and summary have drained already.
        monitor = self._monitor
        if monitor is None or self._versions is None:
            return []
        self.refresh()
        now = self._clock()
        counts = self._counts()
        dms = drift_monitors(monitor, self._drift)
        out = []
        for v in self._versions.versions():
            key = (v.model, v.version)
            with self._lock:
                base = self._ring.base(key, now - self.window)
            window = tuple(a - b for a, b in zip(counts.get(key, (0, 0, 0, 0)), base,
                                                 strict=True))
            out.append(self._score(v.model, v.version, window, dms, now, v.first_seen))
        return out

    def score(self, model: str, version: str | None = None) -> HealthScore:
        """One model's score (``version`` needed when several versions were seen)."""
        found = [s for s in self.scores()
                 if s.model == model and (version is None or s.version == version)]
        if len(found) == 1:
            return found[0]
        seen = ", ".join(f"{s.model} {s.version!r}" for s in self.scores()) or "none"
        if not found:
            raise KeyError(f"no model {model!r} version {version!r} seen; seen: {seen}")
        raise KeyError(f"several versions of {model!r} seen ({seen}); pass version=")

    # -- the components ------------------------------------------------------------

    def _score(self, model: str, version: str, window: tuple[int, ...], dms: list[Any],
               now: float, first_seen: float) -> HealthScore:
        calls, errors, ok, fast = window
        span = _duration(self.window)
        assessments: dict[str, Assessment] = {}
        w = self.weights
        if "availability" in w:
            if calls < self.min_calls:
                assessments["availability"] = Assessment(
                    None, f"{calls} calls in the last {span} (needs {self.min_calls})")
            else:
                good = (calls - errors) / calls
                assessments["availability"] = Assessment(
                    availability_share(good),
                    f"{good:.2%} of {calls:,} calls without error over {span}", good)
        if "latency" in w:
            threshold = self.latency_threshold_ms
            if ok < self.min_calls:
                assessments["latency"] = Assessment(
                    None, f"{ok} successful calls in the last {span} (needs {self.min_calls})")
            else:
                within = fast / ok
                assessments["latency"] = Assessment(
                    latency_share(within),
                    f"{within:.1%} of {ok:,} successful calls within {threshold:g} ms over "
                    f"{span}", within)
        found = None
        if {"data_drift", "prediction_stability", "freshness"} & set(w):
            found = report_for(dms, model, version)
        for name, what, part in (("data_drift", "feature", "features"),
                                 ("prediction_stability", "output", "outputs")):
            if name not in w:
                continue
            if found is None:
                assessments[name] = Assessment(None, f"no drift monitor watches {model} "
                                                     f"{version}")
                continue
            report = found[0]
            items = getattr(report, part)
            if report.warming_up:
                assessments[name] = Assessment(
                    None, f"drift reference still warming up ({report.warmup_rows:,} rows)")
            elif report.window is None or report.window.rows == 0 or not items:
                assessments[name] = Assessment(
                    None, f"no {part} in the drift window yet" if items or report.window
                    is None or report.window.rows == 0 else f"no {part} in the profile")
            else:
                assessments[name] = _drift_assessment(items, what)
        if "freshness" in w:
            built = profile_time(found[1]) if found is not None else None
            source, since = ("reference profile", built) if built is not None else (
                "model version", first_seen)
            age = now - since
            assessments["freshness"] = Assessment(
                freshness_share(age, self.max_age),
                f"{source} {age / 86400:.1f} days old (max {self.max_age / 86400:g})",
                age)
        for name, fn in self.custom.items():
            if name not in w:
                continue
            try:
                result = fn(model, version)
            except Exception as exc:  # a user's component: reported, never raised
                result = Assessment(None, f"failed: {type(exc).__name__}")
                if self._monitor is not None:
                    self._monitor.count_error("health_component")
            if not isinstance(result, Assessment):
                result = Assessment(None, f"returned {type(result).__name__}, "
                                          "not an Assessment")
            assessments[name] = result
        return compose(model, version, w, assessments)

    # -- export --------------------------------------------------------------------

    def metric_points(self) -> list[MetricPoint]:
        points: list[MetricPoint] = []
        for s in self._scores():
            attrs = {"model.name": s.model, "model.version": s.version}
            if s.score is not None:
                points.append(MetricPoint("inferwatch.health.score", dict(attrs), s.score))
                points.append(MetricPoint("inferwatch.health.status", dict(attrs),
                                          _STATUS_VALUE[s.status]))
            for c in s.components.values():
                if c.points is not None:
                    points.append(MetricPoint("inferwatch.health.component",
                                              {**attrs, COMPONENT: c.name}, c.points))
        return points

    def summary(self) -> dict[str, dict[str, Any]]:
        return {f"{s.model}:{s.version}": s.to_dict() for s in self._scores()}


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def track(monitor: Monitor | None = None, **options: Any) -> HealthTracker:
    """Score a monitor's models (the process default without one) in one line::

        import inferwatch.health
        health = inferwatch.health.track(latency_threshold_ms=300)
    """
    if monitor is None:
        from .._process import get_monitor

        monitor = get_monitor()
    return HealthTracker(**options).attach(monitor)
