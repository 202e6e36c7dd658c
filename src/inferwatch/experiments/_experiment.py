"""``Experiment``: the state of one A/B test, fed observation by observation.

State is bounded and mergeable: per variant and metric one :class:`Moments`
(7 numbers), plus, for the primary metric, one per segment (capped) and one
per day since first exposure (capped). Replicas each keep an
``Experiment`` and :meth:`Experiment.merge` combines them exactly.
"""

from __future__ import annotations

import math
import numbers
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from .._errors import ConfigurationError
from ._assign import Assigner, _check_variants, key_configured
from ._cardinality import ValueCap
from ._compare import DEFAULT_MIN_SAMPLES, Effect, compare
from ._guardrails import GuardrailResult, check_guardrail
from ._metric import Guardrail, Metric
from ._moments import Moments
from ._normal import norm_ppf
from ._novelty import NoveltyResult, novelty
from ._readout import Readout, VariantSummary
from ._sample_size import SampleSize, check_alpha, sample_size
from ._segments import SegmentResult, segment_results
from ._srm import SRM_THRESHOLD, SRMResult, srm_test

__all__ = ["Experiment"]

_DAY = 86400.0
#: Segments kept apart by default; later ones count as ``_other``.
DEFAULT_MAX_SEGMENTS = 16
#: Days since first exposure kept apart; later days count as the last one.
DEFAULT_MAX_DAYS = 60

_Cells = dict[str, list[Moments]]
K = TypeVar("K")


