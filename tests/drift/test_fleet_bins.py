"""Live rows per reference bin (``inferwatch.drift.bin.rows``): what fleet PSI is computed from.

Two replicas' counters summed must be the union's counts exactly, so that
Prometheus's PSI over them equals inferwatch's own PSI on every replica's
rows together (the rules side is tests/rules/test_rules_fleet_drift.py, the
real Prometheus tests/e2e/test_prometheus_fleet.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from driftdata import NAMES, make_rows

import inferwatch.drift as drift
from inferwatch import Monitor
from inferwatch._capture import new_record
from inferwatch.stats import bin_counts, psi_from_counts


def _records(rows: list[dict[str, Any]], preds: list[float], version: str = "1") -> list[Any]:
    mon = Monitor(metrics_exporter="none", enabled=False)
    endpoint = mon.endpoint("m", version, {})
    out = []
    for row, pred in zip(rows, preds, strict=True):
        r = new_record(endpoint)
        r.features = row
        r.prediction = pred
        out.append(r)
    mon.shutdown()
    return out


def _bins(points: list[Any]) -> dict[str, dict[int, tuple[int, float]]]:
    """feature -> bin -> (rows, reference share), from one collection's points."""
    rows = {(p.attributes["inferwatch.feature"], int(p.attributes["inferwatch.bin"])): p.value
            for p in points if p.name == "inferwatch.drift.bin.rows"}
    shares = {(p.attributes["inferwatch.feature"], int(p.attributes["inferwatch.bin"])): p.value
              for p in points if p.name == "inferwatch.drift.bin.reference"}
    assert set(rows) == set(shares)
    out: dict[str, dict[int, tuple[int, float]]] = defaultdict(dict)
    for (feature, i), n in rows.items():
        out[feature][i] = (n, shares[(feature, i)])
    return dict(out)


def _feed(dm: drift.DriftMonitor, records: list[Any], chunk: int = 97) -> None:
    for i in range(0, len(records), chunk):
        dm.ingest(records[i : i + chunk])


def test_two_replicas_bins_sum_to_the_union_and_its_psi(profile: drift.ReferenceProfile) -> None:
    rng = np.random.default_rng(3)
    rows_a = make_rows(2300, seed=10, shift={"x0": 0.6})
    rows_b = make_rows(1700, seed=11)
    preds_a, preds_b = rng.random(2300).tolist(), (rng.random(1700) ** 2).tolist()
    # Windows close at different points on each replica; the open one counts too.
    a = drift.DriftMonitor(profile, window="count:1000")
    b = drift.DriftMonitor(profile, window="count:600")
    _feed(a, _records(rows_a, preds_a))
    _feed(b, _records(rows_b, preds_b))
    bins_a, bins_b = _bins(a.metric_points()), _bins(b.metric_points())
    assert set(bins_a) == set(bins_b) == {"prediction", *NAMES}  # numeric only: not color

    # One monitor that holds every row of both in one window: inferwatch's own PSI.
    union = drift.DriftMonitor(profile, window="count:10000")
    _feed(union, _records(rows_a + rows_b, preds_a + preds_b))
    own = union.report(window="open")
    columns = {"prediction": np.array(preds_a + preds_b)}
    columns.update({n: np.array([r[n] for r in rows_a + rows_b]) for n in NAMES})
    for feature, values in columns.items():
        prof = profile.outputs[feature] if feature == "prediction" else profile.features[feature]
        assert prof.counts is not None
        expected = bin_counts(values, prof.counts.edges)
        summed = np.array([bins_a[feature][i][0] + bins_b[feature][i][0]
                           for i in range(expected.size)])
        assert summed.tolist() == expected.tolist(), feature  # exact: plain counts add up
        shares = np.array([bins_a[feature][i][1] for i in range(expected.size)])
        assert shares == pytest.approx(prof.counts.counts / prof.counts.counts.sum(), abs=1e-15)
        assert [bins_b[feature][i][1] for i in range(expected.size)] == shares.tolist()
        fleet = psi_from_counts(prof.counts.counts, summed).statistic
        family = own.outputs if feature == "prediction" else own.features
        assert fleet == pytest.approx(family[feature].statistics["psi"].value, abs=1e-12)
    assert own.features["x0"].statistics["psi"].value > 0.02  # the shift shows, a real test


def test_the_counters_only_grow_as_windows_close(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, window="count:500")
    records = _records(make_rows(2000, seed=12), np.linspace(0, 1, 2000).tolist())
    seen: list[int] = []
    for i in range(0, 2000, 250):  # a window closes every other batch
        dm.ingest(records[i : i + 250])
        bins = _bins(dm.metric_points())
        total = sum(n for n, _ in bins["x1"].values())
        seen.append(total)
    assert seen == list(range(250, 2001, 250))  # the open window's rows included, none twice


def test_the_export_is_capped_and_can_be_turned_off(profile: drift.ReferenceProfile) -> None:
    records = _records(make_rows(300, seed=13), [0.5] * 300)
    few = drift.DriftMonitor(profile, window="count:1000", fleet_bins=2)
    few.ingest(records)
    assert set(_bins(few.metric_points())) == {"prediction", "x0"}  # outputs first
    off = drift.DriftMonitor(profile, window="count:1000", fleet_bins=0)
    off.ingest(records)
    assert not [p for p in off.metric_points() if p.name.startswith("inferwatch.drift.bin.")]
    for bad in (-1, 1.5, True, "8"):
        with pytest.raises(ValueError, match="fleet_bins must be a whole number"):
            drift.DriftMonitor(profile, fleet_bins=bad)  # type: ignore[arg-type]


def test_series_are_bounded_by_the_profile_not_the_traffic(
        profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, window="count:500")
    wild = make_rows(1000, seed=14, shift={"x2": 40.0})  # everything above the reference
    wild = [{**row, "x3": float("nan"), "surprise": 1.0} for row in wild]
    dm.ingest(_records(wild, [7.0] * 1000))
    points = [p for p in dm.metric_points() if p.name == "inferwatch.drift.bin.rows"]
    expected = sum(int(p.counts.counts.size) for p in (profile.outputs["prediction"],
                                                       *(profile.features[n] for n in NAMES)))
    assert len(points) == expected
    bins = _bins(points + [p for p in dm.metric_points()
                           if p.name == "inferwatch.drift.bin.reference"])
    assert bins["x2"][len(bins["x2"]) - 1][0] == 1000  # the overflow bin above
    assert sum(n for n, _ in bins["x3"].values()) == 0  # NaN is counted missing, not binned
    assert "surprise" not in bins


def test_a_warm_up_reference_exports_no_bins() -> None:
    # Each replica would freeze a different reference: a fleet PSI over them means nothing.
    dm = drift.DriftMonitor(None, window="count:200", warmup_rows=300)
    rows = make_rows(900, seed=15)
    dm.ingest(_records(rows, [0.5] * 900))
    assert not dm.report().warming_up
    assert not [p for p in dm.metric_points() if p.name.startswith("inferwatch.drift.bin.")]
