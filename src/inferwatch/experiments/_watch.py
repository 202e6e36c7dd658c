"""An experiment watched from a monitor: per-call guardrails fed in, the stop signal out.

``watch(experiment, monitor)`` reads every drained inference record on the
monitor's aggregator thread (never on the request path): a call whose
``variant`` attribute (``inferwatch.set_attribute("variant", ...)``, or the
decorator's ``attributes=``) names one of the experiment's variants adds its
latency in milliseconds and its error (0 or 1) to the metrics named by
``latency=`` and ``errors=``, as further observations of units already
counted (``new_unit=False``: the sample-ratio test keeps counting the units
the caller observes). The primary metric stays the caller's: an outcome per
unit (``experiment.observe``).

Once a ``readout_every`` seconds, and at each collection and summary, the
readout is taken; it is exported (``inferwatch.experiment.*``), shown in
``Monitor.summary()["experiments"]`` (the status page's model-performance
section and its "what needs attention" list), and the first time it says
stop (a guardrail breached, a sample-ratio mismatch) one
``experiment_stop`` event is written through the log sink.

With a drift monitor attached to the same monitor (its ``variant_key`` the
same), the summary's section also shows each variant's drift and prediction
distribution, and each treatment's predictions against the control's
(``variants[i]["drift"]``, see ``_variant_drift``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._catalogue import VARIANT, MetricDef, MetricPoint, register
from ._experiment import Experiment
from ._readout import Readout
from ._variant_drift import drift_lines, variant_drift

if TYPE_CHECKING:
    from .._monitor import Monitor
    from .._record import InferenceRecord

__all__ = ["ExperimentWatch", "watch"]

EXPERIMENT = "inferwatch.experiment"
GUARDRAIL = "inferwatch.guardrail"
_E = (EXPERIMENT,)
_V = (EXPERIMENT, VARIANT)
_G = (EXPERIMENT, VARIANT, GUARDRAIL)
#: Guardrail verdicts as gauge values.
GUARDRAIL_LEVELS = {"pass": 0, "pending": 1, "breach": 2}

register(
    MetricDef("inferwatch.experiment.stop", "gauge", "{status}",
              "1 when the experiment must stop now (a guardrail breached or a sample-ratio "
              "mismatch), else 0.", _E),
    MetricDef("inferwatch.experiment.units", "gauge", "{unit}",
              "Units observed in a variant (what the sample-ratio test counts).", _V),
    MetricDef("inferwatch.experiment.effect", "gauge", "{value}",
              "Treatment minus control on the primary metric (CUPED-adjusted when "
              "covariates are given).", _V),
    MetricDef("inferwatch.experiment.pvalue", "gauge", "{probability}",
              "Always-valid p-value of no difference on the primary metric (mSPRT).", _V),
    MetricDef("inferwatch.experiment.guardrail", "gauge", "{status}",
              "A guardrail's verdict for a treatment: 0 pass, 1 pending, 2 breach.", _G),
    MetricDef("inferwatch.experiment.srm.pvalue", "gauge", "{probability}",
              "p-value of the sample-ratio test (flagged under 0.001).", _E),
)


def _effects(readout: Readout) -> list[dict[str, Any]]:
    return [{"variant": e.variant, "delta": e.delta, "ci": list(e.ci), "pvalue": e.pvalue,
             "relative": e.relative, "significant": e.significant} for e in readout.effects]


def readout_section(readout: Readout) -> dict[str, Any]:
    """A readout as JSON values, for the summary and the status document."""
    return {
        "name": readout.name, "day": readout.day, "min_days": readout.min_days,
        "primary": readout.primary.name, "decision": readout.decision,
        "winner": readout.winner, "stop": readout.stop, "reason": readout.reason,
        "final": readout.final, "not_final": readout.not_final,
        "variants": [{"name": v.name, "units": v.units, "n": v.n, "mean": v.mean}
                     for v in readout.variants],
        "effects": _effects(readout),
        "guardrails": [{"name": g.name, "variant": g.variant, "status": g.status,
                        "degradation": g.degradation, "margin": g.margin}
                       for g in readout.guardrails],
        "srm": {"pvalue": readout.srm.pvalue, "flagged": readout.srm.flagged},
        "text": readout.text(),
    }


class ExperimentWatch:
    """One experiment read from one monitor (see the module docstring)."""

    def __init__(self, experiment: Experiment, monitor: Monitor, *,
                 variant_key: str = "variant", model: str | None = None,
                 latency: str | None = None, errors: str | None = None,
                 outcomes: Mapping[str, str] | None = None, labels: Any = None,
                 readout_every: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        if not isinstance(experiment, Experiment):
            raise TypeError(f"watch() takes an Experiment, got {type(experiment).__name__}")
        metrics = {experiment.primary.name, *(g.name for g in experiment.guardrails)}
        for what, name in (("latency", latency), ("errors", errors)):
            if name is not None and name not in metrics:
                raise ValueError(f"{what}={name!r} is not a metric of experiment "
                                 f"{experiment.name!r} (it has {sorted(metrics)!r}): add "
                                 f"Guardrail({name!r}, margin=...) to it")
        if errors is not None and errors in metrics:
            kinds = {experiment.primary.name: experiment.primary.kind,
                     **{g.name: g.kind for g in experiment.guardrails}}
            if kinds[errors] != "proportion":
                raise ValueError(f"errors={errors!r} counts 0/1 per call: make it "
                                 f"Guardrail({errors!r}, margin=..., kind='proportion')")
        self.outcomes = dict(outcomes or {})
        if self.outcomes and labels is None:
            raise ValueError("outcomes= are read from a label tracker: pass "
                             "labels=inferwatch.labels.track(...) as well")
        for metric in self.outcomes:
            kinds = {experiment.primary.name: experiment.primary.kind,
                     **{g.name: g.kind for g in experiment.guardrails}}
            if kinds.get(metric) != "proportion":
                raise ValueError(f"outcomes: {metric!r} must be a proportion metric of "
                                 f"experiment {experiment.name!r} (the share of predictions "
                                 "that reached the outcome)")
        self.labels = labels
        if not readout_every > 0:
            raise ValueError(f"readout_every must be positive seconds, got {readout_every!r}")
        self.experiment = experiment
        self.monitor = monitor
        self.variant_key = variant_key
        self.model = model
        self.latency = latency
        self.errors = errors
        self.readout_every = float(readout_every)
        self._clock = clock
        self._variants = frozenset(experiment.variants)
        self._lock = threading.Lock()
        self._last: Readout | None = None
        self._next = 0.0
        self._announced = False
        #: Calls whose variant attribute names no variant of the experiment (``_other``,
        #: a typo): left out, counted.
        self.unmatched = 0
        self.observed = 0
        monitor.add_feature_consumer(self._consume, copies_features=False)
        monitor.add_ticker(self._tick)
        monitor.add_collector(self._collect)
        sections = _SECTIONS.get(monitor)
        if sections is None:
            sections = _SECTIONS[monitor] = []
        sections.append(self)
        monitor.add_summary("experiments", lambda: [w._section() for w in sections])

    # -- aggregator thread --------------------------------------------------------------

    def _consume(self, records: list[InferenceRecord]) -> None:
        if self.latency is None and self.errors is None:
            return
        key, variants, observe = self.variant_key, self._variants, self.experiment.observe
        for record in records:
            attributes = record.attributes
            if not attributes or not isinstance(attributes, dict):
                continue
            variant = attributes.get(key)
            if variant is None:
                continue
            if self.model is not None and record.endpoint.model_name != self.model:
                continue
            if variant not in variants:
                self.unmatched += 1
                continue
            values: dict[str, float] = {}
            if self.latency is not None and record.outcome != "error":
                values[self.latency] = record.duration_ns / 1e6
            if self.errors is not None:
                values[self.errors] = 1.0 if record.outcome == "error" else 0.0
            if values:
                observe(variant, values, new_unit=False)
                self.observed += 1

    def _tick(self, _now: float) -> None:
        if self._clock() >= self._next:
            self.readout()

    # -- reading ------------------------------------------------------------------------

    def _read_outcomes(self) -> None:
        """Each outcome metric: the share of a variant's stored predictions that reached
        the outcome (``record_outcome``), from the label tracker's join."""
        stored = self.labels.stored()
        rows = self.labels.outcomes()
        for metric, name in self.outcomes.items():
            for variant in self.experiment.variants:
                n = sum(k for (m, _v, var), k in stored.items()
                        if var == variant and (self.model is None or m == self.model))
                reached = sum(r["predictions_reached"] for r in rows
                              if r["name"] == name and r["variant"] == variant
                              and (self.model is None or r["model"] == self.model))
                self.experiment.set_proportion(metric, variant, n, min(reached, n))

    def readout(self) -> Readout:
        """The experiment's readout now; the first one that says stop is logged."""
        if self.outcomes:
            self._read_outcomes()
        readout = self.experiment.readout()
        with self._lock:
            self._last = readout
            self._next = self._clock() + self.readout_every
            announce = readout.stop and not self._announced
            self._announced = self._announced or readout.stop
        if announce:
            self.monitor.log_event({
                "event": "experiment_stop", "experiment": readout.name,
                "decision": readout.decision, "reason": readout.reason, "day": readout.day,
                "units": {v.name: v.units for v in readout.variants},
            })
        return readout

    @property
    def last(self) -> Readout | None:
        """The last readout taken (by the ticker, a collection or a summary), or None."""
        with self._lock:
            return self._last

    def drift(self) -> dict[str, dict[str, Any]]:
        """Each variant's drift from the drift monitors attached to the monitor:
        ``{variant: {"status", "psi_max", "prediction_psi", "prediction", "vs_control",
        ...}}`` (see ``inferwatch.drift.DriftMonitor.by_variant``); empty without one."""
        return variant_drift(self.monitor, self.experiment.variants,
                             variant_key=self.variant_key, model=self.model)

    def _section(self) -> dict[str, Any]:
        # A summary or status request reads the experiment as it is now (under a
        # millisecond), not the ticker's last readout.
        section = readout_section(self.readout())
        section["unmatched_calls"] = self.unmatched
        drift = self.drift()
        for entry in section["variants"]:
            entry["drift"] = drift.get(entry["name"])
        lines = drift_lines(drift, self.experiment.variants)
        if lines:
            section["text"] += "\n" + "\n".join(lines)
        return section

    def _collect(self) -> list[MetricPoint]:
        r = self.readout()
        name = {EXPERIMENT: r.name}
        points = [MetricPoint("inferwatch.experiment.stop", dict(name), int(r.stop)),
                  MetricPoint("inferwatch.experiment.srm.pvalue", dict(name), r.srm.pvalue)]
        for v in r.variants:
            points.append(MetricPoint("inferwatch.experiment.units", {**name, VARIANT: v.name},
                                      v.units))
        for e in r.effects:
            attrs = {**name, VARIANT: e.variant}
            points.append(MetricPoint("inferwatch.experiment.effect", attrs, e.delta))
            points.append(MetricPoint("inferwatch.experiment.pvalue", dict(attrs), e.pvalue))
        for g in r.guardrails:
            points.append(MetricPoint("inferwatch.experiment.guardrail",
                                      {**name, VARIANT: g.variant, GUARDRAIL: g.name},
                                      GUARDRAIL_LEVELS.get(g.status, 1)))
        return [p for p in points if p.value == p.value]  # a NaN effect before data: left out


