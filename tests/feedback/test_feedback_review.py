"""Review sampling: share and low-confidence picks, PII handled as the log does, fail-safe."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import inferwatch
import inferwatch.feedback as feedback
from inferwatch import ConfigurationError
from inferwatch.testing import MemorySink

KEY = "hex:" + "5a" * 32
OTHER_KEY = "hex:" + "a5" * 32


class FixedClock:
    """A clock that only moves when told: the rate cap's bucket never refills by itself."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _predictor(mon: inferwatch.Monitor, confidence: Any = None) -> Any:
    @inferwatch.monitor(model="m", features="x", monitor=mon,
                        confidence=confidence or (lambda y: 0.99),
                        inference_id=lambda x, request_id: request_id)
    def predict(x: dict[str, Any], request_id: str) -> float:
        return float(x.get("score", 0.9))

    return predict


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _points(mon: inferwatch.Monitor, name: str) -> dict[tuple[Any, ...], Any]:
    return {tuple(sorted(p.attributes.items())): p.value for p in mon.collect() if p.name == name}


def _dropped(mon: inferwatch.Monitor, reason: str) -> int:
    return int(_points(mon, "inferwatch.self.dropped").get((("inferwatch.reason", reason),), 0))


def test_the_share_is_honoured_and_decided_by_id(make_monitor: Any, tmp_path: Path) -> None:
    mon = make_monitor(sampling_key=KEY)
    path = tmp_path / "review.jsonl"
    ids = [f"req-{i}" for i in range(5000)]
    with feedback.review(mon, 0.05, low_confidence=None, max_per_second=1e6,
                         sink=str(path)) as reviews:
        predict = _predictor(mon)
        for rid in ids:
            predict({"a": 1.0}, rid)
        assert reviews.flush()
        assert reviews.keyed
        expected = {rid for rid in ids if reviews.in_share(rid)}
    events = _read(path)
    written = {e["inference.id"] for e in events}
    assert written == expected
    assert abs(len(written) - 250) <= 4 * math.sqrt(5000 * 0.05 * 0.95)
    assert {e["event"] for e in events} == {"review"}
    assert {e["sampling.rule"] for e in events} == {"share"}
    assert [e["sampling.adjusted_count"] for e in events] == pytest.approx([20.0] * len(events))
    assert all(e["features"] == {"a": 1.0} for e in events)
    points = _points(mon, "inferwatch.review.records")
    assert points[(("inferwatch.review.decision", "kept"),
                   ("inferwatch.review.rule", "share"))] == len(written)


def test_replicas_sharing_the_key_pick_the_same_ids(make_monitor: Any, tmp_path: Path) -> None:
    picked = []
    for replica, key in enumerate((KEY, KEY, OTHER_KEY)):
        mon = make_monitor(sampling_key=key)
        path = tmp_path / f"replica{replica}.jsonl"
        with feedback.review(mon, 0.1, low_confidence=None, max_per_second=1e6,
                             sink=str(path)) as reviews:
            predict = _predictor(mon)
            for i in range(2000):
                predict({"a": i}, f"order-{i}")
            reviews.flush()
        picked.append({e["inference.id"] for e in _read(path)})
    assert picked[0] == picked[1]
    assert picked[0] != picked[2]  # another key: another (independent) share
    assert len(picked[0] & picked[2]) < len(picked[0]) / 2


def test_low_confidence_always_kept_up_to_the_cap(make_monitor: Any) -> None:
    mon = make_monitor()
    sink = MemorySink()
    with feedback.review(mon, 0.0, low_confidence=0.6, max_per_second=1e6,
                         sink=sink) as reviews:
        predict = _predictor(mon, confidence=lambda y: y)
        for i in range(400):
            predict({"score": 0.3 if i % 4 == 0 else 0.95}, f"r{i}")
        reviews.flush()
    assert len(sink.events) == 100
    assert all(e["sampling.rule"] == "low_confidence" and e["confidence"] == 0.3
               and e["level"] == "warning" for e in sink.events)

    capped = make_monitor()
    clock = FixedClock()
    capped_sink = MemorySink()
    with feedback.review(capped, 0.0, low_confidence=0.6, max_per_second=5,
                         sink=capped_sink, clock=clock) as reviews:
        predict = _predictor(capped, confidence=lambda y: y)
        for i in range(40):
            predict({"score": 0.1}, f"c{i}")
        reviews.flush()
        assert len(capped_sink.events) == 5  # a second's worth, and the clock stands still
        clock.now += 1.0
        for i in range(40):
            predict({"score": 0.1}, f"d{i}")
        reviews.flush()
    assert len(capped_sink.events) == 10
    points = _points(capped, "inferwatch.review.records")
    assert points[(("inferwatch.review.decision", "rate_limited"),
                   ("inferwatch.review.rule", "low_confidence"))] == 70


