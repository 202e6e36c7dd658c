"""The runbook of one model as Markdown: its alerts, the checks in order, the actions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..rules._prometheus import RuleOptions, prometheus_rules, skipped_slos
from ._alerts import SEVERITY_MEANING, RunbookAlert, alerts_for_model, templated
from ._anchors import github_slug, unique_slugs
from ._checks import (
    ERROR_RATE_DEGRADED,
    ERROR_RATE_FAILING,
    INPUT_DATA_QUALITY,
    OWN_LOSSES,
    PREDICTION_DISTRIBUTION,
    QUALITY_RATE_DEGRADED,
    RECENT_SECONDS,
    RECENT_VERSION_CHANGES,
    RUNBOOK_CHECKS,
    SERVICE_HEALTH,
    UPSTREAM_FRESHNESS,
    CheckDef,
)
from ._commands import TOKEN_ENV, Commands
from ._markdown import code, escape, fence, link, table
from ._queries import Queries, Query

__all__ = ["FALLBACK_VERSION", "render_runbook", "slos_for_model"]

#: The version label the runbook suggests for a fallback's predictions.
FALLBACK_VERSION = "fallback"

#: What each check looks for, and when ``inferwatch diagnose`` calls it degraded or failing.
_LOOK_FOR = {
    SERVICE_HEALTH: (
        "Is the model answering, correctly and fast enough? Traffic, the error rate and its "
        "error types, p50/p99 latency, replicas and their calls in flight, the health score "
        "and the error budgets. `diagnose` calls it degraded when the error rate passes the "
        f"availability SLO's budget (without an SLO: {ERROR_RATE_DEGRADED:.0%}) or a latency "
        "SLO is missed, and failing when a budget is spent (without an SLO: an error rate of "
        f"{ERROR_RATE_FAILING:.0%}) or the health is red."),
    PREDICTION_DISTRIBUTION: (
        "Do the outputs look like the reference's? The drift status and PSI of the prediction "
        "and confidence in the last closed window, the median prediction against a day ago, "
        "mean confidence against the day before. Degraded on a warning, failing on drift."),
    INPUT_DATA_QUALITY: (
        "Do the inputs look like the training data? Drifted features, worst first, and the "
        "share of rows missing, out of the reference's range or of a new category. Degraded "
        f"on a warning or a rate of {QUALITY_RATE_DEGRADED:.0%} or more, failing on drift. "
        "Drift in one feature with the others quiet points at its upstream source."),
    UPSTREAM_FRESHNESS: (
        "Is what the model depends on current? The health score's freshness component (age "
        "of the reference profile, else of the version, against `max_age`), whether inputs "
        "still arrive, and traffic against the same time yesterday. Degraded when the age "
        "costs points, failing when it earns none."),
    RECENT_VERSION_CHANGES: (
        f"Did something change? Versions first seen in the last {RECENT_SECONDS / 60:.0f} "
        "minutes and which versions serve now. A change is evidence for the other checks, "
        "never a failure itself: a version that started when the trouble began is the first "
        "suspect, and rolling back is the first action."),
    OWN_LOSSES: (
        "Did inferwatch itself lose data? Records dropped (a full buffer, a dead collector) or "
        "errors it survived make every other answer partial: counts and latencies stay exact, "
        "per-record detail may not. Degraded on any loss."),
}


def slos_for_model(slos: Sequence[Any], model: str) -> list[Any]:
    """The SLOs that cover ``model``: its own and those that name no model."""
    return [s for s in slos if getattr(s, "model", None) in (None, model)]


class _Doc:
    """Markdown blocks plus the headings, to check the anchors GitHub will give them."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.headings: list[str] = []

    def heading(self, level: int, text: str) -> None:
        self.headings.append(text)
        self.blocks.append("#" * level + " " + escape(text))

    def add(self, *blocks: str) -> None:
        self.blocks.extend(b for b in blocks if b)

    def text(self) -> str:
        return "\n\n".join(self.blocks) + "\n"


def _check_link(check: CheckDef) -> str:
    return link(check.heading, "#" + check.anchor)


def _annotation(text: str, model: str, model_label: str) -> str:
    return "".join(code(part) if template else escape(part)
                   for part, template in templated(text, model, model_label))


def _queries_md(queries: Sequence[Query]) -> str:
    return "\n\n".join(f"{escape(q.what)}:\n\n{fence(q.expr, 'promql')}" for q in queries)


def _commands_md(commands: Sequence[tuple[str, str]]) -> str:
    return fence("\n".join(f"# {what}\n{command}" for what, command in commands), "sh")


