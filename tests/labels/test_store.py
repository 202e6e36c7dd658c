"""The prediction store: bounded by entries and age, evictions counted, nothing
of the features or PII in it, and the predict call untouched."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

import inferwatch
import inferwatch.labels
from inferwatch.labels import MemoryStore, StoredPrediction


def _entry(i: int, at: float) -> StoredPrediction:
    return StoredPrediction(f"id{i}", "m", "1", 1, 0.9, 0.9, at)


def test_entries_bound_evicts_the_oldest_and_counts() -> None:
    store = MemoryStore(max_entries=100, max_age=3600)
    now = time.time()
    store.put([_entry(i, now) for i in range(250)], now)
    assert len(store) == 100
    assert store.evictions() == {"entries": 150, "age": 0}
    assert store.claim("id149", None, "label:organic")[0] == "missing"
    assert store.claim("id150", None, "label:organic")[0] == "joined"
    assert store.claim("id150", None, "label:organic")[0] == "duplicate"


def test_age_bound_evicts_and_counts() -> None:
    store = MemoryStore(max_entries=1000, max_age=60)
    now = time.time()
    store.put([_entry(i, now - 120 + i) for i in range(100)], now)
    assert len(store) == 40  # the entries of the last 60 seconds
    assert store.evictions() == {"entries": 0, "age": 60}
    store.expire(now + 1000)
    assert len(store) == 0 and store.evictions()["age"] == 100


def test_a_later_prediction_for_the_same_id_and_model_replaces_it() -> None:
    store = MemoryStore()
    now = time.time()
    store.put([_entry(1, now)], now)
    newer = StoredPrediction("id1", "m", "2", 0, 0.1, 0.9, now)
    other = StoredPrediction("id1", "n", "1", 0, 0.1, 0.9, now)
    store.put([newer, other], now)
    assert len(store) == 1
    assert store.claim("id1", None, "k")[0] == "ambiguous"
    status, entry = store.claim("id1", "m", "k")
    assert status == "joined" and entry is newer


def test_bad_store_bounds() -> None:
    for options in ({"max_entries": 0}, {"max_age": 0}, {"max_entries": 1.5}):
        with pytest.raises(ValueError):
            MemoryStore(**options)  # type: ignore[arg-type]


def test_tracker_bounds_are_exported_as_drops(make_monitor: Any) -> None:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, positive=1, store=MemoryStore(max_entries=10))

    @inferwatch.monitor(model="m", monitor=mon, inference_id=lambda x: f"b{x}")
    def predict(x: int) -> float:
        return 0.5

    for x in range(25):
        predict(x)
    tracker.flush()
    drops = {p.attributes["inferwatch.reason"]: p.value for p in mon.collect()
             if p.name == "inferwatch.self.dropped"}
    assert drops["label_store_evicted_entries"] == 15
    assert mon.summary()["labels"]["trackers"][0]["store"]["entries"] == 10
    assert [p.value for p in mon.collect() if p.name == "inferwatch.labels.store.entries"] == [10]


def test_memory_is_bounded_independently_of_traffic(make_monitor: Any) -> None:
    mon = make_monitor(sample_rate=0.0)
    tracker = inferwatch.labels.track(mon, positive=1, window=["count:200", "1h"], max_pairs=500,
                                      store=MemoryStore(max_entries=1000))

    @inferwatch.monitor(model="m", monitor=mon, inference_id=lambda x: f"n{x}")
    def predict(x: int) -> float:
        return 0.7

    sizes = []
    for rnd in range(3):
        for x in range(rnd * 3000, (rnd + 1) * 3000):
            predict(x)
        tracker.flush()
        tracker.record_labels([(f"n{x}", x % 2) for x in range((rnd + 1) * 3000 - 900,
                                                              (rnd + 1) * 3000)])
        tracker.flush()
        sizes.append(tracker.nbytes)
    assert len(tracker.store) == 1000
    assert sizes[1] == sizes[2]  # full: no growth with more traffic
    (ring,) = tracker._join.rings.values()
    assert ring.capacity == 500 and len(ring) == 500 and ring.added == 2700


CANARY = "canary-7f3a"
EMAIL = "alice@example.com"


def test_no_feature_or_pii_reaches_the_store(make_monitor: Any) -> None:
    mon = make_monitor(pii_fields=["email"], drop_fields=["segment"],
                       pii_key=b"k" * 32, pii_key_id="1")
    tracker = inferwatch.labels.track(mon, task="classification", positive="yes")

    @inferwatch.monitor(model="m", monitor=mon, features="row", inference_id=lambda row: row["id"])
    def predict(row: dict[str, Any]) -> str:
        inferwatch.set_attributes({"email": EMAIL, "segment": CANARY,
                                   "variant": f"contact {EMAIL}"})
        return "yes"

    predict({"id": "c1", "text": CANARY, "email": EMAIL, "vector": np.ones(3)})
    tracker.flush()
    entries = list(tracker.store._entries.values())  # type: ignore[attr-defined]
    assert len(entries) == 1
    text = repr(entries[0].fields())
    assert CANARY not in text and EMAIL not in text and "vector" not in text
    assert entries[0].variant == "_redacted"  # PII in a variant value never kept
    assert entries[0].segment is None  # a drop field is not read
    assert set(entries[0].fields()) == {
        "claimed", "confidence", "inference_id", "model", "policy", "prediction", "score",
        "segment", "timestamp", "variant", "version", "window"}
    summary = repr(mon.summary()["labels"])
    assert CANARY not in summary and EMAIL not in summary


def test_pseudonymised_ids_are_keyed_by_their_pseudonym(make_monitor: Any) -> None:
    mon = make_monitor(pii_fields=["inference.id"], pii_key=b"k" * 32, pii_key_id="1")
    tracker = inferwatch.labels.track(mon, positive=1)

    @inferwatch.monitor(model="m", monitor=mon, inference_id=lambda x: "user-42-req")
    def predict(x: float) -> float:
        return x

    predict(0.9)
    tracker.flush()
    (key,) = list(tracker.store._entries)  # type: ignore[attr-defined]
    assert "user-42" not in key and key.startswith("k1:")
    tracker.record_label("user-42-req", 1)  # the raw id, as the caller knows it
    assert tracker.quality()[0]["joined"] == 1


def test_generated_ids_are_the_ones_the_log_carries(make_monitor: Any, sink: Any) -> None:
    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, positive=1)

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: float) -> float:
        return x

    predict(0.8)
    mon.flush()
    (event,) = [e for e in sink.events if e.get("event") == "inference"]
    inferwatch.record_label(event["inference.id"], 1)
    assert tracker.quality()[0]["joined"] == 1


def test_predict_is_unchanged_and_copies_nothing_more(make_monitor: Any) -> None:
    plain = make_monitor(feature_sample_rate=0.0, sample_rate=0.0)
    tracked = make_monitor(feature_sample_rate=0.0, sample_rate=0.0)
    inferwatch.labels.track(tracked, positive=1)
    assert tracked._features_copy is plain._features_copy  # no feature copy forced

    def make(mon: Any) -> Any:
        @inferwatch.monitor(model="m", monitor=mon, features="x")
        def predict(x: list[float]) -> float:
            if x[0] < 0:
                raise KeyError("negative")
            return sum(x) / len(x)

        return predict

    a, b = make(plain), make(tracked)
    assert a([0.2, 0.4]) == b([0.2, 0.4]) == pytest.approx(0.3)
    with pytest.raises(KeyError) as err:
        b([-1.0])
    assert err.value.args == ("negative",)
    # The record went through the aggregator's buffer, not straight to the store.
    assert len(tracked._queue) == 2