def test_errors_are_never_picked(make_monitor: Any) -> None:
    mon = make_monitor()
    sink = MemorySink()

    @inferwatch.monitor(model="m", features="x", monitor=mon)
    def predict(x: Any) -> float:
        raise RuntimeError("down")

    with feedback.review(mon, 1.0, sink=sink) as reviews:
        for _ in range(5):
            with pytest.raises(RuntimeError):
                predict({"a": 1})
        reviews.flush()
    assert sink.events == []


# -- personal data ------------------------------------------------------------------

EMAIL = "canary.review@example.org"
USER = "canary-user-review-90210"
SSN = "078-05-1120"
PHONE = "+44 20 7946 0999"
FREE_EMAIL = "free.text.review@example.net"


def _forms(value: str) -> list[str]:
    forms = [value, value.lower(), quote(value, safe=""), json.dumps(value)[1:-1]]
    if "@" in value:
        forms.append(value.split("@")[0])
    if value.startswith("+"):
        forms += [value.replace(" ", ""), value.replace(" ", "")[1:]]
    return forms


def test_pii_is_pseudonymised_and_drop_fields_removed(make_monitor: Any, tmp_path: Path) -> None:
    mon = make_monitor(pii_fields=["email", "user_id"], drop_fields=["ssn"],
                       pii_detectors=["email", "phone"], pii_key=KEY)
    path = tmp_path / "review.jsonl"
    with feedback.review(mon, 1.0, max_per_second=1e6, sink=str(path)) as reviews:
        predict = _predictor(mon)

        @inferwatch.monitor(model="m", features="rows", monitor=mon)
        def batch(rows: list[dict[str, Any]]) -> list[float]:
            inferwatch.set_attribute("user_id", USER)
            inferwatch.set_attribute("ssn", SSN)
            return [0.5 for _ in rows]

        for i in range(20):
            predict({"email": EMAIL, "user_id": USER, "ssn": SSN, "note": f"call {PHONE}",
                     "nested": {"email": EMAIL, "ssn": SSN, "free": f"mail {FREE_EMAIL}"},
                     "a": i}, f"r{i}")
        batch([{"email": EMAIL, "ssn": SSN}, {"user_id": USER, "ssn": SSN}])
        reviews.flush()
    text = path.read_text()
    events = _read(path)
    assert len(events) == 21
    for value in (EMAIL, USER, SSN, PHONE, FREE_EMAIL):
        leaked = [form for form in _forms(value) if form in text]
        assert not leaked, f"{value} reached the review file as {leaked}"
    assert '"ssn"' not in text  # dropped fields are gone, names and all
    first = events[0]["features"]
    pseudonym = mon._pseudonymizer.pseudonym(EMAIL)
    assert first["email"] == pseudonym == first["nested"]["email"]
    assert first["user_id"] == mon._pseudonymizer.pseudonym(USER)
    assert first["a"] == 0 and "feature_hash" in events[0]


