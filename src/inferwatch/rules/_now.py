"""Which generated alerts' conditions hold on one process's own numbers, now.

The rules ``inferwatch rules prometheus`` writes are evaluated by Prometheus
over the fleet, each for its ``for`` duration. Before a deploy, in a demo or
on a single replica, the same question can be asked of one status document
(:func:`inferwatch.status.build_status`): which alerts would this process's
numbers set off? The conditions are the rules' own thresholds
(:class:`RuleOptions`), read from what the SDK keeps in process:

* error rate and the P0 checks from the model's counts since the process
  started (the rules use 5 minutes), latency p99 against each latency SLO;
* burn rates from the SLO tracker's windows (5m ... 3d), both windows of a
  burn alert over its factor, as the rules do;
* drift from the last closed window's report (the open one before any
  closed), health from the health score.

It answers "the condition holds now", not "Prometheus fires": no ``for``
duration is waited, and the alerts that need the fleet's history
(endpoint down, confidence falling, anomalies, fleet PSI) are left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ._prometheus import RuleOptions

__all__ = ["AlertCondition", "alerts_now"]

_SEVERITY_ORDER = {"P0": 0, "P1": 1, "P2": 2, "P3": 3}
#: PSI under which a feature is not even a minor drift (the P3 rule's lower bound).
_MINOR_PSI = (0.1, 0.2)


@dataclasses.dataclass(frozen=True)
class AlertCondition:
    """One generated alert whose condition holds on a process's numbers."""

    alert: str
    severity: str
    model: str
    version: str | None
    why: str

    def __str__(self) -> str:
        where = self.model if self.version is None else f"{self.model}:{self.version}"
        return f"{self.severity}  {self.alert}  {where}: {self.why}"


def _split(key: str) -> tuple[str, str | None]:
    model, _, version = key.partition(":")
    return model, version or None


def _service(models: Mapping[str, Any], slos: list[Mapping[str, Any]],
             options: RuleOptions) -> list[AlertCondition]:
    out: list[AlertCondition] = []
    for key, m in models.items():
        model, version = _split(key)
        calls, errors = int(m.get("calls") or 0), int(m.get("errors") or 0)
        if calls and errors == calls:
            out.append(AlertCondition("InferwatchNoSuccessfulPredictions", "P0", model, version,
                                      f"all {calls} calls failed"))
        rate = errors / calls if calls else 0.0
        if calls and rate > options.error_rate:
            out.append(AlertCondition(
                "InferwatchHighErrorRate", "P0", model, version,
                f"error rate {rate:.1%} of {calls} calls since the process started "
                f"(over {options.error_rate:.0%})"))
        p99 = m.get("latency_p99_ms")
        in_flight = int(m.get("in_flight") or 0)
        if in_flight > options.max_in_flight:
            out.append(AlertCondition("InferwatchInFlightSaturation", "P2", model, version,
                                      f"{in_flight} calls in flight (over "
                                      f"{options.max_in_flight})"))
        for slo in slos:
            threshold = slo.get("threshold_ms")
            if (slo.get("kind") == "latency" and slo.get("model") == model and threshold
                    and p99 is not None and p99 > 5 * threshold):
                out.append(AlertCondition(
                    "InferwatchLatencyP99FarOverSLO", "P0", model, version,
                    f"p99 {p99:.1f} ms over 5x the {threshold:g} ms of {slo['name']}"))
    return out


def _burns(slos: list[Mapping[str, Any]], options: RuleOptions) -> list[AlertCondition]:
    out: list[AlertCondition] = []
    for slo in slos:
        rates = slo.get("burn_rates") or {}
        for burn in options.burn_alerts:
            long, short = rates.get(burn.long), rates.get(burn.short)
            if long is None or short is None or not (long > burn.factor and short > burn.factor):
                continue
            out.append(AlertCondition(
                burn.alert, burn.severity, str(slo.get("model") or "*"), slo.get("version"),
                f"{slo['name']} burns its budget {long:.1f}x over {burn.long} and "
                f"{short:.1f}x over {burn.short} (over {burn.factor:g}x: {burn.notify})"))
    return out


