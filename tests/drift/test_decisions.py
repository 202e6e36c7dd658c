"""Corrections, thresholds, calibration, the one decision rule, options."""

from __future__ import annotations

import numpy as np
import pytest
from driftdata import make_rows
from test_windows import Clock, _records

import inferwatch.drift as drift
from inferwatch.drift._decide import Thresholds, adjust, decide_level


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
    both = drift.DriftMonitor(profile, correction="bonferroni")
    by_p.ingest(_records(rows))
    by_d.ingest(_records(rows))
    both.ingest(_records(rows))
    # 0.15 sd over 3000 rows: significant, but a negligible distance (PSI ~ 0.02)
    assert by_p.report().features["x0"].status == "drift"
    assert by_d.report().features["x0"].status == "ok"
    x0 = both.report().features["x0"]
    assert (x0.status, x0.significant, x0.material) == ("warning", True, False)
    assert x0.decided_by == "ks+psi"


def test_calibrated_thresholds_come_from_the_profile(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, thresholds="calibrated")
    dm.ingest(_records(make_rows(2000, seed=12)))
    x0 = dm.report().features["x0"]
    cal = profile.calibration["x0"]
    assert x0.thresholds["min_effect"] == pytest.approx(cal.mean + 3 * cal.std)
    assert x0.thresholds["min_effect"] < 0.05


def test_importance_weighted_score(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, importances={"x0": 3.0, "x1": 1.0})
    dm.ingest(_records(make_rows(3000, seed=13, shift={"x0": 1.0})))
    report = dm.report()
    assert report.weighted_score == pytest.approx(0.75)
    assert report.features["x0"].importance == 3.0


def test_custom_thresholds_and_tests(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, thresholds={"min_effect": 0.02, "alert": 0.02},
                            tests=["psi"])
    dm.ingest(_records(make_rows(3000, seed=14, shift={"x1": 0.4})))
    x1 = dm.report().features["x1"]
    assert set(x1.statistics) == {"psi"}
    assert x1.status == "drift" and x1.alert
    assert x1.decided_by == "psi" and x1.significant is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"correction": "x"}, "correction"), ({"decision": "x"}, "decision"),
     ({"tests": ["nope"]}, "unknown test"), ({"thresholds": "magic"}, "thresholds"),
     ({"thresholds": {"min_effect": -1.0}}, "min_effect"),
     ({"thresholds": {"warning": 0.1, "drift": 0.2}}, r"unknown threshold.*min_effect"),
     ({"decision": "auto"}, "both"), ({"warmup_rows": 1}, "warmup"), ({"history": 0}, "history"),
     ({"max_models": 0}, "max_models")],
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


def test_weighted_score_uses_equal_weights_without_importances(
        profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile)
    dm.ingest(_records(make_rows(3000, seed=13, shift={"x0": 1.0})))
    report = dm.report()
    assert profile.importances is None
    assert report.weighted_score == report.drifted_share == pytest.approx(1 / 5)


@pytest.mark.parametrize(
    ("pvalue", "effect", "level", "alert"),
    [
        (1e-9, 0.30, 2, True),    # significant and material, past the alert level
        (1e-9, 0.08, 2, False),   # significant and material
        (1e-9, 0.01, 1, False),   # real but negligible: a large sample's tiny shift
        (0.10, 0.08, 1, False),   # material, only suggestive evidence
        (0.50, 0.08, 0, False),   # material-looking noise of a tiny window
        (0.50, 0.01, 0, False),
        (1e-9, None, 2, True),    # no effect size (vectors): the test alone
        (0.10, None, 1, False),
        (None, 0.08, 2, False),   # no test: the effect size alone
        (None, 0.01, 0, False),
    ],
)
def test_the_rule(pvalue: float | None, effect: float | None, level: int, alert: bool) -> None:
    d = decide_level(pvalue, effect, Thresholds())
    assert d is not None and (d.level, d.alert) == (level, alert)
    assert decide_level(None, None, Thresholds()) is None


def test_reference_and_previous_window_agree_on_the_same_data(
        profile: drift.ReferenceProfile) -> None:
    # Issue 9's case: a previous window of 995 rows like the reference, then 1,980 rows
    # with a real 0.3-sd shift (KS about 0.12, p about 1e-12). The sample-size switch
    # said "ok" against the reference (PSI 0.077 at n_eff ~ 1,800) and "drift" against
    # the previous window (p-value at n_eff ~ 660). One rule: both say drift.
    clock = Clock()
    dm = drift.DriftMonitor(profile, window="time:60", clock=clock, compare_previous=True)
    dm.ingest(_records(make_rows(995, seed=40)))
    clock.now += 61
    dm.ingest(_records(make_rows(1980, seed=41, shift={"x0": 0.3})))
    clock.now += 60
    report = dm.report()
    assert report.window is not None and report.window.rows == 1980
    x0 = report.features["x0"]
    assert x0.previous is not None
    assert 0.09 < x0.statistics["ks"].value < 0.16 and x0.statistics["ks"].pvalue < 1e-8
    assert x0.statistics["psi"].value < 0.1
    assert x0.status == x0.previous.status == "drift"
    for name in ("x1", "x2", "x3", "color"):
        f = report.features[name]
        assert f.previous is not None
        assert f.status == f.previous.status == "ok", (name, f.status, f.previous.status)
