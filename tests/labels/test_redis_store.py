"""RedisStore against a real redis-server on loopback: two replicas sharing one
Redis, TTLs, Redis stopping and coming back under traffic, nothing of the
features or PII in it, fork safety."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import inferwatch
import inferwatch.labels
from inferwatch import ConfigurationError, MissingDependencyError, Monitor
from inferwatch.labels import RedisStore, StoredPrediction

pytestmark = pytest.mark.network

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
needs_server = pytest.mark.skipif(
    not os.path.exists(REDIS_SERVER),
    reason="redis-server is not installed: apt-get install redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on 127.0.0.1: no persistence, its own directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def stores() -> Iterator[Callable[..., RedisStore]]:
    made: list[RedisStore] = []

    def make(url: str, **options: Any) -> RedisStore:
        store = RedisStore(url, **options)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close(1.0)


def _predictor(mon: Monitor, model: str = "fraud") -> Callable[[float, str], float]:
    @inferwatch.monitor(model=model, version="3", monitor=mon, inference_id=lambda x, rid: rid)
    def predict(x: float, rid: str) -> float:
        return x  # the probability of the positive class

    return predict


def _drops(mon: Monitor) -> dict[str, Any]:
    return {p.attributes["inferwatch.reason"]: p.value for p in mon.collect()
            if p.name == "inferwatch.self.dropped"}


def _store_all(tracker: inferwatch.labels.LabelTracker) -> None:
    """Everything predicted so far stored in Redis (drain, then wait for the writer)."""
    tracker.flush()
    assert isinstance(tracker.store, RedisStore)
    assert tracker.store.flush(10)


@needs_server
def test_a_label_on_one_replica_joins_the_prediction_made_on_another(
        make_monitor: Any, server: RedisServer, stores: Any) -> None:
    mon_a, mon_b = make_monitor(), make_monitor()
    a = inferwatch.labels.track(mon_a, positive=1, store=stores(server.url))
    b = inferwatch.labels.track(mon_b, positive=1, store=stores(server.url))
    predict = _predictor(mon_a)
    probs = [i / 40 for i in range(40)]
    for i, p in enumerate(probs):
        predict(p, f"r{i}")
    _store_all(a)
    labels = [int(i % 3 == 0) for i in range(40)]
    b.record_labels([(f"r{i}", y) for i, y in enumerate(labels)])
    (row,) = b.quality()
    assert row["joined"] == 40 and row["model"] == "fraud" and row["version"] == "3"
    expected = sum((p >= 0.5) == bool(y) for p, y in zip(probs, labels, strict=True)) / 40
    assert row["windows"][0]["measures"]["accuracy"] == pytest.approx(expected)
    assert b.counts() == {"organic": {"joined": 40}}
    # The same label posted to both replicas joins once, fleet-wide.
    a.record_label("r1", 0)
    assert a.counts() == {"organic": {"duplicate": 1}}
    # A review label is a second, separate join.
    a.record_label("r1", 0, source="review")
    assert a.counts()["review"] == {"joined": 1}
    assert a.quality()[0]["source"] == "review"


@needs_server
def test_the_policy_value_adds_up_across_replicas_sharing_redis(
        make_monitor: Any, server: RedisServer, stores: Any) -> None:
    """Decisions counted on the replica that served them, rewards on the one the
    outcome reached: the fleet's sums give the estimate of all the logged tuples."""
    from calltools import WallClock

    import inferwatch.feedback as feedback

    clock = WallClock()
    mon_a, mon_b = make_monitor(), make_monitor()
    options = {"positive": 1, "policy_reward": "click", "policy_horizon": 60, "clock": clock}
    a = inferwatch.labels.track(mon_a, store=stores(server.url), **options)
    b = inferwatch.labels.track(mon_b, store=stores(server.url), **options)

    @inferwatch.monitor(model="ranker", version="3", monitor=mon_a,
                        inference_id=lambda p, q, rid: rid)
    def act(p: float, q: float, rid: str) -> int:
        feedback.set_propensity(p, target=q)
        return 1

    rng = random.Random(7)
    logged = []
    for i in range(120):
        p, q = rng.choice([0.25, 0.5, 0.75, 1.0]), float(rng.random() < 0.6)
        act(p, q, f"d{i}")
        logged.append((float(i % 4 == 0), p, q))
    _store_all(a)
    for i in range(0, 120, 4):
        b.record_outcome(f"d{i}", "click")  # every click reaches replica B
    b.flush()
    clock.offset = 120.0
    (row_a,), (row_b,) = a.policy_value(), b.policy_value()
    assert row_a["decisions"] == 120 and row_b["decisions"] == 0
    assert row_a["weighted_reward"] == 0.0 and row_b["weighted_reward"] > 0
    rewards, propensities, targets = zip(*logged, strict=True)
    whole = feedback.snips(rewards, propensities, targets)
    fleet = (row_a["weighted_reward"] + row_b["weighted_reward"]) / (
        row_a["weight"] + row_b["weight"])
    assert fleet == pytest.approx(whole.value, rel=1e-12)