def _finite(value: object, what: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {type(value).__name__}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{what} is {x!r}; pass finite numbers (leave out units whose "
                         "outcome is missing rather than passing NaN)")
    return x


def _cells(k: int) -> list[Moments]:
    return [Moments() for _ in range(k)]


def _copy(cells: Mapping[K, list[Moments]]) -> dict[K, list[Moments]]:
    return {key: [m.copy() for m in row] for key, row in cells.items()}


def _fold(store: dict[K, list[Moments]], key: K, cells: list[Moments]) -> None:
    mine = store.get(key)
    if mine is None:
        store[key] = cells
        return
    for m, theirs in zip(mine, cells, strict=True):
        m.merge(theirs)


class Experiment:
    """One A/B (or A/B/n) test of models: observe outcomes per unit, read it at any time.

    ::

        exp = Experiment("ranker-v7", ("control", "treatment"),
                         primary=Metric("conversion", kind="proportion"),
                         guardrails=[Guardrail("latency_ms", margin=5.0)],
                         mde=0.01)
        exp.observe("treatment", {"conversion": 1, "latency_ms": 41.0},
                    covariate={"conversion": 0.2}, segment="mobile", exposure_day=3)
        print(exp.readout().text())

    ``variants``: the control first, then one or more treatments (each is
    compared with the control; with several, at alpha divided by their number).
    ``weights``: the configured split (default even), checked by the
    sample-ratio test. ``primary``: a :class:`Metric` or its name (a mean,
    higher is better). ``mde``: the minimum detectable effect, absolute, in
    the primary metric's units: it sets the planning sample size and the
    sequential test's mixture scale (``tau``, which it defaults to).
    ``min_days``: no result is final before this many days since the
    experiment started (``started_at``, epoch seconds, default: now by
    ``clock``). ``key``: the assignment key, to check unit ids against
    :func:`assign` (default: the environment's, when set).

    Thread-safe; :meth:`observe` costs a few microseconds and is meant for
    per-unit outcomes (off the request path where it can be: it takes a lock).
    """

    def __init__(self, name: str, variants: Sequence[str] = ("control", "treatment"), *,
                 primary: str | Metric, guardrails: Sequence[Guardrail] = (),
                 weights: Sequence[float] | None = None, alpha: float = 0.05,
                 mde: float | None = None, power: float = 0.8, tau: float | None = None,
                 min_days: int = 14, min_samples: int = DEFAULT_MIN_SAMPLES,
                 srm_threshold: float = SRM_THRESHOLD,
                 max_segments: int = DEFAULT_MAX_SEGMENTS, max_days: int = DEFAULT_MAX_DAYS,
                 key: str | bytes | None = None, started_at: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"an experiment needs a non-empty name, got {name!r}")
        self.name = name
        self.weights = tuple(_check_variants(variants, weights))
        self.variants = tuple(variants)
        self.alpha = check_alpha(alpha)
        self.power = check_alpha(power, "power")
        self.srm_threshold = check_alpha(srm_threshold, "srm_threshold")
        self.primary = primary if isinstance(primary, Metric) else Metric(primary)
        self.guardrails = tuple(guardrails)
        for g in self.guardrails:
            if not isinstance(g, Guardrail):
                raise ConfigurationError(f"guardrails must be Guardrail(...) values, got {g!r}")
        names = [self.primary.name] + [g.name for g in self.guardrails]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"metric names must be distinct, got {names!r}")
        self._metrics: dict[str, Metric] = {self.primary.name: self.primary}
        self._metrics.update((g.name, g.metric) for g in self.guardrails)
        for what, value in (("mde", mde), ("tau", tau)):
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ConfigurationError(f"{what} must be a positive finite number, got {value!r}")
        self.mde = None if mde is None else float(mde)
        self.tau = None if tau is None else float(tau)
        for what, count, low in (("min_days", min_days, 0), ("min_samples", min_samples, 2),
                                 ("max_segments", max_segments, 1), ("max_days", max_days, 1)):
            if isinstance(count, bool) or not isinstance(count, int) or count < low:
                raise ConfigurationError(f"{what} must be an integer >= {low}, got {count!r}")
        self.min_days, self.min_samples = min_days, min_samples
        self.max_days = max_days
        self._clock = clock
        self.started_at = float(clock() if started_at is None else started_at)
        self._index = {v: i for i, v in enumerate(self.variants)}
        # Without any key configured unit ids are not checked; a bad key is an error.
        self._assigner: Assigner | None = None
        if key is not None or key_configured():
            self._assigner = Assigner(name, self.variants, self.weights, key=key)
        self._lock = threading.Lock()
        k = len(self.variants)
        self._units = [0] * k
        self._misassigned = 0
        self._totals: _Cells = {m: _cells(k) for m in self._metrics}
        self._segment_cap = ValueCap(max_segments)
        self._segments: _Cells = {}
        self._days: dict[int, list[Moments]] = {}

    # -- feeding -----------------------------------------------------------------------------

    def assign(self, unit_id: str | int | bytes) -> str:
        """The variant of ``unit_id`` (:func:`assign` with this experiment's variants)."""
        if self._assigner is None:
            raise ConfigurationError(
                f"experiment {self.name!r} has no assignment key: pass key=... or set "
                "INFERWATCH_EXPERIMENT_KEY"
            )
        return self._assigner(unit_id)

    def _values(self, value: float | Mapping[str, float], what: str) -> dict[str, float]:
        if isinstance(value, Mapping):
            out = {}
            for name, v in value.items():
                if name not in self._metrics:
                    raise ValueError(
                        f"unknown metric {name!r} in {what}: experiment {self.name!r} measures "
                        f"{sorted(self._metrics)!r}"
                    )
                out[name] = _finite(v, f"{what} for metric {name!r}")
            return out
        return {self.primary.name: _finite(value, f"{what} for metric {self.primary.name!r}")}

    def observe(self, variant: str, value: float | Mapping[str, float], *,
                covariate: float | Mapping[str, float] | None = None,
                segment: str | None = None, exposure_day: int | None = None,
                unit_id: str | int | bytes | None = None, new_unit: bool = True) -> None:
        """Record one unit's outcome in ``variant``.

        ``value``: the primary metric's value, or ``{metric: value}`` for the
        primary and guardrail metrics at once. ``covariate``: the same
        unit's pre-experiment value (of the primary, or ``{metric: value}``)
        for CUPED. ``segment``: a low-cardinality group (capped at
        ``max_segments``). ``exposure_day``: whole days since the unit was
        first exposed (for novelty). ``unit_id``: checked against the
        assignment when the experiment has a key.

        One call per unit: the sample-ratio test counts calls, except those
        with ``new_unit=False`` (further observations of units already
        counted, such as the per-call guardrails :func:`watch` feeds). Raises
        ``ValueError`` for an unknown variant or metric, NaN or infinite
        values, a non-0/1 value of a proportion metric, or a negative day;
        nothing is recorded then.
        """
        i = self._index.get(variant) if isinstance(variant, str) else None
        if i is None:
            raise ValueError(f"unknown variant {variant!r}: experiment {self.name!r} has "
                             f"{list(self.variants)!r}")
        values = self._values(value, "value")
        covariates = {} if covariate is None else self._values(covariate, "covariate")
        for name, v in values.items():
            if self._metrics[name].kind == "proportion" and v not in (0.0, 1.0):
                raise ValueError(f"metric {name!r} is a proportion: its values must be 0 or 1, "
                                 f"got {v!r}")
        day = None
        if exposure_day is not None:
            if isinstance(exposure_day, bool) or not isinstance(exposure_day, numbers.Integral):
                raise TypeError(f"exposure_day must be a whole number of days, got "
                                f"{exposure_day!r}")
            if exposure_day < 0:
                raise ValueError(f"exposure_day must be >= 0, got {exposure_day!r}")
            day = min(int(exposure_day), self.max_days)
        misassigned = (unit_id is not None and self._assigner is not None
                       and self._assigner(unit_id) != variant)
        cell = None if segment is None else self._segment_cap(segment)
        primary = self.primary.name
        with self._lock:
            if new_unit:
                self._units[i] += 1
            self._misassigned += misassigned
            for name, v in values.items():
                self._totals[name][i].add(v, covariates.get(name))
            if primary not in values:
                return
            v, x = values[primary], covariates.get(primary)
            if cell is not None:
                seg = self._segments.get(cell)
                if seg is None:
                    seg = self._segments[cell] = _cells(len(self.variants))
                seg[i].add(v, x)
            if day is not None:
                cells = self._days.get(day)
                if cells is None:
                    cells = self._days[day] = _cells(len(self.variants))
                cells[i].add(v, x)

    # -- merging -----------------------------------------------------------------------------

    def _signature(self) -> tuple[object, ...]:
        return (self.name, self.variants, self.weights, self.primary, self.guardrails,
                self.max_days)

    def _snapshot(self) -> tuple[list[int], int, _Cells, _Cells, dict[int, list[Moments]]]:
        with self._lock:
            return (list(self._units), self._misassigned, _copy(self._totals),
                    _copy(self._segments), _copy(self._days))

    def merge(self, other: Experiment) -> Experiment:
        """Fold another replica's state of the same experiment into this one; returns self.

        The result equals one experiment that saw both streams (segments
        past this one's cap go to ``_other``). The start is the earlier one.
        Raises ``ConfigurationError`` when the two differ in name, variants,
        weights or metrics.
        """
        if not isinstance(other, Experiment) or other._signature() != self._signature():
            raise ConfigurationError(
                f"cannot merge experiment {getattr(other, 'name', other)!r} into {self.name!r}: "
                "name, variants, weights, metrics and max_days must be the same"
            )
        if other is self:
            raise ValueError("an experiment cannot be merged into itself")
        units, misassigned, totals, segments, days = other._snapshot()
        self._fold_in(other.started_at, units, misassigned, totals, segments, days)
        return self

    def _fold_in(self, started_at: float, units: list[int], misassigned: int, totals: _Cells,
                 segments: _Cells, days: dict[int, list[Moments]]) -> None:
        # Cap the incoming segments outside our lock (the cap has its own).
        capped = [(self._segment_cap(name), cells) for name, cells in segments.items()]
        with self._lock:
            self.started_at = min(self.started_at, started_at)
            for i, n in enumerate(units):
                self._units[i] += n
            self._misassigned += misassigned
            for name, cells in totals.items():
                for mine, theirs in zip(self._totals[name], cells, strict=True):
                    mine.merge(theirs)
            for name, cells in capped:
                _fold(self._segments, name, cells)
            for day, cells in days.items():
                _fold(self._days, day, cells)

    def _state_signature(self) -> dict[str, object]:
        return {"experiment": self.name, "variants": list(self.variants),
                "weights": list(self.weights), "max_days": self.max_days,
                "metrics": [[m.name, m.kind] for m in self._metrics.values()]}

    def state(self) -> dict[str, object]:
        """This replica's statistics as plain JSON-able data, for :meth:`merge_state` elsewhere.

        A few hundred numbers at most (7 per variant and metric, segment and
        day); no unit ids, values or other raw data.
        """
        units, misassigned, totals, segments, days = self._snapshot()

        def rows(cells: list[Moments]) -> list[list[float]]:
            return [m.to_list() for m in cells]

        return {**self._state_signature(), "started_at": self.started_at, "units": units,
                "misassigned": misassigned,
                "totals": {name: rows(c) for name, c in totals.items()},
                "segments": {name: rows(c) for name, c in segments.items()},
                "days": {str(day): rows(c) for day, c in days.items()}}

    def merge_state(self, state: Mapping[str, object]) -> Experiment:
        """Fold in the :meth:`state` of another replica of this experiment; returns self.

        Raises ``ConfigurationError`` when the state belongs to another
        configuration and ``ValueError`` when it is malformed (nothing is
        merged then).
        """
        if not isinstance(state, Mapping):
            raise ValueError("an experiment state is the mapping Experiment.state() returns")
        mine = self._state_signature()
        theirs = {key: state.get(key) for key in mine}
        if theirs != mine:
            raise ConfigurationError(
                f"cannot merge the state of experiment {state.get('experiment')!r} into "
                f"{self.name!r}: name, variants, weights, metrics and max_days must be the same"
            )
        k = len(self.variants)

        def rows(data: object) -> list[Moments]:
            if not isinstance(data, list) or len(data) != k:
                raise ValueError(f"malformed experiment state: expected {k} moments per cell")
            return [Moments.from_list(row) for row in data]

        def table(data: object) -> dict[str, list[Moments]]:
            if not isinstance(data, Mapping):
                raise ValueError("malformed experiment state: cells must be a mapping")
            return {str(key): rows(value) for key, value in data.items()}

        units = state.get("units")
        misassigned = state.get("misassigned")
        started_at = state.get("started_at")
        if (not isinstance(units, list) or len(units) != k
                or not all(type(u) is int and u >= 0 for u in units)
                or type(misassigned) is not int or misassigned < 0
                or isinstance(started_at, bool) or not isinstance(started_at, (int, float))
                or not math.isfinite(started_at)):
            raise ValueError("malformed experiment state: units, misassigned or started_at")
        totals = table(state.get("totals"))
        if set(totals) != set(self._metrics):
            raise ValueError("malformed experiment state: totals must cover every metric")
        days: dict[int, list[Moments]] = {}
        for key, cells in table(state.get("days")).items():
            if not key.isdigit() or int(key) > self.max_days:
                raise ValueError(f"malformed experiment state: day {key!r}")
            days[int(key)] = cells
        segments = table(state.get("segments"))
        self._fold_in(float(started_at), units, misassigned, totals, segments, days)
        return self

    # -- reading -----------------------------------------------------------------------------

    def _tau2(self) -> float | None:
        scale = self.tau if self.tau is not None else self.mde
        return None if scale is None else scale * scale

    def set_proportion(self, metric: str, variant: str, n: int, successes: int) -> None:
        """Replace ``metric``'s statistics in ``variant`` by ``successes`` of ``n`` trials.

        For a proportion counted elsewhere (:func:`watch` reads a business outcome's
        rate per variant from a label tracker this way); a metric set like this must
        not also be observed. The units the sample-ratio test counts are unchanged.
        """
        i = self._index.get(variant) if isinstance(variant, str) else None
        if i is None:
            raise ValueError(f"unknown variant {variant!r}: experiment {self.name!r} has "
                             f"{list(self.variants)!r}")
        kind = self._metrics.get(metric)
        if kind is None or kind.kind != "proportion":
            raise ValueError(f"{metric!r} is not a proportion metric of experiment "
                             f"{self.name!r}")
        if isinstance(n, bool) or isinstance(successes, bool) or not (
                isinstance(n, int) and isinstance(successes, int) and 0 <= successes <= n):
            raise ValueError(f"need whole numbers 0 <= successes <= n, got {successes!r} of "
                             f"{n!r}")
        cell = Moments()
        if n:
            p = successes / n
            cell.n, cell.mean, cell.m2 = n, p, successes * (1.0 - p)
            cell.missing = n  # no covariate: CUPED stays off for this metric
        with self._lock:
            self._totals[metric][i] = cell

    def day(self, now: float | None = None) -> int:
        """The experiment's day: 1 on the day it started."""
        now = self._clock() if now is None else now
        return max(1, int((now - self.started_at) // _DAY) + 1)

    def readout(self, now: float | None = None) -> Readout:
        """The experiment as of now (or ``now``, epoch seconds): see :class:`Readout`."""
        units, misassigned, totals, segments, days = self._snapshot()
        day = self.day(now)
        k = len(self.variants)
        level = self.alpha / (k - 1)
        primary = self.primary
        cells = totals[primary.name]
        z = norm_ppf(1.0 - self.alpha / 2.0)
        summaries = []
        for i, v in enumerate(self.variants):
            m = cells[i]
            half = z * math.sqrt(m.variance / m.n) if m.n > 1 else math.inf
            summaries.append(VariantSummary(v, self.weights[i], units[i], m.n, m.mean,
                                            (m.mean - half, m.mean + half)))
        tau2 = self._tau2()
        effects = [compare(cells[0], cells[i], alpha=level, tau2=tau2,
                           names=(self.variants[0], self.variants[i]),
                           min_samples=self.min_samples) for i in range(1, k)]
        guardrails: list[GuardrailResult] = []
        for g in self.guardrails:
            g_cells = totals[g.name]
            g_tau2 = None
            if g.margin > 0:
                scale = g.margin * abs(g_cells[0].mean) if g.relative else g.margin
                g_tau2 = scale * scale if scale > 0 else None
            for i in range(1, k):
                e = compare(g_cells[0], g_cells[i], alpha=level, tau2=g_tau2,
                            names=(self.variants[0], self.variants[i]),
                            min_samples=self.min_samples)
                guardrails.append(check_guardrail(g, e))
        seg_results: list[SegmentResult] = []
        tests = len(segments) * (k - 1)
        for i in range(1, k):
            pairs = {name: (c[0], c[i]) for name, c in segments.items()}
            seg_results.extend(segment_results(
                pairs, effects[i - 1], higher_is_better=primary.higher_is_better,
                alpha=self.alpha, tau2=tau2, min_samples=self.min_samples, tests=tests))
        trends: list[NoveltyResult] = []
        if days:
            for i in range(1, k):
                trends.append(novelty({d: (c[0], c[i]) for d, c in days.items()},
                                      self.variants[i], alpha=level))
        srm = srm_test(units, self.weights, self.srm_threshold)
        return self._decide(day, summaries, effects, guardrails, seg_results, trends, srm,
                            misassigned)

    def _sample_size(self, summaries: list[VariantSummary], effects: list[Effect]) -> \
            SampleSize | None:
        if self.mde is None or len(effects) == 0:
            return None
        control = summaries[0]
        ratio = self.weights[1] / self.weights[0]
        level = self.alpha / len(effects)
        if self.primary.kind == "proportion":
            if not 0.0 < control.mean < 1.0:
                return None
            return sample_size(self.mde, baseline=control.mean, alpha=level, power=self.power,
                               ratio=ratio)
        var = effects[0].variance
        n_c, n_t = effects[0].n
        if not (n_c > 1 and n_t > 1 and var > 0 and math.isfinite(var)):
            return None
        # The per-observation variance the effect's variance implies (CUPED-adjusted if on).
        sd = math.sqrt(var / (1.0 / n_c + 1.0 / n_t))
        return sample_size(self.mde, sd=sd, alpha=level, power=self.power, ratio=ratio)

    def _decide(self, day: int, summaries: list[VariantSummary], effects: list[Effect],
                guardrails: list[GuardrailResult], segments: list[SegmentResult],
                trends: list[NoveltyResult], srm: SRMResult, misassigned: int) -> Readout:
        sign = 1.0 if self.primary.higher_is_better else -1.0
        better = [e for e in effects if e.significant and sign * e.delta > 0]
        worse = [e for e in effects if e.significant and sign * e.delta < 0]
        breaches = [g for g in guardrails if g.breached]
        stop, winner, reason = False, None, ""
        if breaches:
            decision, stop = "stop_guardrail", True
            reason = "guardrail breached: " + "; ".join(g.text() for g in breaches)
        elif srm.flagged:
            decision, stop = "stop_srm", True
            reason = (f"sample ratio mismatch (p={srm.pvalue:.2g}): assignment or logging is "
                      "broken, so no effect can be trusted; find the cause before reading on")
        elif better:
            decision = "treatment_better"
            best = max(better, key=lambda e: sign * e.delta)
            winner, reason = best.variant, f"{best.variant} improves {self.primary.name}"
        elif worse and len(worse) == len(effects):
            decision = "treatment_worse"
            winner = worse[0].variant if len(worse) == 1 else None
            reason = f"every treatment makes {self.primary.name} worse"
        else:
            decision, reason = "continue", "no significant difference yet"
        not_final = None
        if not stop:
            pending = [g.name for g in guardrails if g.status == "pending"]
            trending = [t for t in trends if t.trending]
            if day < self.min_days:
                not_final = f"not final: day {day} of {self.min_days}"
            elif decision == "continue":
                not_final = "not final: no significant difference yet"
            elif trending:
                kinds = ", ".join(f"{t.variant}: {t.kind}" for t in trending)
                not_final = f"not final: effect still trending ({kinds})"
            elif pending:
                not_final = f"not final: guardrail(s) {', '.join(sorted(set(pending)))} pending"
        final = not stop and decision != "continue" and not_final is None
        return Readout(
            name=self.name, primary=self.primary, alpha=self.alpha, day=day,
            min_days=self.min_days, variants=tuple(summaries), effects=tuple(effects),
            decision=decision, winner=winner, stop=stop, reason=reason, final=final,
            not_final=not_final, srm=srm, guardrails=tuple(guardrails),
            segments=tuple(segments), novelty=tuple(trends),
            sample_size=self._sample_size(summaries, effects), misassigned=misassigned,
        )
