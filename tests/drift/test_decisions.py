"""Corrections, thresholds, calibration, the sample-size rule, options."""

from __future__ import annotations

import numpy as np
import pytest
from driftdata import make_rows
from test_windows import _records

import inferwatch.drift as drift
from inferwatch.drift._decide import adjust


def test_bh_and_bonferroni() -> None:
    p = [0.01, 0.02, 0.03, 0.5]
    assert adjust(p, "bonferroni") == pytest.approx([0.04, 0.08, 0.12, 1.0])
    assert adjust(p, "bh") == pytest.approx([0.04, 0.04, 0.04, 0.5])
    assert adjust(p, "none") == p
    with pytest.raises(ValueError, match="correction"):
        adjust(p, "holm")


def test_forced_decisions(profile: drift.ReferenceProfile) -> None:
    rows = make_rows(3000, seed=11, shift={"x0": 0.15})
    by_p = drift.DriftMonitor(profile, decision="pvalue", correction="bonferroni")
    by_d = drift.DriftMonitor(profile, decision="distance")
    by_p.ingest(_records(rows))
    by_d.ingest(_records(rows))
    # 0.15 sd over 3000 rows: significant, but a negligible distance
    assert by_p.report().features["x0"].status == "drift"
    assert by_d.report().features["x0"].status == "ok"


def test_calibrated_thresholds_come_from_the_profile(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, thresholds="calibrated")
    dm.ingest(_records(make_rows(2000, seed=12)))
    x0 = dm.report().features["x0"]
    cal = profile.calibration["x0"]
    assert x0.thresholds["drift"] == pytest.approx(cal.mean + 3 * cal.std)
    assert x0.thresholds["drift"] < 0.1


def test_importance_weighted_score(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, importances={"x0": 3.0, "x1": 1.0})
    dm.ingest(_records(make_rows(3000, seed=13, shift={"x0": 1.0})))
    report = dm.report()
    assert report.weighted_score == pytest.approx(0.75)
    assert report.features["x0"].importance == 3.0


def test_custom_thresholds_and_tests(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, thresholds={"warning": 0.01, "drift": 0.02, "alert": 0.02},
                            tests=["psi"])
    dm.ingest(_records(make_rows(3000, seed=14, shift={"x1": 0.4})))
    x1 = dm.report().features["x1"]
    assert set(x1.statistics) == {"psi"}
    assert x1.status == "drift" and x1.alert


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"correction": "x"}, "correction"), ({"decision": "x"}, "decision"),
     ({"tests": ["nope"]}, "unknown test"), ({"thresholds": "magic"}, "thresholds"),
     ({"thresholds": {"warning": 0.5, "drift": 0.1}}, "warning"), ({"warmup_rows": 1}, "warmup")],
)
def test_bad_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        drift.DriftMonitor(**kwargs)  # type: ignore[arg-type]


def test_vector_feature_drift_by_mmd() -> None:
    rng = np.random.default_rng(0)
    prof = drift.build_profile([{"emb": rng.normal(size=4)} for _ in range(2000)])
    dm = drift.DriftMonitor(prof)
    dm.ingest(_records([{"emb": rng.normal(size=4) + 1.0} for _ in range(500)]))
    emb = dm.report().features["emb"]
    assert emb.kind == "vector" and emb.decided_by == "mmd" and emb.status == "drift"


def test_multivariate_and_report_time(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile)
    dm.ingest(_records(make_rows(3000, seed=15, shift={"x0": 1.0, "x1": 1.0})))
    report = dm.report()
    assert report.multivariate is not None and report.multivariate.status == "drift"
    assert report.compute_seconds < 5.0  # budget lives in benchmarks/, this is a sanity bound
