"""Guardrail checks: a non-inferiority test per guardrail, read at any time.

Degradation is oriented so that positive is worse (treatment - control for
a lower-is-better metric, control - treatment otherwise). The effect's
confidence sequence (two-sided at level alpha, so each side holds at level
alpha/2 or better: conservative) decides:

- *breach*: the whole interval lies above the margin — the treatment is
  worse by more than allowed. The stop signal.
- *pass*: the whole interval lies below the margin — non-inferiority shown.
- *pending*: not known yet.
"""

from __future__ import annotations

import dataclasses

from ._compare import Effect
from ._metric import Guardrail
from ._msprt import mixture_pvalue, scalar

__all__ = ["GuardrailResult", "check_guardrail"]


@dataclasses.dataclass(frozen=True)
class GuardrailResult:
    """One guardrail for one treatment arm: the degradation, its interval, the verdict."""

    name: str
    variant: str
    #: How much worse the treatment is (positive = worse), in the metric's units.
    degradation: float
    #: Confidence sequence of the degradation.
    ci: tuple[float, float]
    #: The allowed degradation, in the metric's units (a relative margin made absolute).
    margin: float
    #: ``breach``, ``pass`` or ``pending``.
    status: str
    #: Always-valid p-value of "the degradation is at most the margin".
    pvalue: float
    effect: Effect

    @property
    def breached(self) -> bool:
        return self.status == "breach"

    def text(self) -> str:
        low, high = self.ci
        return (f"{self.name} ({self.variant}): degradation {self.degradation:+.4g} "
                f"(CI {low:+.4g} .. {high:+.4g}), margin {self.margin:.4g}: {self.status}")


def check_guardrail(guardrail: Guardrail, effect: Effect) -> GuardrailResult:
    """The verdict on ``guardrail`` given the treatment's ``effect`` on its metric."""
    sign = 1.0 if not guardrail.higher_is_better else -1.0
    margin = guardrail.margin * abs(effect.means[0]) if guardrail.relative else guardrail.margin
    degradation = sign * effect.delta
    low, high = sorted((sign * effect.ci[0], sign * effect.ci[1]))
    if low > margin:
        status = "breach"
    elif high < margin:
        status = "pass"
    else:
        status = "pending"
    if degradation > margin and low > -float("inf"):
        # The boundary hypothesis, in the effect's own units: delta = sign * margin.
        pvalue = scalar(mixture_pvalue(effect.delta, effect.variance, effect.tau2,
                                       sign * margin))
    else:
        pvalue = 1.0
    return GuardrailResult(guardrail.name, effect.variant, degradation, (low, high), margin,
                           status, pvalue, effect)
