"""Anomaly scores of a monitor's models: volume, mean prediction, error rate.

An :class:`AnomalyWatch` reads the live aggregates' cumulative counts on the
aggregator thread (a ticker). At each interval boundary (epoch-aligned:
every 5 minutes by default) it takes the interval's differences per model
name (all versions together: a deploy is not an anomaly in traffic) and
feeds one :class:`SeasonalBaseline` per (model, signal):

* ``volume``: predictions (rows) in the interval, modelled in log space;
* ``mean_prediction``: mean of the interval's numeric predictions, its
  spread scaled by how many there were (missing when there were none);
* ``error_rate``: errors / calls, arcsine-transformed with exact binomial
  tails, alarming upwards only (missing without calls).

An interval the watch could not see whole (the first, begun before the
watch looked; one whose end the ticker missed: a stalled process, a
suspended laptop) or whose counts went backwards is not learned, and its
volume is not scored. Scores are exported as
``inferwatch.anomaly.score`` and ``inferwatch.anomaly.alarm`` and listed in
``Monitor.summary()["anomalies"]``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .. import _forks
from .._catalogue import MetricDef, MetricPoint, register
from ..slo._spec import parse_duration
from ._baseline import AnomalyScore, SeasonalBaseline

if TYPE_CHECKING:
    from .._monitor import Monitor

__all__ = ["SIGNAL", "SIGNALS", "AnomalyWatch", "watch"]

SIGNALS = ("volume", "mean_prediction", "error_rate")
#: The attribute naming the signal on the anomaly gauges.
SIGNAL = "inferwatch.anomaly.signal"

register(
    MetricDef("inferwatch.anomaly.score", "gauge", "{score}",
              "Robust z-score of the last complete interval against the learned seasonal "
              "baseline (absent while warming up or without data).", ("model.name", SIGNAL)),
    MetricDef("inferwatch.anomaly.alarm", "gauge", "{status}",
              "1 when the last complete interval's anomaly score is past the watch's "
              "threshold, else 0 (absent while warming up).", ("model.name", SIGNAL)),
)


_OPTIONS: dict[str, dict[str, Any]] = {
    "volume": {"transform": "log"},
    "mean_prediction": {},
    "error_rate": {"transform": "arcsine", "direction": "up"},
}

# Cumulative (calls, errors, rows, value count, value sum) of one model.
_Totals = tuple[int, int, int, int, float]


def _seconds(value: float | str, name: str) -> float:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a duration ('5m', '7d') or seconds > 0, got {value!r}")
    return float(value)


def _totals(monitor: Monitor) -> dict[str, _Totals]:
    calls: dict[str, list[float]] = {}
    with monitor.aggregation_lock:
        aggregates = monitor.snapshot()
        for (endpoint, _dyn, outcome, _error), n in aggregates.calls.items():
            entry = calls.setdefault(endpoint.model_name, [0, 0, 0, 0, 0.0])
            entry[0] += n
            if outcome == "error":
                entry[1] += n
        for (endpoint, _dyn), n in aggregates.rows.items():
            calls.setdefault(endpoint.model_name, [0, 0, 0, 0, 0.0])[2] += n
        for (metric, key), hist in aggregates.histograms.items():
            if metric == "value":
                entry = calls.setdefault(key[0].model_name, [0, 0, 0, 0, 0.0])
                entry[3] += hist.count
                entry[4] += hist.sum
    return {m: (int(e[0]), int(e[1]), int(e[2]), int(e[3]), float(e[4]))
            for m, e in calls.items()}


class AnomalyWatch:
    """Anomaly scores of every model a monitor serves, one baseline per signal.

    ::

        anomalies = AnomalyWatch(interval="5m").attach(monitor)
        for model, signals in anomalies.scores().items():
            print(model, signals["volume"].score)

    ``clock`` (epoch seconds) is the only time read, so tests drive it.
    Memory: a few KB per (model, signal), at most ``max_models`` models
    (later ones are counted as ``inferwatch.self.dropped{reason=anomaly_models_full}``).
    """

    def __init__(
        self, *, interval: float | str = "5m", threshold: float = 4.0,
        warmup: float | str = "7d", signals: Iterable[str] = SIGNALS, max_models: int = 32,
        utc_offset: float = 0.0, clock: Callable[[], float] | None = None,
    ) -> None:
        self.interval = _seconds(interval, "interval")
        self.warmup = _seconds(warmup, "warmup")
        self.signals = tuple(signals)
        unknown = sorted(set(self.signals) - set(SIGNALS))
        if unknown or not self.signals:
            raise ValueError(f"signals must be some of {', '.join(SIGNALS)}, got "
                             f"{', '.join(unknown) or 'none'}")
        if max_models < 1:
            raise ValueError(f"max_models must be >= 1, got {max_models}")
        self.threshold = threshold
        self.max_models = max_models
        self.utc_offset = utc_offset
        # Built once to check the options now rather than at the first model.
        self._make("volume")
        self._clock = clock if clock is not None else time.time
        self._lock = threading.Lock()
        self._baselines: dict[tuple[str, str], SeasonalBaseline] = {}
        self._base: dict[str, _Totals] = {}
        self._boundary: float | None = None
        self._partial = True
        self._monitor: Monitor | None = None
        self._overflow = 0
        _forks.register(self)

    def _after_fork_in_child(self) -> None:
        # The child's counts start from zero: it keeps what the baselines learned
        # and starts its intervals afresh.
        self._lock = threading.Lock()
        self._base = {}
        self._boundary = None
        self._partial = True

    def _make(self, signal: str) -> SeasonalBaseline:
        return SeasonalBaseline(self.interval, threshold=self.threshold, warmup=self.warmup,
                                utc_offset=self.utc_offset, **_OPTIONS[signal])

    def attach(self, monitor: Monitor) -> AnomalyWatch:
        """Watch ``monitor``: a ticker, the ``inferwatch.anomaly.*`` collector and
        the ``anomalies`` summary section (the monitor keeps the watch alive)."""
        if self._monitor is not None:
            raise ValueError("this AnomalyWatch is attached already; make one per monitor")
        self._monitor = monitor
        monitor.add_ticker(lambda _now: self.refresh())
        monitor.add_collector(self.metric_points)
        monitor.add_summary("anomalies", self.summary)
        self.refresh()
        return self

    def refresh(self) -> None:
        """At an interval boundary, score and learn the interval that just ended."""
        monitor = self._monitor
        if monitor is None:
            return
        now = self._clock()
        boundary = math.floor(now / self.interval) * self.interval
        with self._lock:
            if self._boundary is not None and boundary <= self._boundary:
                return
        totals = _totals(monitor)
        with self._lock:
            previous = self._boundary
            if previous is not None and boundary <= previous:
                return  # another thread took this boundary meanwhile
            self._boundary = boundary
            base, self._base = self._base, totals
            if previous is None:
                return  # the first sight: the counts so far are the baseline
            # Missed boundaries: the differences span several intervals; and the
            # interval of the first sight was seen only from then on.
            whole = boundary - previous <= self.interval * 1.001 and not self._partial
            self._partial = False
            for model, now_totals in totals.items():
                self._observe(model, previous, base.get(model), now_totals, whole)
        if self._overflow:
            for _ in range(self._overflow):
                monitor.count_dropped("anomaly_models_full")
            self._overflow = 0

    def _observe(self, model: str, t: float, before: _Totals | None, after: _Totals,
                 whole: bool) -> None:
        if before is None:
            before = (0, 0, 0, 0, 0.0)  # first seen during this interval
        deltas = [a - b for a, b in zip(after, before, strict=True)]
        if not all(d >= 0 for d in deltas[:4]):
            deltas = [0, 0, 0, 0, 0.0]  # counts went backwards: nothing to say
            whole = False
        valid = whole
        calls, errors, rows, n_values, value_sum = deltas
        for signal in self.signals:
            key = (model, signal)
            baseline = self._baselines.get(key)
            if baseline is None:
                if len({m for m, _ in self._baselines}) >= self.max_models and not any(
                        m == model for m, _ in self._baselines):
                    self._overflow += 1
                    return
                baseline = self._baselines[key] = self._make(signal)
            if signal == "volume":
                baseline.update(t, float(rows) if valid else None)
            elif signal == "mean_prediction":
                if n_values > 0:
                    baseline.update(t, value_sum / n_values, count=n_values, valid=valid)
                else:
                    baseline.update(t, None)
            elif calls > 0:
                baseline.update(t, errors / calls, count=calls, valid=valid)
            else:
                baseline.update(t, None)

    def scores(self) -> dict[str, dict[str, AnomalyScore]]:
        """The last complete interval's verdict per model and signal."""
        self.refresh()
        out: dict[str, dict[str, AnomalyScore]] = {}
        with self._lock:
            for (model, signal), baseline in sorted(self._baselines.items()):
                if baseline.last is not None:
                    out.setdefault(model, {})[signal] = baseline.last
        return out

    def metric_points(self) -> list[MetricPoint]:
        points = []
        for model, signals in self.scores().items():
            for signal, verdict in signals.items():
                attrs = {"model.name": model, SIGNAL: signal}
                if verdict.warming_up:
                    continue
                if verdict.score is not None:
                    points.append(MetricPoint("inferwatch.anomaly.score", attrs, verdict.score))
                points.append(MetricPoint("inferwatch.anomaly.alarm", dict(attrs),
                                          int(verdict.alarm)))
        return points

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {model: {signal: verdict.to_dict() for signal, verdict in signals.items()}
                for model, signals in self.scores().items()}

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(b.nbytes for b in self._baselines.values())


def watch(monitor: Monitor | None = None, **options: Any) -> AnomalyWatch:
    """Score a monitor's models (the process default without one) in one line::

        import inferwatch.anomaly
        inferwatch.anomaly.watch(interval="5m")
    """
    if monitor is None:
        from .._process import get_monitor

        monitor = get_monitor()
    return AnomalyWatch(**options).attach(monitor)
