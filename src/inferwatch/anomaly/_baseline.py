"""A learned seasonal baseline for one signal, and how far a value is from it.

The model, per observation at time ``t`` (hour of day ``h``, day of week
``d``, both UTC unless ``utc_offset`` says otherwise)::

    expected = level + daily(h) + weekly[d] + weekly_hour[d, h]
    score    = (value - expected) / (scale[h] * day_scale[d])

* ``level`` follows slow changes and trends (an exponentially weighted mean,
  half-life ``level_halflife``); ``daily`` (24 slots, interpolated between
  slot centres so a steep morning ramp is no step at each full hour) learns
  the shape of a day from every day, ``weekly`` (7 slots) the offset of each
  weekday, and ``weekly_hour`` (168 slots, slower) what is particular to an
  hour of a weekday (a Saturday morning).
* ``scale`` is a robust spread per hour of day (a decayed mean of absolute
  deviations, turned into a standard-deviation equivalent) and
  ``day_scale`` a factor per weekday (a quiet Sunday is noisier): the score
  is a robust z-score. With ``count`` (the value is a mean of ``count``
  calls) the spread shrinks as ``1/sqrt(count)``.
* Robustness: every update uses the residual clipped at ``clip`` scales (a
  Huber-style estimator), and an observation whose score is past
  ``threshold`` (an anomaly) updates nothing at all, so spikes, drops and
  outages leave the baseline as it was. An anomaly that lasts
  ``relearn_after`` (12 h) is a level shift: the level then jumps by the
  run's median residual and alarms stop. A missing value (None, NaN) or one
  the caller marks ``valid=False`` (an interval known to be bad) changes
  nothing.
* Small counts: with ``transform="log"`` (the value is a count) or
  ``"arcsine"`` with ``count`` (a proportion of ``count`` trials), a point
  score is never larger in size than the exact Poisson or binomial tail
  score of that count: at a few events per interval the normal curve
  overstates how rare a value is.
* A sustained score (an EWMA of the point scores, half-life
  ``sustained_halflife``, in units of its own spread) catches a change too
  small for any one interval that lasts; the score reported is whichever of
  the two is larger in size.
* Warm-up: for ``warmup`` seconds (a week by default) values are only kept,
  at most ``warmup / interval`` of them; then the baseline starts from a
  robust batch fit (trimmed means per slot, capped mean absolute deviations
  per hour and weekday) and scores begin. No alarm is raised while warming
  up.

Memory is fixed: about 450 numbers of state, plus the warm-up buffer (freed
when it ends) and the residuals of an ongoing anomaly (``relearn_after /
interval`` at most); it never grows with time or traffic.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ._tails import binomial_z, poisson_z

__all__ = ["TRANSFORMS", "AnomalyScore", "SeasonalBaseline"]

#: none; log: ``log1p`` for counts with multiplicative seasonality (traffic);
#: arcsine: ``asin(sqrt(p))`` for proportions in [0, 1] (an error rate), whose
#: spread then no longer depends on p and whose tails near 0 are near normal.
TRANSFORMS = ("none", "log", "arcsine")

_SIGMA_PER_MEAN_ABS = math.sqrt(math.pi / 2.0)  # sigma = 1.2533 * E|x| for a normal


@dataclasses.dataclass(frozen=True)
class AnomalyScore:
    """One observation's verdict. ``score`` is None while warming up or for a
    missing value; ``expected`` is on the value's own scale."""

    time: float
    value: float | None
    expected: float | None
    score: float | None
    alarm: bool
    warming_up: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _trimmed_mean(values: np.ndarray, cut: float = 0.1) -> float:
    """Mean of the values left after cutting ``cut`` of them off each end."""
    ordered = np.sort(values)
    k = int(len(ordered) * cut)
    return float(ordered[k:len(ordered) - k].mean()) if len(ordered) > 2 * k else 0.0


