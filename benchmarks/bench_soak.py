"""Memory over time: flat RSS in a long run, and bounded RSS behind a blocked log sink.

Run::

    python benchmarks/bench_soak.py                    # about 2.5 minutes
    python benchmarks/bench_soak.py --quick            # about 1 minute
    python benchmarks/bench_soak.py --minutes 30       # a longer soak
    python benchmarks/bench_soak.py --phases blocked,big

Budgets (DESIGN.md, issue 8 defect 10): memory is bounded by configuration in
bytes, independent of traffic and payload size, and RSS stays flat over 1M
predictions. Each phase runs in a fresh process (``--phase NAME``), so one
phase's allocator high-water mark cannot hide the next one's growth. RSS is
read from ``/proc/self/statm`` every ``--sample-seconds`` by a thread.

Phases:

- ``soak``: everything on, as in production: a ``@monitor`` predict with 20
  numeric features and a confidence, drift watched against a reference
  profile (``inferwatch.drift.watch``), JSON logs to a rotating file (10 MB,
  one backup) with the default sampling and a low-confidence rule, ``user_id``
  pseudonymised, and an OTel MeterProvider exporting every second (the OTLP
  protobuf is encoded and dropped). A single thread calls predict in a tight
  loop (or paced at ``--rate`` calls per second) for ``--minutes`` (default 2)
  and at least ``--predictions`` calls (default 1,000,000). A tight loop
  keeps the buffers full, their worst case; a paced soak
  (``--minutes 30 --rate 2000``) is the steady state of a busy server. A
  paced soak fills its buffers and windows more slowly: here RSS still rose
  for about 100 s at 2,000-4,000 calls/s, so give it 8 minutes or more.
  The export count is printed too: a collection that never finishes under
  load shows there. The first ``--warmup`` share of the samples (default
  25 %, at least 20 s) is warm-up: sketches fill, windows roll, the allocator
  reaches its working size. After it, a least-squares slope (MB per minute,
  MB per 1M predictions) and the mean of the first vs the last tenth of the
  samples. Flat means the last tenth is within 2 MB + 1 % of the first.
- ``blocked``: the same monitor and predict, but the log sink blocks forever
  in ``emit`` (a hung disk or collector), and every record is sampled for
  the log (``feature_sample_rate=1``), so records pile up in front of the
  sink. ``--blocked-calls`` calls (default 300,000). RSS growth after 1,000
  warm-up calls against the configured byte bound: ``buffer_bytes`` +
  ``log_queue_bytes`` (+ ``max_record_bytes``) where the version has them
  (the lead is adding them), else the record-count bounds are printed
  (``buffer_size``, ``log_queue_size``) with the growth they allowed.
- ``pipe``: as ``blocked``, but the sink is inferwatch's own stream sink
  writing to a pipe nobody reads (stdout whose reader hung: a stuck log
  driver), so the real sink's write blocks once the pipe buffer is full.
- ``big``: as ``blocked``, with 800 KB of features per call (a float64 array of
  100,000 values) and no drift: issue 8 defect 10's case. ``--big-calls``
  calls (default 800). RSS growth and growth per call.

Every phase stops early once RSS has grown ``--rss-limit-mb`` (default 3000)
past its start, and says so: an unbounded queue must not take the machine
down. Drops are printed by reason (``inferwatch.self.dropped``). The exit
status is 1 when a phase fails.

RSS on a machine shared with other work is noisy only a little (it is this
process's own memory), but the call rates printed are not: re-measure them on
a quiet machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

N_FEATURES = 20
BIG_VALUES = 100_000  # 800 KB of float64 per call
PII_KEY = "hex:" + "7e" * 32
PHASES = ("soak", "blocked", "pipe", "big")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """The process's peak RSS so far (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Sampler:
    """A thread reading RSS and the call count every ``interval`` seconds."""

    def __init__(self, interval: float, calls: Callable[[], int]) -> None:
        self.samples: list[tuple[float, int, float]] = []  # (seconds, calls, RSS MB)
        self._stop = threading.Event()
        self._calls = calls
        self._interval = interval
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.samples.append((time.monotonic() - self._t0, self._calls(), rss_mb()))
            if self._stop.wait(self._interval):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic() - self._t0, self._calls(), rss_mb()))


