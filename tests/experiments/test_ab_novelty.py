"""Novelty and primacy: a trending daily effect is flagged; nothing final before min_days."""

from __future__ import annotations

import math

import numpy as np
from abtools import DAY, NOW

from inferwatch.experiments import Experiment


def _experiment(effect_on_day: dict[int, float], n: int = 1500, days_running: float = 20.0,
                seed: int = 41) -> Experiment:
    rng = np.random.default_rng(seed)
    exp = Experiment("novel", primary="engagement", mde=0.1, min_days=14,
                     started_at=NOW - days_running * DAY, clock=lambda: NOW)
    for day, effect in effect_on_day.items():
        for variant, shift in (("control", 0.0), ("treatment", effect)):
            for v in rng.normal(5.0 + shift, 1.0, n):
                exp.observe(variant, float(v), exposure_day=day)
    return exp


def test_decaying_effect_is_flagged_as_novelty() -> None:
    r = _experiment({d: 0.6 * math.exp(-d / 3) + 0.05 for d in range(14)}).readout()
    (trend,) = r.novelty
    assert trend.trending and trend.kind == "novelty" and trend.slope < 0
    assert r.decision == "treatment_better" and not r.final
    assert r.not_final is not None and "trending (treatment: novelty)" in r.not_final


def test_growing_effect_is_flagged_as_primacy() -> None:
    (trend,) = _experiment({d: 0.02 * d for d in range(14)}).readout().novelty
    assert trend.trending and trend.kind == "primacy" and trend.slope > 0


def test_steady_effect_is_not_flagged_and_the_result_is_final() -> None:
    r = _experiment({d: 0.2 for d in range(14)}).readout()
    (trend,) = r.novelty
    assert not trend.trending and trend.kind is None
    assert abs(trend.slope) < 3 * trend.slope_se
    assert r.decision == "treatment_better" and r.final and r.not_final is None
    assert "final" in r.text()


def test_not_final_before_the_minimum_duration() -> None:
    r = _experiment({d: 0.2 for d in range(6)}, days_running=5.5).readout()
    assert r.day == 6
    assert r.decision == "treatment_better" and not r.final
    assert r.not_final == "not final: day 6 of 14"
    assert "not final: day 6 of 14" in r.text()


def test_too_few_days_are_not_tested() -> None:
    (trend,) = _experiment({0: 0.5, 1: 0.1}).readout().novelty
    assert not trend.trending and len(trend.days) == 2
    assert "not tested yet" in trend.text()
