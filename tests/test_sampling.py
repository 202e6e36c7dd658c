"""Sampling after the call: always-kept rules, deterministic rates, token buckets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import inferwatch
from inferwatch._record import Endpoint, InferenceRecord
from inferwatch._sampling import Sampler, TokenBucket, sampling_hash


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
