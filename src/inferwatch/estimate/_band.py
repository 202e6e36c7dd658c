"""An estimate's result: a value per measure, each with the band of its realised value.

The band is a prediction interval for the *realised* measure of the rows
estimated: where the measure computed from their labels, once they arrive,
should lie with probability ``level`` if the estimate's assumptions hold.
It comes from simulated labels (see :mod:`._simulate`), so it covers the
sampling noise of a window of ``n`` rows, not only the error of the mean.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

__all__ = ["Band", "Estimate", "band_of"]


@dataclasses.dataclass(frozen=True)
class Band:
    """``value`` the estimate; ``lower`` / ``upper`` the band at ``level``."""

    value: float
    lower: float
    upper: float

    def contains(self, realised: float) -> bool:
        """Whether a realised value lies in the band (bounds included)."""
        return self.lower <= realised <= self.upper

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "lower": self.lower, "upper": self.upper}


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The estimated measures of ``rows`` rows, each a :class:`Band` (a measure that is
    undefined for these rows, e.g. precision with no positive prediction, is absent)."""

    rows: int
    level: float
    measures: dict[str, Band]
    method: str

    def __getitem__(self, name: str) -> Band:
        return self.measures[name]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "level": self.level, "method": self.method,
                "measures": {k: v.to_dict() for k, v in self.measures.items()}}


def band_of(value: float | None, draws: np.ndarray, level: float) -> Band | None:
    """``value`` with the central ``level`` interval of the simulated ``draws`` (NaN draws,
    where the measure was undefined, are left out; None when most are)."""
    if value is None or not math.isfinite(value):
        return None
    finite = draws[np.isfinite(draws)]
    if finite.size * 2 < draws.size or finite.size == 0:
        return None
    tail = (1.0 - level) / 2.0
    lower, upper = np.quantile(finite, [tail, 1.0 - tail]).tolist()
    # A plug-in point estimate can sit a hair outside a narrow simulated band.
    return Band(float(value), float(min(lower, value)), float(max(upper, value)))
