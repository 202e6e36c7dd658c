"""Fleet PSI computed by Prometheus from reference-bin counts equals inferwatch's PSI on all rows.

Two replicas count their rows of two features in the reference's frozen bins
(cumulative counters per bin, as ``inferwatch.drift.bin.rows`` exports
them; a bin a replica never saw has no series) and export the reference's
share per bin. ``promtool test rules`` evaluates the generated fleet-drift
rules on those series; the PSI it records must equal
``inferwatch.stats.psi(reference, rows of both replicas in the window)`` to
1e-9 when the window starts at a sample.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferwatch._catalogue import METRICS
from inferwatch.rules import RuleOptions, prometheus_rules, render
from inferwatch.rules._fleet_drift import BIN_REFERENCE, BIN_ROWS
from inferwatch.stats import bin_counts, psi, quantile_edges

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)")

MINUTES = 30
ROWS = {"a": 300, "b": 200}  # rows a minute on each replica
#: Live distributions: f0 shifts a little on one replica, f1 a lot on both (no live row
#: falls in its lowest reference bins, whose series never appear).
LIVE = {"f0": {"a": (0.4, 1.0), "b": (0.0, 1.2)}, "f1": {"a": (2.0, 0.5), "b": (2.0, 0.5)}}
_F = ("model.name", "model.version", "inferwatch.variant", "inferwatch.feature",
      "inferwatch.bin")


@pytest.fixture
def bin_metrics() -> Iterator[None]:
    """The two metrics as the drift engine declares them (importing it registers them)."""
    import inferwatch.drift  # noqa: F401

    assert METRICS[BIN_ROWS].kind == "counter" and METRICS[BIN_ROWS].attributes == _F
    assert METRICS[BIN_REFERENCE].kind == "gauge" and METRICS[BIN_REFERENCE].unit == "{ratio}"
    assert METRICS[BIN_REFERENCE].attributes == _F
    yield


def _rules(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r.get("record") or r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def test_no_fleet_drift_rules_without_the_bin_metrics(monkeypatch: pytest.MonkeyPatch,
                                                      bin_metrics: None) -> None:
    assert "inferwatch-fleet-drift" in {g["name"] for g in prometheus_rules([])["groups"]}
    monkeypatch.delitem(METRICS, BIN_ROWS)
    assert "inferwatch-fleet-drift" not in {g["name"] for g in prometheus_rules([])["groups"]}


def test_the_fleet_drift_rules(bin_metrics: None) -> None:
    doc = prometheus_rules([], RuleOptions(psi_window="10m", naming="collector"))
    assert doc["groups"][-1]["name"] == "inferwatch-fleet-drift"
    rules = {r.get("record") or r["alert"]: r for r in doc["groups"][-1]["rules"]}
    assert set(rules) == {"inferwatch:drift_bin_rows:increase10m",
                          "inferwatch:drift_bin_share:ratio_increase10m",
                          "inferwatch:drift_psi:increase10m", "InferwatchFleetFeatureDrift"}
    assert "increase(inferwatch_drift_bin_rows_total[10m])" in rules[
        "inferwatch:drift_bin_rows:increase10m"]["expr"]
    alert = rules["InferwatchFleetFeatureDrift"]
    assert alert["labels"]["severity"] == "P2"
    assert "> 0.2" in alert["expr"] and ">= 1000" in alert["expr"]
    assert "inferwatch_feature" in alert["annotations"]["summary"]


@pytest.mark.parametrize("window", ["1", "h", "0m", "1.5h", "10x"])
def test_a_bad_psi_window_is_refused(window: str) -> None:
    with pytest.raises(ValueError, match="psi window"):
        RuleOptions(psi_window=window)


class Fleet:
    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.reference = {f: rng.normal(size=20_000) for f in LIVE}
        self.edges = {f: quantile_edges(r, 10) for f, r in self.reference.items()}
        # rows[feature][replica][minute - 1]: the rows that arrived in that minute
        self.rows = {f: {r: [rng.normal(mu, sd, size=ROWS[r]) for _ in range(MINUTES)]
                         for r, (mu, sd) in by_replica.items()}
                     for f, by_replica in LIVE.items()}

    def union(self, feature: str, first: int, last: int) -> np.ndarray:
        """Every replica's rows that arrived in minutes first..last."""
        return np.concatenate([np.concatenate(minutes[first - 1:last])
                               for minutes in self.rows[feature].values()])

    def series(self) -> list[dict[str, str]]:
        out = []
        for feature, by_replica in self.rows.items():
            edges = self.edges[feature]
            ref = bin_counts(self.reference[feature], edges)
            shares = ref / ref.sum()
            for replica, minutes in by_replica.items():
                labels = (f'model_name="churn", model_version="1", inferwatch_feature='
                          f'"{feature}", instance="{replica}"')
                out.extend(_bin_series(labels, edges, minutes, shares, MINUTES))
        return out


