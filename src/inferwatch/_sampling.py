"""Which records are written to the log: decided after the call, off the request path.

Rules, first match wins:

``error``           the call raised: always kept
``slow``            slower than ``slow_threshold_ms``: always kept
``low_confidence``  a confidence below ``low_confidence_threshold``: always kept
``rate``            everything else, kept at rate p (``feature_sample_rate`` for
                    records carrying features, ``sample_rate`` otherwise)

The ``rate`` decision is deterministic, so every replica decides alike for
the same request: a record is kept when 64 bits derived from the request fall
below ``p * 2**64``. Which bits (:func:`make_sampling_hash`):

- with a sampling key (``sampling_key``, else the configured PII key): a
  keyed hash of the trace id when the call ran inside a span, else of the
  caller's inference id (``x-request-id``, an argument). Replicas
  and services that share the key agree, and a client cannot pick ids that
  are always or never logged. Log sampling is then independent of OTel's
  ``TraceIdRatioBased`` decisions.
- without a key: the trace id's low 64 bits, as OTel's ``TraceIdRatioBased``
  sampler reads them, so a record logged at p is in a trace that sampler
  keeps at any ratio >= p; else BLAKE2b of the caller's id under a fixed,
  public key. Deterministic across replicas, but NOT secret: a client that
  chooses its request id (or its ``traceparent``, where the tracer accepts
  it) can choose whether its ordinary calls are logged.
- with neither a trace id nor a caller's id, the generated id's own random
  bits, which no client sees before the call.

Each rule has a token bucket capping records per second; what it refuses is
counted as ``rate_limited``. A kept record carries its rule and adjusted count
(1/p for ``rate``, 1 for the always-kept rules).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ._record import InferenceRecord

__all__ = ["RULES", "Sampler", "TokenBucket", "make_sampling_hash", "sampling_hash",
           "sampling_key_from_config"]

RULES = ("error", "slow", "low_confidence", "rate")
_MASK64 = (1 << 64) - 1
_MASK192 = (1 << 192) - 1
# The key of the keyless case. It is in this source file, so it protects
# nothing: it only keeps the hash of a caller's id the same in every replica.
_PUBLIC_KEY = b"inferwatch-sampling-public-v1"
# Domain separation: the sampling key derived from a PII key can never equal
# a pseudonym or a feature hash made with it.
_DERIVE_PREFIX = b"inferwatch-sampling-v1\x00"


def make_sampling_hash(key: bytes | None) -> Callable[[InferenceRecord], int]:
    """The function from a record to the 64 bits its ``rate`` decision compares.

    ``key`` is the secret replicas share (see :func:`sampling_key_from_config`),
    or None for the keyless rules described in the module docstring. Cheap
    enough for the request path, which calls it for every call with features:

    - a trace id (a 128-bit integer) goes through the strongly universal
      multiply-shift hash ``((a * id + b) mod 2**192) >> 128`` with ``a`` and
      ``b`` drawn from the key: for any id a client picks, without the key
      the result is uniform, so it is kept with probability p exactly, and one
      id's outcome says nothing about another's. It is not a MAC (many
      observed outcomes would narrow the key down), and a client does not
      see which of its requests were logged. Three integer operations: a
      third of the cost of a keyed BLAKE2b of the 16 bytes
      (``benchmarks/bench_sampling.py``);
    - a caller's inference id (text) goes through keyed BLAKE2b, the same
      cost as the unkeyed BLAKE2b it replaces.
    """
    if key is None:
        return _public_hash
    material = hashlib.blake2b(key, digest_size=48, person=b"iw-sampling-ab").digest()
    a = int.from_bytes(material[:24], "big")
    b = int.from_bytes(material[24:], "big")
    copy = hashlib.blake2b(key=key[:64], digest_size=8, person=b"iw-sampling-id").copy
    from_bytes = int.from_bytes

    def keyed_hash(record: InferenceRecord) -> int:
        """64 bits every replica holding the key derives alike; unpredictable without it."""
        trace_id = record.trace_id
        if trace_id:
            return (a * trace_id + b & _MASK192) >> 128
        inference_id = record.inference_id
        if inference_id is None:
            return record.random_id() & _MASK64
        h = copy()
        h.update(inference_id.encode("utf-8", "surrogatepass"))
        return from_bytes(h.digest(), "big")

    return keyed_hash


_public_copy = hashlib.blake2b(key=_PUBLIC_KEY, digest_size=8).copy


def _public_hash(record: InferenceRecord) -> int:
    """64 bits every replica derives alike for the same request (not secret)."""
    trace_id = record.trace_id
    if trace_id:
        return trace_id & _MASK64  # as OTel's TraceIdRatioBased reads it
    inference_id = record.inference_id
    if inference_id is not None:
        h = _public_copy()
        h.update(inference_id.encode("utf-8", "surrogatepass"))
        return int.from_bytes(h.digest(), "big")
    return record.random_id() & _MASK64


#: The keyless hash (see the module docstring). A monitor with a sampling key
#: uses its sampler's :attr:`Sampler.sampling_hash` instead.
sampling_hash = make_sampling_hash(None)


def sampling_key_from_config(config: Any) -> bytes | None:
    """The sampling key of a configuration, or None when it has none.

    ``sampling_key`` (``INFERWATCH_SAMPLING_KEY``, at least 32 bytes, ``hex:``
    and ``base64:`` accepted) wins; else a key derived from the configured PII
    key (``pii_key`` / ``pii_key_file``), so a fleet that shares its PII key
    shares its sampling without another secret. An ephemeral PII key is never
    used: replicas would disagree. The bytes used are an HMAC of the secret,
    never the secret itself.
    """
    from ._pii_hmac import HmacSha256
    from ._pii_key import decode_key, load_pii_key

    raw = getattr(config, "sampling_key", None)
    if raw:
        secret = decode_key(raw, "sampling key from the sampling_key option "
                                 "(INFERWATCH_SAMPLING_KEY)")
    elif config.pii_key or config.pii_key_file:
        secret = load_pii_key(key=config.pii_key, key_file=config.pii_key_file,
                              key_id=config.pii_key_id, allow_ephemeral=False).secret
    else:
        return None
    return HmacSha256(secret, _DERIVE_PREFIX).mac(b"")


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
        key: bytes | None = None,
    ) -> None:
        #: Record -> the 64 bits its rate decision compares (see the module
        #: docstring); the request path calls it to pre-copy features.
        self.sampling_hash = make_sampling_hash(key)
        #: Whether ``rate`` decisions are keyed (clients cannot choose them).
        self.keyed = key is not None
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

    @classmethod
    def from_config(cls, config: Any, clock: Callable[[], float] = time.monotonic) -> Sampler:
        """The sampler a :class:`~inferwatch._config.Config` asks for, keyed as it says."""
        return cls(
            sample_rate=config.sample_rate,
            feature_sample_rate=config.feature_sample_rate,
            slow_threshold_ms=config.slow_threshold_ms,
            low_confidence_threshold=config.low_confidence_threshold,
            max_records_per_second=config.max_records_per_second,
            clock=clock,
            key=sampling_key_from_config(config),
        )

    def always_kept(self, record: InferenceRecord, exact: bool = True) -> str | None:
        """The always-kept rule that applies to a finished record (``error``, ``slow``,
        ``low_confidence``), or None: the one predicate behind every such check.

        A pure read of the record, safe from any thread. ``exact=False`` is the
        request path's form, for a call that left its features uncopied and
        has just returned: a confidence that is not a plain number counts as
        possibly low instead of being reduced here, and a transport may still
        add to the duration, so it errs towards keeping.
        """
        if record.outcome != "ok":
            return "error"
        slow = self._slow_ns
        if slow is not None:
            duration = record.duration_ns  # the transport's duration when it is longer
            http = record.http
            if http is not None and http.duration_ns > duration:
                duration = http.duration_ns
            if duration > slow:
                return "slow"
        threshold = self._low_confidence
        if threshold is None:
            return None
        confidence = record.confidence
        if type(confidence) is float or type(confidence) is int:
            low: float | None = confidence
        elif confidence is None:
            return None
        elif not exact:
            return "low_confidence"
        else:
            low = _min_confidence(confidence)
        return "low_confidence" if low is not None and low < threshold else None

    def kept_always(self, record: InferenceRecord) -> bool:
        """``always_kept(record) is not None`` (the name the monitor calls)."""
        return self.always_kept(record) is not None

    def may_keep_always(self, record: InferenceRecord) -> bool:
        """``always_kept(record, exact=False) is not None`` (the name capture calls)."""
        return self.always_kept(record, False) is not None

    def decide(self, record: InferenceRecord) -> tuple[str, float] | None:
        """``(rule, adjusted_count)`` when the record is to be logged, else None."""
        adjusted = 1.0
        rule = self.always_kept(record)
        if rule is None:
            rule = "rate"
            which = 1 if record.has_features or record.features is not None else 0
            rate = self._rates[which]
            if rate < 1.0 and self.sampling_hash(record) >= self._bounds[which]:
                self._count(rule, "sampled_out")
                return None
            adjusted = 1.0 / rate
        if not self._buckets[rule].take():
            self._count(rule, "rate_limited")
            return None
        self._count(rule, "kept")
        return rule, adjusted
