"""Drift detected on the right features only, through @monitor and capture()."""

from __future__ import annotations

import json

import numpy as np
from driftdata import make_rows

import inferwatch
import inferwatch.drift as drift
from inferwatch.testing import capture


def _serve(profile: drift.ReferenceProfile, rows: list[dict[str, object]], **options: object):
    with capture() as cap:
        dm = drift.watch(profile, cap.monitor, **options)

        @inferwatch.monitor(model="m", features="x", monitor=cap.monitor)
        def predict(x: dict[str, object]) -> float:
            return 0.5

        for row in rows:
            predict(row)
        report = dm.report(window="open")
        points = cap.metrics()
    return report, points


def test_shift_is_detected_on_the_shifted_feature_only(profile: drift.ReferenceProfile) -> None:
    report, points = _serve(profile, make_rows(4000, seed=5, shift={"x2": 1.0}))
    assert report.features["x2"].status == "drift"
    assert report.features["x2"].decided_by == "ks+psi"
    for name in ("x0", "x1", "x3", "color"):
        assert report.features[name].status == "ok", name
    assert report.drifted_features == ["x2"]
    assert report.drifted_share == 1 / 5
    # a constant prediction against a uniform reference: prediction drift
    assert report.prediction is not None and report.prediction.status == "drift"
    statuses = {p.attributes["inferwatch.feature"]: p.value for p in points
                if p.name == "inferwatch.drift.status"}
    assert statuses["x2"] == 2 and statuses["x0"] == 0
    json.dumps(report.to_dict())


def test_unshifted_traffic_is_quiet(profile: drift.ReferenceProfile) -> None:
    report, _ = _serve(profile, make_rows(3000, seed=6))
    assert report.drifted_features == []
    assert not any(f.alert for f in report.features.values())


def test_small_windows_use_the_corrected_pvalue(profile: drift.ReferenceProfile) -> None:
    report, _ = _serve(profile, make_rows(300, seed=7, shift={"x1": 1.0}))
    x1 = report.features["x1"]
    assert x1.decided_by == "ks+psi" and x1.status == "drift" and x1.significant
    assert x1.statistics["ks"].adjusted_pvalue is not None
    assert report.features["x0"].status == "ok"


def test_categorical_shift_and_new_category(profile: drift.ReferenceProfile) -> None:
    rows = make_rows(3000, seed=8)
    for i, row in enumerate(rows):
        row["color"] = "purple" if i % 2 else "red"
    report, _ = _serve(profile, rows)
    color = report.features["color"]
    assert color.status == "drift"
    assert color.quality.new_categories == ("purple",)
    assert color.quality.new_category_rate == 0.5


def test_batched_numpy_features_and_report_metrics() -> None:
    rng = np.random.default_rng(0)
    prof = drift.build_profile(rng.normal(size=(10_000, 3)), feature_names=["a", "b", "c"])
    with capture() as cap:
        dm = drift.DriftMonitor(prof, window="count:100000").attach(cap.monitor)

        @inferwatch.monitor(model="batch", features="x", monitor=cap.monitor)
        def predict(x: np.ndarray) -> np.ndarray:
            return x.sum(axis=1)

        for _ in range(20):
            x = rng.normal(size=(200, 3))
            x[:, 0] += 2.0
            predict(x)
        report = dm.report(window="open")
        assert report.window is not None and report.window.rows == 4000
        assert report.features["a"].drifted and not report.features["b"].drifted
        assert cap.value("inferwatch.drift.window.rows", model__name="batch") == 4000
        names = {p.name for p in cap.metrics()}
        assert "inferwatch.drift.features.drifted_share" in names
        assert "inferwatch.data_quality.missing_rate" in names
