"""``inferwatch diagnose``: the on-call checks, in order, against a live status document.

For each model version the checks follow the runbook's order: service
health, the prediction distribution, input data quality, upstream
freshness, recent version changes; then inferwatch's own losses. The order,
names, status page sections and thresholds are ``inferwatch.runbook``'s
(``_checks``), shared with ``inferwatch runbook``; each printed check names
its runbook section. Each says ``healthy``, ``degraded`` or ``failing`` with
its evidence, or ``no data``. They read only the status document
(``GET /inferwatch/status``): aggregates, never a request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..runbook._checks import (
    CHECKS,
    ERROR_RATE_DEGRADED,
    ERROR_RATE_FAILING,
    INPUT_DATA_QUALITY,
    OWN_LOSSES,
    PREDICTION_DISTRIBUTION,
    QUALITY_RATE_DEGRADED,
    RECENT_SECONDS,
    RECENT_VERSION_CHANGES,
    SERVICE_HEALTH,
    UPSTREAM_FRESHNESS,
    CheckDef,
)

__all__ = [
    "ERROR_RATE_DEGRADED",
    "ERROR_RATE_FAILING",
    "QUALITY_RATE_DEGRADED",
    "RECENT_SECONDS",
    "STATES",
    "Check",
    "diagnose",
    "render",
]

#: Worst first: the order checks are printed in.
STATES = ("failing", "degraded", "healthy", "no data")


@dataclass
class Check:
    """One check of one model version (``model`` is ``name:version``, or "inferwatch")."""

    model: str
    name: str
    section: str  # where the status page shows it
    state: str = "healthy"
    evidence: list[str] = field(default_factory=list)
    runbook: str = ""  # the anchor of the check's section in the runbook

    @classmethod
    def of(cls, model: str, definition: CheckDef) -> Check:
        """A healthy check of ``model`` as the shared definition names it."""
        return cls(model, definition.name, definition.section, runbook=definition.anchor)

    def worsen(self, state: str, evidence: str) -> None:
        if STATES.index(state) < STATES.index(self.state):
            self.state = state
        self.evidence.append(evidence)


def _pct(x: float) -> str:
    return f"{x * 100:.2f} %" if x < 0.1 else f"{x * 100:.1f} %"


def _slos_for(doc: dict[str, Any], model: str, version: str, kind: str) -> list[dict[str, Any]]:
    return [s for s in doc.get("slos") or () if isinstance(s, dict) and s.get("kind") == kind
            and s.get("model") in (None, model) and s.get("version") in (None, version)]


def _service(doc: dict[str, Any], key: str, sli: dict[str, Any]) -> Check:
    model, _, version = key.partition(":")
    check = Check.of(key, SERVICE_HEALTH)
    calls = int(sli.get("calls") or 0)
    if not calls:
        check.state = "no data"
        check.evidence.append("no calls yet")
        return check
    rate = float(sli.get("error_rate") or 0.0)
    availability = _slos_for(doc, model, version, "availability")
    words = f"error rate {_pct(rate)} of {calls:,} calls"
    summary = [words]
    if availability:
        slo = availability[0]
        allowed = 1.0 - float(slo["target"])
        limit = f"SLO {slo['name']} allows {_pct(allowed)}"
        if slo.get("state") == "exhausted":
            check.worsen("failing", f"{words} ({limit}; its error budget is spent)")
        elif rate > allowed:
            check.worsen("degraded", f"{words} ({limit})")
        summary = [f"{words} ({limit})"]
    elif rate >= ERROR_RATE_FAILING:
        check.worsen("failing", f"{words} (>= {_pct(ERROR_RATE_FAILING)})")
    elif rate >= ERROR_RATE_DEGRADED:
        check.worsen("degraded", f"{words} (>= {_pct(ERROR_RATE_DEGRADED)})")
    for slo in _slos_for(doc, model, version, "latency"):
        sli_value = slo.get("sli")
        if sli_value is None:
            continue
        words = (f"{_pct(float(sli_value))} of calls within {slo.get('threshold_ms'):g} ms "
                 f"(SLO {slo['name']}: {_pct(float(slo['target']))})")
        if slo.get("state") == "exhausted":
            check.worsen("failing", words + "; its error budget is spent")
        elif float(sli_value) < float(slo["target"]):
            check.worsen("degraded", words)
        else:
            summary.append(words)
    p99 = sli.get("latency_p99_ms")
    if p99 is not None:
        summary.append(f"p99 latency {float(p99):.1f} ms")
    health = (doc.get("health") or {}).get(key)
    if isinstance(health, dict) and health.get("score") is not None:
        words = f"health {float(health['score']):.0f} ({health.get('status')})"
        reasons = [str(r) for r in health.get("explanation") or ()][:2]
        if reasons:
            words += ": " + "; ".join(reasons)
        state = {"red": "failing", "yellow": "degraded"}.get(str(health.get("status")))
        if state:
            check.worsen(state, words)
        else:
            summary.append(words)
    if check.state == "healthy":
        check.evidence = summary
    else:  # what is wrong first, then the rest of the picture
        said = {e.split(" (")[0] for e in check.evidence}
        check.evidence += [w for w in summary if w.split(" (")[0] not in said]
    return check


def _drift_entry(doc: dict[str, Any], key: str) -> dict[str, Any] | None:
    model, _, version = key.partition(":")
    for entry in doc.get("drift") or ():
        if isinstance(entry, dict) and entry.get("model") == model \
                and str(entry.get("version")) == version:
            return entry
    return None


def _feature_words(feature: dict[str, Any]) -> str:
    psi = feature.get("psi")
    return (f"{feature['name']} {feature.get('status')}"
            + (f" (PSI {float(psi):.2f})" if psi is not None else ""))


def _drift_checks(doc: dict[str, Any], key: str) -> list[Check]:
    outputs = Check.of(key, PREDICTION_DISTRIBUTION)
    inputs = Check.of(key, INPUT_DATA_QUALITY)
    entry = _drift_entry(doc, key)
    if entry is None or entry.get("warming_up"):
        why = "no drift monitor" if entry is None else "the reference is still warming up"
        for check in (outputs, inputs):
            check.state = "no data"
            check.evidence.append(why)
        return [outputs, inputs]
    window = entry.get("window") or {}
    where = f"window {window.get('index')} ({window.get('spec')}, {window.get('rows')} rows)"
    for check, feature in [(inputs, f) for f in entry.get("features") or ()] + [
            (outputs, f) for f in (entry.get("outputs") or {}).values()]:
        level = int(feature.get("level") or 0)
        if level:
            check.worsen("failing" if level >= 2 else "degraded",
                         f"{_feature_words(feature)} in {where}")
        if check is inputs:
            rates = feature.get("rates") or {}
            for rate in ("missing", "out_of_range", "new_category"):
                value = float(rates.get(rate) or 0.0)
                if value >= QUALITY_RATE_DEGRADED:
                    check.worsen("degraded", f"{feature['name']}: {rate.replace('_', ' ')} "
                                             f"{_pct(value)}")
    for check, what in ((outputs, "predictions"), (inputs, "features")):
        if not check.evidence:
            check.evidence.append(f"{what} like the reference in {where}")
    return [outputs, inputs]


def _freshness(doc: dict[str, Any], key: str) -> Check:
    check = Check.of(key, UPSTREAM_FRESHNESS)
    health = (doc.get("health") or {}).get(key) or {}
    component = (health.get("components") or {}).get("freshness")
    if not isinstance(component, dict) or component.get("status") != "scored":
        check.state = "no data"
        check.evidence.append("no freshness component (health not tracked, or no age known)")
        return check
    share = float(component.get("points") or 0.0) / max(float(component.get("weight") or 1), 1e-9)
    detail = str(component.get("detail"))
    if share <= 0.0:
        check.worsen("failing", detail)
    elif share < 1.0:
        check.worsen("degraded", detail)
    else:
        check.evidence.append(detail)
    return check


def _seen_at(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _versions(doc: dict[str, Any], key: str, now: float) -> Check:
    model = key.partition(":")[0]
    check = Check.of(key, RECENT_VERSION_CHANGES)
    recent = []
    for entry in doc.get("model_versions") or ():
        if not isinstance(entry, dict) or entry.get("model.name") != model:
            continue
        seen = _seen_at(entry.get("first_seen"))
        if seen is not None and now - seen <= RECENT_SECONDS:
            clock = datetime.fromtimestamp(seen, timezone.utc).strftime("%H:%M")
            recent.append(f"version {entry.get('model.version')} started {clock} UTC "
                          f"({(now - seen) / 60:.0f} min ago)")
    # A change is evidence for whoever reads the failing checks, not a failure itself.
    check.evidence.extend(recent or [f"no new version of {model} in the last hour"])
    return check


def _inferwatch(doc: dict[str, Any]) -> Check:
    check = Check.of("inferwatch", OWN_LOSSES)
    lost = {k: int(v) for k, v in (doc.get("dropped") or {}).items() if v}
    errors = {k: int(v) for k, v in (doc.get("errors") or {}).items() if v}
    if lost:
        check.worsen("degraded", "lost: " + ", ".join(f"{k} {v:,}" for k, v in sorted(
            lost.items(), key=lambda kv: -kv[1])))
    if errors:
        check.worsen("degraded", "errors survived: " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(errors.items(), key=lambda kv: -kv[1])))
    if not check.evidence:
        check.evidence.append("nothing lost, no errors")
    return check


def diagnose(doc: dict[str, Any], now: float | None = None) -> list[Check]:
    """Every check of every model version in ``doc``, worst first."""
    now = time.time() if now is None else now
    checks: list[Check] = []
    for key, sli in sorted((doc.get("models") or {}).items()):
        if not isinstance(sli, dict):
            continue
        found = [_service(doc, key, sli), *_drift_checks(doc, key), _freshness(doc, key),
                 _versions(doc, key, now)]
        by_name = {check.name: check for check in found}
        checks.extend(by_name[definition.name] for definition in CHECKS)  # the runbook's order
    checks.append(_inferwatch(doc))
    order = {name: n for n, name in enumerate(STATES)}
    return sorted(checks, key=lambda c: order[c.state])  # stable: runbook order within


def render(checks: list[Check]) -> str:
    """The checks as text, one per line with its evidence, worst first."""
    lines = []
    for check in checks:
        lines.append(f"{check.state.upper():<9} {check.model:<20} {check.name}: "
                     + "; ".join(check.evidence) + f"  [status page: {check.section}]"
                     + (f" [runbook: #{check.runbook}]" if check.runbook else ""))
    counts = {state: sum(c.state == state for c in checks) for state in STATES}
    lines.append(", ".join(f"{n} {state}" for state, n in counts.items() if n) or "no checks")
    return "\n".join(lines)
