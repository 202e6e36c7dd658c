"""The health score of a monitor's models, from live aggregates and drift reports."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import numpy as np
import pytest
from calltools import T0, Clock, calls, value

import inferwatch
import inferwatch.drift as drift
from inferwatch import _forks
from inferwatch.health import Assessment, HealthTracker, VersionTracker
from inferwatch.testing import capture

COMPONENT = "inferwatch.component"


def _tracker(make_monitor: Any, clock: Clock, **options: Any) -> tuple[Any, HealthTracker]:
    monitor = make_monitor()
    options.setdefault("latency_threshold_ms", 300)
    return monitor, HealthTracker(clock=clock, **options).attach(monitor)


def test_no_traffic_no_scores(make_monitor: Any, clock: Clock) -> None:
    monitor, health = _tracker(make_monitor, clock)
    assert health.scores() == []
    assert monitor.summary()["health"] == {}
    assert [p for p in monitor.collect() if p.name.startswith("inferwatch.health")] == []


def test_healthy_traffic_without_drift_watcher(make_monitor: Any, clock: Clock) -> None:
    monitor, health = _tracker(make_monitor, clock)
    calls(monitor, 100, ms=10)
    score = health.score("churn")
    assert score.components["availability"].points == 25
    assert score.components["latency"].points == 20
    assert score.components["freshness"].points == 15  # the version was first seen now
    # No drift monitor: unknown, out of the weights, not a free 40 points.
    assert score.components["data_drift"].points is None
    assert score.components["prediction_stability"].points is None
    assert score.known_weight == 60
    assert score.score == 100.0 and score.status == "green"
    assert "data drift unknown: no drift monitor watches churn 3" in score.explanation


def test_errors_cost_availability_points(make_monitor: Any, clock: Clock) -> None:
    monitor, health = _tracker(make_monitor, clock)
    calls(monitor, 98, ms=10)
    calls(monitor, 2, outcome="error", ms=10)
    score = health.score("churn")
    assert score.components["availability"].points == pytest.approx(10)  # 98 %: 0.4 of 25
    assert score.explanation[0] == (
        "availability -15: 98.00% of 100 calls without error over 1h")
    assert score.score == pytest.approx(100 * 45 / 60)
    assert score.status == "yellow"


def test_slow_calls_cost_latency_points(make_monitor: Any, clock: Clock) -> None:
    monitor, health = _tracker(make_monitor, clock)
    calls(monitor, 90, ms=10)
    calls(monitor, 10, ms=2000)
    score = health.score("churn")
    assert score.components["latency"].points == pytest.approx(5)  # 90 %: 0.25 of 20
    assert score.components["latency"].value == pytest.approx(0.9)
    assert "latency -15: 90.0% of 100 successful calls within 300 ms over 1h" in (
        score.explanation)


def test_the_threshold_becomes_an_exact_bucket_boundary(make_monitor: Any,
                                                        clock: Clock) -> None:
    monitor, health = _tracker(make_monitor, clock, latency_threshold_ms=123)
    calls(monitor, 50, ms=122.9)
    calls(monitor, 50, ms=123.1)
    assert health.score("churn").components["latency"].value == pytest.approx(0.5)
    hist = value(monitor.collect(), "inferwatch.predict.duration",
                 **{"inferwatch.outcome": "ok"})
    assert 0.123 in hist.bounds.tolist()


def test_too_few_calls_are_unknown(make_monitor: Any, clock: Clock) -> None:
    monitor, health = _tracker(make_monitor, clock)
    calls(monitor, 5, outcome="error")
    score = health.score("churn")
    assert score.components["availability"].points is None
    assert "availability unknown: 5 calls in the last 1h (needs 20)" in score.explanation


def test_errors_older_than_the_window_are_forgotten(make_monitor: Any, clock: Clock) -> None:
    monitor, health = _tracker(make_monitor, clock)
    calls(monitor, 50, outcome="error")
    monitor.flush()
    clock.advance(120)
    monitor.flush()  # a snapshot holding the errors
    assert health.score("churn").components["availability"].points == 0
    clock.advance(3600 + 60)
    calls(monitor, 100)
    score = health.score("churn")
    assert score.components["availability"].points == 25
    assert score.components["availability"].detail.startswith("100.00% of 100 calls")


def test_after_fork_the_child_forgets_the_parents_counts(make_monitor: Any,
                                                         clock: Clock) -> None:

    monitor, health = _tracker(make_monitor, clock)
    calls(monitor, 100, outcome="error")
    monitor.flush()
    clock.advance(120)
    monitor.flush()
    _forks._after_fork_in_child()  # what os.fork runs in the child (monitors included)
    clock.advance(3600)
    calls(monitor, 30)
    score = health.score("churn")
    assert score.components["availability"].points == 25
    assert score.components["availability"].detail.startswith("100.00% of 30 calls")


def test_an_old_model_version_costs_freshness(make_monitor: Any, clock: Clock) -> None:
    monitor, health = _tracker(make_monitor, clock)
    calls(monitor, 100)
    monitor.flush()
    clock.advance(40 * 86400)
    calls(monitor, 100)
    score = health.score("churn")
    assert score.components["freshness"].points == pytest.approx(0.3 * 15)
    assert "freshness -10.5: model version 40.0 days old (max 30)" in score.explanation


def test_gauges_one_series_per_known_component(make_monitor: Any, clock: Clock) -> None:
    monitor, _health = _tracker(make_monitor, clock)
    calls(monitor, 98)
    calls(monitor, 2, outcome="error")
    points = monitor.collect()
    assert value(points, "inferwatch.health.score", **{"model.version": "3"}) == pytest.approx(75)
    assert value(points, "inferwatch.health.status") == 1
    components = {p.attributes[COMPONENT]: p.value for p in points
                  if p.name == "inferwatch.health.component"}
    assert components == {"availability": pytest.approx(10), "latency": 20, "freshness": 15}
    entry = monitor.summary()["health"]["churn:3"]
    assert entry["status"] == "yellow" and entry["score"] == 75.0
    assert entry["components"]["data_drift"]["status"] == "unknown"


def test_versions_are_scored_apart(make_monitor: Any, clock: Clock) -> None:
    monitor, health = _tracker(make_monitor, clock)
    calls(monitor, 100, version="3")
    calls(monitor, 50, version="4", outcome="error")
    calls(monitor, 50, version="4")
    assert health.score("churn", "3").components["availability"].points == 25
    assert health.score("churn", "4").components["availability"].points == 0
    with pytest.raises(KeyError, match="several versions"):
        health.score("churn")
    with pytest.raises(KeyError, match="no model"):
        health.score("fraud")


def test_version_events_are_shared_with_an_existing_tracker(make_monitor: Any,
                                                            clock: Clock) -> None:
    monitor = make_monitor()
    versions = VersionTracker(clock=clock).attach(monitor)
    HealthTracker(clock=clock).attach(monitor)
    assert VersionTracker.of(monitor) is versions


def test_weights_and_custom_components(make_monitor: Any, clock: Clock) -> None:
    seen: list[tuple[str, str]] = []

    def quality(model: str, version: str) -> Assessment:
        seen.append((model, version))
        return Assessment(0.5, "accuracy 0.81 against 0.90 at training", 0.81)

    monitor, health = _tracker(make_monitor, clock, weights={"availability": 50, "quality": 50},
                               components={"quality": quality})
    calls(monitor, 100)
    score = health.score("churn")
    assert list(score.components) == ["availability", "quality"]
    assert score.score == pytest.approx(75)
    assert score.explanation == ("quality -25: accuracy 0.81 against 0.90 at training",)
    assert ("churn", "3") in seen


def test_a_failing_custom_component_is_unknown_and_counted(make_monitor: Any,
                                                           clock: Clock) -> None:
    def broken(model: str, version: str) -> Assessment:
        raise RuntimeError("no labels")

    monitor, health = _tracker(make_monitor, clock, weights={"availability": 25, "q": 10},
                               components={"q": broken})
    calls(monitor, 100)
    score = health.score("churn")
    assert score.components["q"].points is None
    assert "q unknown: failed: RuntimeError" in score.explanation
    assert monitor.summary()["errors"]["health_component"] >= 1


@pytest.mark.parametrize("options, match", [
    ({"weights": {"accuracy": 10}}, "unknown health component 'accuracy'"),
    ({"weights": {"availability": -1}}, "weight of 'availability'"),
    ({"weights": {"availability": 0}}, "every health weight is 0"),
    ({"window": "soon"}, "duration"),
    ({"max_age": 0}, "max_age"),
    ({"latency_threshold_ms": 0}, "latency_threshold_ms"),
    ({"min_calls": 0}, "min_calls"),
    ({"resolution": 7200}, "resolution"),
])
def test_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HealthTracker(**options)


# -- with a drift monitor ---------------------------------------------------------------


def _rows(n: int, seed: int, shift: float = 0.0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    x[:, 3] += shift
    return [{f"f0{i}": float(v) for i, v in enumerate(row)} for row in x.tolist()]


@pytest.fixture(scope="module")
def profile() -> drift.ReferenceProfile:
    preds = np.random.default_rng(2).normal(0.5, 0.1, 20_000)
    return drift.build_profile(_rows(20_000, 1), prediction=preds, model_name="churn")


def _serve(profile: drift.ReferenceProfile, shift: float, clock: Clock,
           prediction: float | None = None, **options: Any) -> Any:
    with capture(feature_sample_rate=1.0, max_records_per_second=1e9) as cap:
        dm = drift.watch(profile, cap.monitor, window="count:2000")
        health = HealthTracker(clock=clock, drift=[dm], **options).attach(cap.monitor)
        rng = np.random.default_rng(3)

        @inferwatch.monitor(model="churn", version="3", features="x", monitor=cap.monitor)
        def predict(x: dict[str, float]) -> float:
            return float(rng.normal(0.5, 0.1)) if prediction is None else prediction

        for row in _rows(2000, 4, shift):
            predict(row)
        cap.monitor.flush()
        return health.score("churn"), cap.metrics()


def test_data_drift_costs_points_and_names_the_feature(profile: drift.ReferenceProfile,
                                                       clock: Clock) -> None:
    score, points = _serve(profile, 1.5, clock)
    component = score.components["data_drift"]
    psi = component.value
    assert psi is not None and psi > 0.5
    assert component.points == pytest.approx(20 * (0.4 if psi < 1.0 else 0.1))
    line = next(e for e in score.explanation if e.startswith("data drift -"))
    assert line.startswith(f"data drift -{round(20 - component.points, 1):g}: "
                           f"f03 PSI {psi:.2f}")  # the worst feature first
    assert score.components["prediction_stability"].points == 20
    components = {p.attributes[COMPONENT] for p in points
                  if p.name == "inferwatch.health.component"}
    assert {"data_drift", "prediction_stability"} <= components


def test_no_drift_scores_full_points(profile: drift.ReferenceProfile, clock: Clock) -> None:
    score, _ = _serve(profile, 0.0, clock)
    assert score.components["data_drift"].points == 20
    assert score.components["data_drift"].detail.startswith("no feature drifted (4 checked")


def test_a_stuck_prediction_costs_stability(profile: drift.ReferenceProfile,
                                            clock: Clock) -> None:
    score, _ = _serve(profile, 0.0, clock, prediction=0.9)
    component = score.components["prediction_stability"]
    assert component.points is not None and component.points < 20
    assert component.detail.startswith("prediction PSI")


def test_an_old_reference_profile_costs_freshness(profile: drift.ReferenceProfile,
                                                  clock: Clock) -> None:
    built = datetime.datetime.fromtimestamp(T0 - 45 * 86400, datetime.timezone.utc)
    old = dataclasses.replace(profile, created_at=built.isoformat())
    score, _ = _serve(old, 0.0, clock)
    assert score.components["freshness"].points == pytest.approx(0.3 * 15)
    assert "reference profile 45.0 days old" in score.components["freshness"].detail


def test_a_warming_up_drift_monitor_is_unknown(clock: Clock) -> None:
    with capture(feature_sample_rate=1.0, max_records_per_second=1e9) as cap:
        dm = drift.watch(None, cap.monitor, warmup_rows=5000)
        health = HealthTracker(clock=clock, drift=[dm]).attach(cap.monitor)

        @inferwatch.monitor(model="churn", version="3", features="x", monitor=cap.monitor)
        def predict(x: dict[str, float]) -> float:
            return 0.5

        for row in _rows(100, 5):
            predict(row)
        score = health.score("churn")
    assert score.components["data_drift"].points is None
    assert "warming up" in score.components["data_drift"].detail
