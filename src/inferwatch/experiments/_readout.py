"""What an experiment says when read: a frozen result and its text."""

from __future__ import annotations

import dataclasses
import math

from ._compare import Effect
from ._guardrails import GuardrailResult
from ._metric import Metric
from ._novelty import NoveltyResult
from ._sample_size import SampleSize
from ._segments import SegmentResult
from ._srm import SRMResult

__all__ = ["DECISIONS", "Readout", "VariantSummary"]

#: ``continue`` (no conclusion yet), ``treatment_better`` / ``treatment_worse``
#: (the primary metric's test rejected), ``stop_guardrail`` (a guardrail was
#: breached), ``stop_srm`` (the assignment counts do not match the weights).
DECISIONS = ("continue", "treatment_better", "treatment_worse", "stop_guardrail", "stop_srm")


@dataclasses.dataclass(frozen=True)
class VariantSummary:
    """One arm: its units, and the primary metric's count, mean and interval."""

    name: str
    weight: float
    units: int
    n: int
    mean: float
    #: Fixed-horizon normal interval of the mean at level 1 - alpha (one look).
    ci: tuple[float, float]


def _num(x: float) -> str:
    return f"{x:+.4g}" if math.isfinite(x) else ("+inf" if x > 0 else "-inf")


def _interval(ci: tuple[float, float], signed: bool = True) -> str:
    if not (math.isfinite(ci[0]) and math.isfinite(ci[1])):
        return "[not enough data yet]"
    if signed:
        return f"[{_num(ci[0])}, {_num(ci[1])}]"
    return f"[{ci[0]:.4g}, {ci[1]:.4g}]"


@dataclasses.dataclass(frozen=True)
class Readout:
    """An experiment's state, read at one moment (see :meth:`Experiment.readout`).

    ``effects`` holds one :class:`Effect` per treatment arm against the
    control (the first variant); :attr:`effect`, :attr:`ci` and
    :attr:`pvalue` are the first one's, the only one in an A/B test. The
    p-value and interval are always valid: reading them after every batch
    does not raise the false-positive rate above ``alpha``.
    """

    name: str
    primary: Metric
    alpha: float
    day: int
    min_days: int
    variants: tuple[VariantSummary, ...]
    effects: tuple[Effect, ...]
    decision: str
    #: The arm the decision is about (the best one for ``treatment_better``).
    winner: str | None
    #: True when the experiment must stop now (guardrail breach, sample-ratio mismatch).
    stop: bool
    reason: str
    #: True when the decision is a conclusion: significant, past ``min_days``,
    #: no trend in the daily effect and no guardrail pending.
    final: bool
    #: Why the result is not final yet ("not final: day 6 of 14"), or None.
    not_final: str | None
    srm: SRMResult
    guardrails: tuple[GuardrailResult, ...]
    segments: tuple[SegmentResult, ...]
    novelty: tuple[NoveltyResult, ...]
    sample_size: SampleSize | None
    #: Observations whose unit id hashes to another variant than the one observed.
    misassigned: int

    @property
    def effect(self) -> float:
        return self.effects[0].delta

    @property
    def ci(self) -> tuple[float, float]:
        return self.effects[0].ci

    @property
    def pvalue(self) -> float:
        return self.effects[0].pvalue

    def text(self) -> str:
        """The readout for a human: a few lines, most important first."""
        m = self.primary
        lines = [f"experiment {self.name}: day {self.day} of {self.min_days}"]
        verdict = self.decision.replace("_", " ")
        if self.stop:
            verdict = f"STOP ({self.reason})"
        elif self.decision != "continue":
            verdict += f" ({self.winner})" if len(self.effects) > 1 else ""
            verdict += " — final" if self.final else f" — {self.not_final}"
        elif self.not_final:
            verdict += f" — {self.not_final}"
        lines.append(f"decision: {verdict}")
        direction = "higher" if m.higher_is_better else "lower"
        lines.append(f"primary: {m.name} ({m.kind}, {direction} is better), alpha {self.alpha:g}, "
                     "always-valid test (mSPRT)")
        lines.append(f"  arms (mean, {1 - self.alpha:.0%} interval for a single look):")
        width = max(len(v.name) for v in self.variants)
        for v in self.variants:
            lines.append(f"    {v.name:<{width}}  units {v.units:>8,}  n {v.n:>8,}  "
                         f"mean {v.mean:.4g}  {_interval(v.ci, signed=False)}")
        lines.append("  effect (always valid: may be read after every batch):")
        for e in self.effects:
            rel = f" ({e.relative:+.2%})" if e.relative is not None else ""
            cuped = (f", CUPED removed {e.cuped.reduction:.0%} of the variance"
                     if e.cuped is not None else "")
            lines.append(f"    {e.variant} - {e.control}: {_num(e.delta)}{rel}, CI "
                         f"{_interval(e.ci)}, p={e.pvalue:.3g}{cuped}")
        size = self.sample_size
        if size is not None:
            have = min(v.n for v in self.variants)
            lines.append(f"fixed-horizon sample size for {size.power:.0%} power at mde "
                         f"{size.mde:g}: {size.control:,} control / {size.treatment:,} per "
                         "treatment arm "
                         f"(smallest arm has {have:,})")
        srm = self.srm
        srm_verdict = "MISMATCH" if srm.flagged else "ok"
        expected = ", ".join(f"{e:,.0f}" for e in srm.expected)
        counts = ", ".join(f"{c:,}" for c in srm.counts)
        lines.append(f"sample ratio: {srm_verdict} (units {counts}; expected {expected}; "
                     f"p={srm.pvalue:.3g})")
        if self.misassigned:
            lines.append(f"  {self.misassigned:,} observations in another variant than their "
                         "unit id's assignment: check where variants are chosen")
        if self.guardrails:
            lines.append("guardrails:")
            lines.extend(f"  {g.text()}" for g in self.guardrails)
        flagged = [seg for seg in self.segments if seg.degrades]
        if self.segments:
            lines.append(f"segments: {len({s.segment for s in self.segments})} tested, "
                         f"{len(flagged)} degrading")
            for seg in flagged:
                e = seg.effect
                note = " while the total improves (Simpson)" if seg.simpson else ""
                lines.append(f"  {seg.segment} ({e.variant}): {_num(e.delta)} {_interval(e.ci)}, "
                             f"p={e.pvalue:.3g}: degrades{note}")
        if self.novelty:
            lines.append("novelty/primacy by day since first exposure:")
            lines.extend(f"  {n.text()}" for n in self.novelty)
        return "\n".join(lines)
