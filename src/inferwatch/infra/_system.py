"""This process's CPU and memory through OpenTelemetry's system-metrics instrumentation.

``configure(system_metrics=True)`` (``INFERWATCH_SYSTEM_METRICS=true``) starts
``opentelemetry-instrumentation-system-metrics`` (``pip install
'inferwatch[system]'``) on the MeterProvider inferwatch exports with, for the
process metrics only (``process.cpu.time``, ``process.cpu.utilization``,
``process.memory.usage``, ``process.memory.virtual``, ``process.thread.count``,
``process.open_file_descriptor.count``, ``process.context_switches``; the
``process.runtime.*`` names on releases before 0.52b0, which have only those),
never the host's ``system.*`` metrics. ``OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS``
patterns are honoured.

The instrumentor is one object per process (OpenTelemetry's instrumentors are
singletons), so the monitor started last owns it; one the application
instrumented itself is left alone. After a fork it reads the child's own
process (upstream binds the parent's pid when it is created).
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import os
import threading
from collections.abc import Mapping
from typing import Any

from .. import _forks
from .._errors import MissingDependencyError

__all__ = ["LEGACY_PROCESS_METRICS", "PROCESS_METRICS", "SystemMetrics", "process_config"]

#: The process metrics of the semantic conventions (instrumentation >= 0.52b0).
PROCESS_METRICS: dict[str, list[str] | None] = {
    "process.cpu.time": ["user", "system"],
    "process.cpu.utilization": ["user", "system"],
    "process.memory.usage": None,
    "process.memory.virtual": None,
    "process.thread.count": None,
    "process.open_file_descriptor.count": None,
    "process.context_switches": ["involuntary", "voluntary"],
}
#: What releases before 0.52b0 call them.
LEGACY_PROCESS_METRICS: dict[str, list[str] | None] = {
    "process.runtime.cpu.time": ["user", "system"],
    "process.runtime.cpu.utilization": None,
    "process.runtime.memory": ["rss", "vms"],
    "process.runtime.thread_count": None,
    "process.open_file_descriptor.count": None,
    "process.runtime.context_switches": ["involuntary", "voluntary"],
}
_EXCLUDED = "OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS"


def _load() -> Any:
    try:
        return importlib.import_module("opentelemetry.instrumentation.system_metrics")
    except ImportError as exc:
        if exc.name == "pkg_resources":
            # Releases before 0.49b0 import pkg_resources, gone from setuptools 81 on.
            raise MissingDependencyError(
                "system_metrics=True: the installed OpenTelemetry instrumentation (before "
                "0.49b0) needs pkg_resources, which this environment's setuptools no longer "
                "has: pip install -U 'opentelemetry-instrumentation-system-metrics>=0.49b0' "
                "(or setuptools<81)"
            ) from None
        raise MissingDependencyError(
            "system_metrics=True (INFERWATCH_SYSTEM_METRICS) reads this process's CPU and "
            "memory through OpenTelemetry's system-metrics instrumentation, which is not "
            "installed: pip install 'inferwatch[system]' (or "
            "opentelemetry-instrumentation-system-metrics), or turn system_metrics off"
        ) from None


def process_config(module: Any, environ: Mapping[str, str]) -> dict[str, list[str] | None]:
    """The instrumentor's configuration: the process metrics this release knows."""
    known = set(getattr(module, "_DEFAULT_CONFIG", None) or PROCESS_METRICS)
    chosen = PROCESS_METRICS if "process.cpu.time" in known else LEGACY_PROCESS_METRICS
    patterns = [p.strip() for p in environ.get(_EXCLUDED, "").split(",") if p.strip()]
    return {name: (None if attrs is None else list(attrs)) for name, attrs in chosen.items()
            if name in known and not any(fnmatch.fnmatch(name, p) for p in patterns)}


_owner_lock = threading.Lock()
_owner: SystemMetrics | None = None


class SystemMetrics:
    """The process-metrics instrumentor, started on one MeterProvider."""

    def __init__(self, meter_provider: Any, environ: Mapping[str, str]) -> None:
        module = _load()
        self._module = module
        self._config = process_config(module, environ)
        self.meter_provider = meter_provider
        self.instrumentor: Any = None
        self.started = False
        _forks.register(self)

    def start(self) -> bool:
        """Start on the MeterProvider; False when the application instruments it already."""
        global _owner
        cls = self._module.SystemMetricsInstrumentor
        with _owner_lock:
            existing = getattr(cls, "_instance", None)
            if existing is not None and existing.is_instrumented_by_opentelemetry:
                if _owner is None:
                    return False  # the application's own: leave it alone
                existing.uninstrument()  # the previous monitor's: this one takes over
                _owner.started = False
            # A singleton: this re-runs its __init__ with the process-only configuration.
            instrumentor = cls(config=self._config)
            instrumentor.instrument(meter_provider=self.meter_provider)
            self.instrumentor = instrumentor
            self.started = bool(instrumentor.is_instrumented_by_opentelemetry)
            _owner = self if self.started else None
            return self.started

    def stop(self) -> None:
        """Give the instrumentor up (the monitor shut down), so another monitor may take it.

        Upstream's ``uninstrument`` removes nothing: instruments already made on
        a provider report until that provider shuts down (inferwatch shuts the
        one it built down with the monitor).
        """
        global _owner
        with _owner_lock:
            if _owner is self and self.instrumentor is not None:
                with contextlib.suppress(Exception):
                    self.instrumentor.uninstrument()
                _owner = None
            self.started = False

    def _after_fork_in_child(self) -> None:
        global _owner_lock
        _owner_lock = threading.Lock()  # another thread may have held it at fork time
        if not self.started or self.instrumentor is None:
            return
        # Upstream reads psutil.Process(<pid at creation>): the parent's, in a child.
        with contextlib.suppress(Exception):
            psutil: Any = importlib.import_module("psutil")  # the instrumentation's dependency
            self.instrumentor._proc = psutil.Process(os.getpid())
