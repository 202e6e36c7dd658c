"""Sampling after the call: always-kept rules, deterministic rates, token buckets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import inferwatch
from inferwatch._config import resolve_config
from inferwatch._errors import ConfigurationError
from inferwatch._record import Endpoint, InferenceRecord
from inferwatch._sampling import (
    Sampler,
    TokenBucket,
    make_sampling_hash,
    sampling_hash,
    sampling_key_from_config,
)

KEY_A = b"A" * 32
KEY_B = b"B" * 32


def _record(**fields: Any) -> InferenceRecord:
    record = InferenceRecord(Endpoint("m", "m", "1"), 0, 0, fields.pop("id_int", 7),
                             fields.pop("inference_id", None), fields.pop("trace_id", 0), 0)
    for key, value in fields.items():
        setattr(record, key, value)
    return record


def _sampler(**options: Any) -> Sampler:
    defaults: dict[str, Any] = dict(
        sample_rate=1.0, feature_sample_rate=0.1, slow_threshold_ms=100.0,
        low_confidence_threshold=0.5, max_records_per_second=1e9,
    )
    defaults.update(options)
    return Sampler(**defaults)


def test_rules_in_priority_order() -> None:
    sampler = _sampler(sample_rate=0.0, feature_sample_rate=0.0)
    assert sampler.decide(_record(outcome="error", duration_ns=10**9)) == ("error", 1.0)
    assert sampler.decide(_record(duration_ns=200_000_000)) == ("slow", 1.0)
    assert sampler.decide(_record(confidence=[0.9, 0.3])) == ("low_confidence", 1.0)
    assert sampler.decide(_record(confidence=0.9)) is None
    assert sampler.counts == {
        ("error", "kept"): 1, ("slow", "kept"): 1, ("low_confidence", "kept"): 1,
        ("rate", "sampled_out"): 1,
    }


def test_rate_is_deterministic_per_id_and_close_to_p() -> None:
    kept_a = kept_b = 0
    for i in range(20000):
        rid = f"req-{i}"
        a = _sampler().decide(_record(inference_id=rid, features={"x": 1}, id_int=i))
        b = _sampler().decide(_record(inference_id=rid, features={"x": 1}, id_int=i * 7919))
        assert (a is None) == (b is None)  # replicas agree whatever their own random bits
        kept_a += a is not None
        kept_b += b is not None
        if a is not None:
            assert a == ("rate", pytest.approx(10.0))
    assert kept_a == kept_b
    assert 1800 < kept_a < 2200  # p = 0.1 of 20000, within ~5 sigma


def test_trace_id_drives_the_decision_when_present() -> None:
    trace_id = (0xABCDEF << 64) | 5  # low 64 bits tiny: below any positive bound
    assert sampling_hash(_record(trace_id=trace_id, inference_id="x")) == 5
    assert _sampler(sample_rate=0.01).decide(_record(trace_id=trace_id)) == ("rate", 100.0)


def test_metadata_records_use_their_own_rate() -> None:
    sampler = _sampler(sample_rate=1.0, feature_sample_rate=0.0)
    assert sampler.decide(_record()) == ("rate", 1.0)
    assert sampler.decide(_record(features=[1.0])) is None


def test_token_bucket_caps_records_per_rule() -> None:
    now = [0.0]
    sampler = _sampler(max_records_per_second=3, clock=lambda: now[0])
    kept = [sampler.decide(_record(outcome="error")) for _ in range(10)]
    assert sum(k is not None for k in kept) == 3
    assert sampler.counts[("error", "rate_limited")] == 7
    now[0] += 1.0  # a second later the bucket has refilled
    assert sampler.decide(_record(outcome="error")) == ("error", 1.0)


def test_token_bucket_refills_at_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(10, clock=lambda: now[0])
    assert sum(bucket.take() for _ in range(20)) == 10
    now[0] += 0.5
    assert sum(bucket.take() for _ in range(20)) == 5


def test_end_to_end_errors_and_slow_calls_always_logged(make_monitor: Any, sink: Any) -> None:
    mon = make_monitor(sample_rate=0.0, feature_sample_rate=0.0, slow_threshold_ms=0.0)

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(fail: bool) -> int:
        if fail:
            raise ValueError("x")
        return 1

    predict(False)
    with pytest.raises(ValueError):
        predict(True)
    mon.flush()
    assert sorted(e["sampling.rule"] for e in sink.events) == ["error", "slow"]
    counts = {(p.attributes["sampling.rule"], p.attributes["sampling.decision"]): p.value
              for p in mon.collect() if p.name == "inferwatch.log.records"}
    assert counts == {("error", "kept"): 1, ("slow", "kept"): 1}


def test_the_request_path_check_errs_towards_keeping() -> None:
    sampler = _sampler(slow_threshold_ms=100.0, low_confidence_threshold=0.5)
    cases = [
        (_record(outcome="error"), True, True),
        (_record(duration_ns=200_000_000), True, True),
        (_record(duration_ns=1_000, confidence=0.2), True, True),
        (_record(duration_ns=1_000, confidence=0.9), False, False),
        (_record(duration_ns=1_000), False, False),
        # An array is not reduced on the request path: possibly low, so kept.
        (_record(duration_ns=1_000, confidence=np.array([0.9, 0.8])), True, False),
    ]
    for record, cheap, exact in cases:
        assert sampler.may_keep_always(record) is cheap
        assert sampler.kept_always(record) is exact
    assert not _sampler(slow_threshold_ms=None, low_confidence_threshold=None).may_keep_always(
        _record(duration_ns=10**12, confidence=0.0)
    )


def test_one_predicate_names_the_always_kept_rule() -> None:
    sampler = _sampler(slow_threshold_ms=100.0, low_confidence_threshold=0.5)
    assert sampler.always_kept(_record(outcome="error")) == "error"
    assert sampler.always_kept(_record(duration_ns=200_000_000)) == "slow"
    assert sampler.always_kept(_record(duration_ns=1, confidence=[0.9, 0.2])) == "low_confidence"
    assert sampler.always_kept(_record(duration_ns=1, confidence=[0.9, 0.8])) is None
    assert sampler.always_kept(_record(duration_ns=1, confidence=[0.9, 0.8]), False) == (
        "low_confidence"  # the request path does not reduce arrays: possibly low
    )
    assert sampler.always_kept(_record(duration_ns=1, confidence=float("nan"))) is None
    # decide() reports the same rule the predicate names.
    for record in (_record(outcome="error"), _record(duration_ns=200_000_000),
                   _record(duration_ns=1, confidence=0.1)):
        decision = sampler.decide(record)
        assert decision is not None and decision[0] == sampler.always_kept(record)


# -- keyed decisions: clients cannot choose -------------------------------------------


def _chosen_ids(hash_fn: Any, bound: int, kept: bool, count: int) -> list[str]:
    """Ids a client picks, knowing ``hash_fn``, to be always kept (or never)."""
    out: list[str] = []
    i = 0
    while len(out) < count:
        rid = f"chosen-{i}"
        record = _record(inference_id=rid)
        if (hash_fn(record) < bound) == kept:
            out.append(rid)
        i += 1
    return out


@pytest.mark.parametrize("kept", [True, False])
def test_ids_chosen_against_the_keyless_hash_gain_nothing_with_a_key(kept: bool) -> None:
    keyless = _sampler(sample_rate=0.1)
    keyed = _sampler(sample_rate=0.1, key=KEY_A)
    bound = keyless._bounds[0]
    chosen = _chosen_ids(sampling_hash, bound, kept, 3000)
    assert all((keyless.decide(_record(inference_id=r)) is not None) == kept for r in chosen)
    kept_with_key = sum(keyed.decide(_record(inference_id=r)) is not None for r in chosen)
    assert 200 < kept_with_key < 400  # p = 0.1 of 3000, about 5 sigma either side


def test_trace_ids_chosen_against_otel_gain_nothing_with_a_key() -> None:
    # Low 64 bits zero: kept by OTel's TraceIdRatioBased at any ratio > 0.
    chosen = [(i << 64) for i in range(1, 3001)]
    keyless = _sampler(sample_rate=0.1)
    keyed = _sampler(sample_rate=0.1, key=KEY_A)
    assert all(keyless.decide(_record(trace_id=t)) is not None for t in chosen)
    kept = sum(keyed.decide(_record(trace_id=t)) is not None for t in chosen)
    assert 200 < kept < 400


def test_replicas_sharing_a_key_agree_and_other_keys_do_not() -> None:
    a1, a2, b = (make_sampling_hash(k) for k in (KEY_A, KEY_A, KEY_B))
    same = differ = 0
    for i in range(2000):
        traced = _record(trace_id=(i + 1) * 0x9E3779B97F4A7C15)
        for record in (_record(inference_id=f"r{i}"), traced):
            other = _record(inference_id=record.inference_id, trace_id=record.trace_id,
                            id_int=i + 99)
            assert a1(record) == a2(other)  # the replica's own random bits play no part
            same += 1
            differ += a1(record) != b(record)
    assert differ == same  # 64-bit values from different keys never collide here
    rate = 0.25
    bound = round(rate * float(1 << 64))
    agree = sum((a1(_record(inference_id=f"r{i}")) < bound) == (b(_record(inference_id=f"r{i}"))
                < bound) for i in range(4000))
    assert agree < 4000 * 0.7  # independent decisions agree about 62.5 % of the time


def test_keyed_trace_hash_is_uniform() -> None:
    keyed = make_sampling_hash(KEY_A)
    values = [keyed(_record(trace_id=(i << 64) | 7)) for i in range(1, 20001)]
    below = sum(v < (1 << 62) for v in values)  # a quarter of the range
    assert 4700 < below < 5300
    assert all(0 <= v < (1 << 64) for v in values)


def test_without_a_key_trace_ids_decide_as_otel_ratio_sampling() -> None:
    from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

    rng = np.random.default_rng(5)
    for rate in (0.01, 0.1, 0.5):
        otel = TraceIdRatioBased(rate)
        sampler = _sampler(sample_rate=rate, max_records_per_second=1e12)
        for trace_id in rng.integers(1, 2**63, size=(500, 2), dtype=np.int64).tolist():
            tid = (trace_id[0] << 64) | (trace_id[1] << 1)
            sampled = otel.should_sample(None, tid, "x").decision is Decision.RECORD_AND_SAMPLE
            assert (sampler.decide(_record(trace_id=tid)) is not None) == sampled


def test_generated_ids_use_their_own_random_bits_either_way() -> None:
    for key in (None, KEY_A):
        record = _record(id_int=(5 << 64) | 12345)
        assert make_sampling_hash(key)(record) == 12345


# -- the key's sources ------------------------------------------------------------------


def test_sampling_key_comes_from_the_option_else_the_pii_key() -> None:
    def key_of(**options: Any) -> bytes | None:
        return sampling_key_from_config(resolve_config(options, environ={}))

    assert key_of() is None
    own = key_of(sampling_key="hex:" + "ab" * 32)
    from_pii = key_of(pii_key="p" * 32)
    assert own is not None and from_pii is not None
    assert own != from_pii
    assert key_of(sampling_key="hex:" + "ab" * 32, pii_key="p" * 32) == own
    assert from_pii != b"p" * 32 and b"p" * 32 not in from_pii  # derived, never the secret
    assert key_of(pii_key="p" * 32) == from_pii  # the same on every replica
    env = sampling_key_from_config(resolve_config({}, environ={
        "INFERWATCH_SAMPLING_KEY": "hex:" + "ab" * 32}))
    assert env == own
    # An ephemeral PII key differs per process: replicas would disagree.
    assert key_of(pii_fields=["user_id"], pii_ephemeral_key=True) is None


def test_a_short_sampling_key_is_refused_without_quoting_it() -> None:
    config = resolve_config({"sampling_key": "short-key"}, environ={})
    with pytest.raises(ConfigurationError, match=r"INFERWATCH_SAMPLING_KEY.*at least 32") as info:
        Sampler.from_config(config)
    assert "short-key" not in str(info.value)
    assert "short-key" not in repr(config)


def test_from_config_builds_a_keyed_sampler() -> None:
    config = resolve_config({"sampling_key": "s" * 32, "sample_rate": 0.3}, environ={})
    sampler = Sampler.from_config(config)
    assert sampler.keyed
    assert sampler._rates == (0.3, config.feature_sample_rate)
    record = _record(inference_id="abc")
    assert sampler.sampling_hash(record) == make_sampling_hash(
        sampling_key_from_config(config))(record)
    assert not Sampler.from_config(resolve_config({}, environ={})).keyed


def test_a_keyed_monitor_samples_chosen_ids_at_p() -> None:
    """Through a Monitor: ids a client picked against the keyless hash (all kept
    without a key) are kept at rate p once a sampling key is set, and every kept
    record still has the features its call copied (capture and sampler agree)."""
    from inferwatch.testing import MemorySink

    chosen = _chosen_ids(sampling_hash, round(0.1 * float(1 << 64)), True, 1000)
    logged = {}
    for key in (None, "k" * 32):
        sink = MemorySink()
        mon = inferwatch.Monitor(log_sink=sink, environ={}, metrics_exporter="none",
                                 sample_rate=0.1, feature_sample_rate=0.1,
                                 max_records_per_second=1e9, sampling_key=key)

        @inferwatch.monitor(model="m", monitor=mon, features=lambda req: req,
                            inference_id=lambda req: req["id"])
        def predict(req: dict[str, Any]) -> float:
            return 0.5

        for rid in chosen:
            predict({"id": rid, "x": 1.0})
        mon.flush()
        mon.shutdown()
        logged[key] = len(sink.events)
        assert all(e["features"] == {"id": e["inference.id"], "x": 1.0} for e in sink.events)
    assert logged[None] == 1000
    assert 60 < logged["k" * 32] < 140  # p = 0.1 of 1000, about 4 sigma either side
