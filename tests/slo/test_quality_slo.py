"""Quality SLOs: minutes in which the label tracker's metric stays within its baseline."""

from __future__ import annotations

import random
from typing import Any

import pytest
from calltools import Clock

import inferwatch
import inferwatch.labels
from inferwatch import ConfigurationError
from inferwatch.slo import SLO, parse_slos, track


def _predictor(mon: Any) -> Any:
    @inferwatch.monitor(model="fraud", version="2", monitor=mon,
                        inference_id=lambda x, rid: rid)
    def predict(x: float, rid: str) -> float:
        return x  # the probability of the positive class

    return predict


def _minute(mon: Any, labels: Any, clock: Clock, start: int, agree: float,
            rng: random.Random) -> None:
    """100 predictions whose labels agree with the predicted class ``agree`` of the time."""
    predict = _predictor(mon)
    pairs = []
    for i in range(start, start + 100):
        p = rng.random()
        predicted = int(p >= 0.5)
        pairs.append((f"id{i}", predicted if rng.random() < agree else 1 - predicted))
        predict(p, f"id{i}")
    inferwatch.record_labels(pairs)
    labels.flush()
    clock.advance(60)


def test_minutes_count_good_while_the_metric_holds_and_bad_once_it_falls(
        make_monitor: Any, clock: Clock) -> None:
    mon = make_monitor()
    labels = inferwatch.labels.track(mon, task="classification", positive=1,
                                     window="count:200")
    slo = SLO("fraud-accuracy", "quality", 0.9, model="fraud", metric="accuracy",
              baseline=0.8, tolerance=0.05, min_pairs=150)
    slos = track([slo], monitor=mon, clock=clock)
    rng = random.Random(5)
    budget = slos.budget("fraud-accuracy")
    assert budget.total == 0
    _minute(mon, labels, clock, 0, agree=0.95, rng=rng)
    budget = slos.budget("fraud-accuracy")  # 100 pairs: fewer than min_pairs, no event
    assert budget.total == 0 and "100 of 150 pairs" in budget.detail
    for k in range(1, 4):
        _minute(mon, labels, clock, 100 * k, agree=0.95, rng=rng)
        budget = slos.budget("fraud-accuracy")
    assert (budget.good, budget.total) == (3, 3)
    assert "accuracy" in budget.detail and "within 0.76" in budget.detail
    # The labels turn against the model (concept drift): the 200-pair window falls below
    # 0.8 x 0.95 within two minutes and stays there.
    for k in range(4, 8):
        _minute(mon, labels, clock, 100 * k, agree=0.3, rng=rng)
        budget = slos.budget("fraud-accuracy")
    assert budget.total == 7 and budget.good in (3, 4)  # the first mixed minute may hold
    assert "past 0.76" in budget.detail
    assert budget.sli is not None and budget.sli < 0.9 and budget.state == "exhausted"
    # Exported as the SLO's events, which the generated rules read for the fleet.
    events = {p.attributes["inferwatch.slo.event"]: p.value for p in slos.metric_points()
              if p.name == "inferwatch.slo.events"}
    assert events == {"good": budget.good, "bad": 7 - budget.good}


def test_a_loss_is_good_under_its_bound(make_monitor: Any, clock: Clock) -> None:
    mon = make_monitor()
    labels = inferwatch.labels.track(mon, task="classification", positive=1,
                                     window="count:1000")
    slos = track([SLO("fraud-brier", "quality", 0.9, model="fraud", metric="brier",
                      baseline=0.2, tolerance=0.1, min_pairs=50)], monitor=mon, clock=clock)
    _minute(mon, labels, clock, 0, agree=1.0, rng=random.Random(6))  # labels = predicted class
    budget = slos.budget("fraud-brier")
    brier = labels.quality()[0]["windows"][0]["measures"]["brier"]
    assert brier < 0.22  # a calibrated-looking model scores well under the bound
    assert (budget.good, budget.total) == (1, 1) and "within 0.22" in budget.detail


def test_without_a_label_tracker_the_slo_says_what_to_set_up(make_monitor: Any,
                                                            clock: Clock) -> None:
    mon = make_monitor()
    slos = track([SLO("q", "quality", 0.9, metric="f1", baseline=0.7)], monitor=mon,
                 clock=clock)
    clock.advance(60)
    budget = slos.budget("q")
    assert budget.state == "no_data" and "inferwatch.labels.track" in budget.detail


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({}, "metric", "watches one of accuracy"),
    ({"metric": "auc", "baseline": 0.8}, "metric", "'auc'"),
    ({"metric": "accuracy"}, "baseline", "needs the metric's baseline"),
    ({"metric": "accuracy", "baseline": 0.0}, "baseline", "not a positive number"),
    ({"metric": "accuracy", "baseline": float("nan")}, "baseline", "not a positive number"),
    ({"metric": "accuracy", "baseline": 0.8, "tolerance": 1.0}, "tolerance", "between 0 and 1"),
    ({"metric": "accuracy", "baseline": 0.8, "min_pairs": 0}, "min_pairs", "whole number"),
    ({"metric": "accuracy", "baseline": 0.8, "min_pairs": 2.5}, "min_pairs", "whole number"),
])
def test_an_invalid_quality_slo_names_its_field(fields: dict[str, Any], field: str,
                                                message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"SLO 'q': {field}: .*{message}"):
        SLO("q", "quality", 0.9, **fields)


def test_only_quality_slos_take_quality_fields() -> None:
    with pytest.raises(ConfigurationError, match="metric: only quality SLOs take a metric"):
        SLO("a", "availability", 0.99, metric="accuracy")


def test_openslo_annotations_make_a_quality_slo() -> None:
    (slo,) = parse_slos("""\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: fraud-auc
  annotations:
    inferwatch/kind: quality
    inferwatch/model: fraud
    inferwatch/metric: roc_auc
    inferwatch/baseline: "0.88"
    inferwatch/tolerance: "0.02"
    inferwatch/min-pairs: "500"
spec:
  indicator: {metadata: {name: auc}}
  timeWindow: [{duration: 7d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.95}]
""")
    assert (slo.kind, slo.metric, slo.baseline, slo.tolerance, slo.min_pairs) == (
        "quality", "roc_auc", 0.88, 0.02, 500)
    assert slo.quality_bound == pytest.approx(0.88 * 0.98)
    with pytest.raises(ConfigurationError, match=r"inferwatch/baseline\]"):
        parse_slos("""\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: fraud-auc
  annotations: {inferwatch/kind: quality, inferwatch/metric: roc_auc, inferwatch/baseline: high}
spec:
  indicator: {metadata: {name: auc}}
  timeWindow: [{duration: 7d, isRolling: true}]
  objectives: [{target: 0.95}]
""")
