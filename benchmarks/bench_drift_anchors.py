"""inferwatch's drift engine side by side with Evidently and whylogs, on the same data.

Runs in its own optional environment, never the project's ``.venv``::

    python3 benchmarks/bench_drift_anchors.py --setup        # creates .venv-anchors
    .venv-anchors/bin/python benchmarks/bench_drift_anchors.py [--rows N] [--no-tracemalloc]

``--setup`` is the same as::

    python3 -m venv .venv-anchors
    .venv-anchors/bin/pip install "evidently==0.7.23" "whylogs[viz]==1.6.4" \\
        "pandas>=2.2,<3" "scipy>=1.10" -e .

Pins: Evidently 0.7.23 imports ``pandas.core.dtypes.common.infer_dtype_from_object``,
which pandas 3 removed (ImportError at ``import evidently``), hence pandas < 3;
whylogs' drift scores live in ``whylogs.viz``, which imports IPython (the ``viz``
extra). A tool that cannot be imported is skipped with the reason, the rest still runs.

Data: 2 x ``--rows`` (default 100,000) rows x 20 float features, each feature
normal with its own mean and sd; in the current frame f00..f04 are shifted by
0, 0.1, 0.25, 0.5 and 1 reference sd, f05..f19 are not. Printed:

1. Evidently ``Report([DataDriftPreset()])`` + ``run``: import time (cold, in a
   fresh interpreter, and in this process), run time, peak memory, per-feature
   values and decisions; then the same preset forced to psi, jensenshannon and ks.
2. whylogs: ``why.log`` of both frames, KS drift scores from the two profiles.
3. inferwatch: ``build_profile`` + ingestion of the current frame into one
   window + ``report()``, its PSI, JS, KS and Wasserstein and the statuses.
4. Agreement with the exact values (numpy/scipy on the raw data), statistic by
   statistic, and where the tools' definitions differ (ANCHORS.md, "Drift and
   model quality"): Evidently's PSI and JS use equal-width (Sturges) bins over
   both samples and its JS is a distance with natural log; inferwatch's use
   bins frozen at the reference's deciles and JS is a divergence in bits.

Memory, two measures: "RSS peak" is the rise of the process's resident-set
high-water mark over the call (reset through /proc/self/clear_refs just before
it; it counts native buffers and module loads, no overhead), and "tracemalloc
peak" is the peak of Python/numpy allocations in a second, traced run of the same
call (slower, so never the one timed; traced runs come after all timed ones).

BLAS threads are pinned to 1 by default (``--blas-threads``): with another process
keeping this 2-core machine busy, Evidently's preset took 15-20 s instead of 3-5 s
with OpenBLAS's default threads (they spin-wait for a core), and the same 3-5 s
with one thread; on an idle machine one thread costs it nothing. Telemetry opt-outs
are set before any tool is imported and every socket connection or name lookup
outside loopback is refused and counted; the count is printed at the end (it
should be 0).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import math
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Telemetry opt-outs, in force before any tool is imported (also for the probes).
OPT_OUT = {
    "DO_NOT_TRACK": "1",  # Evidently (iterative-telemetry)
    "EVIDENTLY_DISABLE_TELEMETRY": "1",  # Evidently's legacy config
    "WHYLOGS_NO_ANALYTICS": "True",  # whylogs usage stats
    "HF_HUB_OFFLINE": "1",  # nothing here should load models; refuse if anything tries
}
os.environ.update(OPT_OUT)

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv-anchors"
PACKAGES = ["evidently==0.7.23", "whylogs[viz]==1.6.4", "pandas>=2.2,<3", "scipy>=1.10"]
N_FEATURES = 20
SHIFTS = (0.0, 0.1, 0.25, 0.5, 1.0)  # in reference sd, for f00..f04
NAMES = [f"f{i:02d}" for i in range(N_FEATURES)]
EV_METHODS = ("psi", "jensenshannon", "ks")

# -- no network -------------------------------------------------------------------

BLOCKED: list[str] = []
_LOCAL = ("127.", "::1", "localhost", "0.0.0.0")


def _local(host: Any) -> bool:
    return host is None or host == "" or str(host).startswith(_LOCAL)


def install_network_guard() -> None:
    """Refuse (and record) every connection and name lookup that leaves the machine."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family == getattr(socket, "AF_UNIX", None):
            return
        host = address[0] if isinstance(address, tuple) else address
        if not _local(host):
            BLOCKED.append(f"connect {address!r}")
            raise OSError(f"bench_drift_anchors: network disabled ({address!r})")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _local(host):
            BLOCKED.append(f"resolve {host!r}")
            raise socket.gaierror(f"bench_drift_anchors: network disabled ({host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo


# -- measuring --------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class Measured:
    """Wall time and RSS peak rise of one call (see the module docstring)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        _trim()
        reset = _reset_hwm()
        before = _status_kb("VmRSS")
        hwm0 = _status_kb("VmHWM")
        t0 = time.perf_counter()
        self.value = fn()
        self.seconds = time.perf_counter() - t0
        peak = _status_kb("VmHWM")
        # Without the reset, the high-water mark may predate the call: then report nothing.
        self.rss_peak_mb: float | None = (
            (peak - before) / 1024 if reset or peak > hwm0 else None
        )


def traced_peak_mb(fn: Callable[[], Any], enabled: bool) -> float | None:
    if not enabled:
        return None
    _trim()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:7.1f} MB"


# -- data -------------------------------------------------------------------------


def make_data(rows: int, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    mean = rng.uniform(-5.0, 5.0, N_FEATURES)
    sd = rng.uniform(0.5, 3.0, N_FEATURES)
    shift = np.zeros(N_FEATURES)
    shift[: len(SHIFTS)] = SHIFTS
    ref = mean + sd * rng.standard_normal((rows, N_FEATURES))
    cur = mean + sd * rng.standard_normal((rows, N_FEATURES)) + shift * sd
    return ref, cur, shift, sd


# -- exact values -----------------------------------------------------------------


def _decile_counts(r: Any, c: Any, bins: int = 10) -> tuple[Any, Any]:
    """Counts in bins frozen at the reference's quantiles, plus an overflow bin each side."""
    import numpy as np

    edges = np.unique(np.quantile(r, np.linspace(0.0, 1.0, bins + 1)))

    def count(x: Any) -> Any:
        idx = np.searchsorted(edges, x, side="right")
        idx[x == edges[-1]] = edges.size - 1  # the last interior bin is closed
        return np.bincount(idx, minlength=edges.size + 1).astype(float)

    return count(r), count(c)


def _evidently_shares(r: Any, c: Any, fill: bool) -> tuple[Any, Any]:
    """Evidently's numeric binning: Sturges equal-width bins over both samples."""
    import numpy as np

    edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
    rp = np.histogram(r, edges)[0] / r.size
    cp = np.histogram(c, edges)[0] / c.size
    if fill:
        for p in (rp, cp):
            low = p[p > 0].min()
            p[p == 0] = low / 1e6 if low <= 1e-4 else 1e-4
    return rp, cp


def exact_values(ref: Any, cur: Any) -> dict[str, dict[str, float]]:
    """Every statistic on the raw data, from its definition (numpy and scipy)."""
    import numpy as np
    from scipy import stats
    from scipy.spatial import distance

    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(NAMES):
        r, c = ref[:, j], cur[:, j]
        rc, cc = _decile_counts(r, c)
        rp = np.maximum(rc / rc.sum(), 1e-4)
        cp = np.maximum(cc / cc.sum(), 1e-4)
        ks = stats.ks_2samp(r, c)
        erp, ecp = _evidently_shares(r, c, fill=True)
        jrp, jcp = _evidently_shares(r, c, fill=False)
        out[name] = {
            "psi": float(np.sum((cp - rp) * np.log(cp / rp))),
            "js": float(distance.jensenshannon(rc, cc, base=2) ** 2),
            "ks": float(ks.statistic),
            "ks_p": float(ks.pvalue),
            "wasserstein": float(stats.wasserstein_distance(r, c) / np.std(r)),
            "ev_psi": float(np.sum((erp - ecp) * np.log(erp / ecp))),
            "ev_js": float(distance.jensenshannon(jrp, jcp)),
        }
    return out


# -- the tools ----------------------------------------------------------------------


def import_probe(name: str) -> None:
    """Child process: import one tool from cold, print seconds and RSS as JSON."""
    install_network_guard()
    rss0 = _status_kb("VmRSS")
    t0 = time.perf_counter()
    if name == "evidently":
        from evidently import Report  # noqa: F401
        from evidently.presets import DataDriftPreset  # noqa: F401
    elif name == "whylogs":
        import whylogs  # noqa: F401
        from whylogs.viz.drift.column_drift_algorithms import (  # noqa: F401
            calculate_drift_scores,
        )
    elif name == "inferwatch":
        import inferwatch.drift  # noqa: F401
    else:
        raise SystemExit(f"unknown probe {name!r}")
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "rss_mb": (_status_kb("VmRSS") - rss0) / 1024,
                      "blocked": BLOCKED}))


