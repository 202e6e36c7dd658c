"""Counts under saturation: do the SLI metrics see every call when the CPU is saturated?

Run::

    python benchmarks/bench_saturation.py              # about 30 s
    python benchmarks/bench_saturation.py --quick      # about 10 s
    python benchmarks/bench_saturation.py --seconds 30 --threads 16 --cores 2

Budget (DESIGN.md, issue 8 defect 9): with 16 threads on 2 cores calling a
``@monitor`` predict in a tight loop, calls, errors, predictions and the
latency histogram's count are exact; only per-record detail (log records,
drift rows) may be dropped, and every drop is counted with its reason.

Scenarios, each with a fresh ``Monitor`` (default buffer sizes; everything on:
20 numeric features captured, a confidence extractor, JSON logs rendered to
/dev/null with the default sampling, drift watched against a reference
profile unless ``--no-drift``, so every call's features are copied and read,
and an OTel MeterProvider whose periodic reader exports every
``--export-interval-ms``, default 1 s, to an exporter that counts and drops:
the number of exports that finished while predict ran is printed too):

- ``16 threads``: ``--threads`` threads (default 16) call predict in a tight
  loop for ``--seconds`` seconds;
- ``1 thread``: one thread does the same.

The process is pinned to ``--cores`` CPUs (default 2) where it has more, so
the aggregator thread competes for the GIL and the CPUs as on the 2-core
development machine. Each calling thread counts what it made: calls, calls
that raised (every 16th row is made to raise ``ValueError`` inside predict)
and rows passed (batches of 1 to 3 rows, so predictions differ from calls).
When every thread has stopped, ``Monitor.flush()`` drains, and
``Monitor.collect()`` is read:

- calls counted: ``inferwatch.predict.calls`` summed over outcomes;
- errors counted: the ``inferwatch.outcome="error"`` series of it;
- predictions counted: ``inferwatch.predict.predictions``, compared with the
  rows of every call and with the rows of the calls that returned (the
  metric counts rows; which calls it counts rows for is its own definition:
  the figure must equal one of the two exactly);
- latency count: the ``count`` of the ``inferwatch.predict.duration``
  histograms over all series, against calls made;
- dropped by reason: ``inferwatch.self.dropped`` per reason (detail that may
  go, but must be counted).

Each ratio is printed with 3 decimals; PASS means all four counts are exact
(counted == made, not merely a ratio that rounds to 1.000). The exit status
is 1 when a scenario is not exact.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import inferwatch
from inferwatch.logsinks import StreamSink

N_FEATURES = 20
POOL = 64
ERROR_EVERY = 16  # rows whose index in the pool is a multiple of this make predict raise


def pin_cores(n: int) -> str:
    """Pin this process to ``n`` of the CPUs it may use; returns a description."""
    if not hasattr(os, "sched_getaffinity"):
        return f"{os.cpu_count()} CPUs (no affinity control here)"
    allowed = sorted(os.sched_getaffinity(0))
    if n > 0 and len(allowed) > n:
        os.sched_setaffinity(0, allowed[:n])
        return f"pinned to CPUs {allowed[:n]} of {len(allowed)}"
    return f"{len(allowed)} CPUs available, not pinned"


def make_pool(rng: np.random.Generator) -> list[np.ndarray]:
    pool = []
    for i in range(POOL):
        rows = 1 + i % 3
        x = rng.normal(size=(rows, N_FEATURES))
        if i % ERROR_EVERY == 0:
            x[0, 0] = np.inf  # predict raises on this row
        pool.append(x)
    return pool


class Exports:
    """Counts the OTel exports that finished (the exporter drops what it gets)."""

    def __init__(self) -> None:
        self.done = 0

    def exporter(self) -> Any:
        from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

        exports = self

        class CountAndDrop(MetricExporter):
            def export(self, metrics_data: Any, timeout_millis: float = 10_000,
                       **kwargs: Any) -> MetricExportResult:
                exports.done += 1
                return MetricExportResult.SUCCESS

            def force_flush(self, timeout_millis: float = 10_000) -> bool:
                return True

            def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
                return None

        return CountAndDrop()


def build_monitor(drift: bool, export_ms: float, rng: np.random.Generator,
                  exports: Exports) -> tuple[inferwatch.Monitor, Any, Any]:
    """The monitor, /dev/null (its log stream) and the MeterProvider (or None)."""
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed after the scenario
    otel: dict[str, Any] = {"metrics_exporter": "none"}
    provider = None
    if export_ms > 0:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        from inferwatch.otel import wrap_exporter

        # wrap_exporter reads the process default monitor, made below.
        reader = PeriodicExportingMetricReader(
            wrap_exporter(exports.exporter()), export_interval_millis=export_ms)
        provider = MeterProvider(metric_readers=[reader])
        otel = {"meter_provider": provider}
    monitor = inferwatch.Monitor(
        log_sink=StreamSink(devnull),
        environ={},
        service_name="bench-saturation",
        **otel,
    )
    inferwatch.set_monitor(monitor)
    if drift:
        from inferwatch import drift as iw_drift

        profile = iw_drift.build_profile(rng.normal(size=(20_000, N_FEATURES)), calibrate=False)
        iw_drift.watch(profile, monitor, window="count:10000")
    return monitor, devnull, provider


def make_predict(monitor: inferwatch.Monitor) -> Callable[[np.ndarray], np.ndarray]:
    weights = np.linspace(-1.0, 1.0, N_FEATURES)

    @inferwatch.monitor(model="saturation", version="1", features="x", monitor=monitor,
                        confidence=lambda p: float(np.max(np.maximum(p, 1.0 - p))))
    def predict(x: np.ndarray) -> np.ndarray:
        if not np.isfinite(x[0, 0]):
            raise ValueError("non-finite first feature")
        result: np.ndarray = 1.0 / (1.0 + np.exp(-(x @ weights)))
        return result

    return predict


class Made:
    """What the calling threads made, summed after they stop."""

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.rows = 0
        self.ok_rows = 0
        self.lock = threading.Lock()

    def add(self, calls: int, errors: int, rows: int, ok_rows: int) -> None:
        with self.lock:
            self.calls += calls
            self.errors += errors
            self.rows += rows
            self.ok_rows += ok_rows


def caller(predict: Callable[[np.ndarray], np.ndarray], pool: list[np.ndarray],
           offset: int, start: threading.Event, stop: threading.Event, made: Made) -> None:
    calls = errors = rows = ok_rows = 0
    i = offset
    start.wait()
    while not stop.is_set():
        # Check the stop flag once per block of calls: the loop stays tight.
        for _ in range(64):
            x = pool[i % POOL]
            i += 1
            calls += 1
            rows += x.shape[0]
            try:
                predict(x)
            except ValueError:
                errors += 1
            else:
                ok_rows += x.shape[0]
    made.add(calls, errors, rows, ok_rows)


def counted(monitor: inferwatch.Monitor) -> dict[str, Any]:
    calls = errors = predictions = latency = 0
    dropped: dict[str, int] = {}
    for point in monitor.collect():
        attrs = point.attributes
        if point.name == "inferwatch.predict.calls":
            calls += int(point.value)
            if attrs.get("inferwatch.outcome", attrs.get("outcome")) == "error":
                errors += int(point.value)
        elif point.name == "inferwatch.predict.predictions":
            predictions += int(point.value)
        elif point.name == "inferwatch.predict.duration":
            latency += int(point.value.count)
        elif point.name == "inferwatch.self.dropped":
            reason = str(attrs.get("inferwatch.reason", attrs.get("reason", "?")))
            dropped[reason] = dropped.get(reason, 0) + int(point.value)
    return {"calls": calls, "errors": errors, "predictions": predictions,
            "latency": latency, "dropped": dropped}


def ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "n/a"


def run_scenario(name: str, threads: int, args: argparse.Namespace, seed: int) -> bool:
    seconds, drift = args.seconds, not args.no_drift
    rng = np.random.default_rng(seed)
    exports = Exports()
    monitor, devnull, provider = build_monitor(drift, args.export_interval_ms, rng, exports)
    predict = make_predict(monitor)
    pool = make_pool(rng)
    made = Made()
    start, stop = threading.Event(), threading.Event()
    workers = [
        threading.Thread(target=caller, args=(predict, pool, k * 7, start, stop, made),
                         name=f"caller-{k}", daemon=True)
        for k in range(threads)
    ]
    for w in workers:
        w.start()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    start.set()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    exported = exports.done
    f0 = time.perf_counter()
    monitor.flush()
    flush_s = time.perf_counter() - f0
    got = counted(monitor)
    cpu = time.process_time() - cpu0
    monitor.shutdown()
    if provider is not None:
        provider.shutdown()
    inferwatch.set_monitor(None)
    devnull.close()

    if got["predictions"] == made.rows:
        pred_def, pred_made = "rows of all calls", made.rows
    elif got["predictions"] == made.ok_rows:
        pred_def, pred_made = "rows of calls that returned", made.ok_rows
    else:
        pred_def, pred_made = "rows of all calls", made.rows
    exact = (got["calls"] == made.calls and got["errors"] == made.errors
             and got["predictions"] == pred_made and got["latency"] == made.calls)

    print(f"\n{name}: {threads} thread(s) x {seconds:g} s, drift {'on' if drift else 'off'}; "
          f"{made.calls:,} calls in {elapsed:.1f} s ({made.calls / elapsed:,.0f}/s, "
          f"{cpu / made.calls * 1e6:.1f} us CPU per call incl. flush); final flush {flush_s:.2f} s")
    print(f"  {'':<24} {'counted':>12} {'made':>12} {'ratio':>7}")
    print(f"  {'calls':<24} {got['calls']:>12,} {made.calls:>12,} "
          f"{ratio(got['calls'], made.calls):>7}")
    print(f"  {'errors':<24} {got['errors']:>12,} {made.errors:>12,} "
          f"{ratio(got['errors'], made.errors):>7}")
    print(f"  {'predictions':<24} {got['predictions']:>12,} {pred_made:>12,} "
          f"{ratio(got['predictions'], pred_made):>7}  ({pred_def}; all calls "
          f"{made.rows:,}, calls that returned {made.ok_rows:,})")
    print(f"  {'latency histogram count':<24} {got['latency']:>12,} {made.calls:>12,} "
          f"{ratio(got['latency'], made.calls):>7}")
    dropped = ", ".join(f"{k}={v:,}" for k, v in sorted(got["dropped"].items()) if v) or "none"
    print(f"  dropped detail by reason: {dropped}")
    if provider is not None:
        interval = args.export_interval_ms / 1000
        print(f"  OTel exports finished while predict ran: {exported} "
              f"(one due every {interval:g} s: ~{elapsed / interval:.0f})")
    print(f"  {'PASS' if exact else 'FAIL'}: calls, errors, predictions and latency counts "
          f"{'exact' if exact else 'NOT exact'}")
    return exact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="how long each scenario calls predict")
    parser.add_argument("--cores", type=int, default=2,
                        help="pin the process to this many CPUs (0: do not pin)")
    parser.add_argument("--no-drift", action="store_true", help="do not watch drift")
    parser.add_argument("--export-interval-ms", type=float, default=1000.0,
                        help="OTel periodic export interval (0: no OTel MeterProvider)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="3 s per scenario: a smoke check")
    args = parser.parse_args(argv)
    if args.quick and args.seconds == parser.get_default("seconds"):
        args.seconds = 3.0

    print(f"bench_saturation: Python {sys.version.split()[0]}, {pin_cores(args.cores)}, "
          f"switch interval {sys.getswitchinterval() * 1000:g} ms, load average "
          f"{'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
    results = [
        run_scenario(f"{args.threads} threads", args.threads, args, args.seed),
        run_scenario("1 thread", 1, args, args.seed + 1),
    ]
    print(f"\noverall: {'PASS' if all(results) else 'FAIL'} "
          f"({sum(results)} of {len(results)} scenarios exact)")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
