"""Grafana dashboards for three audiences, generated from the metric catalogue.

Every query names metrics through the rule generator's ``_Names`` (so a name
that is not in the catalogue raises, and the naming scheme is the same
choice as for the rules), selects ``model.name`` and ``model.version``
through the ``$model`` and ``$version`` template variables, and reads a
Prometheus data source chosen by the ``$datasource`` variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..rules._prometheus import _Names

__all__ = ["AUDIENCES", "SCHEMA_VERSION", "grafana_dashboards", "queries"]

#: The Grafana dashboard schema version the JSON is written for (Grafana 10.x).
SCHEMA_VERSION = 39
#: File stem -> what the dashboard is for.
AUDIENCES = {
    "inferwatch-engineering": "on-call and platform engineers: traffic, errors, latency, "
                              "saturation, SLOs, inferwatch's own health",
    "inferwatch-data-science": "data scientists: drift per feature, PSI over time, "
                               "prediction and confidence distributions, data quality",
    "inferwatch-business": "owners of the model: predictions served, availability, health, "
                           "error budgets, anomalies, cost per prediction",
}

_DS = {"type": "prometheus", "uid": "${datasource}"}
_RATE = "$__rate_interval"
_STATUS_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "ok", "color": "green", "index": 0},
    "1": {"text": "warning", "color": "yellow", "index": 1},
    "2": {"text": "drift", "color": "red", "index": 2},
}}]


def _slo_selector(slos: Sequence[Any]) -> str:
    """A PromQL matcher for the recording rules' series of these SLOs."""
    names = sorted({str(s.name) for s in slos})
    alternatives = "|".join(re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", n) for n in names)
    return '{inferwatch_slo_name=~"' + alternatives.replace("\\", "\\\\").replace('"', '\\"') + '"}'


@dataclass
class _Panel:
    title: str
    description: str
    targets: list[tuple[str, str]]  # (expr, legend)
    kind: str = "timeseries"
    unit: str = "short"
    width: int = 12
    height: int = 8
    extra: dict[str, Any] = field(default_factory=dict)


class _Board:
    """Lays panels out in rows on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self._x = 0
        self._y = 0
        self._row_height = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"type": "row", "title": title, "collapsed": False,
                            "id": len(self.panels) + 1, "panels": [],
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y}})
        self._y += 1

    def add(self, panel: _Panel) -> None:
        if self._x + panel.width > 24:
            self._newline()
        targets = []
        for n, (expr, legend) in enumerate(panel.targets):
            target: dict[str, Any] = {"refId": chr(ord("A") + n), "expr": expr,
                                      "legendFormat": legend, "datasource": _DS}
            if panel.kind == "heatmap":
                target["format"] = "heatmap"
            if panel.kind in ("stat", "bargauge"):
                target["instant"] = True
            targets.append(target)
        body: dict[str, Any] = {
            "type": panel.kind, "title": panel.title, "description": panel.description,
            "id": len(self.panels) + 1, "datasource": _DS, "targets": targets,
            "gridPos": {"h": panel.height, "w": panel.width, "x": self._x, "y": self._y},
            "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
            "options": {},
        }
        for key, value in panel.extra.items():
            if key == "defaults":
                body["fieldConfig"]["defaults"].update(value)
            else:
                body[key] = value
        self.panels.append(body)
        self._x += panel.width
        self._row_height = max(self._row_height, panel.height)

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_height
        self._x = 0
        self._row_height = 0


class _Queries:
    """PromQL for the catalogue's metrics under one naming scheme."""

    def __init__(self, naming: str) -> None:
        self.names = _Names(naming)
        self.model = self.names.label("model.name")
        self.version = self.names.label("model.version")

    def metric(self, name: str, suffix: str = "") -> str:
        return self.names.metric(name, suffix)

    def label(self, key: str) -> str:
        return self.names.label(key)

    def sel(self, *extra: tuple[str, str, str], models: bool = True) -> str:
        matchers = [(self.model, "=~", "$model"), (self.version, "=~", "$version")] if models \
            else []
        parts = [f'{k}{op}"{v}"' for k, op, v in matchers]
        parts += [f'{self.label(k)}{op}"{v}"' for k, op, v in extra]
        return "{" + ", ".join(parts) + "}" if parts else ""

    def by(self, *keys: str) -> str:
        return "by (" + ", ".join(self.label(k) if "." in k else k for k in keys) + ")"

    def rate(self, name: str, by: Iterable[str], *extra: tuple[str, str, str],
             suffix: str = "", models: bool = True) -> str:
        return (f"sum {self.by(*by)} (rate({self.metric(name, suffix)}"
                f"{self.sel(*extra, models=models)}[{_RATE}]))")

    def quantile(self, q: float, name: str, by: Iterable[str],
                 *extra: tuple[str, str, str]) -> str:
        return f"histogram_quantile({q}, {self.rate(name, ('le', *by), *extra, suffix='_bucket')})"

    def mean(self, name: str, by: Iterable[str]) -> str:
        keys = tuple(by)
        return f"{self.rate(name, keys, suffix='_sum')} / {self.rate(name, keys, suffix='_count')}"

    def gauge(self, how: str, name: str, by: Iterable[str], *extra: tuple[str, str, str],
              models: bool = True) -> str:
        return f"{how} {self.by(*by)} ({self.metric(name)}{self.sel(*extra, models=models)})"

    def legend(self, *keys: str) -> str:
        return " ".join("{{" + (self.label(k) if "." in k else k) + "}}" for k in keys)


def _engineering(q: _Queries, slos: Sequence[Any]) -> _Board:
    board = _Board()
    calls = "inferwatch.predict.calls"
    series = ("model.name", "model.version")
    error = ("inferwatch.outcome", "=", "error")
    board.row("Traffic and errors")
    board.add(_Panel("Calls per second", "Monitored predict calls, every call counted "
                     "(sampling never thins metrics).",
                     [(q.rate(calls, series), q.legend(*series))], unit="reqps"))
    board.add(_Panel("Error ratio", "Calls whose outcome is an error, over all calls.",
                     [(f"{q.rate(calls, series, error)} / {q.rate(calls, series)}",
                       q.legend(*series))], unit="percentunit"))
    board.add(_Panel("Errors by type", "Failed calls per second by exception type "
                     "(capped: rare types are counted as _other).",
                     [(q.rate(calls, ("model.name", "error.type"), error),
                       q.legend("model.name", "error.type"))], unit="reqps"))
    board.add(_Panel("Predictions per second", "Predictions made (a batch call counts each row).",
                     [(q.rate("inferwatch.predict.predictions", series), q.legend(*series))],
                     unit="short"))
    board.row("Latency")
    duration = "inferwatch.predict.duration"
    board.add(_Panel("Predict latency p50 / p90 / p99", "From the duration histogram, all "
                     "replicas together.",
                     [(q.quantile(p, duration, ("model.name",)), f"p{round(p * 100)} "
                       + q.legend("model.name")) for p in (0.5, 0.9, 0.99)], unit="s"))
    board.add(_Panel("Stage latency p99", "Time in each stage timed with inferwatch.stage().",
                     [(q.quantile(0.99, "inferwatch.predict.stage.duration",
                                  ("model.name", "inferwatch.stage")),
                       q.legend("model.name", "inferwatch.stage"))], unit="s"))
    board.add(_Panel("HTTP request latency p99 by route", "Whole requests as the middleware "
                     "sees them (route templates only, never raw paths).",
                     [(f"histogram_quantile(0.99, sum {q.by('le', 'http.route')} (rate("
                       f"{q.metric('inferwatch.http.server.request.duration', '_bucket')}"
                       f"[{_RATE}])))", q.legend("http.route"))], unit="s"))
    board.add(_Panel("HTTP requests by status", "Requests per second by route and status code; "
                     "a 422 or 404 that never reached a model counts here only.",
                     [(f"sum {q.by('http.route', 'http.response.status_code')} (rate("
                       f"{q.metric('inferwatch.http.server.request.duration', '_count')}"
                       f"[{_RATE}]))", q.legend("http.route", "http.response.status_code"))],
                     unit="reqps"))
    board.row("Saturation")
    board.add(_Panel("In-flight calls", "Calls inside the model right now, all replicas.",
                     [(q.gauge("sum", "inferwatch.predict.in_flight", series),
                       q.legend(*series))]))
    board.add(_Panel("Batch size p50 / p99", "Rows per predict call.",
                     [(q.quantile(p, "inferwatch.predict.batch_size", ("model.name",)),
                       f"p{round(p * 100)} " + q.legend("model.name")) for p in (0.5, 0.99)]))
    board.row("Error budgets")
    slo = ("inferwatch.slo.name", "inferwatch.slo.kind")
    board.add(_Panel("Error budget remaining, per replica", "What each replica has seen since "
                     "it started (1 untouched, 0 spent, below 0 overspent).",
                     [(q.gauge("min", "inferwatch.slo.budget.remaining", (*slo, "instance")),
                       q.legend("inferwatch.slo.name", "instance"))], unit="percentunit"))
    board.add(_Panel("Burn rate, per replica", "Budget spent per unit of time against the "
                     "pace that spends it exactly in the window (1 = on pace).",
                     [(q.gauge("max", "inferwatch.slo.burn_rate",
                               ("inferwatch.slo.name", "inferwatch.slo.burn_window")),
                       q.legend("inferwatch.slo.name", "inferwatch.slo.burn_window"))]))
    if slos:
        fleet = _slo_selector(slos)
        board.add(_Panel("Fleet error budget remaining", "From the recording rules of "
                         "`inferwatch rules prometheus` (load them into Prometheus): every "
                         "replica together, over the SLO's window.",
                         [(f"inferwatch:slo_error_budget_remaining:ratio{fleet}",
                           "{{inferwatch_slo_name}}")], unit="percentunit"))
        board.add(_Panel("Fleet burn rate, 1h and 6h", "The windows the page alerts read.",
                         [(f"inferwatch:slo_burn_rate:ratio_rate{w}{fleet}",
                           f"{{{{inferwatch_slo_name}}}} {w}") for w in ("1h", "6h")]))
    board.row("inferwatch itself")
    board.add(_Panel("Lost by inferwatch, by reason", "Records, log lines and exports lost, "
                     "every loss counted (a full buffer, a dead collector, a full disk).",
                     [(q.rate("inferwatch.self.dropped", ("inferwatch.reason",), models=False),
                       q.legend("inferwatch.reason"))], width=8))
    board.add(_Panel("inferwatch's own errors, by component", "Errors inferwatch survived "
                     "(never raised into the app).",
                     [(q.rate("inferwatch.self.errors", ("inferwatch.component",),
                              models=False), q.legend("inferwatch.component"))], width=8))
    board.add(_Panel("Log records by sampling rule", "Kept and dropped by rule: errors, slow "
                     "and low-confidence calls are always kept.",
                     [(q.rate("inferwatch.log.records",
                              ("sampling.rule", "sampling.decision"), models=False),
                       q.legend("sampling.rule", "sampling.decision"))], width=8))
    return board


def _data_science(q: _Queries) -> _Board:
    board = _Board()
    feature = ("model.name", "inferwatch.feature")
    board.row("Drift")
    board.add(_Panel("Drift status per feature", "The last closed window's decision per "
                     "feature and output (0 ok, 1 warning, 2 drift).",
                     [(q.gauge("max", "inferwatch.drift.status", feature),
                       q.legend(*feature))], kind="stat", width=24, height=6,
                     extra={"defaults": {"mappings": _STATUS_MAPPINGS}}))
    board.add(_Panel("PSI over time", "Population stability index per feature against the "
                     "reference (0.1 worth a look, 0.25 a real shift).",
                     [(q.gauge("max", "inferwatch.drift.score", feature,
                               ("inferwatch.statistic", "=", "psi")), q.legend(*feature))],
                     extra={"defaults": {"thresholds": {"mode": "absolute", "steps": [
                         {"color": "green", "value": None}, {"color": "yellow", "value": 0.1},
                         {"color": "red", "value": 0.25}]},
                         "custom": {"thresholdsStyle": {"mode": "line"}}}}))
    board.add(_Panel("Share of features drifted", "Features flagged in the last closed "
                     "window, over all features.",
                     [(q.gauge("max", "inferwatch.drift.features.drifted_share",
                               ("model.name", "model.version")),
                       q.legend("model.name", "model.version"))], unit="percentunit"))
    board.add(_Panel("Multivariate drift", "Dataset-level tests (MMD, domain classifier): "
                     "their p-values.",
                     [(q.gauge("min", "inferwatch.drift.multivariate.pvalue",
                               ("model.name", "inferwatch.statistic")),
                       q.legend("model.name", "inferwatch.statistic"))]))
    board.row("Predictions")
    series = ("model.name", "model.version")
    # From the buckets: prometheus_client writes no _sum or _count for a histogram
    # whose lowest bound is negative (prediction values may be), so no mean.
    board.add(_Panel("Prediction p10 / p50 / p90", "Quantiles of the predicted values, per "
                     "version.",
                     [(q.quantile(p, "inferwatch.prediction.value", series),
                       f"p{round(p * 100)} " + q.legend(*series)) for p in (0.1, 0.5, 0.9)]))
    board.add(_Panel("Prediction distribution", "Predicted values per bucket over time.",
                     [(f"sum by (le) (rate({q.metric('inferwatch.prediction.value', '_bucket')}"
                       f"{q.sel()}[{_RATE}]))", "{{le}}")], kind="heatmap",
                     extra={"options": {"calculate": False, "yAxis": {"unit": "short"}}}))
    board.add(_Panel("Confidence: mean and p10", "A falling low tail is often the first sign "
                     "of inputs the model has not seen.",
                     [(q.mean("inferwatch.prediction.confidence", ("model.name",)),
                       "mean " + q.legend("model.name")),
                      (q.quantile(0.1, "inferwatch.prediction.confidence", ("model.name",)),
                       "p10 " + q.legend("model.name"))], unit="percentunit"))
    board.add(_Panel("Predicted classes", "Predictions per second by class.",
                     [(q.rate("inferwatch.prediction.classes",
                              ("model.name", "inferwatch.prediction.class")),
                       q.legend("model.name", "inferwatch.prediction.class"))], unit="reqps"))
    board.row("Data quality")
    for name, title in (("missing_rate", "Missing values"), ("out_of_range_rate",
                        "Out of the reference range"), ("new_category_rate",
                        "Categories the reference never saw")):
        board.add(_Panel(title, f"Share of rows per feature in the last closed window "
                         f"({name.replace('_', ' ')}).",
                         [(q.gauge("max", f"inferwatch.data_quality.{name}", feature),
                           q.legend(*feature))], unit="percentunit", width=8))
    return board


def _business(q: _Queries, slos: Sequence[Any]) -> _Board:
    board = _Board()
    series = ("model.name", "model.version")
    calls = "inferwatch.predict.calls"
    board.row("Service")
    board.add(_Panel("Predictions served", "In the dashboard's time range.",
                     [(f"sum(increase({q.metric('inferwatch.predict.predictions')}{q.sel()}"
                       "[$__range]))", "predictions")], kind="stat", unit="short", width=6))
    board.add(_Panel("Availability", "Calls without error in the dashboard's time range.",
                     [(f"1 - sum(increase({q.metric(calls)}"
                       f"{q.sel(('inferwatch.outcome', '=', 'error'))}[$__range])) / "
                       f"sum(increase({q.metric(calls)}{q.sel()}[$__range]))", "availability")],
                     kind="stat", unit="percentunit", width=6))
    board.add(_Panel("Health score", "0-100 per model version (green above 80, red below 50); "
                     "the status page says why.",
                     [(q.gauge("min", "inferwatch.health.score", series), q.legend(*series))],
                     kind="stat", width=12, extra={"defaults": {"min": 0, "max": 100,
                         "thresholds": {"mode": "absolute", "steps": [
                             {"color": "red", "value": None}, {"color": "yellow", "value": 50},
                             {"color": "green", "value": 80}]}}}))
    board.add(_Panel("Predictions per minute", "All replicas, per model.",
                     [(f"60 * {q.rate('inferwatch.predict.predictions', ('model.name',))}",
                       q.legend("model.name"))]))
    board.add(_Panel("Health over time", "The score per model version.",
                     [(q.gauge("min", "inferwatch.health.score", series), q.legend(*series))],
                     extra={"defaults": {"min": 0, "max": 100}}))
    board.row("Budgets and anomalies")
    if slos:
        board.add(_Panel("Error budget left", "The fleet's, from the recording rules.",
                         [("inferwatch:slo_error_budget_remaining:ratio" + _slo_selector(slos),
                           "{{inferwatch_slo_name}}")],
                         kind="stat", unit="percentunit"))
    else:
        board.add(_Panel("Error budget left, per replica", "Declare SLOs to see them here.",
                         [(q.gauge("min", "inferwatch.slo.budget.remaining",
                                   ("inferwatch.slo.name",)), q.legend("inferwatch.slo.name"))],
                         kind="stat", unit="percentunit"))
    board.add(_Panel("Anomalies", "Volume, mean prediction and error rate against their "
                     "learned daily and weekly rhythm (1: alarm).",
                     [(f"max {q.by('model.name', 'inferwatch.anomaly.signal')} "
                       f"({q.metric('inferwatch.anomaly.alarm')}"
                       f'{{{q.model}=~"$model"}})',
                       q.legend("model.name", "inferwatch.anomaly.signal"))]))
    board.row("Cost")
    cost = q.metric("inferwatch.cost.attributed")
    predictions = q.metric("inferwatch.predict.predictions")
    board.add(_Panel("Cost per prediction", "Machine and GPU cost attributed to the serving "
                     "processes (cost_per_hour by CPU share, gpu_cost_per_hour by GPU busy "
                     "time) over the predictions they made: the fleet's, and each replica's "
                     "over its last 5 minutes. Every model together: the cost is the "
                     "process's.",
                     [(f"sum(rate({cost}[{_RATE}])) / sum(rate({predictions}[{_RATE}]))",
                       "fleet"),
                      (q.gauge("max", "inferwatch.cost.per_prediction", ("instance",),
                               models=False), "{{instance}}")],
                     unit="currencyUSD", extra={"defaults": {"decimals": 6}}))
    board.add(_Panel("Cost per hour, CPU and GPU", "The hourly cost attributed to the "
                     "serving processes, by what it is charged for.",
                     [(f"3600 * {q.rate('inferwatch.cost.attributed', ('inferwatch.cost.resource',), models=False)}",  # noqa: E501
                       q.legend("inferwatch.cost.resource"))], unit="currencyUSD"))
    return board


def _templating(q: _Queries) -> dict[str, Any]:
    calls = q.metric("inferwatch.predict.calls")
    model_query = f"label_values({calls}, {q.model})"
    version_query = f'label_values({calls}{{{q.model}=~"$model"}}, {q.version})'

    def variable(name: str, label: str, query: str) -> dict[str, Any]:
        return {"name": name, "label": label, "type": "query", "datasource": _DS,
                "query": query, "refresh": 2, "sort": 1,
                "includeAll": True, "multi": True, "allValue": ".*",
                "current": {"text": "All", "value": "$__all"}, "options": [], "hide": 0}

    return {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource",
         "query": "prometheus", "current": {}, "options": [], "hide": 0, "refresh": 1},
        variable("model", "Model", model_query),
        variable("version", "Version", version_query),
    ]}


