"""The PromQL of each check, for one model, under one naming scheme.

Names come from the rule generator's ``_Names`` (the metric catalogue
through ``--naming``), so a renamed metric cannot leave a stale query here;
every query selects the model by its label, except inferwatch's own losses,
which belong to the process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..rules._names import le_value
from ..rules._prometheus import _Names
from ._checks import (
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

__all__ = ["Queries", "Query"]

_OUTPUTS = "prediction|confidence"


@dataclass(frozen=True)
class Query:
    """One PromQL expression and what its answer says."""

    what: str
    expr: str


def _slo_matcher(slos: Sequence[Any]) -> str:
    names = sorted({str(s.name) for s in slos})
    alternatives = "|".join(re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", n) for n in names)
    return '{inferwatch_slo_name=~"' + alternatives.replace("\\", "\\\\").replace('"', '\\"') \
        + '"}'


class Queries:
    """PromQL for the checks and actions of ``model`` under ``naming``.

    ``slos`` are the model's SLOs that have recording rules (their fleet
    budget is read from ``inferwatch:slo_*``).
    """

    def __init__(self, model: str, naming: str, slos: Sequence[Any] = ()) -> None:
        self.names = _Names(naming)
        self.model = model
        self.slos = list(slos)
        self.version = self.names.label("model.version")
        self.feature = self.names.label("inferwatch.feature")

    # -- building blocks -------------------------------------------------------------

    def sel(self, *extra: tuple[str, str, str], model: bool = True) -> str:
        matchers = [("model.name", "=", self.model)] if model else []
        return self.names.selector([*matchers, *extra])

    def metric(self, name: str, suffix: str = "") -> str:
        return self.names.metric(name, suffix)

    def by(self, *keys: str) -> str:
        return "by (" + ", ".join(self.names.label(k) if "." in k else k for k in keys) + ")"

    def rate(self, name: str, by: Sequence[str], *extra: tuple[str, str, str],
             window: str = "5m", suffix: str = "", model: bool = True) -> str:
        grouping = f"sum {self.by(*by)} " if by else "sum"
        return (f"{grouping}(rate({self.metric(name, suffix)}{self.sel(*extra, model=model)}"
                f"[{window}]))")

    def gauge(self, how: str, name: str, by: Sequence[str], *extra: tuple[str, str, str]) -> str:
        return f"{how} {self.by(*by)} ({self.metric(name)}{self.sel(*extra)})"

    def quantile(self, q: float, name: str, by: Sequence[str], window: str = "5m",
                 offset: str = "") -> str:
        rate = (f"rate({self.metric(name, '_bucket')}{self.sel()}[{window}]"
                + (f" offset {offset}" if offset else "") + ")")
        return f"histogram_quantile({q}, sum {self.by('le', *by)} ({rate}))"

    def error_ratio(self, by: Sequence[str], window: str = "5m") -> str:
        calls = "inferwatch.predict.calls"
        return (f"{self.rate(calls, by, ('inferwatch.outcome', '=', 'error'), window=window)}\n"
                f"/\n{self.rate(calls, by, window=window)}")

    def first_seen(self, window: str) -> str:
        return (f"sort_desc(min by ({self.version}) (min_over_time("
                f"{self.metric('inferwatch.model.info')}{self.sel()}[{window}])))")

    # -- the checks ------------------------------------------------------------------

    def for_check(self, check: CheckDef) -> list[Query]:
        """The queries of one check, in the order to read them."""
        build = {
            SERVICE_HEALTH: self._service, PREDICTION_DISTRIBUTION: self._predictions,
            INPUT_DATA_QUALITY: self._inputs, UPSTREAM_FRESHNESS: self._freshness,
            RECENT_VERSION_CHANGES: self._versions, OWN_LOSSES: self._own,
        }[check]
        return build()

    def _service(self) -> list[Query]:
        calls = "inferwatch.predict.calls"
        version = ("model.version",)
        out = [
            Query("Calls per second, by version (no series: no traffic at all)",
                  self.rate(calls, version)),
            Query("Error ratio over 5 minutes, by version", self.error_ratio(version)),
            Query("Failed calls per second, by error type",
                  self.rate(calls, ("error.type",), ("inferwatch.outcome", "=", "error"))),
            Query("p99 predict latency in seconds, by version",
                  self.quantile(0.99, "inferwatch.predict.duration", version)),
            Query("p50 predict latency in seconds, by version",
                  self.quantile(0.5, "inferwatch.predict.duration", version)),
            Query("Calls per second, by replica (a replica missing here is down or idle)",
                  self.rate(calls, ("instance",))),
            Query("Calls in flight, by replica (queueing inside the model)",
                  self.gauge("sum", "inferwatch.predict.in_flight", ("instance",))),
            Query("Health score (0-100), by version",
                  self.gauge("min", "inferwatch.health.score", version)),
            Query("Health points earned per component, by version (what cost the points)",
                  self.gauge("min", "inferwatch.health.component",
                             ("model.version", "inferwatch.component"))),
        ]
        duration = self.metric("inferwatch.predict.duration")
        for slo in self.slos:
            if slo.kind != "latency":
                continue
            le = le_value(float(slo.threshold_ms) / 1000.0, self.names.naming)
            good = self.sel(("inferwatch.outcome", "=", "ok"), ("le", "=", le))
            out.append(Query(
                f"Share of calls within {slo.threshold_ms:g} ms over 5 minutes (SLO {slo.name}: "
                f"{float(slo.target):.4g})",
                f"sum(rate({duration}_bucket{good}[5m]))\n/\n"
                f"sum(rate({duration}_count{self.sel()}[5m]))"))
        if self.slos:
            matcher = _slo_matcher(self.slos)
            out += [
                Query("Error budget left, the fleet's (1 untouched, 0 spent, below 0 overspent)",
                      f"inferwatch:slo_error_budget_remaining:ratio{matcher}"),
                Query("Burn rate over 1h and 6h (1 spends the budget exactly in its window)",
                      f"inferwatch:slo_burn_rate:ratio_rate1h{matcher}\nor\n"
                      f"inferwatch:slo_burn_rate:ratio_rate6h{matcher}"),
            ]
        else:
            out.append(Query("Error budget left, per replica (since each started)",
                             self.gauge("min", "inferwatch.slo.budget.remaining",
                                        ("inferwatch.slo.name", "instance"))))
        return out

    def _predictions(self) -> list[Query]:
        outputs = ("inferwatch.feature", "=~", _OUTPUTS)
        series = ("model.version", "inferwatch.feature")
        confidence = self.metric("inferwatch.prediction.confidence")
        mean = (f"sum(rate({confidence}_sum{self.sel()}[1h]))\n/\n"
                f"sum(rate({confidence}_count{self.sel()}[1h]))")
        before = (f"sum(rate({confidence}_sum{self.sel()}[1d] offset 1h))\n/\n"
                  f"sum(rate({confidence}_count{self.sel()}[1d] offset 1h))")
        return [
            Query("Drift status of the outputs in the last closed window (0 ok, 1 warning, "
                  "2 drift)", self.gauge("max", "inferwatch.drift.status", series, outputs)),
            Query("PSI of the outputs against the reference (over 0.2: a real shift)",
                  self.gauge("max", "inferwatch.drift.score", series, outputs,
                             ("inferwatch.statistic", "=", "psi"))),
            Query("Median prediction over the last hour, by version",
                  self.quantile(0.5, "inferwatch.prediction.value", ("model.version",), "1h")),
            Query("Median prediction over the same hour a day ago, by version",
                  self.quantile(0.5, "inferwatch.prediction.value", ("model.version",), "1h",
                                offset="1d")),
            Query("Mean confidence over the last hour", mean),
            Query("Mean confidence over the day before that", before),
            Query("Predictions per second, by predicted class",
                  self.rate("inferwatch.prediction.classes", ("inferwatch.prediction.class",),
                            window="1h")),
        ]

    def _inputs(self) -> list[Query]:
        inputs = ("inferwatch.feature", "!~", _OUTPUTS)
        psi = ("inferwatch.statistic", "=", "psi")
        series = ("model.version", "inferwatch.feature")
        rate = f"{QUALITY_RATE_DEGRADED:g}"
        out = [
            Query("Features in drift (2) or warning (1) in the last closed window",
                  f"{self.gauge('max', 'inferwatch.drift.status', series, inputs)} > 0"),
            Query("PSI per feature, worst first",
                  f"sort_desc({self.gauge('max', 'inferwatch.drift.score', series, inputs, psi)})"),
        ]
        for name, what in (("missing_rate", "missing"), ("out_of_range_rate",
                           "out of the reference's range"),
                           ("new_category_rate", "of a category the reference never saw")):
            out.append(Query(
                f"Features with {QUALITY_RATE_DEGRADED:.0%} or more of their rows {what}",
                f"{self.gauge('max', f'inferwatch.data_quality.{name}', series)} >= {rate}"))
        out += [
            Query("Rows the drift engine could not read, by version",
                  self.gauge("max", "inferwatch.data_quality.unreadable_rows",
                             ("model.version",))),
            Query("Share of features drifted, by version",
                  self.gauge("max", "inferwatch.drift.features.drifted_share",
                             ("model.version",))),
        ]
        return out

    def _freshness(self) -> list[Query]:
        info = self.metric("inferwatch.model.info")
        out = [
            Query("Freshness points of the health score, by version (full marks: its weight, "
                  "15 by default; 0: older than twice max_age)",
                  self.gauge("min", "inferwatch.health.component", ("model.version",),
                             ("inferwatch.component", "=", "freshness"))),
            Query("Days since each version was first seen",
                  f"(time() - min by ({self.version}) ({info}{self.sel()})) / 86400"),
            Query("Rows in the current drift window, by version (flat: no new inputs arrive)",
                  self.gauge("max", "inferwatch.drift.window.rows", ("model.version",))),
            Query("Predictions per second now against the same time a day ago (far from 1: "
                  "an upstream caller changed)",
                  f"{self.rate('inferwatch.predict.predictions', ())}\n/\n"
                  f"sum(rate({self.metric('inferwatch.predict.predictions')}{self.sel()}"
                  f"[5m] offset 1d))"),
        ]
        fresh = [s for s in self.slos if s.kind == "freshness"]
        if fresh:
            out.append(Query("Error budget left of the freshness SLOs",
                             f"inferwatch:slo_error_budget_remaining:ratio{_slo_matcher(fresh)}"))
        return out

    def _versions(self) -> list[Query]:
        info = self.metric("inferwatch.model.info")
        return [
            Query("Versions by first sight (Unix seconds), newest first",
                  self.first_seen("7d")),
            Query(f"Versions first seen in the last {RECENT_SECONDS / 60:.0f} minutes",
                  f"min by ({self.version}) ({info}{self.sel()}) > time() - "
                  f"{RECENT_SECONDS:.0f}"),
            Query("Versions serving now (calls per second)",
                  f"{self.rate('inferwatch.predict.calls', ('model.version',))} > 0"),
            Query("Error ratio over the last hour, by version (the new one against the old)",
                  self.error_ratio(("model.version",), "1h")),
            Query("p99 latency over the last hour, by version",
                  self.quantile(0.99, "inferwatch.predict.duration", ("model.version",), "1h")),
        ]

    def _own(self) -> list[Query]:
        return [
            Query("Records, log lines and exports inferwatch lost, by reason",
                  f"{self.rate('inferwatch.self.dropped', ('inferwatch.reason',), model=False)}"
                  " > 0"),
            Query("Errors inferwatch survived, by component",
                  f"{self.rate('inferwatch.self.errors', ('inferwatch.component',), model=False)}"
                  " > 0"),
        ]

    # -- the actions -----------------------------------------------------------------

    def rollback(self) -> list[Query]:
        """Which version to go back to, and how the versions compare."""
        return [
            Query("Versions by first sight over 30 days, newest first: the row after the "
                  "one serving now is the previous version", self.first_seen("30d")),
            Query("Error ratio over the last day, by version",
                  self.error_ratio(("model.version",), "1d")),
            Query("Calls per second, by version (after the rollback: only the old one)",
                  self.rate("inferwatch.predict.calls", ("model.version",))),
        ]

    def fallback(self) -> list[Query]:
        """What shows that the fallback serves."""
        return [Query("Calls per second, by version (the fallback's version among them)",
                      self.rate("inferwatch.predict.calls", ("model.version",)))]

    def all(self) -> list[Query]:
        """Every query the runbook shows (the tests parse each one)."""
        from ._checks import RUNBOOK_CHECKS

        out = [q for check in RUNBOOK_CHECKS for q in self.for_check(check)]
        return out + self.rollback() + self.fallback()
