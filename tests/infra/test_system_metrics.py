"""Process CPU and memory through OpenTelemetry's system-metrics instrumentation (opt-in)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import inferwatch
from inferwatch import MissingDependencyError
from inferwatch.infra import _system
from inferwatch.infra._system import LEGACY_PROCESS_METRICS, PROCESS_METRICS, process_config

# Releases before 0.49b0 import pkg_resources, which setuptools 81 removed: in the
# oldest-dependencies run (0.48b0) they cannot be imported at all, and _load says so.
SystemMetricsInstrumentor = pytest.importorskip(
    "opentelemetry.instrumentation.system_metrics",
    reason="opentelemetry-instrumentation-system-metrics cannot be imported here "
           "(0.48b0 needs pkg_resources, gone from setuptools 81)",
).SystemMetricsInstrumentor


def _reset() -> None:
    instrumentor = SystemMetricsInstrumentor._instance
    if instrumentor is not None and instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    _system._owner = None


@pytest.fixture(autouse=True)
def _uninstrumented() -> Iterator[None]:
    _reset()
    yield
    _reset()


def _names(reader: InMemoryMetricReader) -> set[str]:
    data = reader.get_metrics_data()
    return {m.name for rm in data.resource_metrics for sm in rm.scope_metrics
            for m in sm.metrics} if data else set()


def _monitor(reader: InMemoryMetricReader, **options: Any) -> inferwatch.Monitor:
    return inferwatch.Monitor(meter_provider=MeterProvider(metric_readers=[reader]),
                              log_sink="none", environ={}, handle_sigterm=False, **options)


def test_process_metrics_on_inferwatch_s_provider_and_not_the_host_s() -> None:
    reader = InMemoryMetricReader()
    monitor = _monitor(reader, system_metrics=True)
    try:
        names = _names(reader)
        assert {"process.cpu.time", "process.memory.usage", "process.thread.count"} <= names
        assert not {n for n in names if n.startswith("system.")}
        data = reader.get_metrics_data()
        memory = next(m for rm in data.resource_metrics for sm in rm.scope_metrics
                      for m in sm.metrics if m.name == "process.memory.usage")
        assert memory.data.data_points[0].value > 1_000_000  # this process's RSS
    finally:
        monitor.shutdown()


def test_off_by_default() -> None:
    reader = InMemoryMetricReader()
    monitor = _monitor(reader)
    try:
        assert not {n for n in _names(reader) if n.startswith("process.")}
    finally:
        monitor.shutdown()


def test_the_environment_turns_it_on_and_excluded_metrics_are_honoured() -> None:
    reader = InMemoryMetricReader()
    monitor = inferwatch.Monitor(
        meter_provider=MeterProvider(metric_readers=[reader]), log_sink="none",
        handle_sigterm=False, environ={"INFERWATCH_SYSTEM_METRICS": "true",
                                       "OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS":
                                       "process.context_switches,process.memory.*"})
    try:
        names = _names(reader)
        assert "process.cpu.time" in names
        assert not {"process.memory.usage", "process.memory.virtual",
                    "process.context_switches"} & names
    finally:
        monitor.shutdown()


def test_a_later_monitor_takes_the_instrumentor_over() -> None:
    first, second = InMemoryMetricReader(), InMemoryMetricReader()
    one = _monitor(first, system_metrics=True)
    two = _monitor(second, system_metrics=True)
    try:
        assert "process.cpu.time" in _names(second)
        assert _system._owner is two._infra.system
    finally:
        two.shutdown()
        one.shutdown()
    assert _system._owner is None


def test_the_application_s_own_instrumentor_is_left_alone() -> None:
    theirs = InMemoryMetricReader()
    SystemMetricsInstrumentor().instrument(meter_provider=MeterProvider(metric_readers=[theirs]))
    ours = InMemoryMetricReader()
    monitor = _monitor(ours, system_metrics=True)
    try:
        assert monitor._infra.system is not None and not monitor._infra.system.started
        assert "system.cpu.time" in _names(theirs)  # their configuration still works
    finally:
        monitor.shutdown()


def test_without_the_package_a_clear_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.system_metrics", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'inferwatch\[system\]'"):
        inferwatch.Monitor(log_sink="none", environ={}, system_metrics=True,
                           handle_sigterm=False)
    # Off, nothing is imported and nothing fails.
    inferwatch.Monitor(log_sink="none", environ={}, handle_sigterm=False).shutdown()


def test_older_releases_get_their_process_runtime_names() -> None:
    old = types.SimpleNamespace(_DEFAULT_CONFIG={**dict.fromkeys(LEGACY_PROCESS_METRICS),
                                                 "system.cpu.time": ["idle"]})
    assert set(process_config(old, {})) == set(LEGACY_PROCESS_METRICS)
    new = types.SimpleNamespace(_DEFAULT_CONFIG=dict.fromkeys(
        [*PROCESS_METRICS, *LEGACY_PROCESS_METRICS, "system.cpu.time"]))
    assert set(process_config(new, {})) == set(PROCESS_METRICS)


def test_a_forked_child_reads_its_own_process() -> None:
    reader = InMemoryMetricReader()
    monitor = _monitor(reader, system_metrics=True)
    try:
        system = monitor._infra.system
        assert system is not None
        system.instrumentor._proc = types.SimpleNamespace(pid=-1)  # as if the parent's
        system._after_fork_in_child()
        import os

        assert system.instrumentor._proc.pid == os.getpid()
    finally:
        monitor.shutdown()
