"""The fixed-horizon sample size for a two-sample z-test at a given power.

    n_control = (z_{1-alpha/2} + z_{power})² · (sd_c² + sd_t² / k) / mde²,   n_t = k · n_control

with ``k`` the treatment-to-control ratio of the weights. For a conversion
rate, sd² = p (1 - p) at the baseline rate for control and at baseline + mde
for treatment. This is the planning figure: how long a classical test
would need. The sequential test may stop earlier on a large effect and
needs somewhat more observations than this on an effect of exactly the mde.
"""

from __future__ import annotations

import dataclasses
import math

from .._errors import ConfigurationError
from ._normal import norm_ppf

__all__ = ["SampleSize", "sample_size"]


@dataclasses.dataclass(frozen=True)
class SampleSize:
    """Observations needed per arm (control first) and in all, for ``power`` at ``mde``."""

    control: int
    treatment: int
    mde: float
    alpha: float
    power: float

    @property
    def total(self) -> int:
        return self.control + self.treatment


def _positive(name: str, value: float | None) -> float:
    if (value is None or isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value <= 0):
        raise ConfigurationError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """``alpha`` if it lies strictly between 0 and 1, else a ConfigurationError."""
    if (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
            or not 0.0 < alpha < 1.0):
        raise ConfigurationError(
            f"{name} must lie strictly between 0 and 1 (e.g. 0.05), got {alpha!r}"
        )
    return float(alpha)


def sample_size(mde: float, *, sd: float | None = None, baseline: float | None = None,
                sd_treatment: float | None = None, alpha: float = 0.05, power: float = 0.8,
                ratio: float = 1.0) -> SampleSize:
    """Observations per arm for a two-sided z-test to detect ``mde`` with ``power``.

    ::

        sample_size(0.5, sd=4.0)                 # a mean: 1005 per arm
        sample_size(0.01, baseline=0.10)         # a conversion rate from 10 % to 11 %

    Give ``sd`` (the metric's standard deviation per observation; ``sd_treatment``
    if it differs) for a mean, or ``baseline`` (the control's rate) for a
    conversion rate. ``ratio`` is treatment / control observations (1 for an
    even split). ``mde`` is absolute, in the metric's units.
    """
    mde = _positive("mde", mde)
    alpha = check_alpha(alpha)
    power = check_alpha(power, "power")
    ratio = _positive("ratio", ratio)
    if (sd is None) == (baseline is None):
        raise ConfigurationError(
            "give exactly one of sd= (a mean's standard deviation) or baseline= "
            "(a conversion rate's control rate)"
        )
    if baseline is not None:
        if (isinstance(baseline, bool) or not isinstance(baseline, (int, float))
                or not 0.0 < baseline < 1.0):
            raise ConfigurationError(f"baseline must be a rate in (0, 1), got {baseline!r}")
        treated = min(max(baseline + mde, 1e-12), 1 - 1e-12)
        var_c, var_t = baseline * (1.0 - baseline), treated * (1.0 - treated)
    else:
        var_c = _positive("sd", sd) ** 2
        var_t = var_c if sd_treatment is None else _positive("sd_treatment", sd_treatment) ** 2
    z = norm_ppf(1.0 - alpha / 2.0) + norm_ppf(power)
    n_c = math.ceil(z * z * (var_c + var_t / ratio) / (mde * mde))
    return SampleSize(n_c, math.ceil(n_c * ratio), mde, alpha, power)
