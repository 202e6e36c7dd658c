"""From statistics to a status: thresholds, multiple-testing correction, the sample rule.

**The rule.** Each feature has a distance (PSI) and a test (KS for numeric,
chi-square for categorical, MMD for vectors). Which one sets the status
depends on the effective sample size ``n_eff = n_ref·n_cur / (n_ref + n_cur)``:

- ``n_eff < large_sample`` (1000 by default): the test's p-value, corrected
  across features (Benjamini-Hochberg or Bonferroni). Adjusted p < ``alpha``
  (0.05) is drift, < ``warning_alpha`` (0.15) a warning. At these sizes PSI's
  own sampling noise (about ``bins / n_eff``) is too large to threshold.
- ``n_eff >= large_sample``: the distance. PSI < 0.1 ok, 0.1-0.2 warning,
  > 0.2 drift. Here a p-value flags shifts far too small to matter (at
  n_eff = 10⁵ KS rejects a 0.01-sd shift), while PSI's noise has fallen to
  ≈ 0.01, well under the thresholds. Vector features always use MMD's
  p-value (their sample is a bounded reservoir).

``decision="pvalue"`` or ``"distance"`` forces one side. ``alert`` is PSI
above ``alert`` (0.15) in the distance regime, adjusted p < ``alpha`` in the
p-value regime. With ``thresholds="calibrated"``, a feature with a calibration
in its profile uses ``warning = mean + 2·std`` and ``drift = alert = mean +
3·std`` of its PSI over reference chunks instead of the fixed 0.1/0.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ._profile import Calibration


@dataclass(frozen=True)
class Thresholds:
    """Distance thresholds (on PSI) and p-value levels; see the module docstring."""

    warning: float = 0.1
    drift: float = 0.2
    alert: float = 0.15
    alpha: float = 0.05
    warning_alpha: float = 0.15

    def __post_init__(self) -> None:
        if not 0 <= self.warning <= self.drift:
            raise ValueError(f"need 0 <= warning <= drift, got {self.warning} and {self.drift}")
        if not 0 < self.alpha <= self.warning_alpha < 1:
            raise ValueError(
                f"need 0 < alpha <= warning_alpha < 1, got {self.alpha} and {self.warning_alpha}"
            )

    def calibrated(self, cal: Calibration) -> Thresholds:
        drift = cal.mean + 3.0 * cal.std
        return replace(self, warning=cal.mean + 2.0 * cal.std, drift=drift, alert=drift)

    def as_dict(self) -> dict[str, float]:
        return {"warning": self.warning, "drift": self.drift, "alert": self.alert,
                "alpha": self.alpha, "warning_alpha": self.warning_alpha}


CORRECTIONS = ("bh", "bonferroni", "none")
DECISIONS = ("auto", "pvalue", "distance")


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


def level_from_distance(value: float, t: Thresholds) -> tuple[int, bool]:
    level = 2 if value > t.drift else 1 if value >= t.warning else 0
    return level, value > t.alert


def level_from_pvalue(p: float, t: Thresholds) -> tuple[int, bool]:
    level = 2 if p < t.alpha else 1 if p < t.warning_alpha else 0
    return level, p < t.alpha
