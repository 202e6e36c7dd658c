"""The generated Grafana dashboards: names from the catalogue, queries that parse, a valid model.

What runs them against a real Prometheus with data is in
``tests/e2e/test_prometheus_fleet.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from exportedtools import NAMINGS, exported

from inferwatch.cli import main
from inferwatch.dashboards import AUDIENCES, grafana_dashboards, queries
from inferwatch.slo import SLO

SLOS = [SLO("churn-availability", "availability", 0.999, model="churn"),
        SLO("churn.latency (p99)", "latency", 0.99, threshold_ms=300, model="churn")]
#: Labels every series has or PromQL makes: the scrape's and the histogram buckets'.
ALWAYS = {"le", "instance", "job"}


def metric_tokens(expr: str) -> list[str]:
    """The series names an expression reads (recording rules' names included)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\bby \([^)]*\)", "", text)  # grouping labels
    text = re.sub(r"label_values\(([^,]*),[^)]*\)", r"\1", text)  # Grafana's variable query
    return re.findall(r"(?<![\w:$])(?:inferwatch|rpc)[\w:]*", text)


def used_labels(expr: str) -> set[str]:
    labels = set(re.findall(r"(\w+)\s*=~?\"", expr))
    for group in re.findall(r"\bby \(([^)]*)\)", expr):
        labels |= {k.strip() for k in group.split(",")}
    for group in re.findall(r"label_values\([^,]*,\s*(\w+)\)", expr):
        labels.add(group)
    return labels


def substituted(expr: str) -> str:
    """An expression as Grafana sends it: variables replaced by values."""
    return (expr.replace("$__rate_interval", "5s").replace("$__range", "1m")
            .replace("$model", ".*").replace("$version", ".*"))


@pytest.mark.parametrize("naming", NAMINGS)
def test_every_query_reads_only_exported_series_and_their_labels(naming: str) -> None:
    series = exported()[naming]
    recorded = {"inferwatch:slo_error_budget_remaining:ratio",
                "inferwatch:slo_burn_rate:ratio_rate1h", "inferwatch:slo_burn_rate:ratio_rate6h"}
    checked = 0
    for dashboard in grafana_dashboards(SLOS, naming).values():
        for expr in queries(dashboard):
            names = metric_tokens(expr)
            assert names, expr
            allowed = set(ALWAYS)
            for name in names:
                if name in recorded:  # written by `inferwatch rules prometheus`
                    allowed |= {"inferwatch_slo_name", "inferwatch_slo_kind"}
                    continue
                assert name in series, f"{name} is not exported ({naming}): {expr}"
                allowed |= series[name]
            assert used_labels(expr) <= allowed, (expr, used_labels(expr) - allowed)
            checked += 1
    assert checked > 30


def test_the_metric_token_reader_is_not_vacuous() -> None:
    assert metric_tokens('sum by (le) (rate(inferwatch_a_bucket{x="inferwatch_b"}[5m]))') == [
        "inferwatch_a_bucket"]
    assert "inferwatch_nope_total" not in exported()["otel-prometheus"]


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (Debian: apt-get install prometheus)")
@pytest.mark.parametrize("naming", NAMINGS)
def test_every_query_parses_in_promtool(tmp_path: Path, naming: str) -> None:
    # promtool parses the PromQL of recording rules: each query becomes one.
    rules = []
    for uid, dashboard in grafana_dashboards(SLOS, naming).items():
        for n, expr in enumerate(queries(dashboard)):
            if expr.startswith("label_values("):  # Grafana's own function, not PromQL
                inner = re.match(r"label_values\((.*),\s*\w+\)$", expr)
                assert inner, expr
                expr = inner.group(1)
            rules.append({"record": f"dashboard:{uid.replace('-', '_')}:q{n}",
                          "expr": substituted(expr)})
    path = tmp_path / "queries.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
    proc = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(rules)} rules found" in proc.stdout


def test_layout_ids_and_template_variables() -> None:
    dashboards = grafana_dashboards(SLOS)
    assert set(dashboards) == set(AUDIENCES)
    for uid, dashboard in dashboards.items():
        assert dashboard["uid"] == uid and len(uid) <= 40
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        cells: set[tuple[int, int]] = set()
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
            mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                    for y in range(grid["y"], grid["y"] + grid["h"])}
            assert not mine & cells, f"{panel['title']} overlaps another panel"
            cells |= mine
            for target in panel.get("targets", ()):
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                if "model_name" in target["expr"] and "inferwatch_slo" not in target["expr"]:
                    assert '=~"$model"' in target["expr"], target["expr"]
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["model"]["includeAll"] and variables["version"]["allValue"] == ".*"
        assert "$model" in variables["version"]["query"]  # versions of the chosen models


