"""The label tracker's quality as a health-score component."""

from __future__ import annotations

import random
from typing import Any

import pytest

import inferwatch
import inferwatch.health
import inferwatch.labels


def _serve(mon: Any, n: int, agree: float, start: int, rng: random.Random) -> None:
    @inferwatch.monitor(model="fraud", version="1", monitor=mon,
                        inference_id=lambda x, rid: rid)
    def predict(x: float, rid: str) -> float:
        return x

    pairs = []
    for i in range(start, start + n):
        p = rng.random()
        predict(p, f"q{i}")
        predicted = int(p >= 0.5)
        pairs.append((f"q{i}", predicted if rng.random() < agree else 1 - predicted))
    inferwatch.record_labels(pairs)


def test_quality_costs_points_once_it_falls_past_its_tolerance(make_monitor: Any) -> None:
    mon = make_monitor()
    labels = inferwatch.labels.track(mon, task="classification", positive=1,
                                     window="count:300")
    component = inferwatch.labels.quality_component(labels, metric="accuracy",
                                                    baseline=0.9, tolerance=0.05,
                                                    min_pairs=100)
    health = inferwatch.health.track(mon, weights={"availability": 50, "quality": 50},
                                     components={"quality": component})
    rng = random.Random(8)

    def quality() -> Any:
        labels.flush()
        (score,) = health.scores()
        return score.components["quality"]

    _serve(mon, 50, agree=0.92, start=0, rng=rng)
    assert not quality().known  # 50 of 100 pairs: unknown, out of the weights
    _serve(mon, 250, agree=0.92, start=50, rng=rng)
    good = quality()
    assert good.points == pytest.approx(50.0) and "against the baseline 0.9" in good.detail
    _serve(mon, 300, agree=0.80, start=300, rng=rng)  # 11 % under the baseline
    fallen = quality()
    value = labels.quality()[0]["windows"][0]["measures"]["accuracy"]
    worse = 1 - value / 0.9
    assert 0.05 < worse < 0.10
    assert fallen.points == pytest.approx(50 * (1 - (worse - 0.05) / 0.05), abs=1e-6)
    _serve(mon, 300, agree=0.6, start=600, rng=rng)
    assert quality().points == 0.0  # past twice the tolerance


def test_bad_arguments_are_refused(make_monitor: Any) -> None:
    labels = inferwatch.labels.track(make_monitor(), task="classification", positive=1)
    for kwargs, match in (({"metric": "auc", "baseline": 0.8}, "metric 'auc'"),
                          ({"baseline": 0.0}, "baseline"),
                          ({"baseline": 0.8, "tolerance": 1.5}, "tolerance"),
                          ({"baseline": 0.8, "min_pairs": 0}, "min_pairs")):
        with pytest.raises(ValueError, match=match):
            inferwatch.labels.quality_component(labels, **kwargs)