def cold_import(name: str) -> str:
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--import-probe", name],
            capture_output=True, text=True, timeout=300, env={**os.environ, **OPT_OUT},
        )
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return "cold import failed"
    BLOCKED.extend(f"[{name} import probe] {b}" for b in data["blocked"])
    return f"cold import {data['seconds']:5.2f} s, +{data['rss_mb']:.0f} MB RSS"


def warm_import(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def run_inferwatch(ref_df: Any, cur: Any) -> dict[str, Any]:
    import numpy as np

    (drift, new_record, monitor_cls), t_imp = warm_import(_import_inferwatch)
    rows = cur.shape[0]
    step = 1000

    def build() -> Any:
        return drift.build_profile(ref_df)

    def window(profile: Any) -> Any:
        # One row more than fed: the window stays open, so its report is computed on
        # demand (a closed window's is made as it closes, inside ingestion).
        dm = drift.DriftMonitor(profile, window=f"count:{rows + 1}")
        mon = monitor_cls(metrics_exporter="none", enabled=False)
        endpoint = mon.endpoint("anchors", "1", {})
        mon.shutdown()
        records = []
        for i in range(0, rows, step):
            rec = new_record(endpoint)
            rec.features = {n: cur[i : i + step, j] for j, n in enumerate(NAMES)}
            rec.batch_size = min(step, rows - i)
            records.append(rec)
        dm.ingest(records)
        return dm

    def everything() -> Any:
        return window(build()).report(window="open")

    b = Measured(build)
    w = Measured(lambda: window(b.value))
    r = Measured(lambda: w.value.report(window="open"))
    again = []
    (stream,) = w.value._streams.values()
    for _ in range(5):  # fresh computations, not the report cache
        stream._changes += 1
        t0 = time.perf_counter()
        w.value.report(window="open")
        again.append(time.perf_counter() - t0)
    total = Measured(everything)
    report = r.value
    values: dict[str, dict[str, Any]] = {}
    for name in NAMES:
        f = report.features[name]
        s = f.statistics
        values[name] = {
            "psi": s["psi"].value, "js": s["js"].value, "ks": s["ks"].value,
            "ks_p": s["ks"].pvalue, "ks_adj_p": s["ks"].adjusted_pvalue,
            "wasserstein": s["wasserstein"].value, "status": f.status,
            "decided_by": f.decided_by, "n_cur": f.n_current,
        }
    return {
        "import": t_imp, "build": b, "ingest": w, "report": r,
        "report_median": float(np.median(again)), "total": total,
        "trace": everything, "values": values,
        "dataset": (report.status, report.n_drifted, report.drifted_share),
        "window_rows": report.window.rows if report.window else 0,
        "sketch_kb": w.value.nbytes / 1024,
    }


def _import_inferwatch() -> tuple[Any, Any, Any]:
    import inferwatch
    import inferwatch.drift as drift
    from inferwatch._capture import new_record

    return drift, new_record, inferwatch.Monitor


def _import_whylogs() -> tuple[Any, Any]:
    import whylogs as why
    from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

    return why, calculate_drift_scores


def run_whylogs(ref_df: Any, cur_df: Any) -> dict[str, Any]:
    (why, drift_scores), t_imp = warm_import(_import_whylogs)

    def profile_both() -> tuple[Any, Any]:
        return why.log(ref_df).view(), why.log(cur_df).view()

    prof = Measured(profile_both)
    ref_view, cur_view = prof.value
    scores = Measured(lambda: drift_scores(target_view=cur_view, reference_view=ref_view,
                                           with_thresholds=True))
    values = {}
    for name in NAMES:
        s = scores.value.get(name) or {}
        values[name] = {"ks": s.get("statistic"), "ks_p": s.get("pvalue"),
                        "category": s.get("drift_category"), "algorithm": s.get("algorithm")}
    return {"import": t_imp, "profile": prof, "drift": scores, "values": values,
            "trace": profile_both}


def _import_evidently() -> tuple[Any, Any]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    return Report, DataDriftPreset


def _evidently_values(snapshot: Any) -> dict[str, Any]:
    d = snapshot.dict()
    per: dict[str, dict[str, Any]] = {}
    share = None
    for m in d["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("ValueDrift"):
            per[cfg["column"]] = {"value": float(m["value"]), "method": cfg["method"],
                                  "threshold": cfg["threshold"]}
        elif cfg["type"].endswith("DriftedColumnsCount"):
            share = m["value"]
    for t in d["tests"]:
        params = t["metric_config"]["params"]
        if t["id"] == "drift" and params.get("column") in per:
            per[params["column"]]["drift"] = t["status"] == "FAIL"
    return {"columns": per, "dataset": share}


def run_evidently(ref_df: Any, cur_df: Any) -> dict[str, Any]:
    (report_cls, preset), t_imp = warm_import(_import_evidently)

    def run(method: str | None = None) -> Any:
        return report_cls([preset(method=method)], include_tests=True).run(cur_df, ref_df)

    default = Measured(run)
    out: dict[str, Any] = {"import": t_imp, "default": default, "default_again": Measured(run),
                           "values": {"default": _evidently_values(default.value)},
                           "trace": run}
    for method in EV_METHODS:
        m = Measured(lambda method=method: run(method))
        out[method] = m
        out["values"][method] = _evidently_values(m.value)
    return out


def attempt(label: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return fn()
    except ImportError as exc:
        print(f"   SKIPPED {label}: cannot import it here: {exc!r}")
    except Exception as exc:  # a tool broken at run time still leaves the others
        print(f"   SKIPPED {label}: it failed at run time: {type(exc).__name__}: {exc}")
    return None


# -- printing -----------------------------------------------------------------------


def fmt(v: float | None, width: int = 9) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-".rjust(width)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
        return f"{v:{width}.2e}"
    return f"{v:{width}.4f}"


def table(title: str, header: list[str], rows: list[list[str]], notes: list[str]) -> None:
    print(f"\n{title}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  " + " ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  " + " ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    for n in notes:
        print(f"  {n}")


def max_diff(pairs: list[tuple[float | None, float | None]]) -> float | None:
    diffs = [abs(a - b) for a, b in pairs if a is not None and b is not None]
    return max(diffs) if diffs else None


def tool_versions() -> str:
    from importlib import metadata

    out = []
    for pkg in ("evidently", "whylogs", "whylogs-sketching", "inferwatch", "pandas", "numpy",
                "scipy"):
        try:
            out.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            out.append(f"{pkg} (not installed)")
    return ", ".join(out)


def print_tools(iw: dict[str, Any] | None, wl: dict[str, Any] | None,
                ev: dict[str, Any] | None, rows: int) -> None:
    if iw is not None:
        print(f"\ninferwatch (import in this process {iw['import']:.2f} s; "
              f"{cold_import('inferwatch')})")
        for label, m in (("build_profile(reference frame), defaults", iw["build"]),
                         (f"ingest current into one window ({rows // 1000} batches)",
                          iw["ingest"]),
                         ("report(), first (fresh)", iw["report"]),
                         ("build + ingest + report, again", iw["total"])):
            print(f"   {label:<46} {m.seconds:7.3f} s   RSS peak +{mb(m.rss_peak_mb)}")
        print(f"   report() median of 5 fresh computations        "
              f"{iw['report_median'] * 1e3:7.1f} ms")
        print(f"   tracemalloc peak, build + ingest + report: {mb(iw['traced'])}; "
              f"live window sketches {iw['sketch_kb']:.0f} KB")
        st, n, share = iw["dataset"]
        print(f"   window rows {iw['window_rows']}, dataset status {st}, "
              f"{n} drifted features ({share:.0%})")
    if wl is not None:
        print(f"\nwhylogs (import in this process {wl['import']:.2f} s; "
              f"{cold_import('whylogs')}, with whylogs.viz)")
        p, d = wl["profile"], wl["drift"]
        print(f"   why.log(reference) + why.log(current)          {p.seconds:7.3f} s   "
              f"RSS peak +{mb(p.rss_peak_mb)}")
        print(f"   calculate_drift_scores(profiles)               {d.seconds:7.3f} s")
        print(f"   tracemalloc peak, profiling both: {mb(wl['traced'])}")
    if ev is not None:
        print(f"\nEvidently (import in this process {ev['import']:.2f} s; "
              f"{cold_import('evidently')})")
        d, d2 = ev["default"], ev["default_again"]
        method = next(iter(ev["values"]["default"]["columns"].values()))["method"]
        print(f"   default preset: numeric columns get {method!r}")
        print("   Report([DataDriftPreset()]).run, first run".ljust(50)
              + f" {d.seconds:7.3f} s   RSS peak +{mb(d.rss_peak_mb)}")
        print("   Report([DataDriftPreset()]).run, second run".ljust(50)
              + f" {d2.seconds:7.3f} s   RSS peak +{mb(d2.rss_peak_mb)}")
        print(f"   tracemalloc peak of that run: {mb(ev['traced'])}")
        for m in EV_METHODS:
            print(f"   DataDriftPreset(method={m!r}).run".ljust(50)
                  + f" {ev[m].seconds:7.3f} s   RSS peak +{mb(ev[m].rss_peak_mb)}")
        share = ev["values"]["default"]["dataset"]
        if share:
            print(f"   default preset: {share['count']:.0f} drifted columns "
                  f"({share['share']:.0%}; dataset drift at >= 50%)")
    if iw is not None:
        iw_total = iw["build"].seconds + iw["ingest"].seconds + iw["report"].seconds
        print(f"\nTime ratios (inferwatch build + ingest + report = {iw_total:.3f} s, "
              f"report alone = {iw['report'].seconds * 1e3:.1f} ms):")
        if ev is not None:
            for label, e in (("first", ev["default"].seconds),
                             ("second", ev["default_again"].seconds)):
                print(f"   Evidently default preset ({label} run) / inferwatch total:  "
                      f"{e / iw_total:6.1f}x,  / inferwatch report alone: "
                      f"{e / iw['report'].seconds:5.0f}x")
        if wl is not None:
            w = wl["profile"].seconds + wl["drift"].seconds
            print(f"   whylogs log both + drift scores / inferwatch total:   "
                  f"{w / iw_total:6.1f}x")


def print_agreement(exact: dict[str, dict[str, float]], shift: Any, iw: dict[str, Any] | None,
                    wl: dict[str, Any] | None, ev: dict[str, Any] | None, rows_n: int) -> None:
    iwv = iw["values"] if iw else {}
    wlv = wl["values"] if wl else {}
    evv = ev["values"] if ev else {}

    def ev_col(method: str, name: str, key: str = "value") -> Any:
        return evv.get(method, {}).get("columns", {}).get(name, {}).get(key)

    def iw_get(name: str, key: str) -> Any:
        return iwv.get(name, {}).get(key)

    # Wasserstein: same definition everywhere (W1 / population sd of the reference).
    ev_default = ""
    if evv.get("default", {}).get("columns"):
        first = next(iter(evv["default"]["columns"].values()))
        op = "<=" if "p_value" in first["method"] else ">="  # p-values drift when small
        ev_default = f"{first['method']} {op} {first['threshold']}"
    w_note = ("" if not ev or ev_default.startswith("Wasserstein") else
              f"Evidently's default test at this size is {ev_default!r}, not Wasserstein: "
              "its column is left empty (its p-values are in the KS table).")
    rows, pairs_ev, pairs_iw = [], [], []
    for j, n in enumerate(NAMES):
        x, i = exact[n]["wasserstein"], iw_get(n, "wasserstein")
        e = None if w_note else ev_col("default", n)
        pairs_ev.append((e, x))
        pairs_iw.append((i, x))
        rows.append([n, f"{shift[j]:.2f}", fmt(x), fmt(e), fmt(i),
                     fmt(None if e is None else abs(e - x)),
                     fmt(None if i is None else abs(i - x))])
    table("Wasserstein distance / reference sd (Evidently's default test above 1000 rows)",
          ["feature", "shift", "exact", "Evidently", "inferwatch", "|Ev-ex|", "|iw-ex|"], rows,
          [f"max |Evidently - exact| = {fmt(max_diff(pairs_ev)).strip()}, "
           f"max |inferwatch - exact| = {fmt(max_diff(pairs_iw)).strip()} "
           "(inferwatch reads both CDFs off KLL sketches; exact sd of the reference)",
           "exact = scipy.stats.wasserstein_distance / numpy.std(reference, ddof=0)",
           *([w_note] if w_note else [])])

    # PSI: two definitions.
    rows, p_ev, p_iw, p_x = [], [], [], []
    for j, n in enumerate(NAMES):
        e, ed = ev_col("psi", n), exact[n]["ev_psi"]
        i, x = iw_get(n, "psi"), exact[n]["psi"]
        p_ev.append((e, ed))
        p_iw.append((i, x))
        p_x.append((ed, x))
        rows.append([n, f"{shift[j]:.2f}", fmt(e), fmt(ed), fmt(i), fmt(x),
                     fmt(None if i is None else abs(i - x))])
    table("PSI: Evidently (method='psi') vs inferwatch",
          ["feature", "shift", "Evidently", "Ev-def", "inferwatch", "iw-def", "|iw-def|"],
          rows,
          ["Ev-def: Evidently's definition recomputed here: equal-width Sturges bins over",
           "  reference + current together (its n_bins=30 argument and 'reference quantiles'",
           "  docstring notwithstanding), zero shares filled with 1e-4, natural log.",
           "iw-def: PSI on 10 bins frozen at the reference deciles + 2 overflow bins,",
           "  shares floored at 1e-4 (inferwatch.stats.psi's definition), computed on raw data.",
           f"max |Evidently - Ev-def| = {fmt(max_diff(p_ev)).strip()}; "
           f"max |inferwatch - iw-def| = {fmt(max_diff(p_iw)).strip()} "
           "(bin counts are exact, no sketch error);",
           f"max |Ev-def - iw-def| = {fmt(max_diff(p_x)).strip()}: "
           "the two definitions differ, not the arithmetic."])

    # Jensen-Shannon: Evidently reports a distance with natural log; inferwatch a divergence
    # in bits. sqrt(js_bits * ln 2) is the natural-log distance on inferwatch's bins.
    rows, j_ev, j_iw, j_cv = [], [], [], []
    for j, n in enumerate(NAMES):
        e, ed = ev_col("jensenshannon", n), exact[n]["ev_js"]
        i, x = iw_get(n, "js"), exact[n]["js"]
        conv = None if i is None else math.sqrt(max(i, 0.0) * math.log(2))
        j_ev.append((e, ed))
        j_iw.append((i, x))
        j_cv.append((conv, e))
        rows.append([n, f"{shift[j]:.2f}", fmt(e), fmt(ed), fmt(i), fmt(x),
                     fmt(None if i is None else abs(i - x)), fmt(conv)])
    table("Jensen-Shannon: Evidently (method='jensenshannon') vs inferwatch",
          ["feature", "shift", "Evidently", "Ev-def", "inferwatch", "iw-def", "|iw-def|",
           "iw as Ev unit"], rows,
          ["Evidently: scipy jensenshannon DISTANCE (sqrt of the divergence), natural log",
           "  (max sqrt(ln 2) = 0.83), on its Sturges equal-width bins (Ev-def recomputes it).",
           "inferwatch: JS DIVERGENCE in bits (max 1) on the reference-decile bins; iw-def is",
           "  scipy.spatial.distance.jensenshannon(..., base=2)**2 on the same bins of raw data.",
           "iw as Ev unit: sqrt(inferwatch * ln 2), the natural-log distance on decile bins.",
           f"max |Evidently - Ev-def| = {fmt(max_diff(j_ev)).strip()}; "
           f"max |inferwatch - iw-def| = {fmt(max_diff(j_iw)).strip()}; "
           f"max |iw as Ev unit - Evidently| = {fmt(max_diff(j_cv)).strip()} (binning only)."])

    # KS: statistic and p-value.
    rows = []
    d_iw, d_wl, p_ev2, p_iw2, p_wl = [], [], [], [], []
    for j, n in enumerate(NAMES):
        x, xp = exact[n]["ks"], exact[n]["ks_p"]
        i, ip = iw_get(n, "ks"), iw_get(n, "ks_p")
        w, wp = wlv.get(n, {}).get("ks"), wlv.get(n, {}).get("ks_p")
        e = ev_col("ks", n)
        d_iw.append((i, x))
        d_wl.append((w, x))
        p_ev2.append((e, xp))
        p_iw2.append((ip, xp))
        p_wl.append((wp, xp))
        rows.append([n, f"{shift[j]:.2f}", fmt(x), fmt(i), fmt(w), fmt(xp), fmt(e), fmt(ip),
                     fmt(wp)])
    table("Kolmogorov-Smirnov: statistic D and p-value",
          ["feature", "shift", "D exact", "D iw", "D whylogs", "p exact", "p Evidently",
           "p iw", "p whylogs"], rows,
          ["exact = scipy.stats.ks_2samp on raw data; Evidently (method='ks') reports only",
           "  ks_2samp's p-value; inferwatch reads D off the two KLL sorted views (all points),",
           "  whylogs off KLL CDFs at 100 quantiles, p from kstwo.sf(D, round(n_eff)).",
           f"max |D iw - exact| = {fmt(max_diff(d_iw)).strip()}, "
           f"max |D whylogs - exact| = {fmt(max_diff(d_wl)).strip()}",
           f"max |p Evidently - exact| = {fmt(max_diff(p_ev2)).strip()}, "
           f"max |p iw - exact| = {fmt(max_diff(p_iw2)).strip()}, "
           f"max |p whylogs - exact| = {fmt(max_diff(p_wl)).strip()}",
           "  Shifted features: p ~ 0 for all. Unshifted ones: at n_eff = "
           f"{rows_n // 2:,} a D error of a few",
           "  thousandths moves p by tenths, so sketch p-values are approximate there",
           "  ('erratic KS p-values', ANCHORS.md); Evidently's p is scipy's on raw data."])

    # Decisions.
    rows = []
    for j, n in enumerate(NAMES):
        def ev_dec(method: str, name: str = n) -> str:
            d = ev_col(method, name, "drift")
            return "-" if d is None else ("DRIFT" if d else "ok")

        cat = wlv.get(n, {}).get("category") or "-"
        rows.append([n, f"{shift[j]:.2f}", ev_dec("default"), ev_dec("psi"),
                     ev_dec("jensenshannon"), ev_dec("ks"), cat,
                     str(iw_get(n, "status") or "-"), str(iw_get(n, "decided_by") or "-"),
                     fmt(iw_get(n, "ks_adj_p"))])
    by = sorted({str(iw_get(n, "decided_by")) for n in NAMES if iw_get(n, "decided_by")})
    rule = f"decided by {', '.join(by) or '-'}"
    table("Drift decisions per feature",
          ["feature", "shift", "Ev default", "Ev psi", "Ev js", "Ev ks", "whylogs",
           "inferwatch", "by", "iw KS adj p"], rows,
          [f"Evidently: default = {ev_default or '-'}; psi >= 0.1; js distance >= 0.1; "
           "ks p <= 0.05.",
           "whylogs: KS p >= 0.15 NO_DRIFT, 0.05-0.15 POSSIBLE_DRIFT, < 0.05 DRIFT.",
           f"inferwatch: n_eff = {rows_n // 2:,}; {rule}: drift when the KS p adjusted by",
           "  Benjamini-Hochberg across the 20 features is < 0.05 and PSI >= 0.05, warning",
           "  when only one holds (one rule at every sample size)."])


# -- set-up -------------------------------------------------------------------------


def setup() -> int:
    py = VENV / "bin" / "python"
    if not py.exists():
        print(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    cmd = [str(py), "-m", "pip", "install", *PACKAGES, "-e", str(REPO)]
    print(" ".join(cmd))
    subprocess.run(cmd, check=True, env={**os.environ, **OPT_OUT})
    check = ("import evidently, whylogs, pandas, scipy, inferwatch;"
             "from evidently.presets import DataDriftPreset;"
             "import whylogs.viz.drift.column_drift_algorithms;"
             "print('imports ok: evidently', evidently.__version__,"
             " 'whylogs', whylogs.__version__, 'pandas', pandas.__version__)")
    subprocess.run([str(py), "-c", check], check=True, env={**os.environ, **OPT_OUT})
    print(f"now run: {py.relative_to(REPO)} benchmarks/{Path(__file__).name}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setup", action="store_true",
                        help="create .venv-anchors and install the tools, then exit")
    parser.add_argument("--rows", type=int, default=100_000,
                        help="rows per frame (reference and current), default 100000")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="skip the traced runs (faster)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="OpenBLAS/OpenMP/MKL threads (default 1; 0 leaves them alone)")
    parser.add_argument("--import-probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        return setup()
    if args.import_probe:
        import_probe(args.import_probe)
        return 0
    if args.rows < 10:
        parser.error("--rows must be >= 10")
    if args.blas_threads > 0:  # before numpy loads; the import probes inherit it
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)
    install_network_guard()
    try:  # the guard refuses before anything leaves the machine; check that it is live
        socket.getaddrinfo("guard-check.invalid", 443)
        guard = "NOT live"
    except socket.gaierror:
        guard = "live"
        BLOCKED.clear()
    trace = not args.no_tracemalloc
    started = time.perf_counter()
    try:
        import numpy  # noqa: F401
        import pandas as pd
        import scipy  # noqa: F401
    except ImportError as exc:
        print(f"needs numpy, pandas and scipy ({exc}); run with --setup first, then "
              f"{VENV.relative_to(REPO)}/bin/python benchmarks/{Path(__file__).name}")
        return 2
    print(f"python {sys.version.split()[0]}; {tool_versions()}")
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"BLAS threads {blas}; load average before: {_loadavg()}")
    print(f"data: 2 x {args.rows:,} rows x {N_FEATURES} float features; f00..f04 shifted by "
          f"{', '.join(map(str, SHIFTS))} reference sd; {os.cpu_count()} CPUs")
    ref, cur, shift, _ = make_data(args.rows)
    ref_df = pd.DataFrame(ref, columns=NAMES)
    cur_df = pd.DataFrame(cur, columns=NAMES)
    t0 = time.perf_counter()
    exact = exact_values(ref, cur)
    print(f"exact values (numpy/scipy on raw data, all statistics): "
          f"{time.perf_counter() - t0:.2f} s")

    print("\nrunning inferwatch ...")
    iw = attempt("inferwatch", lambda: run_inferwatch(ref_df, cur))
    print("running whylogs ...")
    wl = attempt("whylogs", lambda: run_whylogs(ref_df, cur_df))
    print("running Evidently ...")
    ev = attempt("Evidently", lambda: run_evidently(ref_df, cur_df))
    # Traced runs last: once tracemalloc has run, later Evidently runs in this process were
    # several times slower (2.6 s -> 15 s for one preset), which would skew the timings.
    for result in (iw, wl, ev):
        if result is not None:
            if trace:
                print("tracemalloc run ...")
            try:
                result["traced"] = traced_peak_mb(result.pop("trace"), trace)
            except Exception as exc:  # the timed run worked; report the traced one as missing
                print(f"   tracemalloc run failed: {type(exc).__name__}: {exc}")
                result["traced"] = None

    print_tools(iw, wl, ev, args.rows)
    print_agreement(exact, shift, iw, wl, ev, args.rows)

    print(f"\nmemory: RSS peak = rise of VmHWM over the call (reset before it); tracemalloc "
          f"peak = Python/numpy allocations in a separate traced run{'' if trace else ' (off)'}")
    print(f"network: {len(BLOCKED)} connection attempts or lookups outside loopback"
          + (f": {BLOCKED}" if BLOCKED else "")
          + f" (guard {guard}: such calls are refused and counted)"
          + f"; opt-outs set: {', '.join(f'{k}={v}' for k, v in OPT_OUT.items())}")
    print(f"load average after: {_loadavg()} (on {os.cpu_count()} CPUs; other busy processes "
          "slow every tool alike)")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
