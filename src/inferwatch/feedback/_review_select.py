"""Which finished predictions go to human review: a keyed share, and the low-confidence ones.

Rules, first match wins (records that did not end ``ok`` have no prediction
to review and are never picked):

``low_confidence``  a confidence below the threshold (the lowest of a batch's)
``share``           the first 64 bits of HMAC-SHA256 of the inference id fall
                    below ``share * 2**64``

The ``share`` decision depends on the inference id alone, so every replica
that sees the same id decides alike. It is keyed with the monitor's sampling
key (``sampling_key``, else derived from the PII key) or ``key=``; without
either, with a public key, which keeps replicas in step but lets a client
that picks its own request ids choose whether they are reviewed. One token
bucket caps everything picked; what it refuses is counted as
``rate_limited``. Runs on the aggregator thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .._record import InferenceRecord
from .._sampling import TokenBucket, _min_confidence
from ._keys import PUBLIC_KEY, REVIEW, bound, derived_mac, top64

__all__ = ["RULES", "ReviewSelector"]

RULES = ("low_confidence", "share")


class ReviewSelector:
    """Picks records for review; ``decide`` applies the rate cap, ``rule`` does not."""

    __slots__ = ("_bound", "_bucket", "_low", "_mac", "keyed", "share")

    def __init__(self, *, share: float, low_confidence: float | None, max_per_second: float,
                 secret: bytes | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.share = share
        self._bound = bound(share)
        self._low = low_confidence
        #: Whether the share decision is keyed with a secret (clients cannot choose it).
        self.keyed = secret is not None
        self._mac = derived_mac(secret if secret is not None else PUBLIC_KEY, REVIEW)
        self._bucket = TokenBucket(max_per_second, clock)

    def in_share(self, inference_id: str) -> bool:
        """Whether an inference id falls in the reviewed share (the same in every replica)."""
        if self._bound <= 0:
            return False
        if self._bound >= 1 << 64:
            return True
        digest = self._mac.mac(inference_id.encode("utf-8", "surrogatepass"))
        return top64(digest) < self._bound

    def rule(self, record: InferenceRecord) -> str | None:
        """The rule that picks ``record`` for review, or None; no rate cap applied."""
        if record.outcome != "ok" or not record.inference:
            return None
        threshold = self._low
        if threshold is not None:
            confidence: Any = record.confidence
            low = (confidence if type(confidence) is float or type(confidence) is int
                   else _min_confidence(confidence))
            if low is not None and low < threshold:
                return "low_confidence"
        if self._bound > 0 and self.in_share(record.id):
            return "share"
        return None

    def decide(self, record: InferenceRecord) -> tuple[str | None, bool]:
        """``(rule, taken)``: the rule that picks the record (None: not picked) and
        whether the rate cap let it through."""
        rule = self.rule(record)
        if rule is None:
            return None, False
        return rule, self._bucket.take()