def _drift(entries: list[Mapping[str, Any]]) -> list[AlertCondition]:
    out: list[AlertCondition] = []
    for entry in entries:
        if entry.get("warming_up"):
            continue
        model, version = str(entry["model"]), str(entry["version"])
        window = entry.get("window") or {}
        where = f"window {window.get('index')} ({window.get('rows')} rows)" if window else ""
        if entry.get("variant"):  # an A/B variant's own window
            where = f"variant {entry['variant']}" + (f", {where}" if where else "")
        for name, fd in (entry.get("outputs") or {}).items():
            if fd.get("status") == "drift":
                out.append(AlertCondition("InferwatchPredictionDrift", "P1", model, version,
                                          f"{name} in drift (PSI {fd.get('psi') or 0:.2f}) "
                                          f"in {where}"))
        drifted = [fd for fd in entry.get("features") or () if fd.get("status") == "drift"]
        if drifted:
            names = ", ".join(f"{fd['name']} (PSI {fd.get('psi') or 0:.2f})"
                              for fd in drifted[:5])
            more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
            out.append(AlertCondition("InferwatchFeatureDrift", "P2", model, version,
                                      f"{names}{more} in drift in {where}"))
        everything = [*(entry.get("features") or ()), *(entry.get("outputs") or {}).values()]
        warning = [fd["name"] for fd in everything if fd.get("status") == "warning"]
        if warning:
            out.append(AlertCondition("InferwatchDriftWarning", "P3", model, version,
                                      f"{', '.join(warning[:5])} in warning in {where}"))
        low, high = _MINOR_PSI
        minor = [fd["name"] for fd in entry.get("features") or ()
                 if fd.get("psi") is not None and low <= fd["psi"] < high]
        if minor:
            out.append(AlertCondition("InferwatchMinorDrift", "P3", model, version,
                                      f"PSI between {low} and {high} on {', '.join(minor[:5])}"))
    return out


def _health(health: Mapping[str, Any]) -> list[AlertCondition]:
    out: list[AlertCondition] = []
    for entry in health.values():
        status, score = entry.get("status"), entry.get("score")
        model, version = str(entry.get("model.name")), entry.get("model.version")
        if status == "red":
            out.append(AlertCondition("InferwatchHealthRed", "P1", model, version,
                                      f"health {score:.0f} (red, under 50)"))
        elif status == "yellow":
            out.append(AlertCondition("InferwatchHealthYellow", "P3", model, version,
                                      f"health {score:.0f} (yellow, 50-80)"))
    return out


def alerts_now(document: Mapping[str, Any],
               options: RuleOptions | None = None) -> list[AlertCondition]:
    """The generated alerts whose conditions hold on ``document``'s numbers, worst first.

    ``document`` is a status document (:func:`inferwatch.status.build_status`,
    or ``GET /inferwatch/status``). ::

        for condition in alerts_now(build_status(monitor)):
            print(condition)   # P1  InferwatchBudgetBurnPage1h  churn: ...
    """
    options = options or RuleOptions()
    if not isinstance(document, Mapping):
        raise TypeError(f"alerts_now needs a status document (a mapping), got "
                        f"{type(document).__name__}: build one with "
                        "inferwatch.status.build_status(monitor)")
    slos = [s for s in document.get("slos") or () if isinstance(s, Mapping)]
    found = [
        *_service(document.get("models") or {}, slos, options),
        *_burns(slos, options),
        *_drift([e for e in document.get("drift") or () if isinstance(e, Mapping)]),
        *_health(document.get("health") or {}),
    ]
    return sorted(found, key=lambda c: _SEVERITY_ORDER.get(c.severity, 9))