def test_the_monitors_log_processors_apply(make_monitor: Any) -> None:
    def redact(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        event.get("features", {}).pop("secret", None)
        return event

    mon = make_monitor(log_processors=[redact])
    sink = MemorySink()
    with feedback.review(mon, 1.0, sink=sink) as reviews:
        _predictor(mon)({"secret": "s3cr3t", "a": 1}, "r1")
        reviews.flush()
    assert sink.events and "s3cr3t" not in json.dumps(sink.events)


# -- off the request path, bounded, fail-safe ----------------------------------------


class FailingSink(MemorySink):
    def emit(self, events: list[dict[str, Any]]) -> None:
        raise OSError("the review store is down")


class BlockingSink(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def emit(self, events: list[dict[str, Any]]) -> None:
        self.entered.set()
        self.release.wait(10)
        super().emit(events)


def test_a_failing_sink_counts_drops_and_never_touches_the_call(make_monitor: Any) -> None:
    mon = make_monitor()
    reviews = feedback.review(mon, 1.0, low_confidence=None, max_per_second=1e6,
                              sink=FailingSink())
    predict = _predictor(mon)
    assert [predict({"score": i / 10}, f"r{i}") for i in range(10)] == [i / 10 for i in range(10)]
    reviews.flush()
    assert _dropped(mon, "review_sink_failed") == 10
    errors = _points(mon, "inferwatch.self.errors")
    assert errors[(("inferwatch.component", "review_sink"),)] >= 1
    assert mon.summary()["review"]["dropped"] == {"review_sink_failed": 10}
    reviews.close()


def test_an_unwritable_file_counts_the_sinks_own_reason(make_monitor: Any,
                                                        tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    mon = make_monitor()
    with feedback.review(mon, 1.0, max_per_second=1e6,
                         sink=str(blocker / "review.jsonl")) as reviews:
        predict = _predictor(mon)
        for i in range(3):
            assert predict({"score": 0.5}, f"r{i}") == 0.5
        reviews.flush()
        assert _dropped(mon, "review_sink_write_error") == 3
    assert _dropped(mon, "review_sink_write_error") == 3  # still reported after close


def test_a_blocked_sink_fills_the_bounded_queue_not_the_call(make_monitor: Any) -> None:
    mon = make_monitor()
    sink = BlockingSink()
    reviews = feedback.review(mon, 1.0, low_confidence=None, max_per_second=1e6, sink=sink,
                              queue_size=10)
    predict = _predictor(mon)
    try:
        predict({"a": 0}, "first")
        mon.drain()
        assert sink.entered.wait(5)  # the writer is stuck in emit from now on
        started = time.perf_counter()
        for i in range(200):
            predict({"a": i}, f"r{i}")
        elapsed = time.perf_counter() - started
        mon.drain()
        assert elapsed < 2.0  # the calls never waited for the sink (it blocks for 10 s)
        assert _dropped(mon, "review_queue_full") == 190
    finally:
        sink.release.set()
        assert reviews.close()
    assert len(sink.events) == 11


def test_flush_returns_within_its_timeout_on_a_hung_sink(make_monitor: Any) -> None:
    mon = make_monitor()
    sink = BlockingSink()
    reviews = feedback.review(mon, 1.0, sink=sink)
    _predictor(mon)({"a": 1}, "r1")
    started = time.monotonic()
    assert reviews.flush(timeout=0.3) is False
    assert time.monotonic() - started < 3.0
    sink.release.set()
    reviews.close()


def test_one_sampler_per_monitor_and_reopening(make_monitor: Any) -> None:
    mon = make_monitor()
    first = feedback.review(mon, 0.5, sink=MemorySink())
    with pytest.raises(ConfigurationError, match="close"):
        feedback.review(mon, 0.5, sink=MemorySink())
    first.close()
    sink = MemorySink()
    with feedback.review(mon, 1.0, sink=sink) as second:
        _predictor(mon)({"a": 1}, "r1")
        second.flush()
    assert len(sink.events) == 1
    names = [(p.name, tuple(sorted(p.attributes.items()))) for p in mon.collect()]
    assert len(names) == len(set(names))  # one collector per monitor, no repeated series
    assert mon._copying_consumers == 0  # closed: calls stop copying features for review


def test_default_monitor_and_default_file(make_monitor: Any, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    mon = make_monitor()
    inferwatch.set_monitor(mon)
    try:
        with feedback.review(share=1.0) as reviews:
            assert reviews.monitor is mon
            _predictor(mon)({"a": 1}, "r1")
            reviews.flush()
    finally:
        inferwatch.set_monitor(None)
    assert [e["inference.id"] for e in _read(tmp_path / "review.jsonl")] == ["r1"]


@pytest.mark.parametrize(("options", "match"), [
    ({"share": 1.5}, "share"),
    ({"share": "0.01"}, "share"),
    ({"low_confidence": 2.0}, "low_confidence"),
    ({"max_per_second": 0}, "max_per_second"),
    ({"max_per_second": float("inf")}, "max_per_second"),
    ({"sink": 42}, "sink"),
    ({"queue_size": 0}, "queue_size"),
    ({"key": "short"}, "32"),
])
def test_bad_options(make_monitor: Any, options: dict[str, Any], match: str) -> None:
    mon = make_monitor()
    options.setdefault("sink", MemorySink())
    with pytest.raises(ConfigurationError, match=match):
        feedback.review(mon, **options)
    feedback.review(mon, sink=MemorySink()).close()  # nothing was left registered


def test_review_labels_come_back_as_their_own_source(make_monitor: Any) -> None:
    import inferwatch.labels

    mon = make_monitor()
    tracker = inferwatch.labels.track(mon, task="classification", positive=1)
    sink = MemorySink()
    try:
        with feedback.review(mon, 1.0, sink=sink) as reviews:
            @inferwatch.monitor(model="m", features="x", monitor=mon,
                                inference_id=lambda x, rid: rid)
            def predict(x: Any, rid: str) -> int:
                return 1

            for i in range(6):
                predict({"a": i}, f"r{i}")
            reviews.flush()
        for event in sink.events:  # a reviewer's verdicts, by the id the review carries
            inferwatch.record_label(event["inference.id"], 0, source="review")
        counts = tracker.counts()
        assert counts["review"]["joined"] == 6
        assert "organic" not in counts
    finally:
        tracker.close()


def test_a_forked_child_reviews_with_threads_of_its_own(make_monitor: Any,
                                                        tmp_path: Path) -> None:
    import os
    import warnings

    mon = make_monitor()
    path = tmp_path / "review.jsonl"
    reviews = feedback.review(mon, 1.0, max_per_second=1e6, sink=str(path))
    predict = _predictor(mon)
    predict({"a": 1}, "parent-before")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover -- runs in the child
        code = 1
        try:
            for i in range(3):
                predict({"a": i}, f"child-{i}")
            code = 0 if reviews.flush(timeout=5) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
            break
        time.sleep(0.01)
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    predict({"a": 2}, "parent-after")
    assert reviews.close()
    assert status == 0
    ids = sorted(e["inference.id"] for e in _read(path))
    assert ids == ["child-0", "child-1", "child-2", "parent-after", "parent-before"]


def test_close_reviews_what_finished_before_it(make_monitor: Any) -> None:
    mon = make_monitor()
    sink = MemorySink()
    reviews = feedback.review(mon, 1.0, max_per_second=1e6, sink=sink)
    predict = _predictor(mon)
    for i in range(5):
        predict({"a": i}, f"r{i}")
    assert reviews.close()  # no flush before: close drains, writes, then stops
    predict({"a": 9}, "after-close")
    mon.flush()
    assert sorted(e["inference.id"] for e in sink.events) == [f"r{i}" for i in range(5)]


def test_the_monitors_shutdown_writes_what_is_still_queued(tmp_path: Path) -> None:
    # No close() of the sampler: the monitor's shutdown (atexit, SIGTERM) writes the queue.
    mon = inferwatch.Monitor(metrics_exporter="none", log_sink="none", environ={})
    path = tmp_path / "review.jsonl"
    reviews = feedback.review(mon, 1.0, low_confidence=None, max_per_second=1e6,
                              sink=str(path), key=KEY)
    predict = _predictor(mon)
    for i in range(300):
        predict({"a": float(i)}, f"late-{i}")
    mon.shutdown()
    assert {e["inference.id"] for e in _read(path)} == {f"late-{i}" for i in range(300)}
    assert reviews.close()  # already closed by the shutdown: a second close is a no-op
