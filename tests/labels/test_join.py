"""Labels and outcomes joined to a monitor's predictions, end to end."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from calltools import WallClock, value
from sklearn import metrics as skm

import inferwatch
import inferwatch.labels
from inferwatch import ConfigurationError, Monitor


def _predictor(mon: Monitor, model: str = "fraud", version: str = "1",
               variant: str | None = None) -> Callable[[float, str], float]:
    attributes = {"variant": variant} if variant else None

    @inferwatch.monitor(model=model, version=version, monitor=mon, attributes=attributes,
                        inference_id=lambda x, rid: rid)
    def predict(x: float, rid: str) -> float:
        return x  # the probability of the positive class

    return predict


def _value(mon: Monitor, name: str, **attrs: Any) -> Any:
    return value(mon.collect(), name, **attrs)


def test_binary_quality_equals_sklearn_on_the_joined_pairs(make_monitor: Any) -> None:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, task="classification", positive=1,
                                      window="count:5000")
    predict = _predictor(mon)
    rng = random.Random(4)
    probs, labels = [], []
    for i in range(600):
        p = rng.random()
        predict(p, f"id{i}")
        label = int(rng.random() < p)
        probs.append(p)
        labels.append(label)
    # Labels arrive later, in another order than the predictions.
    order = list(range(600))
    rng.shuffle(order)
    inferwatch.record_labels([(f"id{i}", labels[i]) for i in order])
    (row,) = tracker.quality()
    measures = row["windows"][0]["measures"]
    y, p = np.array(labels) == 1, np.array(probs)
    pred = p >= 0.5
    assert row["windows"][0]["pairs"] == 600 and row["join_rate"] == 1.0
    assert measures["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert measures["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert measures["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert measures["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert measures["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert measures["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert measures["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    # Exported too, under the catalogue's names.
    assert _value(mon, "inferwatch.quality.roc_auc", **{"model.name": "fraud"}) == (
        pytest.approx(skm.roc_auc_score(y, p)))
    assert _value(mon, "inferwatch.quality.f_score") == pytest.approx(skm.f1_score(y, pred))
    assert _value(mon, "inferwatch.labels.received", **{
        "inferwatch.labels.result": "joined"}) == 600


def test_class_predictions_with_confidence_and_multiclass(make_monitor: Any) -> None:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, task="classification")  # no positive: multiclass

    @inferwatch.monitor(model="m", monitor=mon, inference_id=lambda x: f"r{x}",
                        confidence=lambda p: 0.7)
    def predict(x: int) -> str:
        return "abc"[x % 3]

    truth = []
    for x in range(90):
        predict(x)
        truth.append("abc"[(x // 2) % 3])
    tracker.record_labels([(f"r{x}", t) for x, t in enumerate(truth)])
    measures = tracker.quality()[0]["windows"][0]["measures"]
    pred = ["abc"[x % 3] for x in range(90)]
    assert measures["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred))
    assert measures["macro_f1"] == pytest.approx(skm.f1_score(truth, pred, average="macro"))
    correct = np.array(truth) == np.array(pred)
    assert measures["ece"] == pytest.approx(abs(0.7 - correct.mean()))


def test_regression_quality(make_monitor: Any) -> None:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, task="regression", window="count:50")

    @inferwatch.monitor(model="price", monitor=mon, inference_id=lambda x: f"p{x}")
    def predict(x: int) -> float:
        return float(x) * 1.1

    for x in range(1, 101):
        predict(x)
    tracker.record_labels([(f"p{x}", float(x)) for x in range(1, 101)])
    window = tracker.quality()[0]["windows"][0]
    truth = np.arange(51, 101, dtype=float)  # the last 50 pairs
    pred = truth * 1.1
    assert window["pairs"] == 50
    assert window["measures"]["mae"] == pytest.approx(skm.mean_absolute_error(truth, pred))
    assert window["measures"]["rmse"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(truth, pred)))
    assert window["measures"]["mape"] == pytest.approx(
        skm.mean_absolute_percentage_error(truth, pred))


def test_a_label_recorded_right_after_predict_joins(make_monitor: Any) -> None:
    # Decided: labels are joined after the drain that stores the prediction, so a
    # label recorded while the record is still in the monitor's buffer joins.
    mon = make_monitor(flush_interval_ms=60_000)  # the aggregator never runs by itself
    tracker = inferwatch.labels.track(mon, positive=1)
    predict = _predictor(mon)
    predict(0.9, "early")
    assert len(mon._queue) == 1  # not aggregated yet
    inferwatch.record_label("early", 1)
    assert tracker._counts() == {}  # only queued: record_label does no join work
    assert len(tracker._join.pending) == 1
    assert tracker.quality()[0]["joined"] == 1
    assert tracker.counts() == {"organic": {"joined": 1}}


def test_unknown_ids_wait_out_their_grace_then_count(make_monitor: Any) -> None:
    mon = make_monitor()
    clock = WallClock()
    tracker = inferwatch.labels.track(mon, positive=1, grace=5.0, clock=clock)
    tracker.record_label("never-predicted", 1)
    assert tracker.counts() == {} and tracker.summary()["waiting"] == 1
    clock.offset = 6.0
    tracker.flush()
    assert tracker.counts() == {"organic": {"no_prediction": 1}}
    assert _value(mon, "inferwatch.labels.received",
                  **{"inferwatch.labels.result": "no_prediction"}) == 1


def test_a_waiting_label_joins_when_its_prediction_arrives(make_monitor: Any) -> None:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, positive=1, grace=60.0)
    tracker.record_label("late-record", 1)
    tracker.flush()
    _predictor(mon)(0.8, "late-record")
    tracker.flush()
    assert tracker.counts() == {"organic": {"joined": 1}}


def test_duplicates_out_of_order_and_sources(make_monitor: Any) -> None:
    mon = make_monitor()
    clock = WallClock()
    tracker = inferwatch.labels.track(mon, positive=1, window=["count:100", "1h"], clock=clock)
    predict = _predictor(mon)
    for i in range(4):
        predict(0.9, f"d{i}")
    now = clock()
    # Out of order: the label of d1 became known before d0's; d0's is two hours old.
    tracker.record_label("d0", 1, timestamp=now - 7200)
    tracker.record_label("d1", 0, timestamp=now - 60)
    tracker.record_label("d0", 0)  # a duplicate: the first label stands
    tracker.record_label("d0", 0, source="review")  # a review label is its own join
    tracker.record_label("d2", 1, source="review")
    rows = {r["source"]: r for r in tracker.quality()}
    assert tracker.counts() == {"organic": {"duplicate": 1, "joined": 2},
                                "review": {"joined": 2}}
    organic = {w["window"]: w for w in rows["organic"]["windows"]}
    assert organic["count:100"]["pairs"] == 2
    assert organic["count:100"]["measures"]["accuracy"] == 0.5
    assert organic["1h"]["pairs"] == 1  # d0's label is outside the hour
    review = rows["review"]["windows"][0]
    assert review["pairs"] == 2 and review["measures"]["accuracy"] == 0.5
    assert rows["review"]["join_rate"] == 0.5


def test_ambiguous_ids_and_model_routing(make_monitor: Any) -> None:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, positive=1)
    _predictor(mon, model="a")(0.9, "shared")
    _predictor(mon, model="b")(0.1, "shared")
    tracker.record_label("shared", 1)
    tracker.record_label("shared", 1, model="b")
    rows = tracker.quality()
    assert tracker.counts() == {"organic": {"ambiguous": 1, "joined": 1}}
    assert [(r["model"], r["windows"][0]["measures"]["accuracy"]) for r in rows] == [("b", 0.0)]


def test_variants_are_reported_apart(make_monitor: Any) -> None:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, positive=1)
    a = _predictor(mon, variant="control")
    b = _predictor(mon, variant="treatment")
    for i in range(10):
        a(0.9, f"a{i}")
        b(0.9, f"b{i}")
    tracker.record_labels([(f"a{i}", 1) for i in range(10)] + [(f"b{i}", 0) for i in range(10)])
    rows = {r["variant"]: r["windows"][0]["measures"]["accuracy"] for r in tracker.quality()}
    assert rows == {"control": 1.0, "treatment": 0.0}
    assert _value(mon, "inferwatch.labels.joined", **{"inferwatch.variant": "treatment"}) == 10


def test_outcomes_count_sum_and_rate(make_monitor: Any) -> None:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, positive=1)
    predict = _predictor(mon)
    for i in range(4):
        predict(0.5, f"o{i}")
    inferwatch.record_outcome("o0", "revenue", 10.0)
    inferwatch.record_outcome("o0", "revenue", 5.5)
    inferwatch.record_outcome("o1", "revenue", -2.0)  # a refund
    inferwatch.record_outcome("o2", "conversion")
    inferwatch.record_outcome("nobody", "conversion")
    rows = {r["name"]: r for r in tracker.outcomes()}
    assert (rows["revenue"]["count"], rows["revenue"]["sum"], rows["revenue"]["rate"]) == (
        3, 13.5, 0.5)
    assert (rows["conversion"]["count"], rows["conversion"]["rate"]) == (1, 0.25)
    assert _value(mon, "inferwatch.outcome.value", **{"inferwatch.outcome.name": "revenue"}) == 13.5
    assert _value(mon, "inferwatch.outcome.rate",
                  **{"inferwatch.outcome.name": "conversion"}) == 0.25


def test_label_delay_is_measured(make_monitor: Any) -> None:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, positive=1)
    _predictor(mon)(0.9, "x")
    tracker.record_label("x", 1, timestamp=time.time() + 3600)
    delay = tracker.quality()[0]["windows"][0]["delay"]
    assert delay["p50"] == pytest.approx(3600, abs=5)
    (hist,) = [p.value for p in mon.collect() if p.name == "inferwatch.labels.delay"]
    assert hist.count == 1 and 3590 < hist.sum < 3610


@pytest.mark.parametrize(("call", "error"), [
    (lambda: inferwatch.record_label("x", float("nan")), ValueError),
    (lambda: inferwatch.record_label("x", [1]), TypeError),
    (lambda: inferwatch.record_label(7, 1), TypeError),
    (lambda: inferwatch.record_label("", 1), ValueError),
    (lambda: inferwatch.record_label("x", 1, source="crowd"), ValueError),
    (lambda: inferwatch.record_label("x", 1, timestamp="yesterday"), ValueError),
    (lambda: inferwatch.record_label("x", 1, timestamp=float("inf")), ValueError),
    (lambda: inferwatch.record_label("x", 1.5), ValueError),
    (lambda: inferwatch.record_label("x", 1, model=3), TypeError),
    (lambda: inferwatch.record_labels([("a", 1), ("b", float("nan"))]), ValueError),
    (lambda: inferwatch.record_labels("ab"), TypeError),
    (lambda: inferwatch.record_labels([{"inference_id": "a"}]), ValueError),
    (lambda: inferwatch.record_outcome("x", "bad name!", 1), ValueError),
    (lambda: inferwatch.record_outcome("x", "revenue", float("nan")), ValueError),
    (lambda: inferwatch.record_outcome("x", "revenue", "12"), TypeError),
])
def test_bad_arguments_raise_clear_errors(make_monitor: Any, call: Callable[[], Any],
                                          error: type[Exception]) -> None:
    tracker = inferwatch.labels.track(make_monitor(), positive=1)
    with pytest.raises(error):
        call()
    tracker.flush()
    assert tracker.counts() == {}  # nothing of a refused batch was queued


def test_a_bad_pair_names_its_index(make_monitor: Any) -> None:
    inferwatch.labels.track(make_monitor(), positive=1)
    with pytest.raises(ValueError, match=r"pairs\[1\]"):
        inferwatch.record_labels([("a", 1), ("b", float("nan"))])


def test_regression_labels_must_be_numbers(make_monitor: Any) -> None:
    tracker = inferwatch.labels.track(make_monitor(), task="regression")
    with pytest.raises(TypeError):
        tracker.record_label("x", "high")
    with pytest.raises(ValueError):
        tracker.record_label("x", float("nan"))


def test_no_tracker_is_a_configuration_error() -> None:
    for tracker in inferwatch.labels._tracker.live_trackers():
        tracker.close()
    with pytest.raises(ConfigurationError, match=r"inferwatch\.labels\.track"):
        inferwatch.record_label("x", 1)


@pytest.mark.parametrize("options", [
    {"task": "ranking"}, {"window": "1000"}, {"window": "count:0"}, {"window": []},
    {"task": "regression", "positive": 1}, {"threshold": 1.5}, {"max_pairs": 0},
    {"store": object()}, {"classes": ["a"]}, {"grace": -1},
])
def test_bad_configuration_is_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        inferwatch.labels.LabelTracker(**options)


def test_the_tracker_follows_the_default_monitor() -> None:
    tracker = inferwatch.labels.track(positive=1)
    try:
        first = inferwatch.configure(metrics_exporter="none", log_sink="none")
        assert tracker.monitor is first
        _predictor(first)(0.9, "before")
        first.drain()
        second = inferwatch.configure(metrics_exporter="none", log_sink="none")
        assert tracker.monitor is second
        inferwatch.record_label("before", 1)  # stored from the first monitor: still joins
        assert tracker.quality()[0]["joined"] == 1
        assert "labels" in second.summary()
    finally:
        tracker.close()
