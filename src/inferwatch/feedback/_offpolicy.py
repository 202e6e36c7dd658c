"""Off-policy estimates of a policy's value from logged propensities: IPW and SNIPS.

Each logged decision gives a reward ``r``, the propensity ``p`` with which
the logging policy took its action, and the probability ``q`` that the
target policy takes that same action (1 or 0 for a deterministic target).
With weights ``w = q / p``:

- IPW (inverse propensity weighting, Horvitz-Thompson): ``mean(w * r)``,
  unbiased whenever ``p > 0`` wherever ``q > 0``; its variance is the sample
  variance of ``w * r`` over ``n``;
- SNIPS (self-normalised IPW): ``sum(w * r) / sum(w)``, slightly biased
  (O(1/n)) but usually of much lower variance; its variance is the delta
  method's ``sum(w**2 * (r - V)**2) / sum(w)**2``.

Both come with a normal-approximation confidence interval and Kish's
effective sample size ``sum(w)**2 / sum(w**2)``. Everything is computed from
five running sums, the count and the largest weight, so :class:`OffPolicyStats`
is bounded in memory, takes values one at a time or in arrays, and merges
exactly across replicas. A decision and its reward may also be added apart
(:meth:`~OffPolicyStats.add_decisions`, :meth:`~OffPolicyStats.add_rewards`):
the label tracker counts a decision where its prediction was stored and its
reward where its outcome was joined, which may be two replicas.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["OffPolicyStats", "PolicyValue", "ipw", "snips"]

#: A weight above this is flagged ``extreme_weights`` (e.g. a propensity of 0.01).
MAX_WEIGHT_WARNING = 100.0
#: Effective sample size below this share of n is flagged ``low_effective_sample_size``.
MIN_ESS_SHARE = 0.1
#: Fewer decisions than this are flagged ``few_samples`` (the normal approximation is poor).
MIN_SAMPLES = 30


@dataclasses.dataclass(frozen=True)
class PolicyValue:
    """An estimate of a policy's value (its mean reward) with its uncertainty.

    ``variance`` is the estimate's (not the rewards'), ``stderr`` its square
    root, and ``[ci_low, ci_high]`` the normal-approximation interval at
    ``confidence``. ``warnings`` name what makes the estimate fragile:
    ``extreme_weights`` (a weight above ``max_weight_warning``),
    ``low_effective_sample_size``, ``clipped`` (weights were capped, which
    biases the estimate), ``few_samples``, ``no_support`` (no logged action
    the target policy would take: SNIPS is undefined).
    """

    method: str
    value: float
    variance: float
    stderr: float
    ci_low: float
    ci_high: float
    confidence: float
    n: int
    effective_sample_size: float
    max_weight: float
    clipped: int
    warnings: tuple[str, ...]

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies in the confidence interval."""
        return self.ci_low <= value <= self.ci_high


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _as_array(values: Any, name: str, n: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numbers (a sequence or an array)") from None
    if arr.ndim == 0 and n is not None:
        arr = np.full(n, float(arr))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} values; rewards have {n}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return arr