class BlockedSink:
    """A log sink whose ``emit`` blocks until released: a hung disk or collector."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.batches = 0

    def emit(self, events: list[dict[str, Any]]) -> None:
        self.batches += 1
        self.released.wait()

    def flush(self, timeout: float = 5.0) -> bool:
        return self.released.wait(min(timeout, 0.1))

    def close(self, timeout: float = 5.0) -> bool:
        return self.released.wait(min(timeout, 0.1))

    def losses(self) -> dict[str, int]:
        return {}

    def note(self) -> str:
        return f"sink batches entered (and stuck): {self.batches}"

    def release(self) -> None:
        self.released.set()


class StuckPipe:
    """inferwatch's own stream sink writing to a pipe nobody reads: stdout whose reader hung.

    Writes go through until the pipe's buffer (64 KiB on Linux) is full, then
    block in ``write``. Releasing closes the reading end: the blocked write
    fails (EPIPE) and the sink counts its losses.
    """

    def __init__(self) -> None:
        from inferwatch.logsinks import StreamSink

        self._read_fd, write_fd = os.pipe()
        self._stream = os.fdopen(write_fd, "w")
        self.sink = StreamSink(self._stream)

    def note(self) -> str:
        losses = getattr(self.sink, "losses", None)
        return f"stream sink losses: {losses() if callable(losses) else 'not counted'}"

    def release(self) -> None:
        os.close(self._read_fd)


class ExportLog(logging.Filter):
    """Export cycles of the periodic reader: how many finished, how long they took.

    Also a filter on the OTel SDK's export logger: its errors (a collection
    that timed out, with a traceback each time) are counted, not printed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.exports = 0
        self.errors = 0
        self.cycles: list[float] = []  # wall seconds per collection + export cycle

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.errors += 1
        return False

    def summary(self, seconds: float, interval_s: float) -> str:
        expected = f"expected ~{seconds / interval_s:.0f}"
        if not self.cycles:
            return (f"0 export cycles finished in {seconds:.0f} s ({expected}); {self.errors} "
                    "errors logged by the OTel SDK's reader")
        median = sorted(self.cycles)[len(self.cycles) // 2]
        return (f"{self.exports} exports in {seconds:.0f} s ({expected}); cycle wall time "
                f"median {median * 1000:.0f} ms, max {max(self.cycles) * 1000:.0f} ms; "
                f"{self.errors} errors logged by the OTel SDK's reader (timed-out collections)")


EXPORTS = ExportLog()
logging.getLogger("opentelemetry.sdk.metrics._internal.export").addFilter(EXPORTS)


def _meter_provider(interval_ms: float) -> Any:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )

    import inferwatch.otel

    try:
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    except ImportError:
        encode_metrics = None

    class EncodeAndDrop(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 10_000,
                   **kwargs: Any) -> MetricExportResult:
            if encode_metrics is not None:
                encode_metrics(metrics_data).SerializeToString()
            else:
                metrics_data.to_json()
            EXPORTS.exports += 1
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            return None

    reader = PeriodicExportingMetricReader(inferwatch.otel.wrap_exporter(EncodeAndDrop()),
                                           export_interval_millis=interval_ms)
    collect = reader.collect

    def timed_collect(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return collect(*args, **kwargs)
        finally:
            EXPORTS.cycles.append(time.perf_counter() - t0)

    reader.collect = timed_collect  # type: ignore[method-assign]
    return MeterProvider(metric_readers=[reader])


def build(phase: str, workdir: str) -> tuple[Any, Callable[[Any], Any], list[Any], Any]:
    """The monitor, the monitored predict, a pool of inputs, and the sink (for release)."""
    import inferwatch
    import inferwatch.drift

    rng = np.random.default_rng(3)
    weights = rng.normal(size=N_FEATURES) / np.sqrt(N_FEATURES)
    options: dict[str, Any] = dict(
        service_name="bench-soak", pii_fields=["user_id"], pii_key=PII_KEY,
        low_confidence_threshold=0.55, environ={},
    )
    sink: Any = None
    if phase == "soak":
        options.update(log_sink="file", log_file=os.path.join(workdir, "soak.jsonl"),
                       log_max_bytes=10 * 2**20, log_backups=1)
    else:
        sink = StuckPipe() if phase == "pipe" else BlockedSink()
        # Every record sampled and no rate cap: the queue in front of the sink fills.
        options.update(log_sink=sink.sink if phase == "pipe" else sink, sample_rate=1.0,
                       feature_sample_rate=1.0, max_records_per_second=1e9)
    # The process default, so wrap_exporter (which reads it) finds this monitor.
    monitor = inferwatch.configure(meter_provider=_meter_provider(1000.0), **options)

    if phase == "big":
        big_weights = rng.normal(size=BIG_VALUES) / np.sqrt(BIG_VALUES)

        @inferwatch.monitor(model="soak-big", version="1", features="x", monitor=monitor,
                            confidence=lambda p: float(max(p, 1.0 - p)))
        def predict_big(x: np.ndarray) -> float:
            return float(1.0 / (1.0 + np.exp(-(x @ big_weights))))

        return monitor, predict_big, [rng.normal(size=BIG_VALUES) for _ in range(4)], sink

    reference = rng.normal(size=(20_000, N_FEATURES))
    profile = inferwatch.drift.build_profile(
        reference, prediction=1.0 / (1.0 + np.exp(-(reference @ weights))))
    inferwatch.drift.watch(profile, monitor, window="count:10000")

    @inferwatch.monitor(model="soak", version="1", features="x", monitor=monitor,
                        confidence=lambda p: float(max(p, 1.0 - p)))
    def predict(x: np.ndarray) -> float:
        return float(1.0 / (1.0 + np.exp(-(x @ weights))))

    return monitor, predict, list(rng.normal(size=(4096, N_FEATURES))), sink


def dropped(monitor: Any) -> str:
    counts: dict[str, int] = {}
    for point in monitor.collect():
        if point.name == "inferwatch.self.dropped" and point.value:
            attrs = point.attributes
            reason = str(attrs.get("inferwatch.reason", attrs.get("reason", "?")))
            counts[reason] = counts.get(reason, 0) + int(point.value)
    return ", ".join(f"{k}={v:,}" for k, v in sorted(counts.items())) or "none"


def byte_bound(config: Any) -> tuple[float | None, str]:
    """The configured byte bound on what a blocked sink can pile up, in MB, and its terms."""
    names = [n for n in ("buffer_bytes", "log_queue_bytes", "max_record_bytes")
             if isinstance(getattr(config, n, None), int)]
    counts = ", ".join(f"{n}={getattr(config, n):,}" for n in ("buffer_size", "log_queue_size")
                       if hasattr(config, n))
    if not names:
        return None, f"no byte bound in this version (record counts only: {counts})"
    total = sum(getattr(config, n) for n in names) / 2**20
    terms = " + ".join(f"{n} {getattr(config, n) / 2**20:g} MB" for n in names)
    return total, f"{terms} = {total:g} MB ({counts})"


def run_calls(predict: Callable[[Any], Any], pool: list[Any], n: int | None,
              seconds: float | None, limit_mb: float, counter: list[int],
              rate: float = 0.0) -> str:
    """Call predict until ``n`` calls and ``seconds`` are both done; '' or why it stopped.

    Each call gets a fresh copy of a pooled input, as a server parsing each
    request makes new arrays: a monitor keeping references instead of copies
    must show their memory too. With ``rate`` the calls are paced to that
    many per second (in blocks of 100); without, a tight loop.
    """
    start_rss = rss_mb()
    now = time.monotonic
    t0 = now()
    deadline = t0 + (seconds or 0.0)
    next_check = now() + 0.2
    i, size = 0, len(pool)
    while (n is not None and i < n) or (seconds is not None and now() < deadline):
        for _ in range(100):
            predict(pool[i % size].copy())
            i += 1
            if n is not None and seconds is None and i >= n:
                break
        counter[0] = i
        if rate > 0:
            ahead = t0 + i / rate - now()
            if ahead > 0:
                time.sleep(ahead)
        if now() >= next_check:
            next_check = now() + 0.2
            if rss_mb() - start_rss > limit_mb:
                return f"stopped early at {i:,} calls: RSS grew past --rss-limit-mb={limit_mb:g}"
    return ""


def phase_soak(args: argparse.Namespace, workdir: str) -> bool:
    monitor, predict, pool, _ = build("soak", workdir)
    counter = [0]
    sampler = Sampler(args.sample_seconds, lambda: counter[0])
    t0, cpu0 = time.monotonic(), time.process_time()
    note = run_calls(predict, pool, args.predictions, args.minutes * 60, args.rss_limit_mb,
                     counter, args.rate)
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    sampler.stop()
    calls = counter[0]
    samples = sampler.samples
    warm_s = max(20.0, args.warmup * samples[-1][0])
    after = [s for s in samples if s[0] >= warm_s]
    paced = f"paced at {args.rate:g}/s" if args.rate > 0 else "a tight loop"
    print(f"soak: {elapsed / 60:.1f} min, {paced}, {calls:,} predictions "
          f"({calls / elapsed:,.0f}/s, "
          f"{cpu / calls * 1e6:.1f} us CPU each, all threads), {N_FEATURES} features, drift on, "
          f"logs to a rotating file, OTel export every 1 s")
    if note:
        print(f"  {note}")
    rss = [s[2] for s in samples]
    print(f"  RSS MB: start {rss[0]:.1f}, after warm-up ({warm_s:.0f} s) "
          f"{after[0][2] if after else float('nan'):.1f}, end {rss[-1]:.1f}, max {max(rss):.1f}")
    step = max(1, len(samples) // 12)
    print("  RSS over time: " + ", ".join(
        f"{s[0]:.0f}s {s[2]:.0f}" for s in samples[::step]) + " (MB)")
    if len(after) < 10:
        print("  FAIL: too few samples after warm-up to judge (run longer)")
        return False
    t = np.array([s[0] for s in after])
    c = np.array([s[1] for s in after], dtype=np.float64)
    r = np.array([s[2] for s in after])
    per_min = float(np.polyfit(t / 60, r, 1)[0])
    per_m = float(np.polyfit(c / 1e6, r, 1)[0]) if c[-1] > c[0] else float("nan")
    tenth = max(1, len(after) // 10)
    first, last = float(r[:tenth].mean()), float(r[-tenth:].mean())
    print(f"  after warm-up ({len(after)} samples, {int(c[-1] - c[0]):,} predictions): slope "
          f"{per_min:+.2f} MB/min, {per_m:+.2f} MB per 1M predictions; first tenth "
          f"{first:.1f} MB vs last tenth {last:.1f} MB ({last - first:+.1f} MB)")
    print(f"  dropped by reason: {dropped(monitor)}")
    print(f"  OTel: {EXPORTS.summary(elapsed, 1.0)}")
    flat = last - first <= 2.0 + 0.01 * first
    print(f"  {'PASS' if flat else 'FAIL'}: RSS {'flat' if flat else 'NOT flat'} after warm-up "
          f"(last tenth within 2 MB + 1 % of the first)")
    monitor.shutdown(timeout=5.0)
    return flat


def phase_blocked(args: argparse.Namespace, workdir: str, phase: str) -> bool:
    big = phase == "big"
    monitor, predict, pool, sink = build(phase, workdir)
    counter = [0]
    bare = getattr(predict, "__wrapped__", None)  # the undecorated function, for a baseline
    bare_us = None
    if bare is not None:
        n_bare = 200 if big else 20_000
        t_bare = time.perf_counter()
        run_calls(bare, pool, n_bare, None, args.rss_limit_mb, [0])
        bare_us = (time.perf_counter() - t_bare) / n_bare * 1e6
    warm = 10 if big else 1000
    run_calls(predict, pool, warm, None, args.rss_limit_mb, counter)
    time.sleep(0.3)  # the log thread is now stuck in emit
    base, mark_before = rss_mb(), peak_rss_mb()
    n = args.big_calls if big else args.blocked_calls
    # Finer sampling here: a short run's peak must not fall between two samples.
    sampler = Sampler(min(args.sample_seconds, 0.02), lambda: counter[0])
    t0 = time.monotonic()
    note = run_calls(predict, pool, n, None, args.rss_limit_mb, counter)
    elapsed = time.monotonic() - t0
    time.sleep(0.5)  # the aggregator drains what the last calls left
    sampler.stop()
    calls = counter[0]
    # The process's own high-water mark catches a peak between samples too, when it rose
    # during the run (an earlier, higher mark says nothing about this run).
    peak = max(s[2] for s in sampler.samples)
    if peak_rss_mb() > mark_before:
        peak = max(peak, peak_rss_mb())
    end = sampler.samples[-1][2]
    bound, terms = byte_bound(monitor.config)
    what = f"{BIG_VALUES * 8 // 1000} KB of features per call, no drift" if big else (
        f"{N_FEATURES} features, drift on")
    how = ("stdout to a pipe nobody reads" if phase == "pipe"
           else "log sink blocked in emit")
    print(f"{phase}: {how}, every record sampled for the log, {what}: {calls:,} calls in "
          f"{elapsed:.1f} s after {warm:,} warm-up calls")
    if note:
        print(f"  {note}")
    if bare_us is not None and calls:
        print(f"  per call: monitored {elapsed / calls * 1e6:,.0f} us, bare {bare_us:,.0f} us "
              "(a fresh copy of the input made in both)")
    growth, peak_growth = end - base, peak - base
    print(f"  RSS MB: before {base:.1f}, end {end:.1f} ({growth:+.1f}), peak {peak:.1f} "
          f"({peak_growth:+.1f}; {peak_growth * 1024 / max(1, calls):.1f} KB per call)")
    print(f"  {sink.note()}; dropped by reason: {dropped(monitor)}")
    print(f"  configured bound: {terms}")
    if bound is None:
        ok = False
        print("  FAIL: nothing bounds these buffers in bytes")
    else:
        # Beyond the queued bytes: Python object overhead per record and the sketches.
        ok = peak_growth <= bound + 16
        print(f"  {'PASS' if ok else 'FAIL'}: peak growth {peak_growth:.1f} MB "
              f"{'within' if ok else 'OVER'} the bound {bound:g} MB (+16 MB for overheads)")
    sink.release()
    monitor.shutdown(timeout=5.0)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--phases", default=",".join(PHASES),
                        help="comma-separated subset of " + ", ".join(PHASES))
    parser.add_argument("--minutes", type=float, default=2.0, help="soak length")
    parser.add_argument("--predictions", type=int, default=1_000_000,
                        help="soak for at least this many predictions too")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="soak calls per second (default: a tight loop)")
    parser.add_argument("--warmup", type=float, default=0.25,
                        help="share of the soak treated as warm-up (at least 20 s)")
    parser.add_argument("--blocked-calls", type=int, default=300_000)
    parser.add_argument("--big-calls", type=int, default=800)
    parser.add_argument("--sample-seconds", type=float, default=0.5)
    parser.add_argument("--rss-limit-mb", type=float, default=3000.0)
    parser.add_argument("--quick", action="store_true",
                        help="a 40 s soak of >= 200,000 predictions and smaller blocked phases")
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; options given explicitly still win
        quick = {"minutes": 40 / 60, "predictions": 200_000, "blocked_calls": 50_000,
                 "big_calls": 300}
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)

    if args.phase:
        with tempfile.TemporaryDirectory(prefix="bench_soak-") as workdir:
            if args.phase == "soak":
                ok = phase_soak(args, workdir)
            else:
                ok = phase_blocked(args, workdir, args.phase)
        sys.stdout.flush()
        os._exit(0 if ok else 1)  # a blocked sink's thread must not hold up the exit

    phases = [p for p in args.phases.split(",") if p]
    if any(p not in PHASES for p in phases):
        parser.error(f"--phases names only {', '.join(PHASES)}")
    print(f"bench_soak: Python {sys.version.split()[0]}, load average "
          f"{'/'.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    passed = []
    for phase in phases:
        cmd = [sys.executable, os.path.abspath(__file__), "--phase", phase,
               *(a for a in (argv if argv is not None else sys.argv[1:]))]
        cmd = [a for i, a in enumerate(cmd) if not _is_phases_arg(cmd, i)]
        limit = args.minutes * 60 * 3 + 300
        # One BLAS thread, as in a server with one worker per core: a threaded BLAS
        # spinning on a shared 2-core machine makes the 100,000-value dot product
        # take milliseconds, and the per-call times below meaningless.
        env = {**os.environ}
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, "1")
        try:
            rc = subprocess.run(cmd, timeout=limit, check=False, env=env).returncode
        except subprocess.TimeoutExpired:
            print(f"{phase}: FAIL: did not finish within {limit:.0f} s")
            rc = 1
        passed.append(rc == 0)
        print(flush=True)
    print(f"overall: {'PASS' if all(passed) else 'FAIL'} "
          f"({sum(passed)} of {len(passed)} phases)")
    return 0 if all(passed) else 1


def _is_phases_arg(cmd: list[str], i: int) -> bool:
    """Whether cmd[i] is --phases or its value (the child runs one --phase)."""
    if cmd[i].startswith("--phases"):
        return True
    return i > 0 and cmd[i - 1] == "--phases"


if __name__ == "__main__":
    sys.exit(main())
