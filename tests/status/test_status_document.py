"""The status document: a superset of Monitor.summary(), drift worst first, no PII."""

from __future__ import annotations

import json

import pytest
from statustools import CANARIES, make_profile, predictor, serve_rows, watch

import inferwatch.drift as drift
from inferwatch.status import build_status, to_json
from inferwatch.testing import capture


@pytest.fixture(scope="module")
def profile() -> drift.ReferenceProfile:
    return make_profile()


def test_it_holds_the_summary_and_the_process(profile: drift.ReferenceProfile) -> None:
    with capture() as cap:
        predict = predictor(cap.monitor, fail_every=10)
        serve_rows(predict, 50)
        doc = build_status(cap.monitor)
        summary = cap.monitor.summary()
    for key in ("models", "sampling", "dropped", "errors"):
        assert doc[key] == summary[key]
    assert doc["models"]["churn:4"]["calls"] == 50
    assert doc["models"]["churn:4"]["errors"] == 5
    assert doc["drift"] is None  # no drift monitor: the page says "not configured"
    assert doc["labels"] is None
    infra = doc["infrastructure"]
    assert infra["pid"] == doc["pid"] and infra["cpu_seconds"] > 0
    assert infra["rss_bytes"] is None or infra["rss_bytes"] > 1_000_000
    assert infra["gpu"]["available"] in (True, False)
    # 45 successful predictions; their mean is that of the model's outputs.
    assert doc["predictions"]["churn:4"]["predictions"] == 45
    assert 0.0 < doc["predictions"]["churn:4"]["mean_prediction"] < 1.0
    json.loads(to_json(doc))


def test_sections_added_to_the_summary_are_kept() -> None:
    with capture() as cap:
        cap.monitor.add_summary("health", lambda: {"score": 87.5, "status": "healthy"})
        doc = build_status(cap.monitor)
    assert doc["health"] == {"score": 87.5, "status": "healthy"}


def test_drift_lists_features_worst_first_with_their_histogram(
        profile: drift.ReferenceProfile) -> None:
    with capture(feature_sample_rate=1.0, max_records_per_second=1e9) as cap:
        watch(profile, cap.monitor)
        predict = predictor(cap.monitor)
        serve_rows(predict, 500, shifted=True)
        doc = build_status(cap.monitor)
    (rep,) = doc["drift"]
    assert (rep["model"], rep["version"], rep["status"]) == ("churn", "4", "drift")
    assert rep["window"] == {"index": 0, "spec": "count:500", "rows": 500, "complete": True}
    names = [f["name"] for f in rep["features"]]
    assert set(names) == {"age", "income", "tenure", "plan"}
    levels = [f["level"] for f in rep["features"]]
    assert levels == sorted(levels, reverse=True)
    assert {f["name"] for f in rep["features"] if f["status"] == "drift"} >= {"age", "plan"}
    plan = next(f for f in rep["features"] if f["name"] == "plan")
    assert plan["new_categories"] == 1 and plan["rates"]["new_category"] > 0.2
    hist = rep["prediction_histogram"]
    assert hist["kind"] == "numeric"
    assert len(hist["reference"]) == len(hist["current"]) == len(hist["edges"]) + 1
    assert sum(hist["current"]) == 500  # the window the report is about, every row
    assert sum(hist["reference"]) == profile.outputs["prediction"].n
    assert rep["outputs"]["prediction"]["status"] == "drift"


def test_an_open_window_is_shown_until_one_closes(profile: drift.ReferenceProfile) -> None:
    with capture(feature_sample_rate=1.0, max_records_per_second=1e9) as cap:
        watch(profile, cap.monitor)
        serve_rows(predictor(cap.monitor), 120)
        doc = build_status(cap.monitor)
    (rep,) = doc["drift"]
    assert rep["window"]["complete"] is False and rep["window"]["rows"] == 120
    assert sum(rep["prediction_histogram"]["current"]) == 120


def test_no_category_value_or_unknown_feature_name_leaves(
        profile: drift.ReferenceProfile) -> None:
    with capture(feature_sample_rate=1.0, max_records_per_second=1e9) as cap:
        watch(profile, cap.monitor)
        predict = predictor(cap.monitor)
        serve_rows(predict, 500, shifted=True,
                   extra={CANARIES[1]: 1.0, "card": CANARIES[2]})
        doc = build_status(cap.monitor)
    (rep,) = doc["drift"]
    assert rep["unknown_features"] == 2  # counted, not named
    text = to_json(doc).decode()
    for canary in CANARIES:
        assert canary not in text


def test_the_public_names_are_exactly_these() -> None:
    import inferwatch.status

    names = ["STATUS_PREFIX", "StatusApp", "build_status", "render_html", "serve", "to_json"]
    assert inferwatch.status.__all__ == names
    assert {n for n in dir(inferwatch.status) if not n.startswith("_")} >= set(names)