@needs_server
def test_several_models_under_one_id_and_the_label_right_after_predict(
        make_monitor: Any, server: RedisServer, stores: Any) -> None:
    mon_a, mon_b = make_monitor(), make_monitor(flush_interval_ms=60_000)
    a = inferwatch.labels.track(mon_a, positive=1, store=stores(server.url))
    b = inferwatch.labels.track(mon_b, positive=1, store=stores(server.url))
    _predictor(mon_a, "fraud")(0.9, "shared")
    _predictor(mon_b, "churn")(0.2, "shared")
    _store_all(a)
    _store_all(b)
    a.record_label("shared", 1)
    assert a.counts() == {"organic": {"ambiguous": 1}}
    a.record_label("shared", 1, model="churn")
    assert a.counts()["organic"]["joined"] == 1
    assert a.quality()[0]["model"] == "churn"
    # A label recorded while its prediction is still in the monitor's buffer (and so
    # not yet in Redis): the drain stores it, and the join waits for the write.
    _predictor(mon_b, "churn")(0.7, "early")
    assert len(mon_b._queue) == 1
    b.record_label("early", 1)
    assert b.quality()[0]["joined"] == 1 and b.counts() == {"organic": {"joined": 1}}


@needs_server
def test_ttl_is_honoured_and_a_late_label_finds_no_prediction(
        make_monitor: Any, server: RedisServer, stores: Any) -> None:
    mon = make_monitor()
    store = stores(server.url, prefix="t:", ttl=0.5)
    tracker = inferwatch.labels.track(mon, positive=1, store=store, grace=0)
    _predictor(mon)(0.8, "short-lived")
    _store_all(tracker)
    redis = server.client()
    ttl_ms = redis.pttl("t:short-lived")
    assert 0 < ttl_ms <= 500
    assert len(store) == 1
    deadline = time.monotonic() + 5
    while redis.exists("t:short-lived") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not redis.exists("t:short-lived")
    tracker.record_label("short-lived", 1)
    assert tracker.counts() == {"organic": {"no_prediction": 1}}


@needs_server
def test_redis_stopping_never_slows_predict_drops_are_counted_and_it_recovers(
        make_monitor: Any, server: RedisServer, stores: Any) -> None:
    mon = make_monitor(flush_interval_ms=20)
    # A timeout well above the bound below: a call that waited for Redis would show.
    store = stores(server.url, timeout=1.0, retry_interval=0.2)
    tracker = inferwatch.labels.track(mon, positive=1, store=store, grace=0)
    predict = _predictor(mon)

    def calls(start: int, n: int = 3000) -> tuple[float, list[float]]:
        worst, results = 0.0, []
        for i in range(start, start + n):
            t0 = time.perf_counter()
            results.append(predict(0.25, f"c{i}"))
            worst = max(worst, time.perf_counter() - t0)
            if i % 500 == 0:
                time.sleep(0.03)  # let the aggregator write in between
        return worst, results

    baseline, before = calls(0)
    _store_all(tracker)
    assert len(store) == 3000
    server.stop()
    outage, during = calls(10_000)
    tracker.flush()
    store.flush(10)
    assert during == before  # the predict calls are unchanged
    assert outage < 0.5 + 5 * baseline, (outage, baseline)  # never waited for Redis
    drops = _drops(mon)
    assert drops.get("label_store_unavailable", 0) > 0
    assert drops["label_store_unavailable"] <= 3000
    tracker.record_label("c10", 1)  # a lookup while Redis is down: counted, not raised
    tracker.flush()
    assert tracker.counts()["organic"]["no_prediction"] == 1
    assert _drops(mon).get("label_store_lookup_unavailable", 0) >= 1
    assert mon.summary()["labels"]["trackers"][0]["store"]["entries"] == 3000

    server.start()  # same port: the client reconnects by itself
    deadline = time.monotonic() + 15
    joined = 0
    i = 20_000
    while joined == 0 and time.monotonic() < deadline:
        predict(0.75, f"after{i}")
        _store_all(tracker)
        tracker.record_label(f"after{i}", 1)
        joined = tracker.counts()["organic"].get("joined", 0)
        i += 1
        time.sleep(0.05)
    assert joined == 1
    assert server.client().exists(f"{store.prefix}after{i - 1}")
    assert store.available


