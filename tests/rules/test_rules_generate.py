"""``inferwatch rules prometheus``: what the generated rule file holds, on both naming schemes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from inferwatch._catalogue import METRICS
from inferwatch.cli import main
from inferwatch.rules import BURN_WINDOWS, RuleOptions, prometheus_rules, render
from inferwatch.slo import SLO

yaml = pytest.importorskip("yaml")

SLOS = [
    SLO("churn-availability", "availability", 0.999, model="churn"),
    SLO("churn-latency", "latency", 0.99, threshold_ms=1000, model="churn", version="3"),
    SLO("churn-drift", "drift", 0.95, window="7d", model="churn"),
    SLO("churn-quality", "quality", 0.9, model="churn", metric="accuracy", baseline=0.9),
]

OPENSLO = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: churn-availability
  annotations:
    inferwatch/kind: availability
    inferwatch/model: churn
spec:
  indicator: {metadata: {name: calls}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.999}]
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: churn-latency
  annotations: {inferwatch/model: churn}
spec:
  indicator: {metadata: {name: latency}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99, op: lte, value: 300}]
"""

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)")


def _rules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _slo_records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The SLO recording rules (the fleet drift group's records carry no SLO labels)."""
    return [r for r in _rules(doc) if "record" in r and "inferwatch_slo_name" in r.get(
        "labels", {})]


def _alerts(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rule in _rules(doc):
        if "alert" in rule:
            out.setdefault(rule["alert"], []).append(rule)
    return out


def _check(path: Path) -> str:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_written_yaml_is_the_document() -> None:
    doc = prometheus_rules(SLOS)
    assert yaml.safe_load(render(doc, "a header\nof two lines")) == doc


def test_recording_rules_per_slo_and_window() -> None:
    doc = prometheus_rules(SLOS)
    records: dict[str, set[str]] = {}
    for rule in _slo_records(doc):
        if "record" in rule:
            records.setdefault(rule["labels"]["inferwatch_slo_name"], set()).add(rule["record"])
            assert rule["labels"]["inferwatch_slo_kind"] in ("availability", "latency", "drift",
                                                             "quality")
    assert set(records) == {"churn-availability", "churn-latency", "churn-drift",
                            "churn-quality"}
    for name, window in (("churn-availability", "30d"), ("churn-latency", "30d"),
                         ("churn-drift", "7d"), ("churn-quality", "30d")):
        expected = {"inferwatch:slo_objective:ratio",
                    "inferwatch:slo_error_budget_remaining:ratio",
                    f"inferwatch:slo_sli_error:ratio_rate{window}"}
        for w in BURN_WINDOWS:
            expected |= {f"instance:inferwatch_slo_sli_error:ratio_rate{w}",
                         f"inferwatch:slo_sli_error:ratio_rate{w}",
                         f"inferwatch:slo_burn_rate:ratio_rate{w}"}
        assert records[name] == expected, name


@pytest.mark.parametrize("slo", [
    SLO("churn-fresh", "freshness", 0.99, max_age="30d", model="churn"),
    SLO("churn-accuracy", "quality", 0.95, model="churn", metric="accuracy", baseline=0.9),
], ids=["freshness", "quality"])
def test_freshness_and_quality_come_from_the_sdks_slo_events(slo: SLO) -> None:
    doc = prometheus_rules([slo])
    ratio = next(r["expr"] for r in _rules(doc)
                 if r.get("record") == "inferwatch:slo_sli_error:ratio_rate1h")
    assert ('inferwatch_slo_events_total{model_name="churn", '
            f'inferwatch_slo_name="{slo.name}", inferwatch_slo_event="bad"}}[1h]') in ratio


def test_an_slo_window_that_is_a_burn_window_is_recorded_once() -> None:
    doc = prometheus_rules([SLO("a", "availability", 0.99, window="1d")])
    names = [r["record"] for r in _rules(doc) if "record" in r]
    assert names.count("inferwatch:slo_sli_error:ratio_rate1d") == 1
    assert len(names) == len(set(names))


def test_the_sli_queries() -> None:
    doc = prometheus_rules(SLOS)
    by = {(r["record"], r["labels"]["inferwatch_slo_name"]): r["expr"]
          for r in _slo_records(doc)}
    avail = by[("inferwatch:slo_sli_error:ratio_rate5m", "churn-availability")]
    assert ('inferwatch_predict_calls_total{model_name="churn", inferwatch_outcome="error"}[5m]'
            in avail)
    latency = by[("inferwatch:slo_sli_error:ratio_rate1h", "churn-latency")]
    assert ('inferwatch_predict_duration_seconds_bucket{model_name="churn", model_version="3", '
            'inferwatch_outcome="ok", le="1.0"}[1h]') in latency
    assert 'inferwatch_predict_duration_seconds_count{model_name="churn", model_version="3"}' in (
        latency)
    drift = by[("inferwatch:slo_sli_error:ratio_rate7d", "churn-drift")]
    assert 'inferwatch_drift_status="drift"' in drift and "increase(" in drift
    assert 'inferwatch_drift_status!="no_data"' in drift
    per_replica = by[("instance:inferwatch_slo_sli_error:ratio_rate5m", "churn-availability")]
    assert "sum by (instance)" in per_replica
    assert "by (" not in avail  # the fleet: summed over every replica
    budget = by[("inferwatch:slo_error_budget_remaining:ratio", "churn-availability")]
    assert budget == ('1 - inferwatch:slo_sli_error:ratio_rate30d'
                      '{inferwatch_slo_name="churn-availability"} / 0.001')
    assert by[("inferwatch:slo_objective:ratio", "churn-latency")] == "vector(0.99)"


def test_the_naming_schemes_differ_where_the_paths_do() -> None:
    exporter = prometheus_rules(SLOS, RuleOptions(naming="otel-prometheus"))
    collector = prometheus_rules(SLOS, RuleOptions(naming="collector"))
    differ = []
    for a, b in zip(_rules(exporter), _rules(collector), strict=True):
        if a != b:
            differ.append(a.get("record") or a["alert"])
            if "record" in a:  # only the latency SLO's bucket, at 1 s: le="1.0" against "1"
                assert a["labels"]["inferwatch_slo_name"] == "churn-latency"
                assert 'le="1.0"' in a["expr"]
                assert a["expr"].replace('le="1.0"', 'le="1"') == b["expr"]
    # The error ratios over the 7 burn windows (per replica and fleet) and the SLO window.
    assert len(differ) == 2 * len(BURN_WINDOWS) + 1 + 1
    assert differ[-1] == "InferwatchEndpointDown"
    down = {n: _alerts(d)["InferwatchEndpointDown"][0]["expr"]
            for n, d in (("exporter", exporter), ("collector", collector))}
    assert down["exporter"].startswith("up == 0")  # each replica is a scrape target
    assert "unless" in down["collector"] and "up" not in down["collector"].split()


def test_burn_alerts_follow_the_workbook() -> None:
    alerts = _alerts(prometheus_rules(SLOS))
    expected = {"InferwatchBudgetBurnPage1h": ("14.4", "1h", "5m", "page", "P1"),
                "InferwatchBudgetBurnPage6h": ("6", "6h", "30m", "page", "P1"),
                "InferwatchBudgetBurnTicket1d": ("3", "1d", "2h", "ticket", "P2"),
                "InferwatchBudgetBurnTicket3d": ("1", "3d", "6h", "ticket", "P2")}
    for name, (factor, long, short, notify, severity) in expected.items():
        rules = alerts[name]
        assert len(rules) == 4  # one per SLO (quality from the SDK's events)
        for rule in rules:
            assert rule["expr"].splitlines() == [
                f'inferwatch:slo_burn_rate:ratio_rate{long}{{inferwatch_slo_name='
                f'"{rule["labels"]["inferwatch_slo_name"]}"}} > {factor}', "and",
                f'inferwatch:slo_burn_rate:ratio_rate{short}{{inferwatch_slo_name='
                f'"{rule["labels"]["inferwatch_slo_name"]}"}} > {factor}']
            assert (rule["labels"]["notify"], rule["labels"]["severity"]) == (notify, severity)


def test_burn_rates_are_configurable() -> None:
    doc = prometheus_rules(SLOS[:1], RuleOptions(burn_factors=(10, 5, 2.5, 1.5)))
    exprs = {n: r[0]["expr"] for n, r in _alerts(doc).items() if "Burn" in n}
    assert "> 10\n" in exprs["InferwatchBudgetBurnPage1h"]
    assert exprs["InferwatchBudgetBurnTicket3d"].endswith("> 1.5")


def test_every_alert_has_a_tier_summary_description_runbook_and_for() -> None:
    doc = prometheus_rules(SLOS, RuleOptions(runbook="https://runbooks.internal/ml"))
    alerts = _alerts(doc)
    tiers = {rule["labels"]["severity"] for rules in alerts.values() for rule in rules}
    assert tiers == {"P0", "P1", "P2", "P3"}
    for name, rules in alerts.items():
        for rule in rules:
            assert re.fullmatch(r"\d+[smhd]", rule["for"]), name
            notes = rule["annotations"]
            assert notes["summary"] and notes["description"], name
            assert notes["runbook_url"] == f"https://runbooks.internal/ml/{name}"
            assert "@model" not in notes["summary"] + notes["description"]
    tier = {name: rules[0]["labels"]["severity"] for name, rules in alerts.items()}
    assert tier == {
        "InferwatchNoSuccessfulPredictions": "P0", "InferwatchEndpointDown": "P0",
        "InferwatchHighErrorRate": "P0", "InferwatchLatencyP99FarOverSLO": "P0",
        "InferwatchBudgetBurnPage1h": "P1", "InferwatchBudgetBurnPage6h": "P1",
        "InferwatchPredictionDrift": "P1", "InferwatchHealthRed": "P1",
        "InferwatchBudgetBurnTicket1d": "P2", "InferwatchBudgetBurnTicket3d": "P2",
        "InferwatchFeatureDrift": "P2", "InferwatchConfidenceFalling": "P2",
        "InferwatchInFlightSaturation": "P2",
        "InferwatchAnomaly": "P2", "InferwatchFleetFeatureDrift": "P2",
        "InferwatchMinorDrift": "P3", "InferwatchDriftWarning": "P3",
        "InferwatchHealthYellow": "P3",
    }
    p99 = alerts["InferwatchLatencyP99FarOverSLO"][0]["expr"]
    assert p99.endswith("> 5") and "histogram_quantile(0.99" in p99  # 5 x 1000 ms in seconds


def test_health_alerts_follow_the_health_status(monkeypatch: pytest.MonkeyPatch) -> None:
    alerts = _alerts(prometheus_rules(SLOS))
    assert alerts["InferwatchHealthRed"][0]["expr"] == "inferwatch_health_status == 2"
    assert alerts["InferwatchHealthRed"][0]["labels"]["severity"] == "P1"
    assert alerts["InferwatchHealthYellow"][0]["expr"] == "inferwatch_health_status == 1"
    assert alerts["InferwatchHealthYellow"][0]["labels"]["severity"] == "P3"
    monkeypatch.delitem(METRICS, "inferwatch.health.status")  # a version without health
    alerts = _alerts(prometheus_rules(SLOS))
    assert "InferwatchHealthRed" not in alerts and "InferwatchHealthYellow" not in alerts


def test_anomaly_alert_follows_the_anomaly_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    alerts = _alerts(prometheus_rules([]))
    assert alerts["InferwatchAnomaly"][0]["expr"] == "inferwatch_anomaly_alarm == 1"
    assert alerts["InferwatchAnomaly"][0]["labels"]["severity"] == "P2"
    assert "inferwatch_anomaly_signal" in alerts["InferwatchAnomaly"][0]["annotations"]["summary"]
    monkeypatch.delitem(METRICS, "inferwatch.anomaly.alarm")
    assert "InferwatchAnomaly" not in _alerts(prometheus_rules([]))


def test_scale_shrinks_windows_and_keeps_names() -> None:
    doc = prometheus_rules(SLOS[:1], RuleOptions(scale=1 / 60))
    by = {r.get("record") or r["alert"]: r for r in _rules(doc)}
    assert "[1m]" in by["inferwatch:slo_sli_error:ratio_rate1h"]["expr"]
    assert "[5s]" in by["inferwatch:slo_sli_error:ratio_rate5m"]["expr"]
    assert "[12h]" in by["inferwatch:slo_sli_error:ratio_rate30d"]["expr"]
    assert by["InferwatchBudgetBurnPage1h"]["for"] == "2s"


@pytest.mark.parametrize("options", [
    {"naming": "prom"}, {"scale": 0}, {"scale": 2}, {"burn_factors": (1, 2, 3)},
    {"burn_factors": (14.4, 6, 3, -1)}, {"error_rate": 1.5}, {"confidence_drop": 0},
    {"max_in_flight": 0},
])
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RuleOptions(**options)


def test_two_slos_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        prometheus_rules([SLOS[0], SLOS[0]])


# -- the command line ---------------------------------------------------------------


@pytest.mark.parametrize("naming", ["otel-prometheus", "collector"])
def test_cli_writes_rules_promtool_accepts(tmp_path: Path, naming: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    slo_file = tmp_path / "slos.yaml"
    slo_file.write_text(OPENSLO)
    out = tmp_path / "rules.yml"
    assert main(["rules", "prometheus", "--slo", str(slo_file), "--out", str(out),
                 "--naming", naming]) == 0
    doc = yaml.safe_load(out.read_text())
    assert {r["labels"]["inferwatch_slo_name"] for r in _slo_records(doc)} == {
        "churn-availability", "churn-latency"}
    latency = next(r["expr"] for r in _rules(doc)
                   if r.get("record") == "inferwatch:slo_sli_error:ratio_rate5m"
                   and r["labels"]["inferwatch_slo_name"] == "churn-latency")
    assert 'le="0.3"' in latency
    assert f"naming {naming}" in out.read_text().splitlines()[0]
    assert "wrote" in capsys.readouterr().err
    if PROMTOOL is not None:
        assert "SUCCESS" in _check(out)


def test_cli_without_slos_writes_model_alerts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "prometheus", "--scale", "1/60", "--burn-rates", "10,5,2,1"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    # No SLO, no SLO group; the fleet drift rules need none.
    assert [g["name"] for g in doc["groups"]] == ["inferwatch-model-alerts",
                                                  "inferwatch-fleet-drift"]


def test_cli_says_which_slos_get_no_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from inferwatch._catalogue import METRICS

    slo_file = tmp_path / "slos.yaml"
    quality = OPENSLO.split("---")[0].replace(
        "inferwatch/kind: availability",
        'inferwatch/kind: quality\n    inferwatch/metric: accuracy\n    inferwatch/baseline: "0.9"')
    assert "inferwatch/metric" in quality
    slo_file.write_text(quality)
    assert main(["rules", "prometheus", "--slo", str(slo_file)]) == 0
    captured = capsys.readouterr()
    assert "no Prometheus rules" not in captured.err  # quality reads inferwatch.slo.events
    assert 'inferwatch_slo_name="churn-availability"' in captured.out
    # Without the metric that counts its events, an SLO gets no rules, and the command says so.
    monkeypatch.delitem(METRICS, "inferwatch.slo.events")
    assert main(["rules", "prometheus", "--slo", str(slo_file)]) == 0
    assert "no Prometheus rules for churn-availability" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["rules", "prometheus", "--naming", "prom"],
    ["rules", "prometheus", "--scale", "0"],
    ["rules", "prometheus", "--scale", "x"],
    ["rules", "prometheus", "--burn-rates", "14.4,6"],
    ["rules"],
])
def test_cli_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_cli_bad_slo_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slo_file = tmp_path / "slos.yaml"
    slo_file.write_text(OPENSLO.replace("target: 0.999", "target: 99.9"))
    assert main(["rules", "prometheus", "--slo", str(slo_file)]) == 1
    err = capsys.readouterr().err
    assert "slos.yaml" in err and "churn-availability" in err and "target" in err
    assert main(["rules", "prometheus", "--slo", str(tmp_path / "missing.yaml")]) == 1


@needs_promtool
def test_every_generated_variant_passes_promtool_check(tmp_path: Path) -> None:
    for naming in ("otel-prometheus", "collector"):
        for scale in (1.0, 1 / 60):
            path = tmp_path / f"{naming}-{scale:.3f}.yml"
            path.write_text(render(prometheus_rules(SLOS, RuleOptions(naming=naming,
                                                                      scale=scale))))
            assert "SUCCESS" in _check(path)
