"""Checks of the options every estimator takes (level, draws, seed)."""

from __future__ import annotations

import math

from .._errors import ConfigurationError

__all__ = ["check_options"]

#: Most simulated windows an estimator may draw per estimate.
MAX_DRAWS = 10_000


def check_options(level: float, draws: int, seed: int) -> None:
    if not (isinstance(level, (int, float)) and not isinstance(level, bool)
            and math.isfinite(level) and 0.5 <= level < 1.0):
        raise ConfigurationError(f"level must be in [0.5, 1), e.g. 0.95, got {level!r}")
    if isinstance(draws, bool) or not isinstance(draws, int) or not 50 <= draws <= MAX_DRAWS:
        raise ConfigurationError(f"draws must be an int in [50, {MAX_DRAWS}] (simulated "
                                 f"windows per band), got {draws!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigurationError(f"seed must be an int >= 0, got {seed!r}")