def test_a_redis_that_never_answers_stalls_nothing_for_long(make_monitor: Any,
                                                            stores: Any) -> None:
    # A listening socket that is never accepted: connections open, nothing answers
    # (a hung or overloaded Redis). Every call then waits for its socket timeout.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        url = f"redis://127.0.0.1:{hole.getsockname()[1]}/0"
        store = stores(url, timeout=0.2, retry_interval=30.0)
        mon = make_monitor(flush_interval_ms=60_000)
        tracker = inferwatch.labels.track(mon, positive=1, store=store, grace=0)
        predict = _predictor(mon)
        for i in range(200):
            predict(0.6, f"h{i}")
        t0 = time.perf_counter()
        mon.drain()  # the aggregator's part: the store only queues
        assert time.perf_counter() - t0 < 0.15
        assert store.flush(5)  # the writer thread waits out one timeout, then drops
        assert store.evictions()["unavailable"] == 200 and not store.available
        tracker.record_label("h1", 1)
        t0 = time.perf_counter()
        tracker.process()  # marked unreachable: no attempt, no wait
        assert time.perf_counter() - t0 < 0.1
        assert tracker.counts() == {"organic": {"no_prediction": 1}}
        assert _drops(mon)["label_store_lookup_unavailable"] == 1
        store._down_until = 0.0  # the retry interval is over: one lookup, one timeout
        tracker.record_label("h2", 1)
        t0 = time.perf_counter()
        tracker.process()
        assert 0.15 < time.perf_counter() - t0 < 1.0
        assert tracker.counts() == {"organic": {"no_prediction": 2}}
        assert "Timeout" in (store.last_error or "")


CANARY = "canary-5e1d"
EMAIL = "bob@example.com"


@needs_server
def test_nothing_of_features_or_pii_reaches_redis(
        make_monitor: Any, server: RedisServer, stores: Any) -> None:
    mon = make_monitor(pii_fields=["email", "inference.id"], drop_fields=["segment"],
                       pii_key=b"k" * 32, pii_key_id="1")
    tracker = inferwatch.labels.track(mon, positive="yes", store=stores(server.url))

    @inferwatch.monitor(model="m", monitor=mon, features="row", inference_id=lambda row: row["id"])
    def predict(row: dict[str, Any]) -> str:
        inferwatch.set_attributes({"email": EMAIL, "segment": CANARY,
                                   "variant": f"contact {EMAIL}"})
        return "yes"

    for n in range(5):
        predict({"id": f"user-{EMAIL}-{n}", "text": CANARY, "email": EMAIL, "n": n})
    _store_all(tracker)
    redis = server.client()
    keys = list(redis.scan_iter(count=100))
    assert len(keys) == 5
    for key in keys:
        values = redis.hgetall(key)
        text = repr((key, values))
        assert CANARY not in text and EMAIL not in text and "user-" not in text
        assert "text" not in text and '"n"' not in text
        (field,) = values
        assert field == b"m:m"
        fields = json.loads(values[field])
        assert len(fields) == 8  # version, prediction, score, confidence, time, variant,
        assert fields[5] == "_redacted" and fields[6] is None  # segment, window
    tracker.record_label(f"user-{EMAIL}-3", "yes")  # the raw id, as the caller knows it
    assert tracker.quality()[0]["joined"] == 1


