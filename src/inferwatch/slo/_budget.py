"""One SLO's event counts over time, and its budget and burn rates from them.

An SLO's state is its own cumulative (good, total) event counts since it
started being tracked, plus two rings of snapshots of them: one per minute
(six hours and a bit, for the short burn windows) and one per hour (the SLO
window or three days, whichever is longer). Any window's events are the
current counts minus the snapshot taken just before the window began, so a
window is measured to within one snapshot step (a minute up to six hours, an
hour beyond), and memory is fixed by the SLO's window, never by traffic.

Counts are fed as the sources' own cumulative totals (``update``); a total
that goes down (a new monitor after ``configure``, a fork) is a reset, as
Prometheus treats counters, and the next value counts from zero.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ._ring import SnapshotRing
from ._spec import SLO, parse_duration

__all__ = ["BURN_WINDOWS", "Budget", "SLOState"]

#: Burn-rate windows (Google's SRE workbook pairs: 1h/5m, 6h/30m, 1d/2h, 3d/6h).
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
_BURN_SECONDS = tuple((name, parse_duration(name)) for name in BURN_WINDOWS)
_MINUTE = 60.0
_HOUR = 3600.0
_SHORT_SPAN = 6 * _HOUR  # windows up to this long are read from the minute ring


@dataclasses.dataclass(frozen=True)
class Budget:
    """What one SLO's budget looks like now, as this process sees it.

    ``state`` is ``ok``, ``exhausted`` (no budget left) or ``no_data`` (no
    event in the window yet: nothing is known, never "perfect"). Shares are
    fractions: ``budget_remaining`` 1.0 is untouched, 0 or less exhausted
    (not clamped, so an overspend shows by how much). Minutes convert the
    shares at the window's length (a 99.9 % SLO over 30 days allows 43.2
    minutes). ``covered_seconds`` is how much of the window this process has
    seen: less than the window until it has run that long.
    """

    slo: SLO
    state: str
    good: int
    total: int
    sli: float | None
    budget_total: float
    budget_consumed: float | None
    budget_remaining: float | None
    minutes_total: float
    minutes_remaining: float | None
    covered_seconds: float
    burn_rates: dict[str, float | None]
    detail: str = ""
    #: Every event since tracking started (the exported counter), not just the window's.
    events_good: int = 0
    events_total: int = 0

    @property
    def exhausted(self) -> bool:
        return self.state == "exhausted"

    def text(self) -> str:
        """One line for people: "churn-availability: 13.0 of 43.2 minutes left ..."."""
        window = _window_words(self.slo.window)
        if self.state == "no_data":
            why = f" ({self.detail})" if self.detail else ""
            return (f"{self.slo.name}: no data in this {window} window yet{why}; "
                    f"budget {self.minutes_total:.1f} minutes")
        assert self.budget_remaining is not None and self.minutes_remaining is not None
        assert self.sli is not None
        left = max(self.minutes_remaining, 0.0)
        line = (f"{self.slo.name}: {left:.1f} of {self.minutes_total:.1f} minutes left in this "
                f"{window} window ({self.budget_remaining:.1%} of the budget; SLI "
                f"{self.sli:.4%} over {self.total} events, target {self.slo.target:.4%})")
        if self.exhausted:
            line += " - EXHAUSTED"
        return line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no NaN or infinity: absent values are None)."""
        slo = self.slo
        return {
            "name": slo.name, "kind": slo.kind, "target": slo.target, "window": slo.window,
            "model": slo.model, "version": slo.version, "threshold_ms": slo.threshold_ms,
            "max_age": slo.max_age, "state": self.state, "good": self.good,
            "total": self.total, "sli": self.sli, "budget_total": self.budget_total,
            "budget_consumed": self.budget_consumed, "budget_remaining": self.budget_remaining,
            "minutes_total": self.minutes_total, "minutes_remaining": self.minutes_remaining,
            "covered_seconds": self.covered_seconds, "burn_rates": dict(self.burn_rates),
            "detail": self.detail, "events_good": self.events_good,
            "events_total": self.events_total, "text": self.text(),
        }


