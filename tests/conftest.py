"""Shared fixtures: fresh monitors, never the process default of another test."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from inferwatch import Monitor, set_monitor
from inferwatch.testing import Capture, MemorySink, capture


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def make_monitor(sink: MemorySink) -> Iterator[object]:
    """Build Monitors that log to ``sink``, export nothing, and are shut down after."""
    made: list[Monitor] = []

    def make(**options: object) -> Monitor:
        options.setdefault("metrics_exporter", "none")
        options.setdefault("sample_rate", 1.0)
        options.setdefault("feature_sample_rate", 1.0)
        options.setdefault("max_records_per_second", 1e9)
        mon = Monitor(log_sink=options.pop("log_sink", sink), environ={}, **options)
        made.append(mon)
        return mon

    yield make
    for mon in made:
        mon.shutdown()


@pytest.fixture(autouse=True)
def _no_default_monitor_leak() -> Iterator[None]:
    previous = set_monitor(None)
    yield
    leaked = set_monitor(previous)
    if leaked is not None and leaked is not previous:
        leaked.shutdown()


@pytest.fixture
def no_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import pyarrow`` fail, as on a machine without the 'profiles' extra."""
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def cap() -> Iterator[Capture]:
    """A capture that keeps and logs every record with its features, whatever the
    defaults (the ASGI tests look at every request)."""
    with capture(sample_rate=1.0, feature_sample_rate=1.0, max_records_per_second=1e9) as captured:
        yield captured