def _bin_series(labels: str, edges: np.ndarray, minutes: list[np.ndarray], shares: np.ndarray,
                span: int, *, skip_empty: bool = True) -> list[dict[str, str]]:
    """promtool input series of one replica's bin counters (cumulative per minute) and
    the reference shares, under the given labels."""
    cumulative = np.cumsum([np.zeros(edges.size + 1, dtype=np.int64)]
                           + [bin_counts(m, edges) for m in minutes], axis=0)
    out = []
    for b in range(edges.size + 1):
        if cumulative[-1, b] or not skip_empty:  # a bin never counted has no series at all
            out.append({"series": f'inferwatch_drift_bin_rows_total{{{labels}, '
                                  f'inferwatch_bin="{b}"}}',
                        "values": " ".join(map(str, cumulative[:, b]))})
        out.append({"series": f'inferwatch_drift_bin_reference{{{labels}, '
                              f'inferwatch_bin="{b}"}}',
                    "values": f"{float(shares[b])!r}+0x{span}"})
    return out


def _promtool(tmp_path: Path, rules: str, series: list[dict[str, str]],
              expr_tests: list[dict[str, Any]], alert_tests: list[dict[str, Any]]) -> None:
    (tmp_path / "rules.yml").write_text(rules)
    test = {"rule_files": ["rules.yml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series,
                       "promql_expr_test": expr_tests, "alert_rule_test": alert_tests}]}
    (tmp_path / "test.yml").write_text(json.dumps(test))
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


@needs_promtool
def test_fleet_psi_equals_psi_on_the_union_of_the_replicas_rows(
        tmp_path: Path, bin_metrics: None) -> None:
    fleet = Fleet()
    doc = prometheus_rules([], RuleOptions(psi_window="10m"))
    expr_tests = []
    # 10m windows that start at a sample: minutes 1-10 (from the counters' start), 11-20
    # and 21-30, and at minute 5 the first five (the window reaches before the start).
    for at, first in ((10, 1), (20, 11), (30, 21), (5, 1)):
        for feature in LIVE:
            exact = psi(fleet.reference[feature], fleet.union(feature, first, at)).statistic
            labels = (f'{{inferwatch_feature="{feature}", model_name="churn", '
                      f'model_version="1"}}')
            expr_tests.append({
                "expr": f'round(inferwatch:drift_psi:increase10m{{inferwatch_feature='
                        f'"{feature}"}} * 1e9)',
                "eval_time": f"{at}m",
                "exp_samples": [{"labels": labels, "value": round(exact * 1e9)}],
            })
    psis = {f: psi(fleet.reference[f], fleet.union(f, 1, 10)).statistic for f in LIVE}
    assert psis["f0"] < 0.2 < psis["f1"]  # the scenario: one feature drifts past 0.2
    # 500 rows a minute: 1000 rows by minute 2, then 15m for.
    alert_tests = [{"eval_time": f"{m}m", "alertname": "InferwatchFleetFeatureDrift",
                    "exp_alerts": [{"exp_labels": {
                        "model_name": "churn", "model_version": "1",
                        "inferwatch_feature": "f1", "severity": "P2"}}] if m >= 17 else []}
                   for m in range(0, MINUTES + 1)]
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)  # promtool compares rendered annotations
    _promtool(tmp_path, render(doc), fleet.series(), expr_tests, alert_tests)
    print(f"\nfleet PSI over minutes 1-10: f0 {psis['f0']:.6f}, f1 {psis['f1']:.6f}")


@needs_promtool
def test_each_variant_gets_its_own_fleet_psi(tmp_path: Path, bin_metrics: None) -> None:
    # One version, two A/B variants on one replica: only the treatment's rows shift.
    rng = np.random.default_rng(7)
    reference = rng.normal(size=20_000)
    edges = quantile_edges(reference, 10)
    ref = bin_counts(reference, edges)
    live = {"control": [rng.normal(0.0, 1.0, 500) for _ in range(10)],
            "treatment": [rng.normal(1.0, 1.0, 500) for _ in range(10)]}
    series = []
    for variant, minutes in live.items():
        labels = (f'model_name="churn", model_version="1", inferwatch_variant="{variant}", '
                  'inferwatch_feature="f0", instance="a"')
        series.extend(_bin_series(labels, edges, minutes, ref / ref.sum(), 10,
                                  skip_empty=False))
    expected = {v: psi(reference, np.concatenate(m)).statistic for v, m in live.items()}
    assert expected["control"] < 0.05 < 0.5 < expected["treatment"]
    expr_tests = [{
        "expr": "round(inferwatch:drift_psi:increase10m * 1e9)", "eval_time": "10m",
        "exp_samples": [{"labels": f'{{inferwatch_feature="f0", inferwatch_variant="{v}", '
                                   'model_name="churn", model_version="1"}',
                         "value": round(value * 1e9)} for v, value in expected.items()],
    }]
    doc = prometheus_rules([], RuleOptions(psi_window="10m"))
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    _promtool(tmp_path, render(doc), series, expr_tests, [])
