"""Per-segment results: a segment that degrades while the total improves is flagged."""

from __future__ import annotations

import numpy as np
from abtools import DAY, NOW

from inferwatch.experiments import Experiment


def _experiment(effects: dict[str, float], n: int, max_segments: int = 16) -> Experiment:
    rng = np.random.default_rng(31)
    exp = Experiment("segmented", primary="clicks", mde=0.1, started_at=NOW - 20 * DAY,
                     clock=lambda: NOW, max_segments=max_segments)
    for segment, effect in effects.items():
        for variant, shift in (("control", 0.0), ("treatment", effect)):
            for v in rng.normal(1.0 + shift, 1.0, n):
                exp.observe(variant, float(v), segment=segment)
    return exp


def test_simpson_segment_is_flagged() -> None:
    # Web gains a lot, mobile loses: the total improves and hides mobile.
    r = _experiment({"web": 0.6, "mobile": -0.3, "tablet": 0.0}, n=1500).readout()
    assert r.effect > 0 and r.decision == "treatment_better"
    by_name = {s.segment: s for s in r.segments}
    assert set(by_name) == {"web", "mobile", "tablet"}
    assert by_name["mobile"].degrades and by_name["mobile"].simpson
    assert by_name["mobile"].effect.ci[1] < 0
    assert not by_name["web"].degrades and not by_name["tablet"].degrades
    # Bonferroni: each segment is tested at alpha / 3.
    assert by_name["web"].effect.alpha == r.alpha / 3
    assert "mobile (treatment)" in r.text() and "Simpson" in r.text()


def test_no_flag_when_every_segment_moves_together() -> None:
    r = _experiment({"web": 0.2, "mobile": 0.2}, n=1500).readout()
    assert not any(s.degrades or s.simpson for s in r.segments)


def test_a_degrading_segment_is_no_simpson_when_the_total_degrades_too() -> None:
    r = _experiment({"web": -0.3, "mobile": -0.3}, n=1500).readout()
    assert any(s.degrades for s in r.segments)
    assert not any(s.simpson for s in r.segments)


def test_segments_are_capped() -> None:
    exp = _experiment({f"s{i}": 0.0 for i in range(6)}, n=20, max_segments=4)
    names = {s.segment for s in exp.readout().segments}
    assert names == {"s0", "s1", "s2", "s3", "_other"}