#: The watches reporting on each monitor (one summary section lists them all).
_SECTIONS: weakref.WeakKeyDictionary[Any, list[ExperimentWatch]] = weakref.WeakKeyDictionary()


def watch(experiment: Experiment, monitor: Monitor | None = None, **options: Any,
          ) -> ExperimentWatch:
    """Watch ``experiment`` from ``monitor`` (default: the process's):

    ::

        exp = Experiment("ranker-v7", primary=Metric("conversion", kind="proportion"),
                         guardrails=[Guardrail("latency_ms", margin=5.0),
                                     Guardrail("error", margin=0.005, kind="proportion")])
        inferwatch.experiments.watch(exp, latency="latency_ms", errors="error")

        @inferwatch.monitor(model="ranker")
        def predict(user, x):
            inferwatch.set_attribute("variant", assign(user.id, "ranker-v7"))
            ...

    Options: ``variant_key`` (the attribute naming the variant, default
    ``"variant"``), ``model`` (only this model's calls), ``latency`` and
    ``errors`` (the experiment metrics fed per call), ``outcomes``
    (``{metric: outcome name}``: a proportion metric read, at each readout,
    as the share of the variant's predictions that reached the outcome
    reported with ``inferwatch.record_outcome``; needs ``labels=`` the label
    tracker), ``readout_every`` (seconds, default 60).
    """
    if monitor is None:
        from .._process import get_monitor

        monitor = get_monitor()
    return ExperimentWatch(experiment, monitor, **options)
