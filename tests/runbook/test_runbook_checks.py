"""The runbook and ``diagnose`` walk the same checks in the same order, to the same sections."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from runbooktools import anchors, headings, section

import inferwatch
import inferwatch.drift
import inferwatch.health
import inferwatch.slo
from inferwatch import Monitor
from inferwatch.runbook import CHECKS, RUNBOOK_CHECKS, render_runbook
from inferwatch.runbook._commands import Commands
from inferwatch.status import build_status, render_html
from inferwatch.status._diagnose import diagnose, render


@pytest.fixture(scope="module")
def status_doc() -> Iterator[dict[str, Any]]:
    """A real status document: one model with drift, SLOs and health attached."""
    rng = np.random.default_rng(3)
    train = rng.normal(size=(2000, 3))
    profile = inferwatch.drift.build_profile(train, prediction=train[:, 0], seed=0)
    monitor = Monitor(metrics_exporter="none", log_sink="none", service_name="churn-api")
    inferwatch.drift.watch(profile, monitor=monitor, window="count:200", model="churn")
    inferwatch.slo.track([inferwatch.slo.SLO("churn-availability", "availability", 0.99,
                                             model="churn")], monitor=monitor)
    health = inferwatch.health.track(monitor)

    @inferwatch.monitor(model="churn", version="7", monitor=monitor, features=lambda x: x)
    def predict(x: list[float]) -> float:
        return float(x[0])

    for _ in range(500):
        predict(rng.normal(size=3).tolist())
    monitor.flush()
    health.refresh()
    try:
        yield json.loads(json.dumps(build_status(monitor), default=str))
    finally:
        monitor.shutdown()


def test_the_runbook_walks_the_checks_in_diagnoses_order() -> None:
    text = render_runbook("churn")
    found = [h for h in headings(text) if re.match(r"\d+\. ", h)]
    assert found == [c.heading for c in RUNBOOK_CHECKS]
    assert [c.number for c in RUNBOOK_CHECKS] == list(range(1, len(RUNBOOK_CHECKS) + 1))
    assert RUNBOOK_CHECKS[: len(CHECKS)] == CHECKS
    ids = set(anchors(text))
    assert {c.anchor for c in RUNBOOK_CHECKS} <= ids


def test_diagnose_prints_the_checks_in_that_order_with_their_runbook_sections(
    status_doc: dict[str, Any],
) -> None:
    checks = diagnose(status_doc)
    assert {c.state for c in checks} <= {"healthy", "no data"}  # nothing injected
    # Sorted by state, stably: within one state the checks keep the walking order.
    mine = [c.name for c in checks if c.model == "churn:7" and c.state == "healthy"]
    expected = [c.name for c in CHECKS if c.name in mine]
    assert mine == expected and len(mine) >= 3
    assert [c.name for c in checks if c.model == "inferwatch"] == [RUNBOOK_CHECKS[-1].name]
    by_name = {c.name: c for c in RUNBOOK_CHECKS}
    runbook_ids = set(anchors(render_runbook("churn")))
    for check in checks:
        definition = by_name[check.name]
        assert check.section == definition.section and check.runbook == definition.anchor
        assert check.runbook in runbook_ids
    lines = render(checks).splitlines()
    assert any(line.endswith("[status page: service health] [runbook: #1-service-health]")
               for line in lines), lines


def test_every_check_names_a_section_the_page_has(status_doc: dict[str, Any]) -> None:
    page = render_html(status_doc)
    for check in RUNBOOK_CHECKS:
        assert f'id="{check.section_id}"' in page, check.section_id
        # The section's title on the page is the one diagnose prints.
        title = re.search(rf'<section id="{check.section_id}".*?<h2>(.*?)</h2>', page, re.S)
        assert title and check.section in re.sub(r"<[^>]+>", "", title.group(1)).lower()


def test_each_check_gives_its_page_section_commands_and_queries() -> None:
    text = render_runbook("churn", status_url="http://10.0.0.7:8000/inferwatch/status")
    for check in RUNBOOK_CHECKS:
        body = section(text, check.heading)
        assert f"(http://10.0.0.7:8000/inferwatch#{check.section_id})" in body
        assert "inferwatch diagnose http://10.0.0.7:8000\n" in body
        assert "curl -fsS -H \"Authorization: Bearer $INFERWATCH_STATUS_TOKEN\" " \
               "http://10.0.0.7:8000/inferwatch/status" in body
        assert body.count("```promql") >= 2
    service = section(text, RUNBOOK_CHECKS[0].heading)
    assert "inferwatch budget check --status http://10.0.0.7:8000" in service
    plain = render_runbook("churn")
    assert 'inferwatch diagnose "$STATUS_URL"' in plain and "export STATUS_URL=" in plain


def test_the_jq_filters_read_the_status_document(status_doc: dict[str, Any]) -> None:
    commands = Commands("churn", None, None)
    jq = shutil.which("jq")
    for check in RUNBOOK_CHECKS:
        wanted = commands.jq_filter(check)
        keys = set(re.findall(r"(?<![\w\"])\.(\w+)", wanted)) & {
            "models", "slos", "health", "drift", "model_versions", "dropped", "errors"}
        keys |= {k for k in ("dropped", "errors") if k in wanted}
        assert keys and keys <= set(status_doc), (check.name, keys - set(status_doc))
        if jq is None:  # the key check above still runs; jq itself, where installed
            continue
        done = subprocess.run([jq, "-c", wanted], input=json.dumps(status_doc),
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, (wanted, done.stderr)
        answer = json.loads(done.stdout)
        assert answer not in (None, [], {}), (check.name, answer)
