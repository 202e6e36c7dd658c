"""Prometheus recording and alerting rules from SLOs and the metric catalogue.

Groups:

``inferwatch-slo``
    per SLO and burn window ``<w>`` (5m, 30m, 1h, 2h, 6h, 1d, 3d): the SLI
    error ratio per replica (``instance:inferwatch_slo_sli_error:ratio_rate<w>``)
    and for the fleet, summed over replicas
    (``inferwatch:slo_sli_error:ratio_rate<w>``), and the fleet burn rate
    (``inferwatch:slo_burn_rate:ratio_rate<w>``: the error ratio over the
    budget ``1 - target``); over the SLO's own window (``30d`` ...) the fleet
    error ratio (``inferwatch:slo_sli_error:ratio_rate30d``), the objective
    (``inferwatch:slo_objective:ratio``) and the error budget remaining
    (``inferwatch:slo_error_budget_remaining:ratio``: 1 untouched, 0 spent,
    negative overspent). Every series carries ``inferwatch_slo_name`` and
    ``inferwatch_slo_kind``; a window without events has no series. After
    them, in the same group so that they read the same evaluation, the
    multi-window, multi-burn-rate alerts (Google's SRE workbook): page at
    14.4x over 1h and 5m and at 6x over 6h and 30m (severity P1, fast burn),
    ticket at 3x over 1d and 2h and at 1x over 3d and 6h (severity P2, slow
    burn).
``inferwatch-model-alerts``
    P0-P3 model alerts from the catalogue's metrics.
``inferwatch-fleet-drift``
    PSI of each feature over all replicas' rows, from reference-bin counts
    (``_fleet_drift``; only when the catalogue declares the bin metrics).

Window names stay nominal when ``scale`` shrinks every range and ``for``
(``scale=1/60`` turns 1h into 1m): tests and demos run the same rules, under
the same names, in minutes.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Iterable, Sequence
from typing import Any

from .._catalogue import METRICS, MetricDef
from ._names import NAMINGS, le_value, prometheus_label, prometheus_name

__all__ = [
    "BURN_WINDOWS",
    "DEFAULT_BURN_ALERTS",
    "DEFAULT_RUNBOOK",
    "BurnAlert",
    "RuleOptions",
    "prometheus_rules",
]

#: The burn windows every SLO's error ratio is recorded over, in seconds.
BURN_WINDOWS: dict[str, int] = {
    "5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400, "3d": 259200,
}

#: Metrics whose alerts are generated only once a package declares them.
HEALTH = "inferwatch.health.status"  # 0 green (> 80), 1 yellow (50-80), 2 red (< 50)
ANOMALY = "inferwatch.anomaly.alarm"

#: Where ``runbook_url`` points by default: the README's alert section.
DEFAULT_RUNBOOK = "README.md#alert-rules"

SEVERITIES = ("P0", "P1", "P2", "P3")


@dataclasses.dataclass(frozen=True)
class BurnAlert:
    """Fire when the burn rate exceeds ``factor`` over both ``long`` and ``short``."""

    factor: float
    long: str
    short: str
    notify: str  # "page" or "ticket"
    severity: str
    for_: str

    @property
    def alert(self) -> str:
        return f"InferwatchBudgetBurn{self.notify.capitalize()}{self.long}"


DEFAULT_BURN_ALERTS: tuple[BurnAlert, ...] = (
    BurnAlert(14.4, "1h", "5m", "page", "P1", "2m"),
    BurnAlert(6.0, "6h", "30m", "page", "P1", "5m"),
    BurnAlert(3.0, "1d", "2h", "ticket", "P2", "15m"),
    BurnAlert(1.0, "3d", "6h", "ticket", "P2", "30m"),
)


@dataclasses.dataclass(frozen=True)
class RuleOptions:
    """What the generated rules depend on besides the SLOs.

    ``naming``: ``otel-prometheus`` (each replica scraped through OTel's
    Prometheus exporter) or ``collector`` (the Collector's OTLP translation).
    ``scale``: every range and ``for`` multiplied by it (1 in production).
    ``burn_factors``: the four burn-rate thresholds, workbook order.
    ``error_rate``: the P0 error-rate threshold. ``max_in_flight``: P2
    in-flight saturation per replica. ``confidence_drop``: P2 when the mean
    confidence over 1h falls this share below its mean over the day before.
    ``runbook``: base of every ``runbook_url`` (``<base>`` when it contains
    ``#``, else ``<base>/<AlertName>``). ``runbook_doc``: instead, the URL of
    the Markdown runbook ``inferwatch runbook`` writes; ``runbook_url`` is
    ``<doc>#<anchor>``, the anchor of the alert's section
    (``inferwatch.runbook.alert_anchor``), and ``{model}`` in the URL names
    the runbook of the alert's model (see :meth:`runbook_url`).
    """

    naming: str = "otel-prometheus"
    scale: float = 1.0
    burn_factors: tuple[float, float, float, float] = (14.4, 6.0, 3.0, 1.0)
    error_rate: float = 0.10
    max_in_flight: int = 64
    confidence_drop: float = 0.10
    runbook: str = DEFAULT_RUNBOOK
    runbook_doc: str | None = None
    #: Fleet drift (once replicas export reference-bin counts): PSI over this window,
    #: alerting above ``psi_threshold`` when at least ``psi_min_rows`` rows arrived.
    psi_window: str = "1h"
    psi_threshold: float = 0.2
    psi_min_rows: int = 1000

    def __post_init__(self) -> None:
        if self.naming not in NAMINGS:
            raise ValueError(f"unknown naming {self.naming!r}; use one of {', '.join(NAMINGS)}")
        if not (isinstance(self.scale, (int, float)) and math.isfinite(self.scale)
                and 0 < self.scale <= 1):
            raise ValueError(f"scale {self.scale!r} must be in (0, 1] (1 in production, "
                             "e.g. 1/60 to run an hour's windows in a minute)")
        if len(self.burn_factors) != 4 or not all(
                isinstance(f, (int, float)) and math.isfinite(f) and f > 0
                for f in self.burn_factors):
            raise ValueError(f"burn factors {self.burn_factors!r}: give four positive numbers "
                             "(default 14.4, 6, 3, 1)")
        if not 0 < self.error_rate < 1:
            raise ValueError(f"error rate {self.error_rate!r} must be strictly between 0 and 1")
        if not 0 < self.confidence_drop < 1:
            raise ValueError(f"confidence drop {self.confidence_drop!r} must be strictly "
                             "between 0 and 1")
        if self.max_in_flight < 1:
            raise ValueError(f"max in flight {self.max_in_flight!r} must be at least 1")
        if not (isinstance(self.psi_window, str) and len(self.psi_window) > 1
                and self.psi_window[:-1].isdigit() and self.psi_window[-1] in _UNIT_SECONDS
                and int(self.psi_window[:-1]) > 0):
            raise ValueError(f"psi window {self.psi_window!r}: write a whole number and a unit "
                             "(s, m, h, d), e.g. 1h")
        if not self.psi_threshold > 0 or self.psi_min_rows < 1:
            raise ValueError("psi threshold must be positive and psi min rows at least 1")
        if self.runbook_doc is not None and (
                not isinstance(self.runbook_doc, str) or not self.runbook_doc.strip()
                or "#" in self.runbook_doc):
            raise ValueError(f"runbook doc {self.runbook_doc!r}: give the URL of the runbook "
                             "file without a #fragment (each alert gets its own), e.g. "
                             "https://git.example.com/ops/blob/main/runbooks/{model}.md")

    @property
    def burn_alerts(self) -> tuple[BurnAlert, ...]:
        return tuple(dataclasses.replace(a, factor=float(f))
                     for a, f in zip(DEFAULT_BURN_ALERTS, self.burn_factors, strict=True))

    def duration(self, text: str) -> str:
        """A Prometheus duration: the nominal one times ``scale``, at least 1s."""
        return _duration(_seconds(text) * self.scale)

    def runbook_url(self, alert: str, slo: str | None = None, model: str | None = None) -> str:
        """Where the ``runbook_url`` of ``alert`` (of SLO ``slo``, for an SLO's alerts) points.

        With ``runbook_doc``, ``<doc>#<anchor>``; ``{model}`` in the doc is
        replaced by ``model`` (a runbook file's stem, or a template that
        makes one from the alert's model label) and raises ``ValueError``
        when ``model`` is None.
        """
        if self.runbook_doc is None:
            return self.runbook if "#" in self.runbook else f"{self.runbook.rstrip('/')}/{alert}"
        from ..runbook._anchors import alert_anchor  # the runbook imports this module

        doc = self.runbook_doc
        if "{model}" in doc:
            if model is None:
                raise ValueError(f"alert {alert} names no model, so {{model}} in the runbook "
                                 f"doc {doc!r} cannot be filled in: name the models in the "
                                 "SLOs, or give the URL of one runbook without {model}")
            doc = doc.replace("{model}", model)
        return f"{doc}#{alert_anchor(alert, slo)}"


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    return int(text[:-1]) * _UNIT_SECONDS[text[-1]]


def _duration(seconds: float) -> str:
    whole = max(1, round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _number(value: float) -> str:
    value = round(float(value), 12)  # 1 - 0.99 is 0.010000000000000009
    return str(int(value)) if value.is_integer() else repr(value)


class _Names:
    """Catalogue metric and label names under one naming scheme."""

    def __init__(self, naming: str) -> None:
        self.naming = naming

    def metric(self, name: str, suffix: str = "") -> str:
        definition = _definition(name)
        return prometheus_name(name, definition.unit, definition.kind, self.naming) + suffix

    def label(self, key: str) -> str:
        return prometheus_label(key, self.naming)

    def selector(self, matchers: Iterable[tuple[str, str, str]]) -> str:
        parts = [f'{self.label(k)}{op}"{_escape(v)}"' for k, op, v in matchers]
        return "{" + ", ".join(parts) + "}" if parts else ""


def _definition(name: str) -> MetricDef:
    _load_catalogue()
    definition = METRICS.get(name)
    if definition is None:
        raise LookupError(f"metric {name!r} is not in the catalogue")
    return definition


_REGISTERING = ("drift", "slo", "anomaly", "health")


def _load_catalogue() -> None:
    # Packages register their metrics when imported; the rules follow what is declared.
    for package in _REGISTERING:
        try:
            importlib.import_module(f"inferwatch.{package}")
        except ImportError:  # pragma: no cover - a package not (yet) in this version
            continue


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


# -- SLIs --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Sli:
    """Counters whose rates make an SLI: ``bad`` events (or ``total - good``) over ``total``."""

    total: str  # series selector of all events
    bad: str | None = None
    good: str | None = None

    def error_ratio(self, window: str, by: str) -> str:
        grouping = f"sum by ({by}) " if by else "sum "
        total = f"{grouping}(rate({self.total}[{window}]))"
        if self.bad is not None:
            bad = f"{grouping}(rate({self.bad}[{window}]))"
        else:
            good = f"{grouping}(rate({self.good}[{window}]))"
            bad = f"({total} - ({good} or {total} * 0))"
        # No bad series yet (no error ever) is a ratio of 0, not an absent one;
        # no events at all is no ratio.
        return f"({bad} or {total} * 0)\n/\n({total} > 0)"

    def error_ratio_increase(self, window: str) -> str:
        total = f"sum(increase({self.total}[{window}]))"
        if self.bad is not None:
            bad = f"sum(increase({self.bad}[{window}]))"
        else:
            good = f"sum(increase({self.good}[{window}]))"
            bad = f"({total} - ({good} or {total} * 0))"
        return f"({bad} or {total} * 0)\n/\n({total} > 0)"


def _model_matchers(slo: Any) -> list[tuple[str, str, str]]:
    matchers = []
    if getattr(slo, "model", None):
        matchers.append(("model.name", "=", slo.model))
    if getattr(slo, "version", None):
        matchers.append(("model.version", "=", slo.version))
    return matchers


def _sli(slo: Any, names: _Names) -> _Sli | None:
    """The SLI of ``slo`` in PromQL terms, or None where Prometheus cannot compute it."""
    base = _model_matchers(slo)
    if slo.kind == "availability":
        calls = names.metric("inferwatch.predict.calls")
        return _Sli(total=calls + names.selector(base),
                    bad=calls + names.selector([*base, ("inferwatch.outcome", "=", "error")]))
    if slo.kind == "latency":
        duration = names.metric("inferwatch.predict.duration")
        threshold = le_value(slo.threshold_ms / 1000.0, names.naming)
        good = [*base, ("inferwatch.outcome", "=", "ok"), ("le", "=", threshold)]
        return _Sli(total=duration + "_count" + names.selector(base),
                    good=duration + "_bucket" + names.selector(good))
    if slo.kind == "drift":
        windows = names.metric("inferwatch.drift.windows")
        status = "inferwatch.drift.status"
        return _Sli(
            total=windows + names.selector([*base, (status, "!=", "no_data")]),
            bad=windows + names.selector([*base, (status, "=", "drift")]),
        )
    if slo.kind in ("freshness", "quality") and "inferwatch.slo.events" in METRICS:
        # Freshness and quality events are counted in the SDK (one a minute while the SLO
        # is declared; quality once labels are joined), exported by each replica.
        events = names.metric("inferwatch.slo.events")
        own = [*base, ("inferwatch.slo.name", "=", slo.name)]
        return _Sli(total=events + names.selector(own),
                    bad=events + names.selector([*own, ("inferwatch.slo.event", "=", "bad")]))
    return None


def _slo_labels(slo: Any) -> dict[str, str]:
    return {"inferwatch_slo_name": slo.name, "inferwatch_slo_kind": slo.kind}


def _recording_rules(slo: Any, sli: _Sli, options: RuleOptions) -> list[dict[str, Any]]:
    labels = _slo_labels(slo)
    sel = '{inferwatch_slo_name="' + _escape(slo.name) + '"}'
    budget = round(1.0 - float(slo.target), 12)
    rules: list[dict[str, Any]] = []
    for name in BURN_WINDOWS:
        window = options.duration(name)
        rules.append({"record": f"instance:inferwatch_slo_sli_error:ratio_rate{name}",
                      "expr": sli.error_ratio(window, "instance"), "labels": dict(labels)})
        rules.append({"record": f"inferwatch:slo_sli_error:ratio_rate{name}",
                      "expr": sli.error_ratio(window, ""), "labels": dict(labels)})
        rules.append({"record": f"inferwatch:slo_burn_rate:ratio_rate{name}",
                      "expr": f"inferwatch:slo_sli_error:ratio_rate{name}{sel} "
                              f"/ {_number(budget)}",
                      "labels": dict(labels)})
    window = _duration(float(slo.window_seconds) * options.scale)
    whole = f"inferwatch:slo_sli_error:ratio_rate{slo.window}"
    if slo.window not in BURN_WINDOWS:  # a 1d or 3d SLO window is recorded above
        rules.append({"record": whole, "expr": sli.error_ratio_increase(window),
                      "labels": dict(labels)})
    rules += [
        {"record": "inferwatch:slo_objective:ratio",
         "expr": f"vector({_number(float(slo.target))})", "labels": dict(labels)},
        {"record": "inferwatch:slo_error_budget_remaining:ratio",
         "expr": f"1 - {whole}{sel} / {_number(budget)}",
         "labels": dict(labels)},
    ]
    return rules


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str,
           options: RuleOptions, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": options.duration(for_),
        "labels": {"severity": severity, **(labels or {})},
        "annotations": {
            "summary": summary,
            "description": description,
            # With a runbook doc, prometheus_rules links each alert once all are made.
            "runbook_url": options.runbook_url(name) if options.runbook_doc is None else "",
        },
    }


def _burn_alerts(slo: Any, options: RuleOptions) -> list[dict[str, Any]]:
    sel = '{inferwatch_slo_name="' + _escape(slo.name) + '"}'
    out = []
    for burn in options.burn_alerts:
        factor = _number(burn.factor)
        expr = (f"inferwatch:slo_burn_rate:ratio_rate{burn.long}{sel} > {factor}\n"
                f"and\n"
                f"inferwatch:slo_burn_rate:ratio_rate{burn.short}{sel} > {factor}")
        spent = burn.factor * _seconds(burn.long) / float(slo.window_seconds)
        speed = "fast" if burn.notify == "page" else "slow"
        out.append(_alert(
            burn.alert, expr, burn.for_, burn.severity,
            f"SLO {slo.name}: error budget burning {factor}x too fast ({speed} burn)",
            f"SLO {slo.name} (target {_number(float(slo.target))}) burns its error budget at "
            f"more than {factor}x the sustainable rate over {burn.long} and {burn.short}: "
            f"{spent:.1%} of the {slo.window} budget gone in {burn.long}. Burn rate now "
            "{{ $value | printf \"%.2f\" }}x.",
            options, {**_slo_labels(slo), "notify": burn.notify},
        ))
    return out


# -- model alerts ---------------------------------------------------------------------


def _model_alerts(slos: Sequence[Any], options: RuleOptions, names: _Names) -> list[dict[str, Any]]:
    model = names.label("model.name")
    outcome = names.label("inferwatch.outcome")
    feature = names.label("inferwatch.feature")
    calls = names.metric("inferwatch.predict.calls")
    w5 = options.duration("5m")
    alerts: list[dict[str, Any]] = []

    # P0: nothing succeeds, a replica is gone, errors past the threshold, p99 far past the SLO.
    total = f"sum by ({model}) (rate({calls}[{w5}]))"
    ok = f'sum by ({model}) (rate({calls}{{{outcome}="ok"}}[{w5}]))'
    alerts.append(_alert(
        "InferwatchNoSuccessfulPredictions",
        f"({ok} or {total} * 0) == 0\nand\n{total} > 0", "5m", "P0",
        "Model {{ $labels.@model }}: no successful predictions",
        "Every predict call of model {{ $labels.@model }} failed over the last 5 minutes.",
        options))
    if options.naming == "otel-prometheus":
        down = (f"up == 0\nand on (job, instance)\n"
                f"group by (job, instance) (last_over_time({calls}[{options.duration('1h')}]))")
        description = ("Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}), "
                       "which served predictions within the last hour.")
    else:
        down = (f"group by (job, instance) (last_over_time({calls}[{options.duration('1h')}]))\n"
                f"unless\ngroup by (job, instance) ({calls})")
        description = ("{{ $labels.instance }} (job {{ $labels.job }}) served predictions "
                       "within the last hour and reports no more (down, or scaled away).")
    alerts.append(_alert("InferwatchEndpointDown", down, "5m", "P0",
                         "Inference endpoint {{ $labels.instance }} is down", description,
                         options))
    errors = f'sum by ({model}) (rate({calls}{{{outcome}="error"}}[{w5}]))'
    alerts.append(_alert(
        "InferwatchHighErrorRate", f"{errors}\n/\n{total} > {_number(options.error_rate)}",
        "5m", "P0",
        f"Model {{{{ $labels.@model }}}}: error rate above {options.error_rate:.0%}",
        "{{ $value | humanizePercentage }} of the predict calls of model "
        "{{ $labels.@model }} failed over the last 5 minutes.", options))
    duration = names.metric("inferwatch.predict.duration")
    for slo in slos:
        if slo.kind != "latency":
            continue
        limit = 5 * slo.threshold_ms / 1000.0
        sel = names.selector(_model_matchers(slo))
        p99 = (f"histogram_quantile(0.99, sum by ({model}, le) "
               f"(rate({duration}_bucket{sel}[{w5}])))")
        alerts.append(_alert(
            "InferwatchLatencyP99FarOverSLO", f"{p99} > {_number(limit)}", "5m", "P0",
            f"SLO {slo.name}: p99 latency over 5x its {_number(slo.threshold_ms)} ms threshold",
            "p99 predict latency of model {{ $labels.@model }} is "
            "{{ $value | humanizeDuration }}, over "
            f"{_number(5 * slo.threshold_ms)} ms (5x the latency SLO {slo.name}).",
            options, _slo_labels(slo)))

    # P1: drift of the model's output; health red (once the health score is exported).
    status = names.metric("inferwatch.drift.status")
    outputs = f'{status}{{{feature}=~"prediction|confidence"}}'
    alerts.append(_alert(
        "InferwatchPredictionDrift", f"{outputs} == 2", "10m", "P1",
        "Model {{ $labels.@model }}: prediction drift ({{ $labels.@feature }})",
        "The model's {{ $labels.@feature }} has drifted from the reference profile "
        "(drift status 2) for 10 minutes.", options))
    _load_catalogue()
    health = names.metric(HEALTH) if HEALTH in METRICS else None
    if health is not None:
        alerts.append(_alert(
            "InferwatchHealthRed", f"{health} == 2", "10m", "P1",
            "Model {{ $labels.@model }}: health red",
            "The model health score has been under 50 for 10 minutes (see the status "
            "summary for the components that cost the points).", options))

    # P2: a feature drifted, slow burn (the ticket alerts), confidence falling, saturation.
    inputs = f'{status}{{{feature}!~"prediction|confidence"}}'
    alerts.append(_alert(
        "InferwatchFeatureDrift", f"{inputs} == 2", "15m", "P2",
        "Model {{ $labels.@model }}: feature {{ $labels.@feature }} drifted",
        "Feature {{ $labels.@feature }} has drifted from the reference profile "
        "(drift status 2) for 15 minutes.", options))
    confidence = names.metric("inferwatch.prediction.confidence")
    hour, day = options.duration("1h"), options.duration("1d")
    now = (f"sum by ({model}) (rate({confidence}_sum[{hour}]))\n/\n"
           f"sum by ({model}) (rate({confidence}_count[{hour}]))")
    before = (f"sum by ({model}) (rate({confidence}_sum[{day}] offset {hour}))\n/\n"
              f"sum by ({model}) (rate({confidence}_count[{day}] offset {hour}))")
    keep = _number(1 - options.confidence_drop)
    alerts.append(_alert(
        "InferwatchConfidenceFalling", f"(\n{now}\n)\n< {keep} *\n(\n{before}\n)", "30m", "P2",
        "Model {{ $labels.@model }}: mean confidence falling",
        "Mean confidence over the last hour is {{ $value | printf \"%.3f\" }}, more than "
        f"{options.confidence_drop:.0%} below its mean over the day before.", options))
    in_flight = names.metric("inferwatch.predict.in_flight")
    alerts.append(_alert(
        "InferwatchInFlightSaturation",
        f"sum by ({model}, instance) ({in_flight}) > {options.max_in_flight}", "10m", "P2",
        "Model {{ $labels.@model }} on {{ $labels.instance }}: in-flight calls saturated",
        "{{ $value }} predict calls in flight (more than "
        f"{options.max_in_flight}) for 10 minutes.", options))

    if ANOMALY in METRICS:
        alarm = names.metric(ANOMALY)
        signal = names.label("inferwatch.anomaly.signal")
        alerts.append(_alert(
            "InferwatchAnomaly", f"{alarm} == 1", "5m", "P2",
            "Model {{ $labels.@model }}: {{ $labels.@signal }} off its usual rhythm",
            "The anomaly score of {{ $labels.@signal }} against its learned seasonal "
            "baseline is past the watch's threshold.", options))
        for alert in alerts[-1:]:
            for key in ("summary", "description"):
                notes = alert["annotations"]
                notes[key] = notes[key].replace("@signal", signal)

    # P3: minor drift, warning status (health yellow once the health score is exported).
    score = names.metric("inferwatch.drift.score")
    statistic = names.label("inferwatch.statistic")
    psi = f'{score}{{{statistic}="psi"}}'
    alerts.append(_alert(
        "InferwatchMinorDrift", f"{psi} > 0.1 < 0.2", "30m", "P3",
        "Model {{ $labels.@model }}: minor drift on {{ $labels.@feature }}",
        "PSI of {{ $labels.@feature }} is {{ $value | printf \"%.3f\" }} (moderate: "
        "0.1-0.2) for 30 minutes.", options))
    alerts.append(_alert(
        "InferwatchDriftWarning", f"{status} == 1", "30m", "P3",
        "Model {{ $labels.@model }}: drift warning on {{ $labels.@feature }}",
        "{{ $labels.@feature }} has been in drift status warning for 30 minutes.",
        options))
    if health is not None:
        alerts.append(_alert(
            "InferwatchHealthYellow", f"{health} == 1", "30m", "P3",
            "Model {{ $labels.@model }}: health yellow",
            "The model health score has been between 50 and 80 for 30 minutes.", options))
    for alert in alerts:  # @model / @feature: the label names under this naming
        for key in ("summary", "description"):
            text = alert["annotations"][key]
            alert["annotations"][key] = text.replace("@model", model).replace("@feature", feature)
    return alerts


def prometheus_rules(slos: Sequence[Any], options: RuleOptions | None = None) -> dict[str, Any]:
    """The rule file (as data) for ``slos``; ``render`` turns it into YAML.

    ``slos`` are ``inferwatch.slo.SLO`` values. Freshness and quality SLOs
    read the SDK's own ``inferwatch.slo.events``; an SLO whose events no
    catalogue metric counts gets no rules, and ``skipped_slos`` names it.
    """
    options = options or RuleOptions()
    _load_catalogue()
    names = _Names(options.naming)
    recording: list[dict[str, Any]] = []
    burn: list[dict[str, Any]] = []
    seen: set[str] = set()
    for slo in slos:
        if slo.name in seen:
            raise ValueError(f"two SLOs are named {slo.name!r}; SLO names must be unique")
        seen.add(slo.name)
        sli = _sli(slo, names)
        if sli is None:
            continue
        recording += _recording_rules(slo, sli, options)
        burn += _burn_alerts(slo, options)
    groups = []
    if recording:
        # One group: rules in a group run in order at each evaluation, so the burn alerts
        # read this evaluation's ratios (in two groups they may read the previous one's).
        groups.append({"name": "inferwatch-slo", "rules": recording + burn})
    groups.append({"name": "inferwatch-model-alerts",
                   "rules": _model_alerts(slos, options, names)})
    from ._fleet_drift import fleet_drift_rules

    fleet = fleet_drift_rules(options, names)
    if fleet:
        groups.append({"name": "inferwatch-fleet-drift", "rules": fleet})
    if options.runbook_doc is not None:
        _link_runbook_doc(groups, slos, options, names)
    return {"groups": groups}


def _link_runbook_doc(groups: list[dict[str, Any]], slos: Sequence[Any], options: RuleOptions,
                      names: _Names) -> None:
    """Point every alert's ``runbook_url`` at its section of the model's runbook."""
    from ..runbook._anchors import FILE_STEM_TEMPLATE, file_stem

    by_name = {slo.name: slo for slo in slos}
    named = sorted({str(slo.model) for slo in slos if getattr(slo, "model", None)})
    model_label = names.label("model.name")
    from_label = FILE_STEM_TEMPLATE.format(label=model_label)
    links: dict[str, str] = {}  # url -> the alert that has it
    for group in groups:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            notes = rule["annotations"]
            slo = by_name.get(rule["labels"].get("inferwatch_slo_name"))
            model: str | None
            if slo is not None and getattr(slo, "model", None):
                model = file_stem(str(slo.model))
            elif f"$labels.{model_label}" in notes["summary"] + notes["description"]:
                model = from_label  # the alert carries the model label: its own runbook
            else:
                # A replica or an SLO of every model: each model's runbook has this section.
                model = file_stem(named[0]) if named else None
            slo_name = None if slo is None else str(slo.name)
            url = options.runbook_url(rule["alert"], slo_name, model)
            which = rule["alert"] + (f" of SLO {slo_name}" if slo_name else "")
            seen = links.setdefault(url, which)
            if seen != which:
                raise ValueError(f"{seen} and {which} would link to the same runbook section "
                                 f"({url}); rename one of the SLOs so that their names differ "
                                 "in letters or digits")
            notes["runbook_url"] = url


def skipped_slos(slos: Sequence[Any]) -> list[str]:
    """Names of the SLOs that get no Prometheus rules (their kind has no counters yet)."""
    _load_catalogue()
    names = _Names("otel-prometheus")
    return [slo.name for slo in slos if _sli(slo, names) is None]
