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


def test_each_variant_reads_its_own_drift_window(make_monitor: Any) -> None:
    """Drift split by variant: the treatment's rows shifted, the control's did not, and each
    variant's drift-before-quality rows show its own window's PSI, not the other's."""
    rng = np.random.default_rng(13)
    train = {"a": rng.normal(size=5000).tolist(), "b": rng.normal(size=5000).tolist()}
    profile = drift.build_profile(train, prediction=rng.random(5000), model_name="fraud")
    mon = make_monitor()
    drift.watch(profile, mon, window="count:300")
    tracker = inferwatch.labels.track(mon, task="classification", positive=1,
                                      window="count:5000")

    @inferwatch.monitor(model="fraud", version="3", features="x", monitor=mon,
                        inference_id=lambda x, rid, arm: rid)
    def predict(x: dict[str, float], rid: str, arm: str) -> float:
        inferwatch.set_attribute("variant", arm)
        return float(1.0 / (1.0 + np.exp(-2.0 * x["b"])))

    labels = []
    for i in range(700):  # each arm closes window 0 (300 rows) and leaves 50 open
        arm = "treatment" if i % 2 else "control"
        shift = 2.5 if arm == "treatment" else 0.0
        x = {"a": float(rng.normal() + shift), "b": float(rng.normal())}
        p = predict(x, f"v{i}", arm)
        labels.append((f"v{i}", int(rng.random() < p)))
    inferwatch.record_labels(labels)
    tracker.flush()
    rows = {(r["variant"], r["window"]): r for r in
            inferwatch.labels.drift_before_quality(tracker)}
    control, treatment = rows[("control", 0)], rows[("treatment", 0)]
    # (the predictions are not the profile's uniform ones, so a window may warn on them)
    assert all(f["status"] == "ok" and f["psi"] < 0.1 for f in control["features"])
    assert treatment["drift_status"] == "drift"
    assert treatment["features"][0]["name"] == "a" and treatment["features"][0]["psi"] > 1.0


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
