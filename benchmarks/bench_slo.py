"""Added CPU per prediction with SLOs tracked, against the same run without them.

Two variants, interleaved in rounds so machine noise hits them alike, each a
fresh Monitor with 20 numeric features captured, logs rendered to /dev/null
and an OTel MeterProvider:

* off   no SLOs
* on    four SLOs on the model (availability, latency with its threshold as a
        bucket boundary, drift, freshness), tracked with ``inferwatch.slo.track``

The SLO tracker does nothing on the request path; its cost is the ticker on
the aggregator thread (a cheap clock check after each drain; the sources are
read once a minute) and the budgets at each collection. To make that cost
show, the tracker's clock advances a whole minute every ``--minute-every``
calls (default 500: ~a thousand times more snapshots than real traffic at
10k predictions a minute would take), and the metrics are collected once a
block as an exporter would. Per variant: CPU per prediction, all threads
(process CPU time over the block plus the final flush and collection,
divided by the calls); "added" is on minus off, against the ≤ 10 µs per
prediction all-in budget of DESIGN.md. Then the unit costs: one minute's
refresh and one collection of the SLO points, in µs.

Run: python benchmarks/bench_slo.py [--rounds 15] [--calls 20000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

import inferwatch
from inferwatch.logsinks import StreamSink
from inferwatch.slo import SLO, track

BUDGET_CPU_US = 10.0

SLOS = [
    SLO("bench-availability", "availability", 0.999, model="bench"),
    SLO("bench-latency", "latency", 0.99, threshold_ms=250, model="bench"),
    SLO("bench-drift", "drift", 0.95, window="7d", model="bench"),
    SLO("bench-fresh", "freshness", 0.99, max_age="30d", model="bench"),
]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _monitor() -> tuple[inferwatch.Monitor, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed with the monitor's sink
    reader = InMemoryMetricReader()
    monitor = inferwatch.Monitor(
        log_sink=StreamSink(devnull), meter_provider=MeterProvider(metric_readers=[reader]),
        environ={}, max_records_per_second=1e9,
    )
    return monitor, reader


def run(with_slos: bool, rows: list[np.ndarray], minute_every: int) -> float:
    """CPU ns per prediction, all threads, over one block."""
    monitor, _reader = _monitor()
    clock = Clock()
    if with_slos:
        track(SLOS, monitor=monitor, clock=clock)
    weights = np.linspace(-1, 1, 20)

    @inferwatch.monitor(model="bench", version="1", features="x", monitor=monitor)
    def predict(x: np.ndarray) -> float:
        return float(x @ weights)

    try:
        start = time.process_time_ns()
        for i, x in enumerate(rows):
            predict(x)
            if i % minute_every == 0:
                clock.now += 60.0
        monitor.flush()
        monitor.collect()  # one export's worth of collection
        return (time.process_time_ns() - start) / len(rows)
    finally:
        monitor.shutdown()


def unit_costs(repeat: int) -> tuple[float, float, int]:
    monitor, _reader = _monitor()
    clock = Clock()
    tracker = track(SLOS, monitor=monitor, clock=clock)
    weights = np.linspace(-1, 1, 20)

    @inferwatch.monitor(model="bench", version="1", features="x", monitor=monitor)
    def predict(x: np.ndarray) -> float:
        return float(x @ weights)

    rng = np.random.default_rng(0)
    for x in rng.normal(size=(2000, 20)):
        predict(x)
    monitor.flush()
    try:
        start = time.perf_counter_ns()
        for _ in range(repeat):
            clock.now += 60.0
            tracker.refresh()
        refresh = (time.perf_counter_ns() - start) / repeat / 1e3
        start = time.perf_counter_ns()
        for _ in range(repeat):
            tracker.metric_points()
        points = (time.perf_counter_ns() - start) / repeat / 1e3
        return refresh, points, tracker.nbytes
    finally:
        monitor.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--minute-every", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5,000 calls")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls = 3, 5_000
    rows = list(np.random.default_rng(1).normal(size=(args.calls, 20)))
    run(False, rows[:1000], args.minute_every)  # warm-up
    run(True, rows[:1000], args.minute_every)
    off: list[float] = []
    on: list[float] = []
    for r in range(args.rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        for with_slos in order:
            (on if with_slos else off).append(run(with_slos, rows, args.minute_every))
    off_ns, on_ns = statistics.median(off), statistics.median(on)
    added_us = (on_ns - off_ns) / 1e3
    pairs = sorted(b - a for a, b in zip(off, on, strict=True))
    print(f"CPU per prediction, all threads, median of {args.rounds} rounds x "
          f"{args.calls:,} calls (20 features, logs to /dev/null, a minute every "
          f"{args.minute_every} calls):")
    print(f"  SLOs off {off_ns / 1e3:.2f} us, SLOs on ({len(SLOS)}) {on_ns / 1e3:.2f} us, "
          f"ratio {on_ns / off_ns:.3f}x, added {added_us:+.2f} us "
          f"(paired differences: min {pairs[0] / 1e3:+.2f}, median "
          f"{statistics.median(pairs) / 1e3:+.2f}, max {pairs[-1] / 1e3:+.2f} us)")
    print(f"  all in with SLOs: {on_ns / 1e3:.2f} us per prediction (budget <= "
          f"{BUDGET_CPU_US:.0f} us) -> {'OK' if on_ns / 1e3 <= BUDGET_CPU_US else 'OVER'}")
    refresh, points, nbytes = unit_costs(200 if args.quick else 1000)
    print(f"unit costs ({len(SLOS)} SLOs): one minute's refresh {refresh:.1f} us, one "
          f"collection of the SLO points {points:.1f} us; rings {nbytes / 1024:.1f} KiB "
          f"in all (fixed by the windows)")
    print(f"  at 1,000 predictions a minute that is {refresh / 1000 * 1e3:.1f} ns per "
          f"prediction for the refresh, plus {points:.0f} us per export")


if __name__ == "__main__":
    main()