def grafana_dashboards(slos: Sequence[Any] = (), naming: str = "otel-prometheus",
                       ) -> dict[str, dict[str, Any]]:
    """The three dashboards as Grafana JSON models, by file stem (``AUDIENCES``).

    ``slos`` (``inferwatch.slo.SLO`` objects) add the fleet's error budget
    panels, read from the recording rules ``inferwatch rules prometheus``
    writes for the same SLOs; ``naming`` is the rule generator's: how metric
    names reach Prometheus (``otel-prometheus`` or ``collector``).
    """
    q = _Queries(naming)
    boards = {
        "inferwatch-engineering": ("engineering", _engineering(q, slos)),
        "inferwatch-data-science": ("data science", _data_science(q)),
        "inferwatch-business": ("business", _business(q, slos)),
    }
    dashboards = {}
    for uid, (audience, board) in boards.items():
        dashboards[uid] = {
            "uid": uid, "title": f"inferwatch · {audience}",
            "description": f"For {AUDIENCES[uid]}. Generated by `inferwatch dashboard "
                           f"grafana` (naming {naming}).",
            "tags": ["inferwatch", audience], "timezone": "browser", "editable": True,
            "graphTooltip": 1, "schemaVersion": SCHEMA_VERSION, "version": 1,
            "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
            "templating": _templating(q), "annotations": {"list": []},
            "links": [{"title": "inferwatch dashboards", "type": "dashboards",
                       "tags": ["inferwatch"], "asDropdown": True}],
            "panels": board.panels,
        }
    return dashboards


def queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression in a dashboard: its panels' and its variables'."""
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    found += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return found
