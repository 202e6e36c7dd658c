"""Drift, freshness and quality SLOs: where their events come from."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import numpy as np
import pytest
from calltools import T0, Clock, calls

import inferwatch.drift as drift
from inferwatch._capture import new_record
from inferwatch.slo import SLO, track


def _rows(n: int, seed: int, shift: float = 0.0) -> list[dict[str, float]]:
    x = np.random.default_rng(seed).normal(size=(n, 3))
    x += shift
    return [{"a": r[0], "b": r[1], "c": r[2]} for r in x.tolist()]


@pytest.fixture(scope="module")
def profile() -> drift.ReferenceProfile:
    return drift.build_profile(_rows(20_000, seed=1), model_name="churn")


def _feed(mon: Any, rows: list[dict[str, float]]) -> None:
    endpoint = mon.endpoint("churn", "3", {})
    for row in rows:
        record = new_record(endpoint)
        record.features = row
        record.prediction = 0.5
        mon.submit(record)
    mon.flush(logs=False)


def test_drift_slo_counts_closed_windows_not_in_drift(
    make_monitor: Any, clock: Clock, profile: drift.ReferenceProfile
) -> None:
    mon = make_monitor()
    slo = SLO("churn-drift", "drift", 0.5, window="7d", model="churn")
    tracker = track([slo], monitor=mon, clock=clock)
    assert tracker.budget("churn-drift").detail == "no drift monitor watches this model"
    dm = drift.DriftMonitor(profile, window="count:500").attach(mon)
    try:
        for seed in (8, 9, 10, 11):
            _feed(mon, _rows(500, seed=seed, shift=3.0 if seed == 9 else 0.0))
        statuses = [r.status for r in dm.history()]
        assert len(statuses) == 4 and statuses.count("drift") == 1
        budget = tracker.budget("churn-drift")
        assert (budget.good, budget.total) == (3, 4)
        assert budget.budget_remaining == pytest.approx(1 - 0.25 / 0.5)
    finally:
        dm.close()


def test_freshness_from_the_reference_profile_age(
    make_monitor: Any, profile: drift.ReferenceProfile
) -> None:
    built = datetime.datetime.fromtimestamp(T0, datetime.timezone.utc).isoformat()
    aged = dataclasses.replace(profile, created_at=built)
    clock = Clock(T0 + 29 * 86400)  # 29 days old at start
    mon = make_monitor()
    slo = SLO("churn-fresh", "freshness", 0.9, max_age="30d", window="7d", model="churn")
    tracker = track([slo], monitor=mon, clock=clock)
    dm = drift.DriftMonitor(aged, window="count:500").attach(mon)
    try:
        for _minute in range(48 * 60):  # two days: fresh for one, stale for the next
            clock.advance(60)
            mon.flush(logs=False)
        budget = tracker.budget("churn-fresh")
        assert budget.total == 48 * 60
        assert budget.good == pytest.approx(24 * 60, abs=1)
        assert budget.detail == "reference profile is 31.0 days old"
        assert budget.state == "exhausted"  # half the minutes stale against a 10 % budget
    finally:
        dm.close()


def test_freshness_from_the_model_version_first_seen(make_monitor: Any, clock: Clock) -> None:
    mon = make_monitor()
    slo = SLO("churn-fresh", "freshness", 0.5, max_age="1h", window="1d", model="churn")
    tracker = track([slo], monitor=mon, clock=clock)
    clock.advance(60)
    mon.flush(logs=False)
    assert tracker.budget("churn-fresh").state == "no_data"  # no version seen yet
    calls(mon, 1)
    for _minute in range(120):
        clock.advance(60)
        mon.flush(logs=False)
    budget = tracker.budget("churn-fresh")
    assert budget.total == 120
    assert budget.good == pytest.approx(60, abs=1)  # fresh for its first hour only


def test_quality_slos_report_no_data_until_labels_arrive(make_monitor: Any, clock: Clock) -> None:
    mon = make_monitor()
    tracker = track([SLO("churn-quality", "quality", 0.95, model="churn", metric="accuracy",
                         baseline=0.9)], monitor=mon, clock=clock)
    calls(mon, 100)
    clock.advance(60)  # a quality SLO looks once a minute
    budget = tracker.budget("churn-quality")
    assert budget.state == "no_data" and "labels" in budget.detail
    assert [p.name for p in tracker.metric_points() if p.name != "inferwatch.slo.events"] == [
        "inferwatch.slo.objective"]