def _winsorised_mean_abs(values: np.ndarray) -> float:
    """Mean absolute value, the largest capped (so a few warm-up outliers weigh
    little) at its 99th percentile or four times the plain mean, whichever is
    larger: capping at a quantile alone would erase the rare nonzero counts of
    discrete data (a night's single errors) and make the spread collapse."""
    if not len(values):
        return 0.0
    deviations = np.abs(values)
    cap = max(float(np.quantile(deviations, 0.99)), 4.0 * float(deviations.mean()))
    return float(np.minimum(deviations, cap).mean())


def _alpha(halflife_observations: float) -> float:
    """Per-observation weight of an EWMA with the given half-life (in observations)."""
    return float(1.0 - 0.5 ** (1.0 / max(halflife_observations, 1e-9)))


class SeasonalBaseline:
    """Learned seasonal baseline of one signal observed every ``interval`` seconds.

    ::

        baseline = SeasonalBaseline(interval=300, transform="log")
        for t, calls in series:
            verdict = baseline.update(t, calls)
            if verdict.alarm:
                print("anomaly", verdict.score)

    Args:
        interval: seconds between observations (one value per interval).
        threshold: alarm when ``|score|`` is above this (robust z-score).
        warmup: seconds of values kept before scoring starts (>= one day; a
            week lets every weekday be seen before the first alarm).
        transform: "none", or "log" for ``log1p`` of non-negative counts.
        min_scale: smallest spread, on the transformed scale (a signal that
            is constant, such as an error rate of zero, would otherwise make
            every change infinitely surprising).
        clip: residuals are clipped at this many scales in every update.
        level_halflife, season_halflife, weekly_halflife: decay of the level,
            of the daily slots and the scale, and of the weekly slots, in
            seconds of history.
        utc_offset: seconds added to ``t`` before taking hour and weekday
            (the signal's local time).
        sustained_halflife: memory of the sustained score (seconds; default
            30 minutes or one interval), which catches a change too small for
            any one interval that lasts.
        relearn_after: seconds an anomaly must last to become the new normal
            (a level shift: the level jumps by the run's median residual).
        direction: which side alarms: "both", "up" (an error rate: fewer
            errors than usual is no incident) or "down". Either side past the
            threshold is kept out of the slots all the same.
    """

    def __init__(
        self,
        interval: float,
        *,
        threshold: float = 4.0,
        warmup: float = 7 * 86400.0,
        transform: str = "none",
        min_scale: float = 0.0,
        clip: float = 3.0,
        level_halflife: float = 6 * 3600.0,
        season_halflife: float = 3 * 86400.0,
        weekly_halflife: float = 21 * 86400.0,
        utc_offset: float = 0.0,
        direction: str = "both",
        sustained_halflife: float | None = None,
        relearn_after: float = 12 * 3600.0,
    ) -> None:
        if not interval > 0 or interval > 3600:
            raise ValueError(f"interval must be in (0, 3600] seconds, got {interval!r}")
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold!r}")
        if not warmup >= 86400:
            raise ValueError(f"warmup must be at least one day (86400 s), got {warmup!r}")
        if transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
        if direction not in ("both", "up", "down"):
            raise ValueError(f"direction must be 'both', 'up' or 'down', got {direction!r}")
        if not min_scale >= 0:
            raise ValueError(f"min_scale must be >= 0, got {min_scale!r}")
        if not clip > 0:
            raise ValueError(f"clip must be > 0, got {clip!r}")
        if sustained_halflife is None:
            sustained_halflife = max(1800.0, float(interval))
        for name, value in (("level_halflife", level_halflife),
                            ("season_halflife", season_halflife),
                            ("weekly_halflife", weekly_halflife),
                            ("sustained_halflife", sustained_halflife),
                            ("relearn_after", relearn_after)):
            if not value >= interval:
                raise ValueError(f"{name} must be at least one interval, got {value!r}")
        self.interval = float(interval)
        self.threshold = float(threshold)
        self.warmup = float(warmup)
        self.transform = transform
        self.min_scale = float(min_scale)
        self.clip = float(clip)
        self.utc_offset = float(utc_offset)
        self.direction = direction
        per_hour = 3600.0 / self.interval
        self._a_level = _alpha(level_halflife / self.interval)
        # Each slot sees per_hour observations a day (daily) or a week (weekday-hour).
        self._a_daily = _alpha(per_hour * season_halflife / 86400.0)
        self._a_scale = self._a_daily
        self._a_weekly = _alpha(24 * per_hour * weekly_halflife / 86400.0)
        self._a_weekly_hour = _alpha(per_hour * weekly_halflife / (7 * 86400.0))
        self._a_sustained = _alpha(sustained_halflife / self.interval)
        self._sustained_sd = math.sqrt(self._a_sustained / (2.0 - self._a_sustained))
        self._sustained = 0.0
        self._relearn = max(1, round(relearn_after / self.interval))
        self._run: list[float] = []
        self.level = 0.0
        self.daily = np.zeros(24)
        self.weekly = np.zeros(7)
        self.weekly_hour = np.zeros((7, 24))
        self.scale = np.zeros(24)
        #: Spread of each weekday relative to the hour's (a quiet Sunday is noisier).
        self.day_scale = np.ones(7)
        self._n_daily = np.zeros(24, dtype=np.int64)
        self._n_weekly = np.zeros(7, dtype=np.int64)
        self._n_weekly_hour = np.zeros((7, 24), dtype=np.int64)
        capacity = math.ceil(self.warmup / self.interval) + 1
        self._warm_t: list[float] | None = []
        self._warm_y: list[float] = []
        self._warm_w: list[float] = []
        self._capacity = capacity
        self._started: float | None = None
        self.last: AnomalyScore | None = None

    # -- state -------------------------------------------------------------------

    @property
    def warming_up(self) -> bool:
        return self._warm_t is not None

    @property
    def nbytes(self) -> int:
        """Bytes of state: fixed arrays, plus the warm-up buffer while warming up."""
        fixed = (self.daily.nbytes + self.weekly.nbytes + self.weekly_hour.nbytes
                 + self.scale.nbytes + self.day_scale.nbytes + self._n_daily.nbytes
                 + self._n_weekly.nbytes                 + self._n_weekly_hour.nbytes + 8)
        warm = 0 if self._warm_t is None else 24 * len(self._warm_t)
        return fixed + warm + 8 * len(self._run)

    def _slots(self, t: float) -> tuple[int, int, int, float]:
        """Hour of day and weekday of ``t``, and the two daily slots around it with
        the weight of the second (the daily shape is interpolated between slot
        centres, so a steep morning ramp is not a step at each full hour)."""
        local = t + self.utc_offset
        hour = int(local // 3600) % 24
        # The epoch began on a Thursday: day 0 here is Monday.
        day = (int(local // 86400) + 3) % 7
        u = (local % 86400) / 3600.0 - 0.5
        below = math.floor(u)
        return hour, day, int(below) % 24, u - below

    def _forward(self, y: float, count: float | None = None) -> float:
        if self.transform == "log":
            return math.log1p(max(y, 0.0))
        if self.transform == "arcsine":
            p = min(max(y, 0.0), 1.0)
            if count is not None:
                # Anscombe's form: near-symmetric even when p * count is small.
                p = (p * count + 0.375) / (count + 0.75)
            return math.asin(math.sqrt(p))
        return y

    def _back(self, y: float) -> float:
        if self.transform == "log":
            return math.expm1(y)
        if self.transform == "arcsine":
            return math.sin(min(max(y, 0.0), math.pi / 2)) ** 2
        return y

    def expected(self, t: float) -> float | None:
        """The baseline's value for time ``t`` (None while warming up)."""
        if self.warming_up:
            return None
        return self._back(self._expected_transformed(*self._slots(t)))

    def _expected_transformed(self, hour: int, day: int, below: int, w: float) -> float:
        daily = (1.0 - w) * self.daily[below] + w * self.daily[(below + 1) % 24]
        return float(self.level + daily + self.weekly[day] + self.weekly_hour[day, hour])

    def _sigma(self, hour: int, day: int, count: float) -> float:
        floor = max(self.min_scale, 1e-9 * max(1.0, abs(self.level)))
        spread = float(self.scale[hour] * self.day_scale[day])
        return max(spread * _SIGMA_PER_MEAN_ABS / math.sqrt(count), floor)

    # -- updates -------------------------------------------------------------------

    def update(self, t: float, value: float | None, *, count: float | None = None,
               valid: bool = True) -> AnomalyScore:
        """Score ``value``, observed for the interval starting at ``t`` (epoch
        seconds), then learn from it.

        ``count``: when the value is a mean of ``count`` observations (a mean
        prediction, an error rate), its expected spread shrinks as
        ``1/sqrt(count)``: a quiet night's error rate of 1 in 10 is not the
        alarm that 100 in 1000 is. None or NaN is a missing interval, and
        ``valid=False`` an interval known to be bad (a restart, a partial
        count): neither is learned.
        """
        weight = 1.0
        if count is not None:
            try:
                weight = float(count)
            except (TypeError, ValueError):
                weight = 0.0
            if not weight > 0 or not math.isfinite(weight):
                value = None  # a mean of nothing is a missing value
        if self._started is None:
            self._started = float(t)
        y: float | None = None
        if value is not None:
            try:
                y = float(value)
            except (TypeError, ValueError):
                y = None
            if y is not None and not math.isfinite(y):
                y = None
        warming = self.warming_up
        if y is None:
            verdict = AnomalyScore(t, None, self.expected(t), None, False, warming)
            self.last = verdict
            return verdict
        yt = self._forward(y, weight if count is not None else None)
        if warming:
            if valid:
                self._keep(t, yt, weight)
            if t - self._started >= self.warmup:
                self._fit_warmup()
            verdict = AnomalyScore(t, y, None, None, False, True)
            self.last = verdict
            return verdict
        slots = self._slots(t)
        expected = self._expected_transformed(*slots)
        sigma = self._sigma(slots[0], slots[1], weight)
        residual = yt - expected
        point = self._discrete_cap(residual / sigma, y, weight if count is not None else None,
                                   self._back(expected))
        # The sustained score: an EWMA of the point scores (bounded, so one spike
        # cannot hold it up for long) in units of its own spread under no anomaly.
        bounded = min(max(point, -2 * self.threshold), 2 * self.threshold)
        ewma = self._sustained + self._a_sustained * (bounded - self._sustained)
        sustained = ewma / self._sustained_sd
        if valid:  # a bad interval moves nothing, the sustained score included
            self._sustained = ewma
        score = point if abs(point) >= abs(sustained) else sustained
        alarm = (score > self.threshold if self.direction == "up" else
                 score < -self.threshold if self.direction == "down" else
                 abs(score) > self.threshold)
        if valid:
            self._learn(slots, residual, sigma, math.sqrt(weight),
                        anomalous=abs(score) > self.threshold)
        verdict = AnomalyScore(t, y, self._back(expected), score, alarm, False)
        self.last = verdict
        return verdict

    def _discrete_cap(self, point: float, y: float, count: float | None,
                      expected: float) -> float:
        """The point score, no larger in size than the exact tail score of the
        count behind it (log: the value is a count; arcsine with ``count``: a
        proportion of ``count`` trials), whichever is more modest."""
        if point == 0.0:
            return point
        upper = point > 0
        if self.transform == "log":
            exact = poisson_z(y, max(expected, 1e-9), upper=upper)
        elif self.transform == "arcsine" and count is not None:
            exact = binomial_z(y * count, count, min(max(expected, 0.0), 1.0), upper=upper)
        else:
            return point
        if exact is None:
            return point
        return point if abs(exact) >= abs(point) else (exact if exact * point > 0 else 0.0)

    def _keep(self, t: float, yt: float, weight: float) -> None:
        assert self._warm_t is not None
        if len(self._warm_t) >= self._capacity:  # more values than intervals: keep the latest
            del self._warm_t[0], self._warm_y[0], self._warm_w[0]
        self._warm_t.append(float(t))
        self._warm_y.append(yt)
        self._warm_w.append(math.sqrt(weight))

    def _fit_warmup(self) -> None:
        """The first baseline, fitted robustly to the warm-up values: trimmed means
        per slot (the median alone collapses on counts that are mostly zero, such
        as a night's errors) and winsorised mean absolute deviations per hour."""
        assert self._warm_t is not None
        times = np.asarray(self._warm_t)
        ys = np.asarray(self._warm_y)
        root_w = np.asarray(self._warm_w)
        self._warm_t, self._warm_y, self._warm_w = None, [], []
        if ys.size == 0:
            return  # nothing valid seen: the slots start empty and learn online
        local = times + self.utc_offset
        hours = (local // 3600).astype(np.int64) % 24
        days = ((local // 86400).astype(np.int64) + 3) % 7
        self.level = _trimmed_mean(ys)
        rest = ys - self.level
        for h in range(24):
            sel = hours == h
            if sel.any():
                self.daily[h] = _trimmed_mean(rest[sel])
                self._n_daily[h] = int(sel.sum())
        rest = rest - self.daily[hours]
        for d in range(7):
            sel = days == d
            if sel.any():
                self.weekly[d] = _trimmed_mean(rest[sel])
                self._n_weekly[d] = int(sel.sum())
        raw = (ys - self.level) * root_w
        rest = (rest - self.weekly[days]) * root_w  # per unit of count
        # A slot seen once or twice (hourly values, a day of warm-up) absorbed its
        # values whole: its residuals say nothing of the spread. Without better,
        # the spread around the level alone (too wide: fewer alarms, not more).
        informative = self._n_daily[hours] >= 3
        overall = _winsorised_mean_abs(rest[informative] if informative.any() else raw)
        for h in range(24):
            sel = hours == h
            # Stored as a mean absolute deviation (what the online update tracks).
            self.scale[h] = (_winsorised_mean_abs(rest[sel])
                             if sel.sum() >= 6 and self._n_daily[h] >= 3 else overall)
        relative = np.abs(rest) / np.maximum(self.scale[hours], 1e-300)
        for d in range(7):
            sel = days == d
            if sel.sum() >= 24:
                self.day_scale[d] = max(_winsorised_mean_abs(relative[sel]), 1e-3)

    def _learn(self, slots: tuple[int, int, int, float], residual: float, sigma: float,
               root_weight: float, *, anomalous: bool) -> None:
        hour, day, below, w = slots
        if anomalous:
            # An anomaly teaches nothing, until it has lasted relearn_after: then
            # it is the new normal and the level moves by its median residual.
            run = self._run
            run.append(residual)
            if len(run) >= self._relearn:
                self.level += float(np.median(run))
                run.clear()
                self._sustained = 0.0
            return
        self._run.clear()
        bound = self.clip * sigma
        r = min(max(residual, -bound), bound)
        self.level += self._a_level * r
        # Slots seen few times learn faster (a running mean until the decay takes over).
        above = (below + 1) % 24
        for slot, share in ((below, 1.0 - w), (above, w)):
            self._n_daily[slot] += 1
            self.daily[slot] += max(self._a_daily, 1.0 / self._n_daily[slot]) * share * r
        self._n_weekly[day] += 1
        self.weekly[day] += max(self._a_weekly, 1.0 / (24 * self._n_weekly[day])) * r
        self._n_weekly_hour[day, hour] += 1
        self.weekly_hour[day, hour] += self._a_weekly_hour * r
        rate = max(self._a_scale, 1.0 / self._n_daily[hour])
        deviation = min(abs(residual), bound) * root_weight  # per unit of count
        day_scale = float(self.day_scale[day])
        self.scale[hour] += rate * (deviation / day_scale - self.scale[hour])
        if self.scale[hour] > 0:
            relative = deviation / float(self.scale[hour])
            self.day_scale[day] += self._a_weekly * 24 * (relative - day_scale)
