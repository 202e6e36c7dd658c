"""The generated alerts that can page for one model, and what to do about each.

The alerts come from the rule file ``prometheus_rules`` makes (the code
``inferwatch rules prometheus`` runs), never from a list of our own: the
runbook cannot name an alert the rules lack or miss one they have. What an
alert fires on (expression, ``for``, windows, thresholds, severity) is read
from the rule; what it means and where to start is written here
(:data:`GUIDANCE`, by alert name, with a fallback so a new alert still gets
a section).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._anchors import alert_anchor, alert_heading
from ._checks import (
    INPUT_DATA_QUALITY,
    PREDICTION_DISTRIBUTION,
    RECENT_VERSION_CHANGES,
    SERVICE_HEALTH,
    UPSTREAM_FRESHNESS,
    CheckDef,
)

__all__ = ["GUIDANCE", "Guidance", "RunbookAlert", "alerts_for_model"]

SEVERITIES = ("P0", "P1", "P2", "P3")
#: What each tier asks of the on-call engineer.
SEVERITY_MEANING = {
    "P0": "page: the model fails its callers now",
    "P1": "page: users or the error budget are being hurt",
    "P2": "ticket: look within working hours",
    "P3": "note: worth a look, no action needed at night",
}


@dataclass(frozen=True)
class Guidance:
    """What an alert means to the on-call engineer and the checks to start with."""

    meaning: str
    start: tuple[CheckDef, ...]


_BURN_PAGE = ("The SLO's error budget is being spent fast enough to be gone within days: "
              "users are hurt now, and the budget the next deploy needs is going.")
_BURN_TICKET = ("The SLO's error budget is being spent faster than it can last its window, "
                "slowly: fix it in working hours before it becomes a page.")
_SERVICE_FIRST = (SERVICE_HEALTH, RECENT_VERSION_CHANGES)

GUIDANCE: dict[str, Guidance] = {
    "InferwatchNoSuccessfulPredictions": Guidance(
        "Every call of the model fails: callers get nothing but errors. Usually a bad deploy, "
        "a dependency down (feature store, downstream service) or a model that did not load.",
        (SERVICE_HEALTH, RECENT_VERSION_CHANGES, UPSTREAM_FRESHNESS)),
    "InferwatchEndpointDown": Guidance(
        "A replica that served predictions within the hour no longer answers (crashed, "
        "killed for memory, hung, or scaled away). The other replicas take its traffic if "
        "they have room: watch their in-flight calls and latency.",
        _SERVICE_FIRST),
    "InferwatchHighErrorRate": Guidance(
        "A large share of the model's calls fail. The error types say why: one type (a "
        "timeout, a validation error) points at its cause; a version first seen when the "
        "errors began points at the deploy.",
        (SERVICE_HEALTH, RECENT_VERSION_CHANGES, INPUT_DATA_QUALITY)),
    "InferwatchLatencyP99FarOverSLO": Guidance(
        "The slowest calls take more than five times the latency SLO's threshold: callers "
        "time out. Saturation (calls in flight), a slow dependency or larger inputs (batch "
        "size) are the usual causes.",
        _SERVICE_FIRST),
    "InferwatchBudgetBurnPage1h": Guidance(_BURN_PAGE, _SERVICE_FIRST),
    "InferwatchBudgetBurnPage6h": Guidance(_BURN_PAGE, _SERVICE_FIRST),
    "InferwatchBudgetBurnTicket1d": Guidance(_BURN_TICKET, _SERVICE_FIRST),
    "InferwatchBudgetBurnTicket3d": Guidance(_BURN_TICKET, _SERVICE_FIRST),
    "InferwatchPredictionDrift": Guidance(
        "The model's outputs (prediction or confidence) no longer look like the reference "
        "profile's. Either its inputs moved or the model changed; the business feels this "
        "first, even when every call succeeds.",
        (PREDICTION_DISTRIBUTION, INPUT_DATA_QUALITY, RECENT_VERSION_CHANGES)),
    "InferwatchHealthRed": Guidance(
        "The health score is under 50: several components lost points at once. The status "
        "page lists the components that cost the points, worst first; follow the worst.",
        (SERVICE_HEALTH, INPUT_DATA_QUALITY, UPSTREAM_FRESHNESS)),
    "InferwatchFeatureDrift": Guidance(
        "An input feature no longer looks like the reference profile: an upstream change (a "
        "new source, a unit change, a broken join), a real change in who is scored, or a "
        "stale reference.",
        (INPUT_DATA_QUALITY, UPSTREAM_FRESHNESS, PREDICTION_DISTRIBUTION)),
    "InferwatchConfidenceFalling": Guidance(
        "The model is less sure of its predictions than the day before: often inputs it has "
        "not seen, before any drift status moves.",
        (PREDICTION_DISTRIBUTION, INPUT_DATA_QUALITY, RECENT_VERSION_CHANGES)),
    "InferwatchInFlightSaturation": Guidance(
        "Calls queue inside the model on one replica: it is short of CPU or GPU, or waits on "
        "a dependency. Latency and then errors follow.",
        _SERVICE_FIRST),
    "InferwatchAnomaly": Guidance(
        "Traffic, the mean prediction or the error rate is off its learned daily and weekly "
        "rhythm: a caller that stopped or doubled, predictions that shifted, errors out of "
        "their usual pattern.",
        (SERVICE_HEALTH, PREDICTION_DISTRIBUTION, RECENT_VERSION_CHANGES)),
    "InferwatchFleetFeatureDrift": Guidance(
        "A feature has drifted over every replica's rows together, not on one replica's "
        "share of the traffic: the population or an upstream source changed for the fleet.",
        (INPUT_DATA_QUALITY, UPSTREAM_FRESHNESS)),
    "InferwatchMinorDrift": Guidance(
        "A feature's PSI is between 0.1 and 0.2: a moderate shift, worth a look in working "
        "hours. If it keeps growing it becomes a drift alert.",
        (INPUT_DATA_QUALITY,)),
    "InferwatchDriftWarning": Guidance(
        "A feature or output is in drift status warning: a shift short of drift.",
        (INPUT_DATA_QUALITY, PREDICTION_DISTRIBUTION)),
    "InferwatchHealthYellow": Guidance(
        "The health score is between 50 and 80: one component lost points. The status page "
        "says which.",
        (SERVICE_HEALTH, INPUT_DATA_QUALITY)),
}

#: A burn alert starts where its SLO's kind of bad event shows.
_START_BY_KIND = {
    "availability": _SERVICE_FIRST,
    "latency": _SERVICE_FIRST,
    "drift": (INPUT_DATA_QUALITY, PREDICTION_DISTRIBUTION, RECENT_VERSION_CHANGES),
    "freshness": (UPSTREAM_FRESHNESS, RECENT_VERSION_CHANGES),
}

_TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?![\w.])")
_RANGE = re.compile(r"\[(\d+[smhdwy])\]|\boffset (\d+[smhdwy])|_rate(\d+[smhdwy])\b"
                    r"|:increase(\d+[smhdwy])\b")


@dataclass(frozen=True)
class RunbookAlert:
    """One generated alert rule as the runbook shows it."""

    name: str
    severity: str
    expr: str
    for_: str
    summary: str
    description: str
    labels: dict[str, str]
    slo: Any = None  # the SLO it watches, for SLO alerts

    @property
    def slo_name(self) -> str | None:
        return None if self.slo is None else str(self.slo.name)

    @property
    def heading(self) -> str:
        return alert_heading(self.name, self.slo_name)

    @property
    def anchor(self) -> str:
        return alert_anchor(self.name, self.slo_name)

    @property
    def guidance(self) -> Guidance:
        known = GUIDANCE.get(self.name)
        if self.slo is not None and self.name.startswith("InferwatchBudgetBurn"):
            start = _START_BY_KIND.get(str(self.slo.kind), _SERVICE_FIRST)
            return Guidance(known.meaning if known else _BURN_PAGE, start)
        return known or Guidance(self.description, (SERVICE_HEALTH,))

    @property
    def windows(self) -> list[str]:
        """The ranges the expression reads (``[5m]``, ``offset 1h``, recorded ``_rate1h``)."""
        found: list[str] = []
        for match in _RANGE.finditer(self.expr):
            window = next(g for g in match.groups() if g)
            if window not in found:
                found.append(window)
        return found

    @property
    def thresholds(self) -> list[str]:
        """The comparisons with a number in the expression, e.g. ``> 0.1``."""
        found: list[str] = []
        for op, value in _COMPARISON.findall(self.expr):
            text = f"{op} {value}"
            if text not in found:
                found.append(text)
        return found


def templated(text: str, model: str, model_label: str) -> list[tuple[str, bool]]:
    """An annotation split into (text, is_template) parts, the model label filled in."""
    parts: list[tuple[str, bool]] = []
    pos = 0
    for match in _TEMPLATE.finditer(text):
        parts.append((text[pos:match.start()], False))
        inner = match.group(1).strip()
        if inner == f"$labels.{model_label}":
            parts.append((model, False))
        else:
            parts.append((inner.split("|")[0].strip(), True))
        pos = match.end()
    parts.append((text[pos:], False))
    return [(t, tmpl) for t, tmpl in parts if t]


def alerts_for_model(rules: dict[str, Any], model: str, slos: Sequence[Any]) -> list[RunbookAlert]:
    """The alert rules of ``rules`` that can fire for ``model``, severest first.

    Model alerts fire per model (or per replica) whatever the model, so all
    of them; an SLO's alerts only when the SLO covers the model (its
    ``model`` is the model, or none).
    """
    by_name = {str(s.name): s for s in slos}
    found: list[RunbookAlert] = []
    for group in rules.get("groups", ()):
        for rule in group.get("rules", ()):
            if "alert" not in rule:
                continue
            labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
            slo = None
            if "inferwatch_slo_name" in labels:
                slo = by_name.get(labels["inferwatch_slo_name"])
                if slo is None:
                    raise ValueError(f"alert {rule['alert']} names SLO "
                                     f"{labels['inferwatch_slo_name']!r}, which is not among "
                                     "the SLOs given")
                if getattr(slo, "model", None) not in (None, model):
                    continue
            notes = rule.get("annotations") or {}
            found.append(RunbookAlert(
                name=str(rule["alert"]), severity=labels.get("severity", "P3"),
                expr=str(rule["expr"]), for_=str(rule.get("for", "0s")),
                summary=str(notes.get("summary", "")),
                description=str(notes.get("description", "")), labels=labels, slo=slo))
    rank = {s: n for n, s in enumerate(SEVERITIES)}
    return sorted(found, key=lambda a: rank.get(a.severity, len(SEVERITIES)))