def _slo_line(slo: Any) -> str:
    words = [f"{slo.kind}", f"target {float(slo.target):.4g}", f"over {slo.window}"]
    if getattr(slo, "threshold_ms", None) is not None:
        words.append(f"within {slo.threshold_ms:g} ms")
    if getattr(slo, "max_age", None):
        words.append(f"max age {slo.max_age}")
    scope = f"version {slo.version}" if getattr(slo, "version", None) else (
        "this model" if getattr(slo, "model", None) else "every model")
    line = f"- {code(slo.name)}: {escape(', '.join(words))} ({escape(scope)})"
    if getattr(slo, "description", ""):
        line += f". {escape(slo.description)}"
    return line


def _alert_section(doc: _Doc, alert: RunbookAlert, model: str, model_label: str) -> None:
    doc.heading(3, alert.heading)
    facts = [f"**{alert.severity}** ({escape(SEVERITY_MEANING.get(alert.severity, 'unranked'))})",
             f"for {code(alert.for_)}"]
    if alert.windows:
        facts.append("windows " + ", ".join(code(w) for w in alert.windows))
    if alert.thresholds:
        facts.append("thresholds " + ", ".join(code(t) for t in alert.thresholds))
    if alert.slo is not None:
        facts.append(f"SLO {code(alert.slo.name)}")
    guidance = alert.guidance
    doc.add(
        " · ".join(facts),
        f"**What it means.** {escape(guidance.meaning)}",
        f"**What it says.** {_annotation(alert.summary, model, model_label)}. "
        f"{_annotation(alert.description, model, model_label)}",
        f"**Fires on** this expression, true at every evaluation for {code(alert.for_)}:",
        fence(alert.expr, "promql"),
        "**Start with** " + ", then ".join(_check_link(c) for c in guidance.start) + ".",
    )


def _check_section(doc: _Doc, check: CheckDef, queries: Queries, commands: Commands) -> None:
    doc.heading(3, check.heading)
    page = commands.page(check)
    where = link(check.section, page) if commands.base else code(page)
    doc.add(_LOOK_FOR[check],
            f"**Status page:** {where} (the section {escape(check.section)}).",
            "**Run:**", _commands_md(commands.for_check(check)),
            "**Query** (Prometheus):", _queries_md(queries.for_check(check)))


def _actions(doc: _Doc, model: str, queries: Queries, commands: Commands) -> None:
    doc.heading(2, "Actions")
    doc.heading(3, "Roll back")
    doc.add(
        f"When a version of {escape(model)} started at or just before the trouble "
        f"({_check_link(RECENT_VERSION_CHANGES)}), go back to the one before it. Rolling back "
        "is cheap and undone by rolling forward; do it first and debug afterwards.",
        "Find the previous version from the model-version metric "
        "(`inferwatch.model.info`, valued at the time each process first saw the version: "
        "the minimum over every replica and 30 days keeps the earliest sight through "
        "restarts; the status document's `model_versions` says the same for one replica):",
        _queries_md(queries.rollback()),
        "Then redeploy that version with your deploy tool, and confirm:",
        _commands_md([("The old version serves and the failing checks are healthy again",
                       commands.diagnose()),
                      ("Versions this replica has seen",
                       commands.curl(commands.jq_filter(RECENT_VERSION_CHANGES)))]),
    )
    doc.heading(3, "Fall back to a default prediction")
    doc.add(
        "When no version is good (the inputs themselves are broken: "
        f"{_check_link(INPUT_DATA_QUALITY)}, {_check_link(UPSTREAM_FRESHNESS)}), serve a "
        "default instead of a wrong answer: the reference's typical prediction "
        "(`inferwatch profile show REFERENCE.iwprofile` gives its mean), the class prior, or "
        "the rule the model replaced, behind the feature flag or route your service has for "
        "it.",
        "Monitor the fallback as its own version of the model, so that every query above "
        "shows it apart from the real versions: "
        f"{code(f'@inferwatch.monitor(model={model!r}, version={FALLBACK_VERSION!r})')} on "
        "the fallback function. Then:",
        _queries_md(queries.fallback()),
        "Switch back once the checks that failed are healthy again on the real version.",
    )
    doc.heading(3, "Escalate")
    doc.add(
        "Escalate to the model's owners when a P0 is not mitigated within 15 minutes, when "
        f"neither a rollback nor the fallback helps, or when {_check_link(INPUT_DATA_QUALITY)} "
        "points upstream (the owners of the failing source fix it, not the model). Paste into "
        "the escalation:",
        "- the firing alert with its labels and the time it started;\n"
        f"- the output of {code(commands.diagnose())} (aggregates and configured names only, "
        "never a request's data: safe to paste);\n"
        "- the versions serving and what you did (rolled back to which version, fallback on "
        "since when);\n"
        "- the queries above whose answers are wrong, with their answers.",
        f"A spent error budget also stops deploys: {code('inferwatch budget check')} exits 1 "
        "until the budget recovers, so a fix may need the owners' explicit override.",
    )


