"""Drift before quality: each drift window's statistics beside its labels' quality."""

from __future__ import annotations

from typing import Any

import numpy as np

import inferwatch
import inferwatch.drift as drift
import inferwatch.labels


def test_the_drifted_window_is_where_accuracy_fell(make_monitor: Any) -> None:
    rng = np.random.default_rng(11)
    train = {"a": rng.normal(size=5000).tolist(), "b": rng.normal(size=5000).tolist()}
    profile = drift.build_profile(train, prediction=rng.random(5000), model_name="fraud")
    mon = make_monitor()
    watched = drift.watch(profile, mon, window="count:400")
    tracker = inferwatch.labels.track(mon, task="classification", positive=1,
                                      window="count:5000")

    @inferwatch.monitor(model="fraud", version="3", features="x", monitor=mon,
                        inference_id=lambda x, rid: rid)
    def predict(x: dict[str, float], rid: str) -> float:
        return float(1.0 / (1.0 + np.exp(-2.0 * x["b"])))

    labels = []
    for i in range(1000):  # windows 0 and 1 close; 200 rows of window 2 stay open
        shifted = 400 <= i < 800
        x = {"a": float(rng.normal() + (2.5 if shifted else 0.0)), "b": float(rng.normal())}
        p = predict(x, f"t{i}")
        truth = int(rng.random() < p)
        if shifted and rng.random() < 0.4:
            truth = 1 - truth  # the world changed with the inputs: labels disagree more
        labels.append((f"t{i}", truth))
    inferwatch.record_labels(labels)
    tracker.flush()
    assert [d["window"] for d in watched.window_digests()] == [0, 1]

    rows = inferwatch.labels.drift_before_quality(tracker)
    by_window = {r["window"]: r for r in rows}
    assert sorted(by_window) == [0, 1, 2]
    first, drifted, still_open = by_window[0], by_window[1], by_window[2]
    assert (first["pairs"], drifted["pairs"], still_open["pairs"]) == (400, 400, 200)
    assert first["drift_status"] == "ok" and first["change"] == 0.0
    assert drifted["drift_status"] in ("warning", "drift")
    assert drifted["features"][0]["name"] == "a" and drifted["features"][0]["psi"] > 1.0
    assert drifted["change"] is not None and drifted["change"] < -0.15
    assert drifted["value"] == drifted["value"] and drifted["metric"] == "accuracy"
    assert "window 1: accuracy" in drifted["text"] and "against window 0" in drifted["text"]
    assert "a PSI" in drifted["text"]
    assert still_open["drift_status"] is None and "still open" in still_open["text"]


def test_digests_are_bounded_and_carry_no_category_values() -> None:
    from inferwatch.drift._stream import DIGESTS

    rng = np.random.default_rng(12)
    train = {"a": rng.normal(size=2000).tolist(),
             "c": rng.choice(["x", "y"], size=2000).tolist()}
    profile = drift.build_profile(train, categorical=["c"])
    dm = drift.DriftMonitor(profile, window="count:10")
    from inferwatch import Monitor
    from inferwatch._capture import new_record

    mon = Monitor(metrics_exporter="none", enabled=False)
    endpoint = mon.endpoint("m", "1", {})
    records = []
    for i in range(10 * (DIGESTS + 20)):
        r = new_record(endpoint)
        r.features = {"a": float(rng.normal()), "c": f"secret-{i}@example.com"}
        records.append(r)
    mon.shutdown()
    for i in range(0, len(records), 500):
        dm.ingest(records[i : i + 500])
    digests = dm.window_digests()
    assert len(digests) == DIGESTS
    assert digests[-1]["window"] == DIGESTS + 19 and digests[0]["window"] == 20
    assert "secret" not in repr(digests)  # statistics and feature names only
    assert dm.open_windows() == {("m", "1"): DIGESTS + 20}
