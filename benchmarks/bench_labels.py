"""The label join's costs, each against a baseline measured in the same run.

1. ``record_label`` per call, on the caller's thread (argument checks and a
   queue append), against the same loop calling an empty function with the
   same arguments and against ``deque.append`` of the same tuple.
2. The aggregator's cost per stored prediction: a monitor's ``drain`` of
   the same records with a label tracker attached and without, the
   difference divided by the records (the store write, the variant read and
   the drift-window lookup), interleaved in rounds.
3. The join per label on the aggregator thread (``process``), and one
   collection of the quality metrics for a full 1,000-pair window.
4. The predict call itself with and without a tracker (the request path:
   the tracker adds nothing there; any difference is noise).

Run: python benchmarks/bench_labels.py [--rounds 9] [--calls 20000] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import deque
from typing import Any

import inferwatch
import inferwatch.labels
from inferwatch.logsinks import NullSink


def _monitor() -> inferwatch.Monitor:
    # No aggregator interference: drains are driven by the benchmark.
    return inferwatch.Monitor(log_sink=NullSink(), environ={}, metrics_exporter="none",
                              flush_interval_ms=60_000)


def _predict(monitor: inferwatch.Monitor) -> Any:
    @inferwatch.monitor(model="bench", version="1", monitor=monitor,
                        inference_id=lambda x, rid: rid, confidence=lambda p: p)
    def predict(x: float, rid: str) -> float:
        return x

    return predict


def record_label_cost(calls: int) -> tuple[float, float, float]:
    """ns per call: record_label, an empty function, deque.append."""
    monitor = _monitor()
    tracker = inferwatch.labels.track(monitor, positive=1, max_pending=calls + 1)
    ids = [f"id{i}" for i in range(calls)]
    try:
        start = time.perf_counter_ns()
        for rid in ids:
            tracker.record_label(rid, 1)
        labelled = (time.perf_counter_ns() - start) / calls

        def empty(rid: str, label: int) -> None:
            pass

        start = time.perf_counter_ns()
        for rid in ids:
            empty(rid, 1)
        baseline = (time.perf_counter_ns() - start) / calls
        queue: deque[tuple[Any, ...]] = deque()
        start = time.perf_counter_ns()
        for rid in ids:
            queue.append(("label", rid, None, 1, "organic", None, 0.0))
        appended = (time.perf_counter_ns() - start) / calls
        return labelled, baseline, appended
    finally:
        tracker.close()
        monitor.shutdown()


def drain_cost(calls: int, tracked: bool) -> tuple[float, float]:
    """(ns of drain per record, ns per predict call) for one block."""
    monitor = _monitor()
    tracker = inferwatch.labels.track(monitor, positive=1,
                                      store=inferwatch.labels.MemoryStore(calls + 1)) \
        if tracked else None
    predict = _predict(monitor)
    try:
        start = time.perf_counter_ns()
        for i in range(calls):
            predict(0.25 + (i % 50) / 100, f"r{i}")
        per_call = (time.perf_counter_ns() - start) / calls
        start = time.process_time_ns()
        monitor.drain()
        per_record = (time.process_time_ns() - start) / calls
        if tracker is not None:
            assert len(tracker.store) == calls
        return per_record, per_call
    finally:
        if tracker is not None:
            tracker.close()
        monitor.shutdown()


def join_cost(calls: int) -> tuple[float, float]:
    """(ns per label joined by process(), µs per collection of the quality metrics)."""
    monitor = _monitor()
    tracker = inferwatch.labels.track(monitor, positive=1, max_pending=calls + 1,
                                      store=inferwatch.labels.MemoryStore(calls + 1))
    predict = _predict(monitor)
    try:
        for i in range(calls):
            predict(0.25 + (i % 50) / 100, f"r{i}")
        monitor.drain()
        for i in range(calls):
            tracker.record_label(f"r{i}", i % 2)
        start = time.process_time_ns()
        tracker.process()
        per_label = (time.process_time_ns() - start) / calls
        times = []
        for _ in range(6):  # the first call pays numpy's lazy imports: the median of the rest
            tracker._cache.clear()
            start = time.perf_counter_ns()
            points = tracker._quality()
            times.append((time.perf_counter_ns() - start) / 1e3)
        collect_us = statistics.median(times[1:])
        assert points and points[0]["windows"][0]["pairs"] == 1000
        return per_label, collect_us
    finally:
        tracker.close()
        monitor.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5,000 calls")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls = 3, 5_000
    drain_cost(1000, True)  # warm-up
    drain_cost(1000, False)
    label, empty, append = [], [], []
    off, on, call_off, call_on = [], [], [], []
    for r in range(args.rounds):
        a, b, c = record_label_cost(args.calls)
        label.append(a)
        empty.append(b)
        append.append(c)
        for tracked in ((False, True) if r % 2 == 0 else (True, False)):
            per_record, per_call = drain_cost(args.calls, tracked)
            (on if tracked else off).append(per_record)
            (call_on if tracked else call_off).append(per_call)
    med = statistics.median
    print(f"record_label per call:       {med(label) / 1e3:7.2f} µs  "
          f"(empty function {med(empty) / 1e3:.2f} µs, deque.append {med(append) / 1e3:.2f} µs;"
          f" {med(label) / med(empty):.1f}x the empty call)")
    added = med(on) - med(off)
    print(f"aggregator per record:       {med(off) / 1e3:7.2f} µs without, {med(on) / 1e3:.2f} µs "
          f"with a tracker: {added / 1e3:+.2f} µs per stored prediction "
          f"({med(on) / med(off):.2f}x)")
    print(f"predict call (request path): {med(call_off) / 1e3:7.2f} µs without, "
          f"{med(call_on) / 1e3:.2f} µs with a tracker ({med(call_on) / med(call_off):.2f}x)")
    join_cost(2000)  # warm-up
    per_label, collect_us = join_cost(args.calls)
    print(f"join per label (aggregator): {per_label / 1e3:7.2f} µs; quality of a 1,000-pair "
          f"window (binary, all measures): {collect_us:.0f} µs")


if __name__ == "__main__":
    main()
