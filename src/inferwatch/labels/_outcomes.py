"""Business outcomes joined to predictions: count, sum and rate per series.

An outcome (a conversion, revenue, a complaint) joined to its prediction
adds to its series' (model, version, variant) count and sum; the first
outcome of a name for a prediction also counts that prediction as
"reached", and the rate is reached predictions over predictions stored.
Outcome names are capped (``_other`` past the cap), so series stay bounded.
"""

from __future__ import annotations

from typing import Any

from .._aggregate import DistinctValues

__all__ = ["MAX_OUTCOME_NAMES", "Outcomes"]

MAX_OUTCOME_NAMES = 16

Series = tuple[str, str, str]


class Outcomes:
    """Running totals of joined outcomes (the caller holds the tracker's lock)."""

    def __init__(self) -> None:
        self._names = DistinctValues(MAX_OUTCOME_NAMES)
        #: (series, name) -> [events, sum, predictions reached]
        self.totals: dict[tuple[Series, str], list[float]] = {}

    def name(self, raw: str) -> str:
        return str(self._names.admit(None, raw))

    def add(self, series: Series, name: str, value: float, first: bool) -> None:
        entry = self.totals.get((series, name))
        if entry is None:
            entry = self.totals[(series, name)] = [0, 0.0, 0]
        entry[0] += 1
        entry[1] += value
        if first:
            entry[2] += 1

    def rows(self, stored: dict[Series, int]) -> list[dict[str, Any]]:
        out = []
        for (series, name), (events, total, reached) in sorted(self.totals.items()):
            n = stored.get(series, 0)
            out.append({"model": series[0], "version": series[1], "variant": series[2] or None,
                        "name": name, "count": int(events), "sum": float(total),
                        "predictions_reached": int(reached),
                        "rate": reached / n if n else None})
        return out
