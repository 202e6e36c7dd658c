"""The documented scoring bands and the composition of a score."""

from __future__ import annotations

import pytest

from inferwatch.health import DEFAULT_WEIGHTS, Assessment
from inferwatch.health._bands import (
    availability_share,
    freshness_share,
    latency_share,
    light,
    psi_share,
)
from inferwatch.health._score import compose


def test_default_weights_sum_to_100() -> None:
    assert DEFAULT_WEIGHTS == {"availability": 25, "latency": 20, "data_drift": 20,
                               "prediction_stability": 20, "freshness": 15}


@pytest.mark.parametrize("good, share", [
    (1.0, 1.0), (0.999, 1.0), (0.9985, 0.8), (0.995, 0.8), (0.992, 0.6), (0.99, 0.6),
    (0.9899, 0.4), (0.98, 0.4), (0.97, 0.2), (0.95, 0.2), (0.9, 0.0), (0.0, 0.0),
])
def test_availability_bands(good: float, share: float) -> None:
    assert availability_share(good) == share


def test_below_99_percent_availability_earns_at_most_10_of_25() -> None:
    assert max(availability_share(g / 1000) * 25 for g in range(0, 990)) <= 10


@pytest.mark.parametrize("within, share", [
    (1.0, 1.0), (0.99, 1.0), (0.98, 0.75), (0.96, 0.5), (0.92, 0.25), (0.5, 0.0),
])
def test_latency_bands(within: float, share: float) -> None:
    assert latency_share(within) == share


@pytest.mark.parametrize("psi, share", [
    (None, 1.0), (0.05, 0.9), (0.15, 0.8), (0.3, 0.6), (0.65, 0.4), (1.0, 0.1), (7.0, 0.1),
])
def test_psi_bands(psi: float | None, share: float) -> None:
    assert psi_share(psi) == share


@pytest.mark.parametrize("days, share", [(0, 1.0), (15, 1.0), (20, 0.7), (30, 0.7),
                                         (45, 0.3), (60, 0.3), (61, 0.0)])
def test_freshness_bands(days: float, share: float) -> None:
    assert freshness_share(days * 86400, 30 * 86400) == share


@pytest.mark.parametrize("score, status", [
    (None, "unknown"), (100, "green"), (80.01, "green"), (80, "yellow"), (50, "yellow"),
    (49.99, "red"), (0, "red"),
])
def test_traffic_light(score: float | None, status: str) -> None:
    assert light(score) == status


def test_unknown_components_leave_the_weights_and_are_never_perfect() -> None:
    score = compose("churn", "3", DEFAULT_WEIGHTS, {
        "availability": Assessment(0.4, "98.00% of 100 calls without error over 1h", 0.98),
        "latency": Assessment(1.0, "fine"),
        "data_drift": Assessment(None, "no drift monitor watches churn 3"),
    })
    # (10 + 20) of the 45 known points; prediction stability and freshness unknown too.
    assert score.score == pytest.approx(100 * 30 / 45)
    assert score.status == "yellow"
    assert score.known_weight == 45
    assert score.components["data_drift"].points is None
    assert score.explanation[0] == "availability -15: 98.00% of 100 calls without error over 1h"
    assert "data drift unknown: no drift monitor watches churn 3" in score.explanation
    assert "freshness unknown: not measured" in score.explanation


def test_the_explanation_names_the_points_each_component_cost() -> None:
    score = compose("churn", "3", DEFAULT_WEIGHTS, {
        "availability": Assessment(1.0, "ok"), "latency": Assessment(1.0, "ok"),
        "data_drift": Assessment(0.4, "f03 PSI 0.65", 0.65),
        "prediction_stability": Assessment(1.0, "ok"), "freshness": Assessment(0.7, "old"),
    })
    assert score.score == pytest.approx(100 - 12 - 4.5)
    assert score.explanation == ("data drift -12: f03 PSI 0.65", "freshness -4.5: old")
    assert score.status == "green"
    assert score.text() == ("churn 3: health 84 (green); data drift -12: f03 PSI 0.65; "
                            "freshness -4.5: old")


def test_nothing_known_means_no_score() -> None:
    score = compose("churn", "3", DEFAULT_WEIGHTS, {})
    assert score.score is None and score.status == "unknown"
    assert score.to_dict()["score"] is None
    assert len(score.explanation) == 5


def test_shares_are_clamped_and_nan_is_unknown() -> None:
    score = compose("m", "1", {"a": 10.0, "b": 10.0},
                    {"a": Assessment(1.7, "x"), "b": Assessment(float("nan"), "y")})
    assert score.components["a"].points == 10.0
    assert score.components["b"].points is None
    assert score.score == 100.0
