"""Drift engine budgets, printed in one run (about a minute and a half on 2 cores).

    python benchmarks/bench_drift.py [--quick]

1. ingestion CPU per row, 20 numeric + 5 categorical features: the @monitor hot
   path plus the aggregator's batched drift ingestion (budget <= 10 us/row;
   whylogs' per-row track is about 740 us, ANCHORS.md)
2. drift report time from sketches, 20 and 100 features (budget <= 50 ms for 20);
   each window's report is made once, when it closes, a cost that 1 includes
3. memory per numeric feature (budget <= 64 KB: live windows + reference + the
   history of closed-window reports, also in the worst case of windows small enough
   to be held exactly) and RSS over 1M rows
4. false alarm rate over unshifted windows against the nominal level (with its
   standard error), and detection power for 0.1, 0.25 and 0.5 sd shifts, for small
   and large windows (one decision rule for both)
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from typing import Any

import numpy as np

import inferwatch
import inferwatch.drift as drift
from inferwatch._capture import new_record
from inferwatch.drift._window import EXACT_ROWS

N_NUM, N_CAT = 20, 5
CATS = ["a", "b", "c", "d", "e"]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def training(n: int, n_num: int, rng: np.random.Generator) -> dict[str, Any]:
    data: dict[str, Any] = {f"n{i}": rng.normal(size=n) for i in range(n_num)}
    for j in range(N_CAT):
        data[f"c{j}"] = rng.choice(CATS, size=n).tolist()
    return data


def dict_rows(n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    x = rng.normal(size=(n, N_NUM)).tolist()
    c = rng.choice(CATS, size=(n, N_CAT)).tolist()
    names = [f"n{i}" for i in range(N_NUM)]
    cnames = [f"c{j}" for j in range(N_CAT)]
    return [{**dict(zip(names, xr, strict=True)), **dict(zip(cnames, cr, strict=True))}
            for xr, cr in zip(x, c, strict=True)]


def bench_ingestion(profile: drift.ReferenceProfile, n: int, rng: np.random.Generator) -> None:
    rows = dict_rows(n, rng)
    results = {}
    for with_drift in (False, True):
        mon = inferwatch.Monitor(metrics_exporter="none", sample_rate=0.0,
                                 feature_sample_rate=0.0, log_sink=_NullSink(),
                                 flush_interval_ms=50)
        if with_drift:
            drift.watch(profile, mon, window="count:10000")

        @inferwatch.monitor(model="bench", features="x", monitor=mon)
        def predict(x: dict[str, Any]) -> float:
            return 0.5

        gc.collect()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for row in rows:
            predict(row)
        mon.flush(logs=False)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        mon.shutdown()
        results[with_drift] = (cpu, wall)
    base, full = results[False], results[True]
    print(f"1. ingestion, {N_NUM} numeric + {N_CAT} categorical features, {n} single-row calls")
    print(f"   monitor without drift: {base[0] / n * 1e6:6.2f} us CPU/row")
    print(f"   monitor with drift:    {full[0] / n * 1e6:6.2f} us CPU/row  (budget <= 10)")
    print(f"   drift share:           {(full[0] - base[0]) / n * 1e6:6.2f} us CPU/row; "
          f"vs whylogs track 740 us: {740 / (full[0] / n * 1e6):.0f}x less")

    # The aggregator side alone: drained batches of 256 records.
    dm = drift.DriftMonitor(profile, window="count:10000")
    mon = inferwatch.Monitor(metrics_exporter="none", enabled=False)
    endpoint = mon.endpoint("bench", "1", {})
    records = []
    for row in rows:
        r = new_record(endpoint)
        r.features = row
        r.prediction = 0.5
        records.append(r)
    mon.shutdown()
    cpu0 = time.process_time()
    for i in range(0, n, 256):
        dm.ingest(records[i : i + 256])
    cpu = time.process_time() - cpu0
    print(f"   aggregator ingest only (batches of 256): {cpu / n * 1e6:6.2f} us CPU/row")
    batch = rng.normal(size=(n, N_NUM))
    prof_np = drift.build_profile(rng.normal(size=(20_000, N_NUM)), calibrate=False)
    dm2 = drift.DriftMonitor(prof_np, window="count:100000")
    big = []
    for i in range(0, n, 100):
        r = new_record(endpoint)
        r.features = batch[i : i + 100]
        r.batch_size = 100
        big.append(r)
    cpu0 = time.process_time()
    for i in range(0, len(big), 10):
        dm2.ingest(big[i : i + 10])
    cpu = time.process_time() - cpu0
    print(f"   aggregator ingest, 2-D batches of 100 rows, 20 numeric: {cpu / n * 1e6:6.2f} us/row")


class _NullSink:
    def emit(self, events: list[dict[str, Any]]) -> None:
        return None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


def _numeric_monitor(n_features: int, rng: np.random.Generator, window_rows: int,
                     ref_rows: int = 100_000, **options: Any) -> tuple[drift.DriftMonitor, Any]:
    prof = drift.build_profile(rng.normal(size=(ref_rows, n_features)), calibrate=False)
    dm = drift.DriftMonitor(prof, window=f"count:{window_rows}", **options)
    mon = inferwatch.Monitor(metrics_exporter="none", enabled=False)
    endpoint = mon.endpoint("bench", "1", {})
    mon.shutdown()
    return dm, endpoint


def _feed(dm: drift.DriftMonitor, endpoint: Any, x: np.ndarray[Any, Any], step: int = 1000) -> None:
    recs = []
    for i in range(0, x.shape[0], step):
        r = new_record(endpoint)
        r.features = x[i : i + step]
        r.batch_size = r.features.shape[0]
        recs.append(r)
    dm.ingest(recs)


def bench_report(rng: np.random.Generator) -> None:
    print("2. drift report from sketches (100k reference rows, 10k-row window)")
    for n_features in (20, 100):
        # A window one row longer than fed, so that it is still open: its report is
        # computed on demand (a closed window's was computed once, when it closed).
        dm, endpoint = _numeric_monitor(n_features, rng, 10_001)
        _feed(dm, endpoint, rng.normal(size=(10_000, n_features)))
        (stream,) = dm._streams.values()
        times = []
        for _ in range(5):
            stream._changes += 1  # defeat the report cache: measure a fresh computation
            t0 = time.perf_counter()
            dm.report(window="open")
            times.append(time.perf_counter() - t0)
        budget = "  (budget <= 50 ms)" if n_features == 20 else ""
        print(f"   {n_features:3d} features: median {np.median(times) * 1e3:6.1f} ms{budget}")


def bench_memory(rng: np.random.Generator, total: int) -> None:
    print("3. memory")
    dm, endpoint = _numeric_monitor(N_NUM, rng, 10_000)
    _feed(dm, endpoint, rng.normal(size=(30_000, N_NUM)))
    per_window = dm.nbytes / 2 / N_NUM
    prof = dm.profile
    assert prof is not None
    p0 = prof.features["f0"]
    assert isinstance(p0, drift.NumericProfile) and p0.kll is not None and p0.counts is not None
    print(f"   live sketches per numeric feature per window: {per_window / 1024:5.1f} KB; "
          f"2 windows kept: {dm.nbytes / N_NUM / 1024:5.1f} KB  (budget <= 64 KB)")
    ref_kb = (p0.kll.nbytes + p0.counts.nbytes) / 1024
    print(f"   reference per numeric feature: {ref_kb:5.1f} KB")
    # Worst case for the live side: windows just small enough to keep every value exactly
    # (exact_rows, 2048 by default), so both kept windows hold a full buffer.
    exact = drift.DriftMonitor(prof, window=f"count:{EXACT_ROWS}")
    _feed(exact, endpoint, rng.normal(size=(2 * EXACT_ROWS - 1, N_NUM)), step=EXACT_ROWS)
    exact.report(window="open")  # folds the open window's staged columns
    worst = exact.nbytes / N_NUM / 1024
    history_kb = _history_kb(prof, endpoint, rng)
    print(f"   history of 8 closed-window reports per numeric feature: {history_kb:5.1f} KB")
    print(f"   worst case, {EXACT_ROWS}-row windows held exactly: 2 windows {worst:5.1f} KB "
          f"+ reference {ref_kb:4.1f} KB + history {history_kb:4.1f} KB = "
          f"{worst + ref_kb + history_kb:5.1f} KB  (budget <= 64 KB)")
    samples = []
    fed = 0
    chunk = 50_000
    t0 = time.perf_counter()
    while fed < total:
        _feed(dm, endpoint, rng.normal(size=(chunk, N_NUM)))
        fed += chunk
        if fed % 200_000 == 0:
            dm.report()
            gc.collect()
            samples.append(rss_mb())
    print(f"   RSS over {fed:,} rows (every 200k): "
          + ", ".join(f"{s:.1f}" for s in samples) + " MB"
          + f"; growth after warm-up {samples[-1] - samples[0]:+.1f} MB"
          + f" ({(time.perf_counter() - t0) / fed * 1e6:.2f} us/row fed)")


def _history_kb(prof: drift.ReferenceProfile, endpoint: Any, rng: np.random.Generator) -> float:
    """Python memory the default history (8 reports) holds per numeric feature."""
    x = rng.normal(size=(14 * 500, N_NUM))
    sizes = {}
    for history in (1, 8):
        dm = drift.DriftMonitor(prof, window="count:500", history=history, compare_previous=True)
        gc.collect()
        tracemalloc.start()
        _feed(dm, endpoint, x, step=500)
        gc.collect()
        sizes[history] = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert len(dm.history()) == history
    return (sizes[8] - sizes[1]) / 7 * 8 / N_NUM / 1024


def _rate(dm_factory: Any, rng: np.random.Generator, windows: int, rows: int,
          shift: float) -> tuple[float, float, float, str]:
    """Share of windows where feature 0 drifts / any feature drifts / any feature warns;
    and what decided.

    A fresh reference every ``PER_REFERENCE`` windows: the nominal level of a
    two-sample test holds over draws of both samples, and one fixed reference
    sample moves the rate by itself (by about one standard error at 1000 windows).
    """
    hit = any_hit = any_warn = 0
    decided = ""
    for i in range(windows):
        if i % PER_REFERENCE == 0:
            dm, endpoint = dm_factory()
        x = rng.normal(size=(rows, N_NUM))
        x[:, 0] += shift
        _feed(dm, endpoint, x, step=min(rows, 1000))
        report = dm.report()
        f0 = report.features["f0"]
        decided = f0.decided_by
        hit += f0.status == "drift"
        any_hit += any(f.status == "drift" for f in report.features.values())
        any_warn += any(f.status != "ok" for f in report.features.values())
    return hit / windows, any_hit / windows, any_warn / windows, decided


PER_REFERENCE = 200


def _se(rate: float, n: int) -> float:
    return float(np.sqrt(max(rate * (1 - rate), 1e-12) / n))


def bench_statistics(rng: np.random.Generator, quick: bool) -> None:
    print("4. false alarms and power (20 numeric features, 'drift' status, BH correction)")
    regimes = [("small windows", 300, 300 if quick else 1000),
               ("large windows", 10_000, 30 if quick else 60)]
    for label, rows, windows in regimes:
        def factory(rows: int = rows) -> tuple[drift.DriftMonitor, Any]:
            return _numeric_monitor(N_NUM, rng, rows, ref_rows=50_000)

        f0, anyf, anyw, by = _rate(factory, rng, windows, rows, 0.0)
        print(f"   {label} ({rows} rows, {windows} windows, decided by {by}):")
        print(f"      false alarms: feature {f0:.3f}, any of 20 features {anyf:.3f} "
              f"+- {_se(anyf, windows):.3f}  (nominal: FDR/FWER 0.05 per window; "
              f"+- one standard error); any warning {anyw:.3f} (nominal ~0.15)")
        for shift in (0.1, 0.25, 0.5):
            n = max(windows // 4, 10)
            power, _, _, _ = _rate(factory, rng, n, rows, shift)
            print(f"      power at {shift:4.2f} sd: {power:.2f} +- {_se(power, n):.2f}  "
                  f"({n} windows)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rows and windows")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    profile = drift.build_profile(training(100_000, N_NUM, rng), calibrate=False)
    bench_ingestion(profile, 20_000 if args.quick else 50_000, rng)
    bench_report(rng)
    bench_memory(rng, 400_000 if args.quick else 1_000_000)
    bench_statistics(rng, args.quick)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
