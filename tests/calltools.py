"""Helpers for the SLO, health, anomaly and label tests: clocks the test moves,
finished calls of known outcome, duration and prediction, and a metric's value."""

from __future__ import annotations

import time
from typing import Any

from inferwatch import Monitor
from inferwatch._record import InferenceRecord

#: 2026-01-05 00:00:00 UTC, a Monday at midnight (minute and hour boundaries line up).
T0 = 1_767_571_200.0


class Clock:
    """Seconds since the epoch, moved only by the test."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class WallClock:
    """Wall-clock time plus an offset the test moves (for records stamped with real time)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def calls(
    monitor: Monitor, n: int, *, model: str = "churn", version: str = "3",
    outcome: str = "ok", ms: float = 10.0, prediction: Any = None,
) -> None:
    """Submit ``n`` finished predict calls of ``ms`` milliseconds each."""
    endpoint = monitor.endpoint(model, version, {})
    for _ in range(n):
        record = InferenceRecord(endpoint, 0, time.perf_counter_ns(), 0, None, 0, 0)
        record.outcome = outcome
        if outcome == "error":
            record.error_type = "RuntimeError"
        record.duration_ns = int(ms * 1e6)
        record.prediction = prediction
        monitor.submit(record)


def value(points: list[Any], name: str, **attributes: str) -> Any:
    found = [p.value for p in points if p.name == name
             and all(p.attributes.get(k) == v for k, v in attributes.items())]
    assert len(found) <= 1, found
    return found[0] if found else None
