"""The scoring bands: how each measured value becomes a share of a component's points.

A component earns ``weight * share`` points; the model's score is the points
earned over the weights of the components that have data, times 100.

============================  ==========================================================
component (default weight)    share of its points
============================  ==========================================================
availability (25)             share of calls not in error over the window:
                              >= 99.9 % → 1.0; >= 99.5 % → 0.8; >= 99 % → 0.6;
                              >= 98 % → 0.4; >= 95 % → 0.2; below → 0
                              (so below 99 % it earns at most 10 of 25)
latency (20)                  share of successful calls at or under the latency
                              threshold: >= 99 % → 1.0; >= 97.5 % → 0.75;
                              >= 95 % → 0.5; >= 90 % → 0.25; below → 0
data_drift (20)               the worst PSI among the features the drift engine
                              flags (status warning or drift); no feature flagged → 1.0;
                              PSI < 0.1 → 0.9; < 0.2 → 0.8; < 0.5 → 0.6; < 1.0 → 0.4;
                              >= 1.0 → 0.1
prediction_stability (20)     the same bands on the outputs (prediction, confidence)
freshness (15)                age of the reference profile (else of the model version,
                              as this process first saw it) against ``max_age``:
                              <= half → 1.0; <= max_age → 0.7; <= twice → 0.3; older → 0
============================  ==========================================================

Traffic light: green above 80, yellow from 50 to 80, red below 50.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_WEIGHTS",
    "availability_share",
    "freshness_share",
    "latency_share",
    "light",
    "psi_share",
]

DEFAULT_WEIGHTS: dict[str, float] = {
    "availability": 25.0,
    "latency": 20.0,
    "data_drift": 20.0,
    "prediction_stability": 20.0,
    "freshness": 15.0,
}

_AVAILABILITY = ((0.999, 1.0), (0.995, 0.8), (0.99, 0.6), (0.98, 0.4), (0.95, 0.2))
_LATENCY = ((0.99, 1.0), (0.975, 0.75), (0.95, 0.5), (0.90, 0.25))
_PSI = ((0.1, 0.9), (0.2, 0.8), (0.5, 0.6), (1.0, 0.4))
_PSI_WORST = 0.1
_FRESHNESS = ((0.5, 1.0), (1.0, 0.7), (2.0, 0.3))


def _at_least(value: float, bands: tuple[tuple[float, float], ...]) -> float:
    for bound, share in bands:
        if value >= bound:
            return share
    return 0.0


def availability_share(good_share: float) -> float:
    """Points share for the share of calls not in error."""
    return _at_least(good_share, _AVAILABILITY)


def latency_share(within_share: float) -> float:
    """Points share for the share of successful calls within the threshold."""
    return _at_least(within_share, _LATENCY)


def psi_share(worst_flagged_psi: float | None) -> float:
    """Points share for the worst PSI among flagged features (None: none flagged)."""
    if worst_flagged_psi is None:
        return 1.0
    for bound, share in _PSI:
        if worst_flagged_psi < bound:
            return share
    return _PSI_WORST


def freshness_share(age_seconds: float, max_age_seconds: float) -> float:
    """Points share for an age against the maximum age."""
    ratio = max(age_seconds, 0.0) / max_age_seconds
    for bound, share in _FRESHNESS:
        if ratio <= bound:
            return share
    return 0.0


def light(score: float | None) -> str:
    """green (> 80), yellow (50-80), red (< 50), or unknown without a score."""
    if score is None:
        return "unknown"
    if score > 80:
        return "green"
    if score >= 50:
        return "yellow"
    return "red"