def render_runbook(model: str, slos: Sequence[Any] = (), options: RuleOptions | None = None,
                   *, status_url: str | None = None, slo_file: str | None = None,
                   generated_at: datetime | None = None) -> str:
    """The on-call runbook of ``model`` as Markdown.

    ``slos`` are every SLO of the configuration (``inferwatch.slo.SLO``);
    the alerts are those ``prometheus_rules(slos, options)`` generates that
    can fire for ``model``, so pass the options the rule file was made with.
    ``status_url`` (the service's address) fills in the commands and links,
    else they read ``$STATUS_URL``; ``slo_file`` is named in the commands.
    Deterministic: the same arguments give the same text, with no date unless
    ``generated_at`` is given.

    Raises ``ValueError`` for an empty model name, a bad ``status_url``, or
    two alerts whose anchors GitHub could not tell apart.
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError("model name is empty; give the model as the service reports it "
                         "(the model.name label), e.g. --model churn")
    options = options or RuleOptions()
    rules = prometheus_rules(slos, options)
    alerts = alerts_for_model(rules, model, slos)
    skipped = set(skipped_slos(slos))
    mine = slos_for_model(slos, model)
    queries = Queries(model, options.naming, [s for s in mine if s.name not in skipped])
    commands = Commands(model, status_url, slo_file)
    model_label = queries.names.label("model.name")

    doc = _Doc()
    doc.heading(1, f"Runbook: {model}")
    source = f" from {code(slo_file)}" if slo_file else ""
    stamp = ("" if generated_at is None else
             f" on {generated_at.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    doc.add(
        f"Generated by {code('inferwatch runbook')}{source} with naming "
        f"{code(options.naming)}{stamp}: regenerate it when the SLOs or inferwatch change "
        "rather than editing it. Make the alerts link here with "
        f"{code('inferwatch rules prometheus --runbook-doc URL_OF_THIS_FILE')} (with the same "
        "options the rules are made with): each alert's `runbook_url` is its section below.",
    )
    if commands.base:
        doc.add(f"Service: {link(commands.base, commands.base)}; status page: "
                f"{link(commands.base + '/inferwatch', commands.base + '/inferwatch')}. Set "
                f"{code(TOKEN_ENV)} when its status routes need a token.")
    else:
        exports = [("STATUS_URL=http://HOST:PORT", "the service, or one replica"),
                   (f"{TOKEN_ENV}=...", "when its status routes need a token"),
                   ("PROMETHEUS_URL=http://prometheus:9090", "the fleet's Prometheus")]
        width = max(len(e) for e, _ in exports)
        doc.add("Set these first; the commands below read them:",
                fence("\n".join(f"export {e.ljust(width)}  # {why}" for e, why in exports),
                      "sh"))

    doc.heading(2, "At a glance")
    rows = [[alert.severity, link(alert.heading, "#" + alert.anchor),
             _annotation(alert.summary, model, model_label),
             ", ".join(_check_link(c) for c in alert.guidance.start)] for alert in alerts]
    doc.add(f"{len(alerts)} alerts can fire for {escape(model)}, severest first:",
            table(["severity", "alert", "what it says", "start with"], rows))
    if mine:
        doc.add(f"SLOs covering {escape(model)}:", "\n".join(_slo_line(s) for s in mine))
        if skipped & {s.name for s in mine}:
            doc.add("SLOs of kind quality and freshness without SDK counters get no "
                    "Prometheus rules; the status page and `budget check --status` show them.")
    else:
        doc.add(f"No SLO covers {escape(model)}: the burn-rate alerts and the fleet's error "
                "budgets appear once SLOs are declared (`--slo FILE`).")

    doc.heading(2, "Alerts")
    for alert in alerts:
        _alert_section(doc, alert, model, model_label)

    doc.heading(2, "Checks, in order")
    doc.add("Walk them top to bottom: each answers a question the next one builds on. "
            f"{code('inferwatch diagnose')} walks the same checks in the same order against "
            "the live status endpoint and names each one's section here.",
            "\n".join(f"- {_check_link(c)}" for c in RUNBOOK_CHECKS))
    for check in RUNBOOK_CHECKS:
        _check_section(doc, check, queries, commands)
    _actions(doc, model, queries, commands)
    _check_anchors(doc, alerts)
    return doc.text()


def _check_anchors(doc: _Doc, alerts: Sequence[RunbookAlert]) -> None:
    # GitHub suffixes a repeated slug (-1, -2): an alert's link would land on another heading.
    given = dict(zip(doc.headings, unique_slugs(doc.headings), strict=True))
    for alert in alerts:
        if given.get(alert.heading) != alert.anchor:
            clash = [h for h in doc.headings if github_slug(h) == alert.anchor]
            raise ValueError(f"headings {clash!r} get the same anchor #{alert.anchor}; rename "
                             "one of the SLOs so that their names differ in letters or digits")
