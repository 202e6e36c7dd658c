"""Added latency of @inferwatch.monitor on a predict call, against the anchors, in one run.

Variants (interleaved in rounds so machine noise hits them alike):

* bare            the predict function alone
* inferwatch      @monitor with everything on: 20 numeric features captured,
                  confidence extracted, sampling, PII key
                  configured (feature hash, pseudonymised id field), logs
                  rendered to /dev/null, OTel MeterProvider configured
* + a stage       the same, plus one ``inferwatch.stage`` timed inside predict
* otel span       an OpenTelemetry SDK span around the call (no exporter)
* prometheus      prometheus_client Histogram.time() around the call

Per variant: median over rounds of the mean time per call in a block of
calls. "added" is the median minus bare's. Then CPU per prediction, amortised
with the background aggregation and log writing included: process CPU time
over N calls plus the final flush, divided by N, minus bare's.

Run: python benchmarks/bench_monitor.py [--rounds 200] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import inferwatch
from inferwatch.logsinks import StreamSink

BUDGET_ADDED_US = 2.0
BUDGET_CPU_US = 10.0


def _model() -> Callable[[np.ndarray], float]:
    weights = np.linspace(-1, 1, 20)

    def predict(x: np.ndarray) -> float:
        return float(1.0 / (1.0 + np.exp(-(x @ weights))))

    return predict


def build_variants() -> tuple[dict[str, Callable[[np.ndarray], Any]], inferwatch.Monitor]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry, Histogram

    base = _model()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the benchmark
    monitor = inferwatch.Monitor(
        log_sink=StreamSink(devnull),
        meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
        environ={},
        pii_fields=["user_id"],
        pii_key="hex:" + "ab" * 32,
        slow_threshold_ms=50.0,
        low_confidence_threshold=0.55,
        # No rate cap: every record the sampler keeps (10 % here) is rendered,
        # so the CPU figure below includes the full logging cost.
        max_records_per_second=1e9,
    )

    @inferwatch.monitor(model="bench", version="1", features="x",
                        confidence=lambda p: max(p, 1 - p), monitor=monitor)
    def monitored(x: np.ndarray) -> float:
        return base(x)

    @inferwatch.monitor(model="bench-staged", version="1", features="x",
                        confidence=lambda p: max(p, 1 - p), monitor=monitor)
    def monitored_with_stage(x: np.ndarray) -> float:
        with inferwatch.stage("inference"):
            return base(x)

    tracer = TracerProvider().get_tracer("bench")

    def with_span(x: np.ndarray) -> float:
        with tracer.start_as_current_span("predict"):
            return base(x)

    histogram = Histogram("predict_seconds", "predict latency", registry=CollectorRegistry())

    def with_prometheus(x: np.ndarray) -> float:
        with histogram.time():
            return base(x)

    variants = {
        "bare": base,
        "inferwatch": monitored,
        "+ a stage": monitored_with_stage,
        "otel span": with_span,
        "prometheus": with_prometheus,
    }
    return variants, monitor


def time_per_call(fn: Callable[[np.ndarray], Any], rows: list[np.ndarray]) -> float:
    start = time.perf_counter_ns()
    for row in rows:
        fn(row)
    return (time.perf_counter_ns() - start) / len(rows)


def cpu_per_call(fn: Callable[[np.ndarray], Any], rows: list[np.ndarray],
                 monitor: inferwatch.Monitor | None) -> float:
    start = time.process_time_ns()  # all threads: includes the aggregator and log writer
    for row in rows:
        fn(row)
    if monitor is not None:
        monitor.flush()
    return (time.process_time_ns() - start) / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--block", type=int, default=200)
    parser.add_argument("--cpu-calls", type=int, default=100_000)
    parser.add_argument("--rss-calls", type=int, default=1_000_000,
                        help="calls for the memory check (0 skips it)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and calls: a smoke check (tasks.py bench --quick)")
    args = parser.parse_args()
    if args.quick:  # smaller defaults; options given explicitly still win
        quick = {"rounds": 30, "cpu_calls": 20_000, "rss_calls": 100_000}
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)

    variants, monitor = build_variants()
    rng = np.random.default_rng(0)
    rows = [rng.normal(size=20) for _ in range(args.block)]
    for fn in variants.values():  # warm up
        time_per_call(fn, rows)

    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            samples[name].append(time_per_call(fn, rows))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    bare = medians["bare"]
    print(f"per-call latency, median of {args.rounds} rounds x {args.block} calls "
          f"(20 numeric features)")
    print(f"{'variant':<12} {'ns/call':>10} {'added ns':>10} {'vs bare':>8}")
    for name, value in medians.items():
        print(f"{name:<12} {value:>10.0f} {value - bare:>10.0f} {value / bare:>7.2f}x")
    added = (medians["inferwatch"] - bare) / 1000
    print(f"inferwatch added: {added:.2f} us (budget <= {BUDGET_ADDED_US} us) -> "
          f"{'OK' if added <= BUDGET_ADDED_US else 'OVER'}")
    print(f"inferwatch added / otel span added: "
          f"{(medians['inferwatch'] - bare) / (medians['otel span'] - bare):.2f}")
    print(f"inferwatch added / prometheus added: "
          f"{(medians['inferwatch'] - bare) / (medians['prometheus'] - bare):.2f}")

    cpu_rows = [rows[i % len(rows)] for i in range(args.cpu_calls)]
    bare_cpu = cpu_per_call(variants["bare"], cpu_rows, None)
    monitored_cpu = cpu_per_call(variants["inferwatch"], cpu_rows, monitor)
    extra = (monitored_cpu - bare_cpu) / 1000
    logged = sum(v for k, v in monitor.summary()["sampling"].items() if k.endswith("/kept"))
    print(f"CPU per prediction incl. background aggregation and logging "
          f"({args.cpu_calls} calls, {logged} records logged in total so far):")
    print(f"  bare {bare_cpu:.0f} ns, inferwatch {monitored_cpu:.0f} ns, "
          f"added {extra:.2f} us (budget <= {BUDGET_CPU_US} us) -> "
          f"{'OK' if extra <= BUDGET_CPU_US else 'OVER'}")
    print(f"  dropped by inferwatch: {monitor.summary()['dropped']}")

    if args.rss_calls:
        # Live Python objects (sys.getallocatedblocks) must come back to the same
        # level after each flush: nothing accumulates. RSS may step up to the
        # allocator's high-water mark while the buffer peaks between drains,
        # which buffer_size and log_queue_size bound.
        rss, blocks = [], []
        step = args.rss_calls // 5
        fn = variants["inferwatch"]
        for _ in range(5):
            for i in range(step):
                fn(rows[i % len(rows)])
            monitor.flush()
            gc.collect()
            rss.append(_rss_mb())
            blocks.append(sys.getallocatedblocks())
        print(f"memory over {args.rss_calls:,} monitored calls, after each {step:,}:")
        print("  live allocated blocks: " + ", ".join(f"{b:,}" for b in blocks)
              + f" (change after the first step {blocks[-1] - blocks[0]:+,})")
        print("  RSS: " + ", ".join(f"{r:.1f}" for r in rss)
              + f" MB (change after the first step {rss[-1] - rss[0]:+.1f} MB; "
              f"bounded by buffer_size={monitor.config.buffer_size:,} records"
              + (f", buffer_bytes={monitor.config.buffer_bytes / 2**20:g} MB"
                 if hasattr(monitor.config, "buffer_bytes") else "") + ")")
    monitor.shutdown()


def _rss_mb() -> float:
    """Resident memory now (not the peak), from /proc; 0 where there is no /proc."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


if __name__ == "__main__":
    main()