class OffPolicyStats:
    """Running sums behind :func:`ipw` and :func:`snips`: update, merge, estimate.

    ::

        stats = OffPolicyStats()
        stats.update_many(rewards, logged_propensities, target_probabilities)
        stats.ipw().value, stats.snips().ci_low

    ``clip`` caps each weight ``q / p`` (trading bias for variance; capped
    weights are counted and the estimates flagged ``clipped``).
    ``max_weight_warning`` is the weight above which estimates are flagged
    ``extreme_weights``. Two stats merge exactly when their ``clip`` agrees.
    """

    __slots__ = ("_max_w", "clip", "clipped", "max_weight_warning", "n", "sw", "sw2",
                 "sw2r", "swr", "swr2")

    def __init__(self, *, clip: float | None = None,
                 max_weight_warning: float = MAX_WEIGHT_WARNING) -> None:
        if clip is not None and (isinstance(clip, bool) or not clip > 0 or
                                 not math.isfinite(clip)):
            raise ValueError(f"clip must be a positive weight (e.g. 50), got {clip!r}")
        if not max_weight_warning > 0:
            raise ValueError(f"max_weight_warning must be positive, got {max_weight_warning!r}")
        self.clip = None if clip is None else float(clip)
        self.max_weight_warning = float(max_weight_warning)
        self.n = 0
        self.clipped = 0
        self._max_w = 0.0
        self.sw = 0.0     # sum w
        self.swr = 0.0    # sum w r
        self.swr2 = 0.0   # sum (w r)^2
        self.sw2 = 0.0    # sum w^2
        self.sw2r = 0.0   # sum w^2 r

    # -- input ------------------------------------------------------------------------

    def update(self, reward: float, propensity: float, target: float = 1.0) -> None:
        """Add one logged decision: its reward, the logging propensity of the action
        taken (in (0, 1]) and the target policy's probability of that action ([0, 1])."""
        self.update_many([reward], [propensity], [target])

    def update_many(self, rewards: Any, propensities: Any, targets: Any = 1.0) -> None:
        """Add logged decisions from arrays (``targets`` may be one number for all)."""
        r = _as_array(rewards, "rewards")
        w = self._weights(propensities, targets, r.shape[0])
        self._add_decisions(w)
        self._add_rewards(w, r)

    def add_decisions(self, propensities: Any, targets: Any = 1.0) -> None:
        """Add decisions whose rewards come later (with :meth:`add_rewards`), or never (a
        reward of 0). A decision and its reward may be added in different replicas'
        stats: the sums merge exactly."""
        p = _as_array(propensities, "propensities")
        self._add_decisions(self._weights(p, targets, p.shape[0]))

    def add_rewards(self, rewards: Any, propensities: Any, targets: Any = 1.0) -> None:
        """Add the rewards of decisions added (or to be added) with :meth:`add_decisions`,
        one per decision at most; together they equal :meth:`update_many`."""
        r = _as_array(rewards, "rewards")
        w = self._weights(propensities, targets, r.shape[0], count_clipped=False)
        self._add_rewards(w, r)

    def _weights(self, propensities: Any, targets: Any, n: int, *,
                 count_clipped: bool = True) -> np.ndarray:
        p = _as_array(propensities, "propensities", n)
        q = _as_array(targets, "targets", n)
        if ((p <= 0.0) | (p > 1.0)).any():
            raise ValueError(
                "propensities must be in (0, 1]: the probability with which the logging "
                "policy took the logged action (a 0 means the action could not be taken)")
        if ((q < 0.0) | (q > 1.0)).any():
            raise ValueError("targets must be in [0, 1]: the target policy's probability "
                             "of the logged action (1/0 for a deterministic policy)")
        w: np.ndarray = q / p
        if self.clip is not None:
            over = w > self.clip
            if count_clipped:
                self.clipped += int(over.sum())
            w = np.minimum(w, self.clip)
        return w

    def _add_decisions(self, w: np.ndarray) -> None:
        if w.shape[0] == 0:
            return
        self.n += int(w.shape[0])
        self._max_w = max(self._max_w, float(w.max()))
        self.sw += float(w.sum())
        self.sw2 += float((w * w).sum())

    def _add_rewards(self, w: np.ndarray, r: np.ndarray) -> None:
        if w.shape[0] == 0:
            return
        wr = w * r
        self.swr += float(wr.sum())
        self.swr2 += float((wr * wr).sum())
        self.sw2r += float((w * w * r).sum())

    def merge(self, other: OffPolicyStats) -> OffPolicyStats:
        """Add ``other``'s decisions to these (another replica's, another window's)."""
        if not isinstance(other, OffPolicyStats):
            raise TypeError(f"can only merge OffPolicyStats, got {type(other).__name__}")
        if other.clip != self.clip:
            raise ValueError(f"cannot merge stats clipped at {other.clip} into stats "
                             f"clipped at {self.clip}: their weights differ")
        self.n += other.n
        self.clipped += other.clipped
        self._max_w = max(self._max_w, other._max_w)
        self.sw += other.sw
        self.swr += other.swr
        self.swr2 += other.swr2
        self.sw2 += other.sw2
        self.sw2r += other.sw2r
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (for shipping between processes); see :meth:`from_dict`."""
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> OffPolicyStats:
        stats = cls(clip=state.get("clip"),
                    max_weight_warning=state.get("max_weight_warning", MAX_WEIGHT_WARNING))
        for name in cls.__slots__:
            if name not in ("clip", "max_weight_warning"):
                setattr(stats, name, type(getattr(stats, name))(state[name]))
        return stats

    # -- estimates --------------------------------------------------------------------

    @property
    def effective_sample_size(self) -> float:
        """Kish's ``sum(w)**2 / sum(w**2)``: how many unweighted decisions these are worth."""
        return self.sw * self.sw / self.sw2 if self.sw2 > 0 else 0.0

    def _warnings(self) -> list[str]:
        found = []
        if self._max_w > self.max_weight_warning:
            found.append("extreme_weights")
        if self.n and self.effective_sample_size < MIN_ESS_SHARE * self.n:
            found.append("low_effective_sample_size")
        if self.clipped:
            found.append("clipped")
        if self.n < MIN_SAMPLES:
            found.append("few_samples")
        return found

    def _result(self, method: str, value: float, variance: float, confidence: float,
                warnings: list[str]) -> PolicyValue:
        z = _z(confidence)
        stderr = math.sqrt(variance) if variance >= 0 else math.nan
        return PolicyValue(
            method=method, value=value, variance=variance, stderr=stderr,
            ci_low=value - z * stderr, ci_high=value + z * stderr, confidence=confidence,
            n=self.n, effective_sample_size=self.effective_sample_size,
            max_weight=self._max_w, clipped=self.clipped, warnings=tuple(warnings))

    def ipw(self, confidence: float = 0.95) -> PolicyValue:
        """The inverse-propensity-weighted (Horvitz-Thompson) estimate."""
        n = self.n
        warnings = self._warnings()
        if n == 0:
            return self._result("ipw", math.nan, math.nan, confidence, warnings)
        value = self.swr / n
        # Sample variance of w r (ddof 1), over n.
        variance = (max(0.0, self.swr2 - n * value * value) / (n - 1) / n if n > 1
                    else math.nan)
        return self._result("ipw", value, variance, confidence, warnings)

    def snips(self, confidence: float = 0.95) -> PolicyValue:
        """The self-normalised IPW estimate (delta-method variance)."""
        warnings = self._warnings()
        if self.sw <= 0.0:
            warnings.append("no_support")
            return self._result("snips", math.nan, math.nan, confidence, warnings)
        value = self.swr / self.sw
        # sum w^2 (r - V)^2, expanded into the running sums.
        spread = self.swr2 - 2.0 * value * self.sw2r + value * value * self.sw2
        variance = max(0.0, spread) / (self.sw * self.sw) if self.n > 1 else math.nan
        return self._result("snips", value, variance, confidence, warnings)


