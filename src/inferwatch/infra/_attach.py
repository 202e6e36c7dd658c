"""What a monitor's configuration turns on in the infrastructure layer.

``Infrastructure(config)`` checks what the options need (a missing package
raises here, before the monitor starts anything); ``attach(monitor)`` adds
the GPU gauges and the cost tracker as collectors and starts the process
metrics on the monitor's MeterProvider; ``close()`` gives them up.
"""

from __future__ import annotations

from typing import Any

from ._cost import CostTracker
from ._cuda import PENDING
from ._nvml import gpu_reader
from ._system import SystemMetrics, _load

__all__ = ["Infrastructure"]


def _predictions(monitor: Any) -> Any:
    def rows() -> int:
        with monitor.aggregation_lock:
            return int(sum(monitor.snapshot().rows.values()))

    return rows


class Infrastructure:
    """The infrastructure parts one monitor uses."""

    def __init__(self, config: Any) -> None:
        self.config = config
        if config.enabled and config.system_metrics:
            _load()  # MissingDependencyError now, naming the extra to install
        self.system: SystemMetrics | None = None
        self.cost: CostTracker | None = None

    def attach(self, monitor: Any) -> None:
        config = self.config
        if not config.enabled:
            return
        if config.gpu_metrics:
            monitor.add_collector(gpu_reader().points)
        if config.cost_per_hour or config.gpu_cost_per_hour:
            reader = gpu_reader()
            self.cost = CostTracker(
                _predictions(monitor), cost_per_hour=config.cost_per_hour,
                gpu_cost_per_hour=config.gpu_cost_per_hour,
                device_seconds=lambda: PENDING.device_ns * 1e-9,
                utilizations=reader.utilizations)
            monitor.add_collector(self.cost.points)
            monitor.add_ticker(self.cost.tick)
            monitor.add_summary("cost", self.cost.window)
        otel = getattr(monitor, "_otel", None)
        if config.system_metrics and otel is not None:
            self.system = SystemMetrics(otel.meter_provider, config.otel_environ)
            self.system.start()

    def close(self) -> None:
        if self.system is not None:
            self.system.stop()
