"""RedisStore against a real local redis-server, each figure beside a baseline
measured in the same run.

1. Writes per second through the store (its writer thread, pipelined
   ``HSET`` + ``PEXPIRE`` in chunks of 1,000), against the same writes one
   round trip each (what an unpipelined store would do).
2. The aggregator's cost per stored prediction: a monitor's ``drain`` of the
   same records with a RedisStore and with a MemoryStore, CPU time of the
   draining thread only (the aggregator's), interleaved in rounds; and the
   writer thread's CPU per entry, which is not the aggregator's.
3. Join rate: labels per second joined by ``process`` (one batched claim per
   drain), RedisStore against MemoryStore.
4. Redis stops: predict calls at a steady pace with Redis up, then killed,
   then restarted: calls made, predictions dropped (counted), predict p50 /
   p99 / max in each phase, and how long after the restart a new prediction
   is joined again.

Needs redis-server (apt-get install redis-server) and the redis extra.
Run: python benchmarks/bench_labels_redis.py [--rounds 5] [--calls 20000] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import inferwatch
import inferwatch.labels
from inferwatch.labels import MemoryStore, RedisStore, StoredPrediction
from inferwatch.logsinks import NullSink


class Server:
    """redis-server on 127.0.0.1, no persistence, in a temp dir."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(8).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise SystemExit("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def flushall(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()


def _monitor(**options: Any) -> inferwatch.Monitor:
    options.setdefault("flush_interval_ms", 60_000)  # drains driven by the benchmark
    return inferwatch.Monitor(log_sink=NullSink(), environ={}, metrics_exporter="none",
                              max_records_per_second=1e9, **options)


def _predict(monitor: inferwatch.Monitor) -> Any:
    @inferwatch.monitor(model="bench", version="1", monitor=monitor,
                        inference_id=lambda x, rid: rid, confidence=lambda p: p)
    def predict(x: float, rid: str) -> float:
        return x

    return predict


def _entries(n: int, tag: str) -> list[StoredPrediction]:
    now = time.time()
    return [StoredPrediction(f"{tag}{i}", "bench", "1", 1, 0.8, 0.8, now, variant="a")
            for i in range(n)]


def write_rate(server: Server, n: int) -> tuple[float, float]:
    """(entries/s through the store, entries/s one round trip each)."""
    server.flushall()
    store = RedisStore(server.url, max_pending=n + 1)
    try:
        batch = _entries(n, "w")
        start = time.perf_counter()
        store.put(batch, time.time())
        assert store.flush(60)
        pipelined = n / (time.perf_counter() - start)
        assert store.evictions()["unavailable"] == 0
    finally:
        store.close()
    import redis

    from inferwatch.labels._redis_store import encode

    client = redis.Redis.from_url(server.url)
    few = _entries(min(n, 5000), "s")
    start = time.perf_counter()
    for entry in few:
        client.hset("inferwatch:pred:" + entry.inference_id, "m:bench", encode(entry))
        client.pexpire("inferwatch:pred:" + entry.inference_id, 86_400_000)
    single = len(few) / (time.perf_counter() - start)
    return pipelined, single


def drain_cost(server: Server, calls: int, kind: str) -> tuple[float, float]:
    """(aggregator-thread CPU ns per record, writer CPU ns per entry) for one block."""
    monitor = _monitor()
    store: Any = (RedisStore(server.url, max_pending=calls + 1) if kind == "redis"
                  else MemoryStore(calls + 1))
    tracker = inferwatch.labels.track(monitor, positive=1, store=store)
    predict = _predict(monitor)
    try:
        for i in range(calls):
            predict(0.25 + (i % 50) / 100, f"{kind}{i}")
        cpu0 = time.process_time_ns()
        start = time.thread_time_ns()
        monitor.drain()
        aggregator = (time.thread_time_ns() - start) / calls
        writer = 0.0
        if kind == "redis":
            assert store.flush(60)
            writer = (time.process_time_ns() - cpu0) / calls - aggregator
            assert len(store) == calls, (len(store), store.evictions())
        return aggregator, writer
    finally:
        tracker.close()
        if kind == "redis":
            store.close()
        monitor.shutdown()


def join_rate(server: Server, calls: int, kind: str) -> float:
    """Labels joined per second by process()."""
    server.flushall()
    monitor = _monitor()
    store: Any = (RedisStore(server.url, max_pending=calls + 1) if kind == "redis"
                  else MemoryStore(calls + 1))
    tracker = inferwatch.labels.track(monitor, positive=1, store=store,
                                      max_pending=calls + 1)
    predict = _predict(monitor)
    try:
        for i in range(calls):
            predict(0.25 + (i % 50) / 100, f"j{i}")
        monitor.drain()
        if kind == "redis":
            assert store.flush(60)
        for i in range(calls):
            tracker.record_label(f"j{i}", i % 2)
        start = time.perf_counter()
        tracker.process()
        rate = calls / (time.perf_counter() - start)
        assert tracker._counts() == {"organic": {"joined": calls}}, tracker._counts()
        return rate
    finally:
        tracker.close()
        if kind == "redis":
            store.close()
        monitor.shutdown()


def _phase(predict: Any, seconds: float, start: int, pace: float) -> tuple[int, list[float]]:
    times = []
    i = start
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        predict(0.5, f"o{i}")
        times.append(time.perf_counter() - t0)
        i += 1
        if i % 100 == 0:
            time.sleep(pace)  # a steady load, not a busy loop hogging the GIL
    return i - start, times


def _quantiles(times: list[float]) -> str:
    ordered = sorted(times)
    p = [ordered[int(q * (len(ordered) - 1))] * 1e6 for q in (0.5, 0.99)]
    return f"p50 {p[0]:5.1f} µs, p99 {p[1]:6.1f} µs, max {ordered[-1] * 1e3:6.2f} ms"


def outage(server: Server, seconds: float) -> None:
    server.flushall()
    monitor = _monitor(flush_interval_ms=100)
    store = RedisStore(server.url, timeout=0.25, retry_interval=1.0)
    tracker = inferwatch.labels.track(monitor, positive=1, store=store, grace=0)
    predict = _predict(monitor)

    def drops() -> int:
        return int(store.evictions()["unavailable"])

    try:
        n_up, up = _phase(predict, seconds, 0, 0.002)
        tracker.flush()
        store.flush(10)
        stored_up, dropped_up = len(store), drops()
        server.stop()
        killed = time.perf_counter()
        n_down, down = _phase(predict, seconds, 1_000_000, 0.002)
        tracker.flush()
        store.flush(10)
        print(f"Redis up:      {n_up:7d} calls, {stored_up:7d} stored, {dropped_up:6d} dropped;"
              f" predict {_quantiles(up)}")
        print(f"Redis killed:  {n_down:7d} calls, {len(store) - stored_up:7d} stored, "
              f"{drops() - dropped_up:6d} dropped (label_store_unavailable); "
              f"predict {_quantiles(down)}")
        print(f"               failed attempts to reach Redis: {store.failures} in "
              f"{time.perf_counter() - killed:.1f} s (at most one per retry_interval, 1 s)")
        server.start()
        restarted = time.perf_counter()
        i, joined = 0, 0
        while not joined and time.perf_counter() - restarted < 30:
            predict(0.9, f"back{i}")
            tracker.flush()
            store.flush(5)
            tracker.record_label(f"back{i}", 1)
            tracker.flush()
            joined = tracker._counts().get("organic", {}).get("joined", 0)
            i += 1
            time.sleep(0.01)
        print(f"Redis restarted: a new prediction joined again after "
              f"{time.perf_counter() - restarted:.2f} s ({i} tries)")
    finally:
        tracker.close()
        store.close()
        monitor.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--outage-seconds", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5,000 calls")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls, args.outage_seconds = 3, 5_000, 1.5
    server = Server()
    server.start()
    try:
        med = statistics.median
        rates = [write_rate(server, args.calls * 2) for _ in range(args.rounds)]
        print(f"writes through the store:    {med(r[0] for r in rates):9,.0f} /s pipelined "
              f"(one round trip each: {med(r[1] for r in rates):,.0f} /s)")
        drain_cost(server, 1000, "redis")  # warm-up
        drain_cost(server, 1000, "memory")
        costs: dict[str, list[float]] = {"redis": [], "memory": [], "writer": []}
        for r in range(args.rounds):
            server.flushall()
            for kind in (("memory", "redis") if r % 2 == 0 else ("redis", "memory")):
                aggregator, writer = drain_cost(server, args.calls, kind)
                costs[kind].append(aggregator)
                if kind == "redis":
                    costs["writer"].append(writer)
        print(f"aggregator per record:       {med(costs['memory']) / 1e3:7.2f} µs with a "
              f"MemoryStore, {med(costs['redis']) / 1e3:.2f} µs with a RedisStore "
              f"(its writer thread: {med(costs['writer']) / 1e3:.2f} µs CPU per entry, "
              "off the aggregator)")
        join_rate(server, 1000, "redis")  # warm-up
        joins = {kind: med(join_rate(server, args.calls, kind) for _ in range(args.rounds))
                 for kind in ("redis", "memory")}
        print(f"join rate (process):         {joins['redis']:9,.0f} labels/s with Redis, "
              f"{joins['memory']:,.0f} /s in memory")
        outage(server, args.outage_seconds)
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
    print(f"(python {sys.version.split()[0]}, {threading.active_count()} threads at exit)")


if __name__ == "__main__":
    main()
