"""The estimate inside a label tracker: live windows, beside the realised measure, exported."""

from __future__ import annotations

from typing import Any

import estimate_sim as sim
import numpy as np
import pytest

import inferwatch
import inferwatch.labels
from inferwatch import ConfigurationError
from inferwatch.estimate import CBPE, DLE, Calibrator, LossModel


def _cbpe(seed: int = 0) -> CBPE:
    rng = np.random.default_rng(seed)
    s, y = sim.binary(rng, 10_000)
    return CBPE(Calibrator.fit(s, y), draws=200)


def _predictor(mon: Any) -> Any:
    @inferwatch.monitor(model="fraud", version="2", monitor=mon,
                        inference_id=lambda x, rid: rid)
    def predict(x: float, rid: str) -> float:
        return x

    return predict


def _run(make_monitor: Any, concept: bool) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    mon = make_monitor()
    cbpe = _cbpe()
    tracker = inferwatch.labels.track(mon, task="classification", positive=1,
                                      window=["count:600", "1h"], estimator=cbpe)
    predict = _predictor(mon)
    rng = np.random.default_rng(1)
    s, y = sim.binary(rng, 900, np.array([0.6, -0.4]), concept=concept)
    for i, p in enumerate(s):
        predict(float(p), f"r{i}")
    return mon, tracker, s, y


def test_live_estimate_before_any_label(make_monitor: Any) -> None:
    mon, tracker, s, _ = _run(make_monitor, concept=False)
    tracker.flush()
    (row,) = tracker.estimated()
    assert (row["model"], row["version"], row["method"]) == ("fraud", "2", "cbpe")
    count, hour = row["windows"]
    assert (count["window"], count["predictions"]) == ("count:600", 600)
    assert hour["predictions"] == 900  # every prediction made in the last hour
    expected = tracker.estimates.estimator.estimate(s[-600:])
    assert count["measures"]["accuracy"] == expected["accuracy"].to_dict()
    assert set(count["measures"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert tracker.quality() == []  # no label yet
    points = [p for p in mon.collect() if p.name == "inferwatch.quality.estimated"]
    assert {p.attributes["inferwatch.quality.bound"] for p in points} == {
        "estimate", "lower", "upper"}
    assert {p.attributes["inferwatch.quality.measure"] for p in points} == {
        "accuracy", "precision", "recall", "f_score", "roc_auc"}
    acc = [p.value for p in points if p.attributes["inferwatch.quality.measure"] == "accuracy"
           and p.attributes["inferwatch.quality.window"] == "count:600"
           and p.attributes["inferwatch.quality.bound"] == "estimate"]
    assert acc == [pytest.approx(expected["accuracy"].value)]
    section = mon.summary()["labels"]["trackers"][0]
    assert section["estimated"][0]["windows"][0]["predictions"] == 600


def test_estimate_beside_the_realised_measure_and_the_concept_drift_flag(
        make_monitor: Any) -> None:
    results = {}
    for concept in (False, True):
        mon, tracker, s, y = _run(make_monitor, concept)
        for i, label in enumerate(y):
            tracker.record_label(f"r{i}", int(label))
        (row,) = tracker.quality()
        window = row["windows"][0]
        est = window["estimated"]
        assert est["pairs"] == 600 and est["method"] == "cbpe"
        acc = est["measures"]["accuracy"]
        assert acc["realised"] == pytest.approx(window["measures"]["accuracy"])
        assert acc["outside"] == (not acc["lower"] <= acc["realised"] <= acc["upper"])
        direct = tracker.estimates.estimator.estimate(s[-600:])
        assert acc["value"] == pytest.approx(direct["accuracy"].value)
        flags = [p for p in mon.collect() if p.name == "inferwatch.quality.estimate.outside"]
        assert {p.attributes["inferwatch.labels.source"] for p in flags} == {"organic"}
        results[concept] = (est["outside"], flags)
    assert results[False][0] == []  # covariate shift only: inside every band
    assert all(p.value == 0 for p in results[False][1])
    assert {"accuracy", "roc_auc"} <= set(results[True][0])  # concept drift: flagged
    assert any(p.value == 1 for p in results[True][1])


def test_status_page_shows_estimated_beside_realised(make_monitor: Any) -> None:
    from inferwatch.status._html import render_html

    mon, tracker, _, y = _run(make_monitor, concept=True)
    for i, label in enumerate(y):
        tracker.record_label(f"r{i}", int(label))
    tracker.flush()
    html = render_html(mon.summary())
    assert "Estimated without labels" in html
    assert "outside the band" in html


def test_regression_tracker_with_a_dle(make_monitor: Any) -> None:
    rng = np.random.default_rng(2)
    _, pred, truth = sim.regression(rng, 10_000)
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, task="regression", window="count:300",
                                      estimator=DLE(LossModel.fit(pred, truth), draws=200))

    @inferwatch.monitor(model="price", version="1", monitor=mon,
                        inference_id=lambda v, rid: rid)
    def predict(v: float, rid: str) -> float:
        return v

    _, pred, truth = sim.regression(rng, 300, 0.5)
    for i, v in enumerate(pred):
        predict(float(v), f"p{i}")
        tracker.record_label(f"p{i}", float(truth[i]))
    (row,) = tracker.quality()
    est = row["windows"][0]["estimated"]
    assert set(est["measures"]) == {"mae", "rmse"}
    assert est["measures"]["mae"]["realised"] == pytest.approx(
        float(np.mean(np.abs(truth - pred))))
    assert tracker.estimated()[0]["windows"][0]["predictions"] == 300


def test_an_estimator_that_cannot_serve_the_task_is_refused(make_monitor: Any) -> None:
    rng = np.random.default_rng(3)
    x, pred, truth = sim.regression(rng, 1000)
    with pytest.raises(ConfigurationError, match="a CBPE estimates classifiers"):
        inferwatch.labels.LabelTracker("regression", estimator=_cbpe())
    with pytest.raises(ConfigurationError, match="give the tracker positive="):
        inferwatch.labels.LabelTracker("classification", estimator=_cbpe())
    with pytest.raises(ConfigurationError, match="a DLE estimates regressors"):
        inferwatch.labels.LabelTracker("classification", positive=1,
                                       estimator=DLE(LossModel.fit(pred, truth)))
    with pytest.raises(ConfigurationError, match="stores no features"):
        inferwatch.labels.LabelTracker("regression", estimator=DLE(
            LossModel.fit(pred, truth, x[:, :1])))
    with pytest.raises(ConfigurationError, match=r"must be an inferwatch\.estimate\.CBPE"):
        inferwatch.labels.LabelTracker("regression", estimator="cbpe")