@needs_server
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_gets_its_own_connection(server: RedisServer, stores: Any) -> None:
    store = stores(server.url, prefix="f:")
    now = time.time()
    store.put([StoredPrediction("parent", "m", "1", 1, 0.9, 0.9, now)], now)
    assert store.flush(5)
    parent_id = store._client.client_id()
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, as gunicorn
        pid = os.fork()
    if pid == 0:  # the child: its own writes and joins, then a hard exit
        code = 1
        try:
            os.close(read)
            store.put([StoredPrediction("child", "m", "1", 0, 0.2, 0.8, now)], now)
            ok = store.flush(5)
            status = (store.claim("child", None, "label:organic")[0],
                      store.claim("parent", "m", "label:organic")[0])
            report = {"ok": ok, "status": status, "id": store._client.client_id()}
            os.write(write, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0
    with os.fdopen(read) as f:
        report = json.loads(f.read())
    assert report["ok"] and report["status"] == ["joined", "joined"]
    assert report["id"] != parent_id  # a connection of its own
    assert store.claim("parent", "m", "label:organic")[0] == "duplicate"  # the parent's works
    assert store.claim("child", "m", "label:review")[0] == "joined"


@needs_server
def test_a_full_queue_is_counted_and_claims_are_batched(server: RedisServer,
                                                        stores: Any) -> None:
    store = stores(server.url, max_pending=10)
    now = time.time()
    store._writer = _idle_writer()  # no writer thread takes the queue while it fills
    store.put([StoredPrediction(f"q{i}", "m", "1", 1, 0.9, 0.9, now) for i in range(25)], now)
    assert store.evictions()["queue_full"] == 15 and store.pending == 10
    with store._lock:
        store._start_writer()
        store._wake.notify()
    assert store.flush(5)
    requests = [(f"q{i}", None, "label:organic") for i in range(12)]
    requests.append(("q0", None, "label:organic"))
    store.prefetch(requests)
    got = [store.claim(*r)[0] for r in requests]
    assert got == ["joined"] * 10 + ["missing"] * 2 + ["duplicate"]


def _idle_writer() -> Any:
    class Idle:
        """Stands in for the writer thread so put() starts none."""

    return Idle()


def test_the_redis_client_is_imported_only_when_a_store_is_made(
        monkeypatch: pytest.MonkeyPatch) -> None:
    code = ("import sys, inferwatch, inferwatch.labels; "
            "print('redis' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(MissingDependencyError, match=r"inferwatch\[redis\]"):
        RedisStore()


@pytest.mark.parametrize("options", [
    {"url": "http://user:hunter2@host:6379"}, {"url": 6379}, {"ttl": 0}, {"ttl": -1},
    {"ttl": float("nan")}, {"max_pending": 0}, {"max_pending": True}, {"timeout": 0},
    {"prefix": ""}, {"retry_interval": "1"},
])
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as err:
        RedisStore(**options)
    assert "hunter2" not in str(err.value)


def test_the_url_password_is_never_shown() -> None:
    store = RedisStore("redis://user:hunter2@127.0.0.1:1/0")
    try:
        assert "hunter2" not in repr(store) and "hunter2" not in store.where
        assert store.where == "redis://127.0.0.1:1/0"
    finally:
        store.close(0.1)


def test_stored_form_round_trips_every_kept_field() -> None:
    from inferwatch.labels._redis_store import decode, encode

    entry = StoredPrediction("id", "m", "7", "_negative", float("nan"), 0.75, 1.5e9,
                             variant="b", segment="eu", window=12)
    back = decode("id", "m", encode(entry))
    fields, again = entry.fields(), back.fields()
    assert math.isnan(fields.pop("score")) and math.isnan(again.pop("score"))  # NaN: null
    assert fields == again and back.policy is None
    entry.policy = (0.25, 1.0)  # a logged propensity and target: two more fields
    assert decode("id", "m", encode(entry)).policy == (0.25, 1.0)
    for prediction in (True, 3, 2.5, "yes"):
        got = decode("id", "m", encode(StoredPrediction("id", "m", "1", prediction, 0.5, 0.5,
                                                        1.0))).prediction
        assert got == prediction and type(got) is type(prediction)
    with pytest.raises(ValueError):
        decode("id", "m", b"[1, 2]")


@needs_server
def test_a_label_that_beats_its_prediction_to_redis_joins_when_its_grace_ends(
        make_monitor: Any, server: RedisServer, stores: Any) -> None:
    # Replica B gets the label before replica A's writer has put the prediction in Redis.
    clock = {"now": time.time()}
    mon_a, mon_b = make_monitor(), make_monitor()
    a = inferwatch.labels.track(mon_a, positive=1, store=stores(server.url))
    b = inferwatch.labels.track(mon_b, positive=1, store=stores(server.url), grace=5,
                                clock=lambda: clock["now"])
    b.record_label("early-1", 1)
    b.process()
    assert b.counts() == {}  # waiting for its prediction, not counted yet
    _predictor(mon_a)(0.9, "early-1")
    _store_all(a)
    clock["now"] += 6  # past the grace: one last claim, in Redis this time
    b.process()
    assert b.counts() == {"organic": {"joined": 1}}
    clock["now"] += 1
    b.record_label("never-predicted", 0)
    b.process()
    clock["now"] += 6
    b.process()
    assert b.counts()["organic"] == {"joined": 1, "no_prediction": 1}


@needs_server
def test_the_monitors_shutdown_writes_the_last_predictions(server: RedisServer,
                                                           stores: Any) -> None:
    mon = Monitor(metrics_exporter="none", log_sink="none", environ={})
    store = stores(server.url)
    inferwatch.labels.track(mon, positive=1, store=store)
    predict = _predictor(mon)
    for i in range(200):
        predict(0.7, f"last-{i}")
    mon.shutdown()  # no tracker flush, no store.close(): the shutdown writes them
    reader = stores(server.url)
    reader.prefetch([(f"last-{i}", None, "label:organic") for i in range(200)])
    assert [reader.claim(f"last-{i}", None, "label:organic")[0] for i in range(200)] == [
        "joined"] * 200
