"""From statistics to a status: one rule at every sample size.

**The rule.** Each feature has a test (KS for numeric, chi-square for
categorical, MMD for vectors) and an effect size (PSI, for numeric and
categorical features). Two questions decide its status, whatever the
number of rows on either side:

- *significant*: the test's p-value, corrected across the features of the
  report (Benjamini-Hochberg by default, or Bonferroni), is under ``alpha``
  (0.05): the shift is unlikely to be noise;
- *material*: PSI is at least ``min_effect`` (0.05): the shift is large
  enough to matter.

=================================================  =========
significant and material                           drift
significant, not material (real but small)         warning
material, adjusted p under ``warning_alpha`` only  warning
otherwise                                          ok
=================================================  =========

``alert`` is drift with PSI above ``alert`` (0.15, "moderate" in practice).

Why both: at small samples a p-value alone is the only reliable signal
(PSI's own noise is about ``bins / n_eff``), and a significant shift there is
never a small one; at large samples a p-value flags shifts far too small to
matter (at n_eff = 10⁵ KS rejects a 0.01-sd shift), which ``min_effect``
stops. Requiring significance keeps the share of windows with any drifted
feature at or below ``alpha`` when nothing changed, at every size
(``tests/drift/test_false_alarms.py``); warnings stay at or below about
``warning_alpha``. ``min_effect`` = 0.05 is PSI's value for a shift of about
0.2 standard deviations of a normal feature: below what a 300-row window can
detect at all, so small windows lose no power to it, while shifts of 0.1 sd
(PSI ≈ 0.01) that large windows find significant stay warnings. A comparison
with the previous window uses the same rule as the one with the reference,
so the two agree on the same data (up to their different sample sizes).

Features without an effect size (vectors, and the multivariate MMD over the
numeric features) are decided by their test alone: their samples are
bounded reservoirs (256 rows by default), where a significant MMD is never a
negligible one. Features whose test was turned off (``tests=["psi"]``) or
``decision="distance"`` are decided by PSI alone (PSI ≥ ``min_effect`` is
drift; there is then no false-alarm guarantee at small samples);
``decision="pvalue"`` uses the test alone. With ``thresholds="calibrated"``,
a feature with a calibration in its profile uses ``min_effect = mean + 3·std``
of its PSI over reference chunks instead of the fixed 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ._feature_profile import Calibration


@dataclass(frozen=True)
class Thresholds:
    """Effect-size thresholds (on PSI) and p-value levels; see :mod:`._decide`."""

    min_effect: float = 0.05
    alert: float = 0.15
    alpha: float = 0.05
    warning_alpha: float = 0.15

    def __post_init__(self) -> None:
        if not self.min_effect >= 0:
            raise ValueError(f"need 0 <= min_effect, got {self.min_effect}")
        if not self.alert >= 0:
            raise ValueError(f"need 0 <= alert, got {self.alert}")
        if not 0 < self.alpha <= self.warning_alpha < 1:
            raise ValueError(
                f"need 0 < alpha <= warning_alpha < 1, got {self.alpha} and {self.warning_alpha}"
            )

    def calibrated(self, cal: Calibration) -> Thresholds:
        floor = cal.mean + 3.0 * cal.std
        return replace(self, min_effect=floor, alert=max(self.alert, floor))

    def as_dict(self) -> dict[str, float]:
        return {"min_effect": self.min_effect, "alert": self.alert,
                "alpha": self.alpha, "warning_alpha": self.warning_alpha}


CORRECTIONS = ("bh", "bonferroni", "none")
#: "both": significance and effect size (the rule above); or one of them alone.
DECISIONS = ("both", "pvalue", "distance")


def adjust(pvalues: Sequence[float], method: str) -> list[float]:
    """p-values adjusted for testing ``len(pvalues)`` features at once."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0 or method == "none":
        return [float(v) for v in p]
    if method == "bonferroni":
        return [float(v) for v in np.minimum(p * m, 1.0)]
    if method == "bh":
        order = np.argsort(p)
        scaled = p[order] * m / np.arange(1, m + 1)
        monotone = np.minimum.accumulate(scaled[::-1])[::-1]
        out = np.empty(m)
        out[order] = np.minimum(monotone, 1.0)
        return [float(v) for v in out]
    raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {method!r}")


def effective_n(n_ref: int, n_cur: int) -> float:
    return n_ref * n_cur / (n_ref + n_cur) if n_ref and n_cur else 0.0


@dataclass(frozen=True)
class Decision:
    """A status level (0 ok, 1 warning, 2 drift), the alert flag and the two answers.

    ``significant`` / ``material`` are None where the question was not asked
    (no test, or no effect size).
    """

    level: int
    alert: bool
    significant: bool | None
    material: bool | None


def decide_level(pvalue: float | None, effect: float | None, t: Thresholds) -> Decision | None:
    """The rule of the module docstring; None when there is neither a p-value nor an effect."""
    significant = None if pvalue is None else pvalue < t.alpha
    material = None if effect is None else effect >= t.min_effect
    if pvalue is None and effect is None:
        return None
    if pvalue is None:
        level = 2 if material else 0
    elif effect is None:
        level = 2 if significant else 1 if pvalue < t.warning_alpha else 0
    elif significant and material:
        level = 2
    elif significant or (material and pvalue < t.warning_alpha):
        level = 1
    else:
        level = 0
    alert = level == 2 and (effect is None or effect > t.alert)
    return Decision(level, alert, significant, material)
