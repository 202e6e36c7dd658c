"""Cost per prediction: the machine's and the GPUs' hourly prices, apportioned by use.

Over the cost window (the last ``window_s`` seconds, five minutes by default)::

    cpu cost  = cost_per_hour     / 3600 x (CPU seconds this process used) / (machine's cores)
    gpu cost  = gpu_cost_per_hour / 3600 x (GPU-seconds this process kept a GPU busy)
    per prediction = (cpu cost + gpu cost) / (predictions made in the window)

CPU seconds are this process's user + system time (``os.times``), against
``os.cpu_count()``: a process using one core of a 16-core machine carries 1/16
of its price. GPU-seconds are the device time measured by
``inferwatch.gpu_stage`` when any was measured since the previous sample;
otherwise each device's NVML utilisation integrated over time (the trapezoid
between samples, taken at most once a second on the aggregator thread), which
counts every process's kernels on that GPU. A batch of N rows counts N
predictions. Samples are taken off the request path: on the aggregator thread
and when metrics are collected or the status page is drawn.

Prices are in US dollars per hour (the ``{USD}`` unit); ``cost_per_hour`` is
the machine without its GPUs, ``gpu_cost_per_hour`` the price of one GPU.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .. import _forks
from .._catalogue import MetricDef, MetricPoint, register

__all__ = ["RESOURCE", "CostTracker"]

#: Attribute of ``inferwatch.cost.attributed``: which price the cost comes from.
RESOURCE = "inferwatch.cost.resource"

register(
    MetricDef("inferwatch.cost.per_prediction", "gauge", "{USD}",
              "Machine and GPU cost attributed to this process over the cost window (5 min), "
              "per prediction made in it; absent while the window has no predictions.", ()),
    MetricDef("inferwatch.cost.attributed", "counter", "{USD}",
              "Cost attributed to this process since it started, by resource (cpu: the "
              "machine's hourly price by CPU share; gpu: the GPUs' by busy time). Fleet cost "
              "per prediction: rate of this over rate of inferwatch.predict.predictions.",
              (RESOURCE,)),
)

#: Samples closer together than this are not taken (several readers collect).
MIN_SAMPLE_SECONDS = 1.0
DEFAULT_WINDOW_SECONDS = 300.0


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class _Sample(NamedTuple):
    t: float
    cpu_s: float  # this process's CPU seconds (cumulative)
    device_s: float  # device seconds measured by gpu_stage (cumulative)
    utils: tuple[float, ...]  # each GPU's utilisation now
    cpu_cost: float  # cumulative
    gpu_cost: float  # cumulative
    gpu_busy_s: float  # cumulative GPU-seconds charged
    predictions: int  # cumulative


class CostTracker:
    """Turns prices and measured use into cost per prediction (see the module docstring).

    Every reading is injected so the arithmetic can be tested: ``predictions``
    (the monitor's rows so far), ``cpu_seconds``, ``device_seconds``
    (gpu_stage's total), ``utilizations`` (each GPU's, 0-1), ``cores`` and
    ``clock``.
    """

    def __init__(
        self,
        predictions: Callable[[], int],
        *,
        cost_per_hour: float | None = None,
        gpu_cost_per_hour: float | None = None,
        window_s: float = DEFAULT_WINDOW_SECONDS,
        cpu_seconds: Callable[[], float] = _cpu_seconds,
        device_seconds: Callable[[], float] = lambda: 0.0,
        utilizations: Callable[[], Sequence[float]] = lambda: (),
        cores: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cost_per_hour = float(cost_per_hour or 0.0)
        self.gpu_cost_per_hour = float(gpu_cost_per_hour or 0.0)
        self.window_s = float(window_s)
        self.cores = int(cores or os.cpu_count() or 1)
        self._predictions = predictions
        self._cpu_seconds = cpu_seconds
        self._device_seconds = device_seconds
        self._utilizations = utilizations
        self._clock = clock
        self._init()
        _forks.register(self)

    def _init(self) -> None:
        self._lock = threading.Lock()
        self._samples: deque[_Sample] = deque(maxlen=4096)
        self._gpu_source = "none"

    def _after_fork_in_child(self) -> None:
        # The child's CPU time and predictions count from zero.
        self._init()

    # -- sampling ---------------------------------------------------------------

    def tick(self, _now: float | None = None) -> None:
        """A monitor ticker (the aggregator thread): sample when one is due."""
        self.sample()

    def sample(self) -> None:
        """Read the clocks and charge the time since the previous sample (at most one a second)."""
        now = self._clock()
        with self._lock:
            last = self._samples[-1] if self._samples else None
            if last is not None and now - last.t < MIN_SAMPLE_SECONDS:
                return
            self._samples.append(self._take(now, last))
            # Keep one sample at or before the window's start, and nothing older.
            start = now - self.window_s
            while len(self._samples) > 2 and self._samples[1].t <= start:
                self._samples.popleft()

    def _take(self, now: float, last: _Sample | None) -> _Sample:
        """A sample now, charged from ``last`` (lock held)."""
        cpu_s = float(self._cpu_seconds())
        predictions = int(self._predictions())
        device_s = float(self._device_seconds())
        utils = tuple(float(u) for u in self._utilizations()) if self.gpu_cost_per_hour else ()
        if last is None:
            return _Sample(now, cpu_s, device_s, utils, 0.0, 0.0, 0.0, predictions)
        dt = now - last.t
        cpu_cost = self.cost_per_hour / 3600.0 * max(0.0, cpu_s - last.cpu_s) / self.cores
        busy = self._busy(last, dt, device_s, utils)
        gpu_cost = self.gpu_cost_per_hour / 3600.0 * busy
        return _Sample(now, cpu_s, device_s, utils, last.cpu_cost + cpu_cost,
                       last.gpu_cost + gpu_cost, last.gpu_busy_s + busy,
                       max(predictions, last.predictions))

    def _busy(self, last: _Sample, dt: float, device_s: float,
              utils: tuple[float, ...]) -> float:
        """GPU-seconds to charge for the ``dt`` seconds since ``last`` (lock held)."""
        measured = device_s - last.device_s
        if measured > 0:
            self._gpu_source = "cuda_events"
            # Overlapping streams can sum to more than the wall time: at most every GPU, all along.
            return min(measured, dt * max(1, len(utils)))
        if utils:
            self._gpu_source = "nvml"
            before = last.utils if len(last.utils) == len(utils) else utils
            return dt * sum((a + b) / 2.0 for a, b in zip(before, utils, strict=True))
        return 0.0

    # -- reading ------------------------------------------------------------------

    def window(self) -> dict[str, Any]:
        """The cost window as the status page shows it, up to now.

        Between stored samples (at most one a second) the window ends at a
        reading taken now and not kept.
        """
        self.sample()
        now = self._clock()
        with self._lock:
            samples = list(self._samples)
            if samples and now > samples[-1].t:
                samples.append(self._take(now, samples[-1]))
            source = self._gpu_source
        out: dict[str, Any] = {
            "currency": "USD", "cost_per_hour": self.cost_per_hour or None,
            "gpu_cost_per_hour": self.gpu_cost_per_hour or None, "cores": self.cores,
            "window_s": self.window_s, "over_s": 0.0, "predictions": 0,
            "cost": None, "cpu_cost": None, "gpu_cost": None, "per_prediction": None,
            "hourly": None, "cpu_share": None, "gpu_busy_s": None, "gpu_source": source,
        }
        if len(samples) < 2:
            return out
        first, last = samples[0], samples[-1]
        over = last.t - first.t
        if over <= 0:
            return out
        cpu_cost = last.cpu_cost - first.cpu_cost
        gpu_cost = last.gpu_cost - first.gpu_cost
        cost = cpu_cost + gpu_cost
        predictions = last.predictions - first.predictions
        out.update(
            over_s=over, predictions=predictions, cost=cost, cpu_cost=cpu_cost,
            gpu_cost=gpu_cost, hourly=cost / over * 3600.0,
            cpu_share=max(0.0, last.cpu_s - first.cpu_s) / (over * self.cores),
            gpu_busy_s=last.gpu_busy_s - first.gpu_busy_s,
            per_prediction=cost / predictions if predictions > 0 else None,
        )
        return out

    def points(self) -> list[MetricPoint]:
        """``inferwatch.cost.*`` for a collection."""
        window = self.window()
        with self._lock:
            last = self._samples[-1] if self._samples else None
        points = []
        if last is not None:
            if self.cost_per_hour:
                points.append(MetricPoint("inferwatch.cost.attributed", {RESOURCE: "cpu"},
                                          last.cpu_cost))
            if self.gpu_cost_per_hour:
                points.append(MetricPoint("inferwatch.cost.attributed", {RESOURCE: "gpu"},
                                          last.gpu_cost))
        if window["per_prediction"] is not None:
            points.append(MetricPoint("inferwatch.cost.per_prediction", {},
                                      window["per_prediction"]))
        return points
