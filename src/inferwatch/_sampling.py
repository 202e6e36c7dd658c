"""Which records are written to the log: decided after the call, off the request path.

Rules, first match wins:

``error``           the call raised: always kept
``slow``            slower than ``slow_threshold_ms``: always kept
``low_confidence``  a confidence below ``low_confidence_threshold``: always kept
``rate``            everything else, kept at rate p (``feature_sample_rate`` for
                    records carrying features, ``sample_rate`` otherwise)

The ``rate`` decision is deterministic: the low 64 bits of the trace id when
the call ran inside a span (as OTel's ``TraceIdRatioBased`` sampler does, so
logs and traces agree), else a BLAKE2b hash of a caller-supplied inference id,
else the generated id's own random bits. Every replica decides alike for the
same request. Each rule has a token bucket capping records per second; what
it refuses is counted as ``rate_limited``. A kept record carries its rule and
adjusted count (1/p for ``rate``, 1 for the always-kept rules).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ._record import InferenceRecord

__all__ = ["RULES", "Sampler", "TokenBucket", "sampling_hash"]

RULES = ("error", "slow", "low_confidence", "rate")
_MASK64 = (1 << 64) - 1


def sampling_hash(record: InferenceRecord) -> int:
    """64 bits that every replica derives alike for the same request."""
    if record.trace_id:
        return record.trace_id & _MASK64
    if record.inference_id is not None:
        digest = hashlib.blake2b(record.inference_id.encode("utf-8", "replace"), digest_size=8)
        return int.from_bytes(digest.digest(), "big")
    return record.random_id() & _MASK64


class TokenBucket:
    """At most ``rate`` events per second, bursts up to one second's worth."""

    __slots__ = ("_clock", "_last", "_tokens", "capacity", "rate")

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.capacity = max(1.0, self.rate)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def _min_confidence(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.size == 0:
        return None
    finite = arr[np.isfinite(arr)]
    return float(finite.min()) if finite.size else None


class Sampler:
    """Decides, per finished record, whether it is logged and under which rule.

    Called from the aggregator thread only; not thread-safe by design.
    """

    def __init__(
        self,
        *,
        sample_rate: float,
        feature_sample_rate: float,
        slow_threshold_ms: float | None,
        low_confidence_threshold: float | None,
        max_records_per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slow_ns = None if slow_threshold_ms is None else int(slow_threshold_ms * 1e6)
        self._low_confidence = low_confidence_threshold
        self._rates = (sample_rate, feature_sample_rate)
        self._bounds = (
            round(sample_rate * float(1 << 64)),
            round(feature_sample_rate * float(1 << 64)),
        )
        self._buckets = {rule: TokenBucket(max_records_per_second, clock) for rule in RULES}
        #: (rule, decision) -> count; decision is kept, sampled_out or rate_limited.
        self.counts: dict[tuple[str, str], int] = {}

    def _count(self, rule: str, decision: str) -> None:
        key = (rule, decision)
        self.counts[key] = self.counts.get(key, 0) + 1

    @property
    def feature_bound(self) -> int:
        """Records carrying features whose ``sampling_hash`` is below this pass the rate rule."""
        return self._bounds[1]

    def kept_always(self, record: InferenceRecord) -> bool:
        """Whether one of the always-kept rules (error, slow, low confidence) applies.

        A pure read of the finished record, safe from any thread; used on the
        request path to decide whether features not copied before the call
        are needed after all.
        """
        if record.outcome != "ok":
            return True
        if self._slow_ns is not None and _record_duration(record) > self._slow_ns:
            return True
        threshold = self._low_confidence
        if threshold is None:
            return False
        low = _min_confidence(record.confidence)
        return low is not None and low < threshold

    def may_keep_always(self, record: InferenceRecord) -> bool:
        """``kept_always`` made cheap for the request path, erring towards True.

        Called when a call that left its features uncopied returns, to decide
        whether to copy them now. Reads the call's own duration (a transport
        may still add to it) and compares plain-number confidences only: a
        confidence array counts as possibly low rather than be reduced here.
        """
        if record.outcome != "ok":
            return True
        if self._slow_ns is not None and record.duration_ns > self._slow_ns:
            return True
        threshold = self._low_confidence
        if threshold is None:
            return False
        confidence = record.confidence
        if type(confidence) is float or type(confidence) is int:
            return bool(confidence < threshold)
        return confidence is not None

    def decide(self, record: InferenceRecord) -> tuple[str, float] | None:
        """``(rule, adjusted_count)`` when the record is to be logged, else None."""
        adjusted = 1.0
        if record.outcome != "ok":
            rule = "error"
        elif self._slow_ns is not None and _record_duration(record) > self._slow_ns:
            rule = "slow"
        elif (
            self._low_confidence is not None
            and (low := _min_confidence(record.confidence)) is not None
            and low < self._low_confidence
        ):
            rule = "low_confidence"
        else:
            rule = "rate"
            which = 1 if record.has_features or record.features is not None else 0
            rate = self._rates[which]
            if rate < 1.0 and sampling_hash(record) >= self._bounds[which]:
                self._count(rule, "sampled_out")
                return None
            adjusted = 1.0 / rate
        if not self._buckets[rule].take():
            self._count(rule, "rate_limited")
            return None
        self._count(rule, "kept")
        return rule, adjusted


def _record_duration(record: InferenceRecord) -> int:
    http = record.http
    if http is not None and http.duration_ns > record.duration_ns:
        return http.duration_ns
    return record.duration_ns
