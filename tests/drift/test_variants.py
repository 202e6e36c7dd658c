"""A/B variants of one model version kept apart: their own windows, reports and series."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from driftdata import make_rows

import inferwatch
import inferwatch.drift as drift
from inferwatch import Monitor
from inferwatch._capture import new_record
from inferwatch._variants import MAX_VARIANTS

VARIANT = "inferwatch.variant"


def _records(rows: list[dict[str, Any]], variant: Any = None, *, version: str = "1",
             static: dict[str, str] | None = None, predictions: Any = None) -> list[Any]:
    mon = Monitor(metrics_exporter="none", enabled=False)
    endpoint = mon.endpoint("m", version, static or {})
    out = []
    for i, row in enumerate(rows):
        r = new_record(endpoint)
        r.features = row
        r.prediction = 0.5 if predictions is None else float(predictions[i])
        if variant is not None:
            r.attributes = {"variant": variant}
        out.append(r)
    mon.shutdown()
    return out


def _interleaved(*streams: list[Any], chunk: int = 100) -> list[list[Any]]:
    n = max(len(s) for s in streams)
    return [[r for s in streams for r in s[i : i + chunk]] for i in range(0, n, chunk)]


def _points(points: list[Any], name: str, **attrs: Any) -> list[Any]:
    return [p for p in points if p.name == name
            and all(p.attributes.get(k) == v for k, v in attrs.items())]


def _clock() -> float:
    return 0.0  # window times out of the comparisons


def _comparable(report: drift.DriftReport) -> dict[str, Any]:
    out = report.to_dict()
    out.pop("compute_seconds")
    return out


# -- kept apart ---------------------------------------------------------------------------


def test_only_the_shifted_treatment_drifts(profile: drift.ReferenceProfile) -> None:
    # One model version, two variants: only the treatment's inputs shift.
    control_rows = make_rows(1500, seed=60)
    control = _records(control_rows, "control")
    treatment = _records(make_rows(1500, seed=61, shift={"x1": 1.0}), "treatment")
    dm = drift.DriftMonitor(profile, window="count:1000", clock=_clock)
    for batch in _interleaved(control, treatment):
        dm.ingest(batch)
    reports = dm.reports()
    assert set(reports) == {("m", "1", "control"), ("m", "1", "treatment")}
    ctrl, treat = reports[("m", "1", "control")], reports[("m", "1", "treatment")]
    assert ctrl.window is not None and treat.window is not None
    assert (ctrl.window.rows, treat.window.rows) == (1000, 1000)  # never 2000 in one window
    assert ctrl.features["x1"].status == "ok" and treat.features["x1"].status == "drift"
    assert (ctrl.variant, treat.variant) == ("control", "treatment")
    assert treat.to_dict()["variant"] == "treatment"
    assert dm.report(variant="treatment").features["x1"].drifted
    with pytest.raises(ValueError, match="variant="):
        dm.report()
    # The control's report is the one it would have without the treatment beside it.
    alone = drift.DriftMonitor(profile, window="count:1000", clock=_clock)
    alone.ingest(_records(control_rows, "control"))
    assert _comparable(alone.report(variant="control")) == _comparable(ctrl)
    # Every series says which variant it is about.
    points = dm.metric_points()
    assert points and all(p.attributes.get(VARIANT) in ("control", "treatment")
                          for p in points if p.name.startswith(("inferwatch.drift",
                                                                "inferwatch.data_quality")))
    status = {p.attributes[VARIANT]: p.value for p in _points(
        points, "inferwatch.drift.status", **{"inferwatch.feature": "x1"})}
    assert status == {"control": 0, "treatment": 2}
    bins = _points(points, "inferwatch.drift.bin.rows", **{"inferwatch.feature": "x1"})
    assert {p.attributes[VARIANT] for p in bins} == {"control", "treatment"}
    assert sum(p.value for p in bins) == 3000  # each variant's rows, none counted twice
    # History, digests and open windows per variant.
    assert [r.variant for r in dm.history(variant="treatment")] == ["treatment"]
    digests = dm.window_digests(variant="treatment")
    assert [(d["variant"], d["window"]) for d in digests] == [("treatment", 0)]
    assert {d["variant"] for d in dm.window_digests()} == {"control", "treatment"}
    assert dm.open_windows() == {("m", "1", "control"): 1, ("m", "1", "treatment"): 1}


def test_records_without_a_variant_are_as_before(profile: drift.ReferenceProfile) -> None:
    rows = make_rows(2500, seed=62, shift={"x0": 0.3})
    on = drift.DriftMonitor(profile, window="count:1000", clock=_clock)
    off = drift.DriftMonitor(profile, window="count:1000", variant_key=None, clock=_clock)
    for dm in (on, off):
        for i in range(0, 2500, 250):
            dm.ingest(_records(rows[i : i + 250]))
    assert set(on.reports()) == set(off.reports()) == {("m", "1")}
    assert on.report().variant == ""
    assert [_comparable(r) for r in on.history()] == [_comparable(r) for r in off.history()]
    assert _comparable(on.report(window="open")) == _comparable(off.report(window="open"))
    assert on.open_windows() == off.open_windows() == {("m", "1"): 2}
    # The same series as with variants off, each saying it is about no variant.
    def series(dm: drift.DriftMonitor) -> list[Any]:
        return sorted((p.name, sorted(p.attributes.items()), p.value) for p in dm.metric_points())

    assert series(on) == series(off)
    (x0,) = _points(on.metric_points(), "inferwatch.drift.status", **{"inferwatch.feature": "x0"})
    assert x0.attributes == {"model.name": "m", "model.version": "1", VARIANT: "",
                             "inferwatch.feature": "x0"}
    assert all(p.attributes[VARIANT] == "" for p in on.metric_points()
               if p.name != "inferwatch.self.dropped")


def test_the_variant_comes_from_the_call_then_the_endpoint(
        profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile)
    static = _records(make_rows(30, seed=63), static={"variant": "b"})
    override = _records(make_rows(20, seed=64), "a", static={"variant": "b"})
    other_key = _records(make_rows(10, seed=65))
    for r in other_key:
        r.attributes = {"segment": "x"}  # attributes, but no variant among them
    dm.ingest(static + override + other_key)
    rows = {key: r.window.rows for key, r in dm.reports(window="open").items()
            if r.window is not None}
    assert rows == {("m", "1", "a"): 20, ("m", "1", "b"): 30, ("m", "1"): 10}


@pytest.mark.parametrize(("value", "expected"), [
    (3, "3"), (True, "True"), ("alice@example.com", "_redacted"), ({"arm": "b"}, "_redacted"),
    (float("nan"), None), ("", None),
])
def test_variant_values_are_read_as_the_label_join_reads_them(
        profile: drift.ReferenceProfile, value: Any, expected: str | None) -> None:
    dm = drift.DriftMonitor(profile)
    dm.ingest(_records(make_rows(5, seed=66), value))
    assert set(dm.reports()) == {("m", "1", expected) if expected else ("m", "1")}


def test_variants_past_the_cap_are_counted_as_other(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile)
    rows = make_rows(5, seed=67)
    for i in range(MAX_VARIANTS + 4):
        dm.ingest(_records(rows, f"arm-{i}"))
    dm.ingest(_records(rows, "arm-0"))  # a kept variant stays kept
    keys = set(dm.reports())
    assert len(keys) == MAX_VARIANTS + 1 == 17
    assert ("m", "1", "_other") in keys and ("m", "1", f"arm-{MAX_VARIANTS}") not in keys
    windows = dm.reports(window="open")
    assert windows[("m", "1", "_other")].window.rows == 4 * 5  # type: ignore[union-attr]
    assert windows[("m", "1", "arm-0")].window.rows == 2 * 5  # type: ignore[union-attr]
    assert drift.DriftMonitor(profile, max_variants=2).max_variants == 2


def test_max_models_counts_versions_not_variants(profile: drift.ReferenceProfile) -> None:
    dm = drift.DriftMonitor(profile, max_models=1)
    rows = make_rows(10, seed=68)
    dm.ingest(_records(rows, "control") + _records(rows, "treatment"))
    dm.ingest(_records(rows, "control", version="2"))
    assert set(dm.reports()) == {("m", "1", "control"), ("m", "1", "treatment")}
    dropped = _points(dm.metric_points(), "inferwatch.self.dropped",
                      **{"inferwatch.reason": "drift_models_full"})
    assert [p.value for p in dropped] == [10]


@pytest.mark.parametrize("option", ["pii_fields", "drop_fields"])
def test_a_variant_key_kept_out_of_the_output_is_never_read(
        make_monitor: Any, profile: drift.ReferenceProfile, option: str) -> None:
    mon = make_monitor(**{option: ["Variant"]}, pii_key=b"k" * 32, pii_key_id="1")
    dm = drift.DriftMonitor(profile).attach(mon)
    _serve_treatment(mon)
    assert set(dm.reports()) == {("m", "1")}
    assert {p.attributes[VARIANT] for p in dm.metric_points()
            if VARIANT in p.attributes} == {""}
    dm.close()
    # The same calls through a monitor that logs the key: two streams apart.
    plain = make_monitor()
    watched = drift.DriftMonitor(profile).attach(plain)
    _serve_treatment(plain)
    assert set(watched.reports()) == {("m", "1", "treatment")}
    watched.close()


def _serve_treatment(mon: Any) -> None:
    """Twenty calls of variant "treatment", flushed."""

    @inferwatch.monitor(model="m", version="1", monitor=mon, features="row")
    def predict(row: dict[str, Any]) -> float:
        inferwatch.set_attribute("variant", "treatment")
        return 0.5

    for row in make_rows(20, seed=69):
        predict(row)
    mon.flush()


def test_bad_variant_options_are_refused() -> None:
    for options in ({"variant_key": ""}, {"max_variants": 0}, {"max_variants": True},
                    {"reference_variant": ""}):
        with pytest.raises(ValueError):
            drift.DriftMonitor(**options)  # type: ignore[arg-type]


# -- one reference per version ---------------------------------------------------------------


def test_variants_share_the_reference_their_version_warmed_up() -> None:
    dm = drift.DriftMonitor(window="count:500", warmup_rows=400)
    warm_c = _records(make_rows(200, seed=70), "control")
    warm_t = _records(make_rows(200, seed=71), "treatment")
    dm.ingest(warm_c[:100] + warm_t[:100])
    assert dm.report(variant="treatment").warming_up
    assert dm.report(variant="control").warmup_rows == 200  # one warm-up for both
    dm.ingest(warm_c[100:] + warm_t[100:])
    assert dm.profile is not None and dm.profile.n_rows == 400  # frozen once, from both
    live_c = _records(make_rows(500, seed=72), "control")
    live_t = _records(make_rows(500, seed=73, shift={"x2": 1.5}), "treatment")
    for batch in _interleaved(live_c, live_t):
        dm.ingest(batch)
    ctrl, treat = dm.report(variant="control"), dm.report(variant="treatment")
    assert ctrl.reference_rows == treat.reference_rows == 400
    assert ctrl.features["x2"].status == "ok" and treat.features["x2"].status == "drift"
    # A variant first seen after the warm-up is compared with the same reference.
    dm.ingest(_records(make_rows(20, seed=74), "late"))
    late = dm.report(variant="late", window="open")
    assert not late.warming_up and late.reference_rows == 400


def test_the_reference_variant_alone_warms_the_reference_up() -> None:
    dm = drift.DriftMonitor(window="count:500", warmup_rows=200, reference_variant="control")
    dm.ingest(_records(make_rows(150, seed=75), "control")
              + _records(make_rows(150, seed=76, shift={"x0": 3.0}), "treatment"))
    # 300 rows seen, but only the control's 150 count towards the reference.
    assert dm.report(variant="treatment").warming_up
    assert dm.report(variant="control").warmup_rows == 150
    dm.ingest(_records(make_rows(100, seed=77), "control"))
    assert dm.profile is not None and dm.profile.n_rows == 250
    assert abs(dm.profile.features["x0"].summary()["mean"]) < 0.3  # the treatment's shift: no


# -- side by side --------------------------------------------------------------------------


def test_by_variant_compares_each_treatment_with_the_control(
        profile: drift.ReferenceProfile) -> None:
    rng = np.random.default_rng(78)
    dm = drift.DriftMonitor(profile, window="count:1000")
    control = _records(make_rows(1000, seed=79), "control", predictions=rng.random(1000))
    same = _records(make_rows(1000, seed=80), "same", predictions=rng.random(1000))
    higher = _records(make_rows(1000, seed=81, shift={"x3": 1.0}), "higher",
                      predictions=rng.random(1000) ** 0.3)
    for batch in _interleaved(control, same, higher):
        dm.ingest(batch)
    dm.ingest(_records(make_rows(10, seed=82)))  # rows of no variant are left out
    view = dm.by_variant("control")
    assert set(view) == {"control", "same", "higher"}
    assert "vs_control" not in view["control"]
    assert view["higher"]["status"] != "ok" and view["higher"]["psi_max"] > 0.2
    assert view["control"]["psi_max"] < 0.1 and view["control"]["window"] == 0
    assert view["control"]["rows"] == 1000
    assert 0.45 < view["control"]["prediction"]["mean"] < 0.55
    assert view["higher"]["prediction"]["p50"] > 0.7
    vs_same, vs_higher = view["same"]["vs_control"], view["higher"]["vs_control"]
    assert vs_same["control"] == "control" and vs_same["test"] == "ks"
    assert vs_same["psi"] < 0.05 and vs_same["pvalue"] > 0.01
    assert vs_higher["psi"] > 0.5 and vs_higher["pvalue"] < 1e-6
    assert vs_higher["rows"] == vs_higher["control_rows"] == 1000
    # Without a control: no comparison; an unknown control: None.
    assert "vs_control" not in dm.by_variant()["higher"]
    assert dm.by_variant("nobody")["higher"]["vs_control"] is None


def test_the_variant_attribute_is_the_one_labels_and_experiments_use() -> None:
    from inferwatch.drift._metrics import VARIANT as DRIFT_VARIANT
    from inferwatch.experiments._watch import VARIANT as EXPERIMENT_VARIANT
    from inferwatch.labels._metrics import VARIANT as LABEL_VARIANT

    assert DRIFT_VARIANT == LABEL_VARIANT == EXPERIMENT_VARIANT == VARIANT
