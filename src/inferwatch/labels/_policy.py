"""The policy's value from joined outcomes: IPW and SNIPS over logged propensities.

A call that logged its propensity (``inferwatch.feedback.set_propensity``)
is a *decision*: the probability ``p`` with which the logging policy took
its action and the probability ``q`` that the evaluated policy would have
taken it, weight ``w = q / p``. Its *reward* is the first outcome of the
configured name joined to its prediction (``record_outcome(id, "click")``),
0 when none arrives. So that a decision whose reward is still on its way is
not counted as a 0, each decision and its reward wait until the decision's
*horizon* has passed (``timestamp + horizon``, an attribution window): a
reward arriving later is left out, counted as ``late``.

Both halves are folded into :class:`~inferwatch.feedback.OffPolicyStats`
apart (``add_decisions`` where the prediction was stored, ``add_rewards``
where its outcome was joined): on a fleet sharing a
:class:`~._redis_store.RedisStore` these are two replicas, and the exported
sums add up to the fleet's estimate exactly. Waiting decisions and rewards
sit in buckets of ``horizon / 64`` seconds keyed by when they mature (both
halves of one decision land in the same bucket), so memory is bounded by the
bucket count and the series, not by the traffic.

Everything here runs on the aggregator thread (or collection), under the
tracker's lock.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..feedback._offpolicy import OffPolicyStats
from ._store import StoredPrediction

__all__ = ["MAX_BUCKETS", "PolicyValues"]

Series = tuple[str, str, str]

#: Buckets a horizon is cut into (a decision matures at most horizon / 64 late).
BUCKETS_PER_HORIZON = 64
#: Waiting buckets held at most (far-future timestamps past it are dropped, counted).
MAX_BUCKETS = 1024
#: Series (model, version, variant) estimated at most.
MAX_SERIES = 128


class PolicyValues:
    """Per series, the evaluated policy's value from decisions and their rewards."""

    def __init__(self, reward: str, horizon: float, *, clip: float | None = None) -> None:
        self.reward = reward
        self.horizon = float(horizon)
        self.clip = clip
        self._width = max(self.horizon / BUCKETS_PER_HORIZON, 1e-3)
        #: Matured decisions and rewards, per series.
        self.stats: dict[Series, OffPolicyStats] = {}
        #: Waiting ones: bucket -> series -> stats.
        self._waiting: dict[int, dict[Series, OffPolicyStats]] = {}
        #: Every series admitted so far, matured or waiting (capped at MAX_SERIES).
        self._series: set[Series] = set()
        #: Rewards by what became of them: counted, late, unlogged (no propensity).
        self.rewards = {"counted": 0, "late": 0, "unlogged": 0}
        self.dropped = {"policy_buckets_full": 0, "policy_series_full": 0}

    def fresh(self) -> PolicyValues:
        """Empty estimates of the same configuration (a forked worker's own)."""
        return PolicyValues(self.reward, self.horizon, clip=self.clip)

    def _bucket(self, timestamp: float) -> int:
        return math.ceil((timestamp + self.horizon) / self._width)

    def _matured(self, bucket: int, now: float) -> bool:
        return bucket * self._width <= now

    def _slot(self, bucket: int, series: Series, now: float) -> OffPolicyStats | None:
        """Where a decision or reward maturing in ``bucket`` is folded (None: dropped)."""
        if self._matured(bucket, now):
            table = self.stats
        else:
            waiting = self._waiting.get(bucket)
            if waiting is None:
                if len(self._waiting) >= MAX_BUCKETS:
                    self.dropped["policy_buckets_full"] += 1
                    return None
                waiting = self._waiting[bucket] = {}
            table = waiting
        stats = table.get(series)
        if stats is None:
            if series not in self._series:
                if len(self._series) >= MAX_SERIES:
                    self.dropped["policy_series_full"] += 1
                    return None
                self._series.add(series)
            stats = table[series] = OffPolicyStats(clip=self.clip)
        return stats

    def add_decisions(self, entries: Sequence[StoredPrediction], now: float) -> None:
        """Predictions just stored: those that logged a propensity are decisions."""
        groups: dict[tuple[int, Series], list[tuple[float, float]]] = {}
        for entry in entries:
            if entry.policy is not None:
                key = (self._bucket(entry.timestamp),
                       (entry.model, entry.version, entry.variant or ""))
                groups.setdefault(key, []).append(entry.policy)
        for (bucket, series), policies in groups.items():
            stats = self._slot(bucket, series, now)
            if stats is None:
                continue
            p, q = np.asarray(policies, dtype=np.float64).T
            stats.add_decisions(p, q)

    def add_reward(self, entry: StoredPrediction, value: float, received: float,
                   now: float) -> None:
        """The first outcome of the reward's name joined to ``entry``."""
        if entry.policy is None:
            self.rewards["unlogged"] += 1
            return
        if received > entry.timestamp + self.horizon:
            self.rewards["late"] += 1
            return
        series = (entry.model, entry.version, entry.variant or "")
        stats = self._slot(self._bucket(entry.timestamp), series, now)
        if stats is None:
            return
        p, q = entry.policy
        stats.add_rewards([value], [p], [q])
        self.rewards["counted"] += 1

    def mature(self, now: float) -> None:
        """Fold every bucket whose horizon has passed into the series' estimates."""
        if not self._waiting:
            return
        for bucket in sorted(b for b in self._waiting if self._matured(b, now)):
            for series, stats in self._waiting.pop(bucket).items():
                total = self.stats.get(series)
                if total is None:
                    self.stats[series] = stats
                else:
                    total.merge(stats)

    @property
    def waiting(self) -> int:
        """Decisions stored whose horizon has not passed yet."""
        return sum(stats.n for table in self._waiting.values() for stats in table.values())

    def rows(self, confidence: float = 0.95) -> list[dict[str, Any]]:
        """One row per series: decisions matured, IPW and SNIPS with their intervals."""
        out = []
        for (model, version, variant), stats in sorted(self.stats.items()):
            out.append({
                "model": model, "version": version, "variant": variant or None,
                "reward": self.reward, "horizon_s": self.horizon, "decisions": stats.n,
                "weight": stats.sw, "weighted_reward": stats.swr,
                "effective_sample_size": stats.effective_sample_size,
                "ipw": _plain(stats.ipw(confidence)),
                "snips": _plain(stats.snips(confidence)),
            })
        return out

    @property
    def nbytes(self) -> int:
        """Memory held (estimated): about 200 bytes per series and bucket."""
        return 200 * (len(self.stats) + sum(len(w) for w in self._waiting.values()))


def _plain(value: Any) -> dict[str, Any]:
    """A PolicyValue as JSON-able fields (NaN as None)."""
    out: dict[str, Any] = {}
    for name, item in dataclasses.asdict(value).items():
        if isinstance(item, float) and not math.isfinite(item):
            item = None
        elif isinstance(item, tuple):
            item = list(item)
        out[name] = item
    return out
