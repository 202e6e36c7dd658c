"""Bad live inputs never raise; they are counted per feature."""

from __future__ import annotations

import numpy as np
from driftdata import make_rows
from test_windows import _records

import inferwatch.drift as drift
from inferwatch._capture import new_record


def test_quality_counts(profile: drift.ReferenceProfile) -> None:
    rows = make_rows(100, seed=9)
    rows[0]["x0"] = float("nan")
    rows[1]["x0"] = float("inf")
    rows[2]["x0"] = None
    rows[3]["x0"] = "twelve"
    rows[4]["x0"] = 1e9  # far outside the reference range
    del rows[5]["x1"]
    rows[6]["surprise"] = 1
    rows[7]["color"] = ["not", "hashable"]
    rows[8]["color"] = None
    dm = drift.DriftMonitor(profile)
    dm.ingest(_records(rows))
    report = dm.report()
    q = report.features["x0"].quality
    assert (q.rows, q.nan, q.inf, q.missing, q.invalid, q.out_of_range) == (100, 1, 1, 1, 1, 1)
    assert q.nan_rate == 0.01
    assert report.features["x1"].quality.missing == 1
    assert report.unknown_features == {"surprise": 1}
    color = report.features["color"].quality
    assert (color.invalid, color.missing) == (1, 1)
    assert report.features["x0"].statistics["psi"].value >= 0


def test_hostile_shapes_survive(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile)
    records = _records(make_rows(10, seed=1))
    odd = [object(), "a string", np.zeros((2, 2, 2)), [1, "x"], {"x0": np.arange(3)}, None]
    for value in odd:
        r = new_record(records[0].endpoint)
        r.features = value
        r.prediction = object()
        r.confidence = "high"
        records.append(r)
    dm.ingest(records)
    report = dm.report()
    assert report.window is not None
    assert report.unreadable_rows >= 3
    assert report.outputs["prediction"].quality.invalid >= 1
    report.to_dict()


def test_missing_feature_everywhere(profile: drift.ReferenceProfile) -> None:
    rows = make_rows(50, seed=2)
    for row in rows:
        del row["x3"]
    dm = drift.DriftMonitor(profile)
    dm.ingest(_records(rows))
    report = dm.report()
    assert report.missing_features == ("x3",)
    assert report.features["x3"].status == "no_data"
    assert report.features["x3"].quality.missing_rate == 1.0


def test_numpy_rows_with_wrong_width(profile: drift.ReferenceProfile) -> None:
    prof = drift.build_profile(np.random.default_rng(0).normal(size=(1000, 3)))
    records = _records([{}])
    r = records[0]
    r.features = np.ones((4, 5))
    r.batch_size = 4
    dm = drift.DriftMonitor(prof)
    dm.ingest([r])
    report = dm.report()
    assert report.unknown_features == {"f3": 4, "f4": 4}
    assert report.features["f0"].quality.rows == 4