def ipw(rewards: Any, propensities: Any, targets: Any = 1.0, *, clip: float | None = None,
        confidence: float = 0.95) -> PolicyValue:
    """The IPW (Horvitz-Thompson) estimate of a target policy's value from logged decisions.

    ::

        est = inferwatch.feedback.ipw(rewards, logged_propensity, target_probability)
        print(f"{est.value:.3f} ± {est.ci_high - est.value:.3f}", est.warnings)

    ``rewards[i]`` is what decision ``i`` earned, ``propensities[i]`` the
    probability (in (0, 1]) with which the logging policy took the logged
    action (``inferwatch.propensity`` in the log), and ``targets[i]`` the
    probability with which the policy being evaluated would take it (1 or 0
    for a deterministic policy; a single number applies to all). ``clip``
    caps the weights ``targets / propensities``. See :class:`PolicyValue`.
    """
    stats = OffPolicyStats(clip=clip)
    stats.update_many(rewards, propensities, targets)
    return stats.ipw(confidence)


def snips(rewards: Any, propensities: Any, targets: Any = 1.0, *, clip: float | None = None,
          confidence: float = 0.95) -> PolicyValue:
    """The self-normalised IPW estimate: ``sum(w r) / sum(w)`` (arguments as :func:`ipw`).

    Slightly biased but of lower variance than IPW, and it stays within the
    rewards' range; ``value`` is NaN (flagged ``no_support``) when no logged
    action is one the target policy would take.
    """
    stats = OffPolicyStats(clip=clip)
    stats.update_many(rewards, propensities, targets)
    return stats.snips(confidence)