def _window_words(window: str) -> str:
    seconds = parse_duration(window)
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}-{unit}"
    return window


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


class SLOState:
    """Cumulative events of one SLO and the rings of their snapshots."""

    def __init__(self, slo: SLO, started: float) -> None:
        self.slo = slo
        self.window = slo.window_seconds
        self.started = started
        self.good = 0
        self.total = 0
        self._last_raw: tuple[int, int] | None = None
        self.minutes = SnapshotRing(int(_SHORT_SPAN // _MINUTE) + 2)
        longest = max(self.window, _BURN_SECONDS[-1][1])
        self.hours = SnapshotRing(math.ceil(longest / _HOUR) + 2)
        self._minute = math.floor(started / _MINUTE)
        self._hour = math.floor(started / _HOUR)
        #: Why there is no data (a source's own words), for the summary.
        self.detail = ""

    @property
    def nbytes(self) -> int:
        return self.minutes.nbytes + self.hours.nbytes

    def rebase(self) -> None:
        """The source changes (another monitor): its next totals count from zero."""
        self._last_raw = None

    def update(self, good: int, total: int) -> None:
        """Fold in a source's cumulative totals. The first reading of a source is
        its baseline (what it counted before being tracked is not in any window)."""
        last = self._last_raw
        self._last_raw = (good, total)
        if last is None:
            return
        if good < last[0] or total < last[1]:  # the source restarted from zero
            last = (0, 0)
        self.good += good - last[0]
        self.total += total - last[1]

    def add(self, good: int, total: int) -> None:
        """Add events directly (freshness: one per minute)."""
        self.good += good
        self.total += total

    def minute_due(self, now: float) -> bool:
        """Whether a new minute has begun since the last snapshot."""
        return math.floor(now / _MINUTE) > self._minute

    def snapshot(self, now: float) -> bool:
        """Take the minute's (and hour's) snapshot when a new one has begun; True if taken."""
        minute = math.floor(now / _MINUTE)
        if minute <= self._minute:
            return False
        self._minute = minute
        self.minutes.append(now, self.good, self.total)
        hour = math.floor(now / _HOUR)
        if hour > self._hour:
            self._hour = hour
            self.hours.append(now, self.good, self.total)
        return True

    def _events(self, now: float, seconds: float) -> tuple[int, int, float]:
        """(good, total, covered seconds) in the ``seconds`` before ``now``."""
        ring = self.minutes if seconds <= _SHORT_SPAN else self.hours
        base = ring.at_or_before(now - seconds)
        if base is None:
            # Younger than the window (or the ring's span): everything since start.
            return self.good, self.total, max(now - self.started, 0.0)
        t, good, total = base
        return self.good - int(good), self.total - int(total), max(now - t, 0.0)

    def budget(self, now: float) -> Budget:
        slo = self.slo
        allowed = slo.error_budget
        minutes_total = allowed * self.window / 60.0
        good, total, covered = self._events(now, self.window)
        covered = min(covered, self.window)
        burns: dict[str, float | None] = {}
        for name, seconds in _BURN_SECONDS:
            g, t, _ = self._events(now, seconds)
            burns[name] = _finite(((t - g) / t) / allowed) if t > 0 else None
        if total <= 0:
            return Budget(slo, "no_data", 0, 0, None, allowed, None, None, minutes_total, None,
                          covered, burns, self.detail or "no events in the window",
                          self.good, self.total)
        bad_share = (total - good) / total
        consumed = bad_share / allowed
        remaining = 1.0 - consumed
        return Budget(
            slo, "exhausted" if remaining <= 0 else "ok", good, total, good / total, allowed,
            consumed, remaining, minutes_total, remaining * minutes_total, covered, burns,
            self.detail, self.good, self.total,
        )
