"""Every PromQL query in the runbook parses in promtool and reads only what the SDK exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from exportedtools import NAMINGS, exported
from runbooktools import ALWAYS, fenced, metric_tokens, used_labels

from inferwatch.rules import RuleOptions, prometheus_rules
from inferwatch.runbook import RUNBOOK_CHECKS, render_runbook
from inferwatch.runbook._queries import Queries
from inferwatch.slo import SLO

SLOS = [
    SLO("churn-availability", "availability", 0.999, model="churn"),
    SLO("churn-latency", "latency", 0.99, threshold_ms=250, model="churn"),
    SLO("churn-fresh", "freshness", 0.99, max_age="30d", model="churn"),
    SLO("churn-drift", "drift", 0.95, window="7d", model="churn"),
]
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)")


def _recorded(naming: str) -> set[str]:
    rules = prometheus_rules(SLOS, RuleOptions(naming=naming))
    return {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}


def _blocks(model: str, naming: str) -> list[str]:
    return fenced(render_runbook(model, SLOS, RuleOptions(naming=naming)), "promql")


@needs_promtool
@pytest.mark.parametrize("naming", NAMINGS)
def test_every_query_in_the_runbook_parses_in_promtool(tmp_path: Path, naming: str) -> None:
    # An odd model name too: its quote must be escaped in every selector.
    blocks = _blocks("churn", naming) + _blocks('we"ird\\model', naming)
    rules = [{"record": f"runbook:query:q{n}", "expr": expr} for n, expr in enumerate(blocks)]
    path = tmp_path / "queries.yml"
    path.write_text(json.dumps({"groups": [{"name": "runbook", "rules": rules}]}))
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout
    assert len(rules) > 2 * 50


@pytest.mark.parametrize("naming", NAMINGS)
def test_every_query_reads_only_exported_series_and_their_labels(naming: str) -> None:
    series = exported()[naming]
    recorded = _recorded(naming)
    checked = 0
    for expr in _blocks("churn", naming):
        names = metric_tokens(expr)
        assert names, expr
        allowed = set(ALWAYS)
        for name in names:
            if name in recorded:  # written by `inferwatch rules prometheus`
                allowed |= {"inferwatch_slo_name", "inferwatch_slo_kind",
                            "model_name", "model_version", "inferwatch_variant",
                            "inferwatch_feature"}
                continue
            assert name in series, f"{name} is not exported ({naming}): {expr}"
            allowed |= series[name]
        assert used_labels(expr) <= allowed, (expr, used_labels(expr) - allowed)
        checked += 1
    assert checked > 50


def test_the_token_reader_is_not_vacuous() -> None:
    assert metric_tokens('sum by (le) (rate(inferwatch_a_bucket{x="inferwatch_b"}[5m]))') == [
        "inferwatch_a_bucket"]
    assert "inferwatch_nope_total" not in exported()["otel-prometheus"]
    assert used_labels('x{a="1", b!~"2"} and on (c) y') == {"a", "b", "c"}


@pytest.mark.parametrize("naming", NAMINGS)
def test_the_checks_select_the_model_and_the_slos_it_has(naming: str) -> None:
    queries = Queries("churn", naming, SLOS)
    for check in RUNBOOK_CHECKS:
        found = queries.for_check(check)
        assert found, check.name
        for query in found:
            if check.name == "inferwatch's own losses":  # the process's, not a model's
                assert 'model_name="churn"' not in query.expr
            elif "inferwatch:slo_" in query.expr:  # the fleet's, by the model's SLO names
                assert re.search(r'inferwatch_slo_name=~"churn-[a-z|-]+"', query.expr)
            else:
                assert 'model_name="churn"' in query.expr, query.expr
    service = "\n".join(q.expr for q in queries.for_check(RUNBOOK_CHECKS[0]))
    # The latency SLO's own bucket, with the le this naming writes.
    assert ('le="0.25"' in service) and "inferwatch:slo_error_budget_remaining:ratio" in service
    freshness = "\n".join(q.expr for q in queries.for_check(RUNBOOK_CHECKS[3]))
    assert 'inferwatch_slo_name=~"churn-fresh"' in freshness
    none = Queries("churn", naming)
    assert not any("inferwatch:slo_" in q.expr for q in none.all())


def test_the_naming_changes_what_the_queries_say() -> None:
    # Whole-number bounds differ between the namings: 1.0 scraped, 1 through the Collector.
    slos = [SLO("churn-latency", "latency", 0.99, threshold_ms=1000, model="churn")]
    scraped = render_runbook("churn", slos, RuleOptions(naming="otel-prometheus"))
    collected = render_runbook("churn", slos, RuleOptions(naming="collector"))
    assert 'le="1.0"' in scraped and 'le="1.0"' not in collected and 'le="1"' in collected
    assert "naming `collector`" in collected
