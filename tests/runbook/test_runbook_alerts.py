"""The runbook's alerts are the generated rules' alerts, and every runbook_url lands on one."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from exportedtools import NAMINGS
from runbooktools import anchors, fenced, headings, links, section, slug

from inferwatch.rules import RuleOptions, prometheus_rules
from inferwatch.runbook import alert_anchor, github_slug, render_runbook, runbook_file_name
from inferwatch.runbook._alerts import GUIDANCE
from inferwatch.runbook._anchors import unique_slugs
from inferwatch.slo import SLO

SLOS = [
    SLO("churn-availability", "availability", 0.999, model="churn"),
    SLO("churn.latency (p99)", "latency", 0.99, threshold_ms=300, model="churn"),
    SLO("churn-drift", "drift", 0.95, window="7d", model="churn"),
    SLO("fleet-availability", "availability", 0.99),  # every model
    SLO("fraud-latency", "latency", 0.95, threshold_ms=50, model="fraud"),
    SLO("churn-quality", "quality", 0.9, model="churn", metric="accuracy", baseline=0.9),
]
MODELS = ("churn", "fraud")
DOC = "https://git.example.com/ops/runbooks/{model}.md"


def _alerts(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def _fires_for(rule: dict[str, Any], model: str) -> bool:
    slo_name = rule["labels"].get("inferwatch_slo_name")
    if slo_name is None:
        return True
    slo = next(s for s in SLOS if s.name == slo_name)
    return slo.model in (None, model)


@pytest.mark.parametrize("naming", NAMINGS)
@pytest.mark.parametrize("model", MODELS)
def test_every_generated_alert_for_the_model_has_its_section(naming: str, model: str) -> None:
    options = RuleOptions(naming=naming)
    text = render_runbook(model, SLOS, options)
    ids = anchors(text)
    expected = [r for r in _alerts(prometheus_rules(SLOS, options)) if _fires_for(r, model)]
    others = [r for r in _alerts(prometheus_rules(SLOS, options)) if not _fires_for(r, model)]
    assert len(expected) >= 20 and others  # the other model's SLO alerts exist
    for rule in expected:
        slo_name = rule["labels"].get("inferwatch_slo_name")
        anchor = alert_anchor(rule["alert"], slo_name)
        assert anchor in ids, (rule["alert"], slo_name)
        heading = rule["alert"] + (f" ({slo_name})" if slo_name else "")
        body = section(text, heading)
        # Severity, for, and the very expression the rule fires on.
        assert f"**{rule['labels']['severity']}**" in body
        assert f"for `{rule['for']}`" in body
        assert rule["expr"].strip() in fenced(body, "promql")
        for threshold in re.findall(r"> (\d+(?:\.\d+)?)\b", rule["expr"]):
            assert f"`> {threshold}`" in body
        assert "**Start with** [" in body
    for rule in others:  # another model's SLO: not in this runbook
        slo_name = rule["labels"]["inferwatch_slo_name"]
        assert rule["alert"] + f" ({slo_name})" not in headings(text)
    alert_headings = [h for h in headings(text) if h.startswith("Inferwatch")]
    assert len(alert_headings) == len(expected)  # nothing the rules lack


def test_the_alert_table_links_every_section_in_severity_order() -> None:
    text = render_runbook("churn", SLOS)
    table = section(text, "At a glance")
    severities = re.findall(r"^\| (P\d) \|", table, re.M)
    assert severities == sorted(severities) and set(severities) == {"P0", "P1", "P2", "P3"}
    ids = set(anchors(text))
    for target in links(text):
        if target.startswith("#"):
            assert target[1:] in ids, target
    assert sum(target.startswith("#inferwatch") for target in links(table)) == len(severities)


def test_every_alert_name_has_written_guidance() -> None:
    # A new alert still gets a section (its description), but it should get its own words.
    names = {r["alert"] for r in _alerts(prometheus_rules(SLOS))}
    assert names <= set(GUIDANCE), names - set(GUIDANCE)


@pytest.mark.parametrize("naming", NAMINGS)
def test_every_runbook_url_resolves_to_a_heading_of_the_models_runbook(naming: str) -> None:
    rules = prometheus_rules(SLOS, RuleOptions(naming=naming, runbook_doc=DOC))
    label = "model_name"
    texts = {m: render_runbook(m, SLOS, RuleOptions(naming=naming)) for m in MODELS}
    ids = {m: set(anchors(t)) for m, t in texts.items()}
    checked = 0
    for rule in _alerts(rules):
        url = rule["annotations"]["runbook_url"]
        for model in MODELS:
            if not _fires_for(rule, model):
                continue
            # What Prometheus renders for an alert of this model (reReplaceAll on its label).
            resolved = re.sub(r"\{\{ reReplaceAll \"\[\^A-Za-z0-9\._-\]\" \"_\" \$labels\."
                              + label + r" \}\}", runbook_file_name(model)[:-3], url)
            assert "{{" not in resolved, url
            match = re.fullmatch(r"https://git\.example\.com/ops/runbooks/(.+)\.md#(.+)", resolved)
            assert match, resolved
            target = next(m for m in MODELS if runbook_file_name(m) == match.group(1) + ".md")
            assert match.group(2) in ids[target], (rule["alert"], resolved)
            if "$labels" in url or rule["labels"].get("inferwatch_slo_name") in {
                    s.name for s in SLOS if s.model}:
                assert target == model  # the alert's own model's runbook
            checked += 1
    assert checked > 40


def test_a_single_runbook_doc_and_the_old_base_keep_working() -> None:
    rules = prometheus_rules(SLOS[:3], RuleOptions(runbook_doc="runbooks/churn.md"))
    ids = set(anchors(render_runbook("churn", SLOS[:3])))
    for rule in _alerts(rules):
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("runbooks/churn.md#") and url.split("#")[1] in ids
    base = prometheus_rules(SLOS[:3], RuleOptions(runbook="https://runbooks.internal/ml/"))
    assert {r["annotations"]["runbook_url"] for r in _alerts(base)} == {
        f"https://runbooks.internal/ml/{r['alert']}" for r in _alerts(base)}
    default = prometheus_rules(SLOS[:3])
    assert {r["annotations"]["runbook_url"] for r in _alerts(default)} == {"README.md#alert-rules"}


def test_runbook_doc_mistakes_are_said() -> None:
    with pytest.raises(ValueError, match="without a #fragment"):
        RuleOptions(runbook_doc="runbook.md#alerts")
    with pytest.raises(ValueError, match="names no model"):  # EndpointDown has no model label
        prometheus_rules([SLO("all", "availability", 0.99)], RuleOptions(runbook_doc=DOC))


def test_slo_names_that_slug_alike_are_refused_not_mislinked() -> None:
    slos = [SLO("a.b", "availability", 0.99, model="m"), SLO("ab", "availability", 0.9, model="m")]
    with pytest.raises(ValueError, match="rename one of the SLOs"):
        render_runbook("m", slos)
    with pytest.raises(ValueError, match="rename one of the SLOs"):
        prometheus_rules(slos, RuleOptions(runbook_doc="m.md"))
    render_runbook("m", slos[:1])  # one of them alone is fine


def test_github_slugs() -> None:
    # Cases whose GitHub anchors are known (github-slugger's test fixtures and github.com).
    cases = {
        "Hello World!": "hello-world",
        "1. Service health": "1-service-health",
        "inferwatch's own losses": "inferwatchs-own-losses",
        "InferwatchBudgetBurnPage1h (churn.latency (p99))":
            "inferwatchbudgetburnpage1h-churnlatency-p99",
        "snake_case and-dashes  twice": "snake_case-and-dashes--twice",
        "Ünïcode — ok": "ünïcode--ok",
        "C++ & co.": "c--co",
    }
    for text, expected in cases.items():
        assert github_slug(text) == expected == slug(text), text
    assert unique_slugs(["a", "a", "a-1", "A"]) == ["a", "a-1", "a-1-1", "a-2"]


def test_odd_slo_names_render_as_they_are() -> None:
    slos = [SLO("churn_*fast*|[x]", "availability", 0.99, model="churn")]
    text = render_runbook("churn", slos)
    heading = "InferwatchBudgetBurnPage1h (churn_*fast*|[x])"
    assert heading in headings(text)  # escaped in the Markdown, literal once rendered
    assert alert_anchor("InferwatchBudgetBurnPage1h", slos[0].name) in anchors(text)


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (Debian: apt-get install prometheus)")
def test_prometheus_renders_the_model_runbook_url_of_a_firing_alert(tmp_path: Path) -> None:
    # promtool evaluates the generated rule on a model whose name is no file name.
    model = "we ird/x"
    rules = prometheus_rules(SLOS[:1], RuleOptions(runbook_doc=DOC))
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        notes = rule.pop("annotations", None)
        if notes and rule["alert"] == "InferwatchHighErrorRate":
            rule["annotations"] = {"runbook_url": notes["runbook_url"]}
    (tmp_path / "rules.yml").write_text(json.dumps(rules))
    series = (f'inferwatch_predict_calls_total{{model_name="{model}", '
              'inferwatch_outcome="error", job="j", instance="a"}')
    url = f"https://git.example.com/ops/runbooks/{runbook_file_name(model)}#inferwatchhigherrorrate"
    test = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": [{"series": series, "values": "0+60x30"}],
        "alert_rule_test": [{"eval_time": "20m", "alertname": "InferwatchHighErrorRate",
                             "exp_alerts": [{"exp_labels": {"severity": "P0",
                                                            "model_name": model},
                                             "exp_annotations": {"runbook_url": url}}]}]}]}
    (tmp_path / "test.yml").write_text(json.dumps(test))
    done = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert runbook_file_name(model) == "we_ird_x.md"
    text = render_runbook(model, SLOS[:1])
    assert "inferwatchhigherrorrate" in anchors(text)
