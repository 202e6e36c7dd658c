"""The page rendered from a status document: order, words beside colours, escaping."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from statustools import CANARIES, make_profile, predictor, serve_rows, watch

import inferwatch.drift as drift
from inferwatch.status import build_status, render_html
from inferwatch.status._html import attention
from inferwatch.testing import capture

SECTIONS = ["overview", "service", "predictions", "data", "performance", "infrastructure",
            "events"]


class _Page(HTMLParser):
    """Section order, every tag, every script or external reference."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.tags: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("data-section") or "")
        for key in ("src", "href"):
            if a.get(key):
                self.urls.append(a[key] or "")


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def profile() -> drift.ReferenceProfile:
    return make_profile()


def drifted_doc(profile: drift.ReferenceProfile, **extra: Any) -> dict[str, Any]:
    with capture(feature_sample_rate=1.0, max_records_per_second=1e9) as cap:
        watch(profile, cap.monitor)
        serve_rows(predictor(cap.monitor, fail_every=8), 600, shifted=True, extra=extra)
        return build_status(cap.monitor)


def test_sections_come_in_order_with_nothing_fetched(profile: drift.ReferenceProfile) -> None:
    page = parse(render_html(drifted_doc(profile)))
    assert page.sections == SECTIONS
    assert "script" not in page.tags and "img" not in page.tags and "iframe" not in page.tags
    # Only in-page anchors, the JSON beside the page and the empty inline icon.
    assert all(u.startswith("#") or u in ("status", "data:,") for u in page.urls), page.urls


def test_an_empty_monitor_says_what_is_not_configured() -> None:
    with capture() as cap:
        html = render_html(build_status(cap.monitor))
    for ident in ("health-none", "slos-none", "predictions-none", "data-none", "labels-none",
                  "dropped-none", "errors-none"):
        assert f'id="{ident}"' in html, ident
    assert "No calls yet" in html
    assert "No labels yet" in html


def test_problems_are_listed_worst_first(profile: drift.ReferenceProfile) -> None:
    doc = drifted_doc(profile)
    items = attention(doc)
    levels = [level for level, _, _ in items]
    assert levels == sorted(levels, reverse=True)
    texts = " | ".join(text for _, text, _ in items)
    assert "data drift in" in texts and "age" in texts and "plan" in texts
    assert "error rate 12.50 %" in texts  # one call in 8 fails
    html = render_html(doc)
    assert 'id="overall" data-status="failing"' in html


def test_every_status_has_a_word_not_only_a_colour(profile: drift.ReferenceProfile) -> None:
    html = render_html(drifted_doc(profile))
    badges = re.findall(r'<span class="badge [a-z]+" data-status="([a-z_]+)">([^<]*)</span>',
                        html)
    assert badges
    for status, text in badges:
        word = {"no_data": "NO DATA", "healthy": "HEALTHY"}.get(status, status.upper())
        assert word in text, (status, text)


def test_strings_are_escaped_and_pii_never_shown(profile: drift.ReferenceProfile) -> None:
    doc = drifted_doc(profile, **{CANARIES[1]: 2.0})
    evil = '<script>alert("x")</script>'
    doc["models"][evil] = {"calls": 1, "errors": 0, "error_rate": 0.0, "in_flight": 0}
    doc["dropped"][evil] = 3
    doc["health"] = {"score": 40, "status": "degraded", "explanation": [evil]}
    html = render_html(doc)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    for canary in CANARIES:
        assert canary not in html


def test_health_and_slo_sections_are_drawn_when_they_exist() -> None:
    with capture() as cap:
        serve_rows(predictor(cap.monitor), 20)
        cap.monitor.add_summary("health", lambda: {
            "score": 62.0, "status": "degraded",
            "explanation": ["error rate 3 % (SLO 1 %)", "p99 latency 2x its baseline"]})
        cap.monitor.add_summary("slos", lambda: [{
            "name": "churn-availability", "kind": "availability", "target": 0.99,
            "state": "ok", "sli": 0.995, "budget_remaining": 0.2, "text": "..."}])
        html = render_html(build_status(cap.monitor))
    assert "health-none" not in html and "slos-none" not in html
    assert "p99 latency 2x its baseline" in html
    assert "churn-availability" in html and "20.0 %" in html
    assert "SLO churn-availability: 20.0 % of the error budget left" in html


def test_anomalies_are_listed_and_an_alarm_needs_attention() -> None:
    with capture() as cap:
        serve_rows(predictor(cap.monitor), 20)
        cap.monitor.add_summary("anomalies", lambda: {"churn": {
            "volume": {"time": 0.0, "value": 12.0, "expected": 240.0, "score": 7.5,
                       "alarm": True, "warming_up": False},
            "error_rate": {"time": 0.0, "value": None, "expected": None, "score": None,
                           "alarm": False, "warming_up": True}}})
        doc = build_status(cap.monitor)
    assert (1, "churn: volume anomalous (12.0, expected about 240)", "service") in attention(doc)
    html = render_html(doc)
    assert "Anomalies against the learned baseline" in html
    assert 'data-status="warning">! ALARM' in html
    assert 'data-status="no_data">\u2013 WARMING UP' in html


def test_closed_drift_windows_are_counted_in_the_events(
        profile: drift.ReferenceProfile) -> None:
    doc = drifted_doc(profile)  # 600 rows: one window of 500 closed, in drift
    (rep,) = doc["drift"]
    assert rep["windows_closed"] == {"ok": 0, "warning": 0, "drift": 1, "no_data": 0}
    events = render_html(doc).split('id="events"')[1]
    assert "Drift windows closed, by status" in events