def test_slos_add_the_fleet_panels_with_their_names_escaped() -> None:
    without = grafana_dashboards()["inferwatch-engineering"]
    with_slos = grafana_dashboards(SLOS)["inferwatch-engineering"]
    assert not any("inferwatch:slo_" in q for q in queries(without))
    fleet = [q for q in queries(with_slos) if "inferwatch:slo_error_budget_remaining" in q]
    assert fleet == ['inferwatch:slo_error_budget_remaining:ratio{inferwatch_slo_name=~'
                     '"churn-availability|churn\\\\.latency \\\\(p99\\\\)"}']


def test_the_audiences_get_their_own_panels() -> None:
    titles = {uid: {p["title"] for p in d["panels"]} for uid, d in grafana_dashboards().items()}
    assert {"Calls per second", "Error ratio", "Predict latency p50 / p90 / p99",
            "In-flight calls", "Lost by inferwatch, by reason"} <= titles["inferwatch-engineering"]
    assert {"Drift status per feature", "PSI over time", "Prediction distribution",
            "Missing values"} <= titles["inferwatch-data-science"]
    assert {"Predictions served", "Health score", "Availability", "Cost per prediction",
            "Cost per hour, CPU and GPU"} <= titles["inferwatch-business"]


@pytest.mark.parametrize("naming", NAMINGS)
def test_the_cost_panel_divides_the_fleet_s_cost_by_its_predictions(naming: str) -> None:
    board = grafana_dashboards(naming=naming)["inferwatch-business"]
    (panel,) = [p for p in board["panels"] if p["title"] == "Cost per prediction"]
    fleet, per_replica = (t["expr"] for t in panel["targets"])
    series = exported()[naming]
    cost, predictions = metric_tokens(fleet)
    assert cost.startswith("inferwatch_cost_attributed") and cost in series
    assert predictions.startswith("inferwatch_predict_predictions") and predictions in series
    assert fleet.index(cost) < fleet.index("/") < fleet.index(predictions)
    assert metric_tokens(per_replica) == ["inferwatch_cost_per_prediction"]
    assert panel["fieldConfig"]["defaults"]["unit"] == "currencyUSD"


def test_the_json_model_survives_grafanas_own_types() -> None:
    # The Grafana Foundation SDK's generated types keep every field they know: a field
    # misspelt or misplaced here would be dropped on the way through.
    sdk = pytest.importorskip("grafana_foundation_sdk", reason="grafana-foundation-sdk "
                              "(the serving group, Python >= 3.11) is not installed")
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    assert sdk is not None
    register_default_plugins()

    def lost(ours: Any, theirs: Any, path: str = "") -> list[str]:
        if isinstance(ours, dict):
            if not isinstance(theirs, dict):
                return [path]
            return [m for k, v in ours.items()
                    for m in ([f"{path}.{k}"] if k not in theirs else lost(v, theirs[k],
                                                                             f"{path}.{k}"))]
        if isinstance(ours, list):
            if not isinstance(theirs, list) or len(ours) != len(theirs):
                return [path]
            return [m for n, (a, b) in enumerate(zip(ours, theirs, strict=True))
                    for m in lost(a, b, f"{path}[{n}]")]
        return [] if ours == theirs else [f"{path}: {ours!r} became {theirs!r}"]

    for uid, dashboard in grafana_dashboards(SLOS).items():
        # Row panels are a type of their own in the SDK; the panels are checked on their own.
        body = {k: v for k, v in dashboard.items() if k != "panels"}
        again = json.loads(json.dumps(Dashboard.from_json(body), cls=JSONEncoder))
        assert lost(body, again) == [], uid
        from grafana_foundation_sdk.models.dashboard import Panel, RowPanel

        for panel in dashboard["panels"]:
            kind = RowPanel if panel["type"] == "row" else Panel
            again = json.loads(json.dumps(kind.from_json(panel), cls=JSONEncoder))
            assert lost(panel, again) == [], (uid, panel["title"])


def test_the_command_writes_one_file_per_audience(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    slo_file = tmp_path / "slos.yaml"
    pytest.importorskip("yaml")
    slo_file.write_text(
        "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: churn-availability\n"
        "  annotations: {inferwatch/kind: availability, inferwatch/model: churn}\n"
        "spec:\n  indicator: {metadata: {name: calls}}\n"
        "  timeWindow: [{duration: 30d, isRolling: true}]\n  objectives: [{target: 0.99}]\n")
    out = tmp_path / "boards"
    assert main(["dashboard", "grafana", "--out", str(out), "--slo", str(slo_file),
                 "--naming", "collector"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{uid}.json" for uid in AUDIENCES)
    engineering = json.loads((out / "inferwatch-engineering.json").read_text())
    assert "naming collector" in engineering["description"]
    assert any('inferwatch_slo_name=~"churn-availability"' in q for q in queries(engineering))
    assert "wrote" in capsys.readouterr().err
