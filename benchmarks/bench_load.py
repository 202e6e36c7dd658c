"""A real server under load: uvicorn on loopback, bare vs inferwatch vs the instrumentator.

Run::

    python benchmarks/bench_load.py                  # under 2 minutes
    python benchmarks/bench_load.py --quick          # about 30 s, a smoke check
    python benchmarks/bench_load.py --rounds 7 --duration 15 --connections 16

The client is ``wrk`` (Debian: ``apt-get install wrk``), a closed loop at a
fixed number of connections for a fixed duration, on one thread; where
``wrk`` is not installed (or with ``--client httpx``) the benchmark falls
back to an httpx client in this process (asyncio, the same closed loop, the
same request bodies): slower, so its figures are more client-bound, but
comparable between variants of one run. Loopback only (127.0.0.1); every
run is bounded in time, and each server exits by itself when this process
goes away (even while stopped) or after ``--max-seconds``.

The server is this file run with ``--serve VARIANT``: the example server's
shape (``examples/fastapi_server.py``: a logistic-regression churn model
behind ``POST /models/{name}/predict`` taking ``{"user_id", "features"}``, a
sync route FastAPI runs in its thread pool), with 20 features (the budget's
width) and one uvicorn worker (no access log; uvicorn's "auto" HTTP parser
and loop: h11 and asyncio unless httptools and uvloop are installed, which
make the bare server faster and so every monitor's share larger; the header
line says which ran). Variants:

- ``bare``: the app alone (inferwatch is not even imported);
- ``inferwatch``: everything on: ``instrument_app`` (the ASGI middleware and
  the status route), a ``@monitor`` predict capturing the 20 features and a
  confidence, drift watched with ``inferwatch.drift.watch`` against a
  reference profile built at start-up (20,000 training rows and their
  predictions), JSON logs to a rotating file with the default sampling, a
  low-confidence rule (< 0.55) and ``user_id`` pseudonymised with a keyed
  HMAC, and an OTel MeterProvider whose periodic reader exports every
  ``--export-interval-ms`` (default 2 s, 30x the default interval, so each
  run includes several exports with their drift report) through
  ``inferwatch.otel.wrap_exporter`` to an exporter that encodes the OTLP
  protobuf and drops it;
- ``instrumentator``: prometheus-fastapi-instrumentator's default metrics
  (and its ``/metrics`` route, never scraped here).

All three servers start once. Only the one under test runs: the others are
stopped with SIGSTOP so their background threads cannot steal CPU from it.
Variants are interleaved in rounds (the order rotates each round), after a
warm-up run each. Per run: throughput, p50, p99, p99.9 (wrk's latency
histogram), and CPU per request: the server process's CPU time (all its
threads, background work included, read 0.3 s after the run so the last drain
counts) over requests served, also split by thread (each thread's own CPU
clock): the event loop (HTTP, ASGI, the middleware), the thread pool (the
sync route and the monitored predict), inferwatch's threads, the OTel reader
(exports, with the drift report they compute), and what no Python thread
accounts for: OpenBLAS's own worker threads (numpy starts them at import;
matrix work such as the drift engine's wakes them, and they spin a while
after), or threads that ended. ``--blas-threads 1`` gives the servers one
BLAS thread. Figures are the medians over rounds; the
budget ratios are the medians of the per-round ratios (each round's runs are
adjacent in time, so a slow minute on the machine hits both sides).

Budgets (DESIGN.md): inferwatch's p99 <= 1.10x the bare p99 and its
throughput >= 0.93x bare.

"Background work never holds the GIL more than 1 ms at a stretch" is shown
two ways:

1. In-process step timing (inferwatch's server): each background step (the
   aggregator's drain, a log-writing batch, a metric collection, an OTel
   export cycle) is timed with ``time.thread_time`` (CPU time of the thread
   running it) during the measured rounds. A step's CPU time is the longest
   it could have held the GIL in one stretch: it lets go earlier at blocking
   I/O, or when another thread has waited ``sys.getswitchinterval()`` (5 ms by
   default) for it. So the longest stretch is at most min(longest step, about
   the switch interval), unless one C call (a large numpy operation, an
   encoder) runs longer than that, which no switch can interrupt. It is an
   upper bound: a step that yields inside (``time.sleep(0)`` between chunks)
   holds the GIL for less than its CPU time at a stretch.
2. A probe thread in every server (off during the measured rounds, so it
   disturbs nothing there) loops over ``time.sleep(100 us)`` and records how
   late it wakes: to run again it needs the GIL, so its lateness is how long
   some other thread held the GIL while it waited, plus the OS's own wake-up
   latency, which the bare server shows. Where it may (root on Linux) the
   probe runs at real-time priority (SCHED_FIFO; it sleeps or waits for the
   GIL nearly all the time, so it takes next to no CPU from anyone): it then
   wakes on time even on a busy machine, and bare's quiet figure drops from
   milliseconds to tens of microseconds. Measured for each
   variant under the same load, and in a quiet period with no requests
   (``--quiet-seconds``, covering at least one export cycle), where only
   background work can hold the GIL. Under load the request threads
   themselves hold the GIL up to the switch interval, so the loaded figures
   are compared with bare's; the quiet figure is background work alone.
   For its longest waits the probe notes which background steps were
   running and where inferwatch's and OTel's threads stood when it got the
   GIL back (``sys._current_frames``): the line that held it. A wait with no
   step running is the machine's (other processes, the OS), as bare shows.

The step timings also give the background CPU per request (the outermost
steps' CPU over requests served), and the export cycles' share of it scaled
to the default 60 s interval.

Figures on a shared 2-core machine move between runs: read the ratios, and
re-run when the machine is quiet before quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

N_FEATURES = 20
VARIANTS = ("bare", "inferwatch", "instrumentator")
PREDICT_PATH = "/models/churn/predict"
STATS_PATH = "/bench/stats"
PII_KEY = "hex:" + "3c" * 32
PROBE_SLEEP_NS = 100_000
ALL_STEPS = "= every outermost step"
STALL_NS = 1_000_000  # probe wake-ups later than this note where other threads stand
BUDGET_P99 = 1.10
BUDGET_THROUGHPUT = 0.93
BUDGET_GIL_MS = 1.0


# ------------------------------------------------------------------ server side


class PredictRequest(BaseModel):
    user_id: str
    features: list[float]


class Probe:
    """A thread sleeping 100 us in a loop, recording how late it wakes up.

    On a wake-up later than ``STALL_NS`` it notes where the other threads of
    the process stand at that moment (``sys._current_frames``): the thread
    that just let the GIL go is at the line after the stretch it held it, so
    the benchmark can say which code the longest stretches came from.
    """

    def __init__(self) -> None:
        self.on = threading.Event()
        self._lock = threading.Lock()
        self._late_ns: list[int] = []
        self._stalls: list[tuple[int, float, dict[str, list[str]]]] = []
        threading.Thread(target=self._run, name="bench-probe", daemon=True).start()

    def _run(self) -> None:
        # Real-time priority where allowed (root on Linux): the probe then wakes on time
        # even on a busy machine, so what is left of its lateness is the wait for the GIL.
        self.realtime = False
        try:
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_FIFO,
                                  os.sched_param(1))
            self.realtime = True
        except (AttributeError, OSError):
            pass
        clock, sleep, delay = time.perf_counter_ns, time.sleep, PROBE_SLEEP_NS / 1e9
        while True:
            self.on.wait()
            start = clock()
            sleep(delay)
            late = clock() - start - PROBE_SLEEP_NS
            if late > STALL_NS:
                self._note_stall(late)
            with self._lock:
                if len(self._late_ns) < 2_000_000:
                    self._late_ns.append(late)

    def _note_stall(self, late: int) -> None:
        import traceback

        names = {t.ident: t.name for t in threading.enumerate()}
        me = threading.get_ident()
        stacks = {}
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            summary = traceback.extract_stack(frame)[-4:]
            stacks[names.get(ident, str(ident))] = [
                f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in summary
            ]
        with self._lock:
            self._stalls.append((late, time.monotonic(), stacks))
            self._stalls.sort(key=lambda s: -s[0])
            del self._stalls[20:]

    def take(self) -> dict[str, Any]:
        with self._lock:
            late, self._late_ns = sorted(self._late_ns), []
            stalls, self._stalls = self._stalls, []
        if not late:
            return {"samples": 0}

        def at(q: float) -> float:
            return late[min(len(late) - 1, int(q * len(late)))] / 1000

        return {"samples": len(late), "realtime": self.realtime,
                "p50_us": at(0.5), "p99_us": at(0.99),
                "p999_us": at(0.999), "max_us": late[-1] / 1000,
                "over_1ms": sum(1 for v in late if v > 1_000_000),
                "stalls": [{"late_us": n / 1000, "at": t, "stacks": st} for n, t, st in stalls]}


class StepTimer:
    """Times background steps by the CPU time of the thread running them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: dict[str, dict[str, Any]] = {}
        self.missing: list[str] = []
        #: Recent steps longer than 1 ms of wall time: (kind, start, end), monotonic seconds.
        self.long: deque[tuple[str, float, float]] = deque(maxlen=1000)
        self._depth = threading.local()  # steps nest (a collection drains first)

    def wrap(self, obj: Any, name: str, kind: str) -> None:
        func = getattr(obj, name, None)
        if not callable(func):
            self.missing.append(f"{type(obj).__name__}.{name}")
            return
        thread_time, clock, add = time.thread_time_ns, time.perf_counter_ns, self._add
        depth = self._depth

        def timed(*args: Any, **kwargs: Any) -> Any:
            outer = not getattr(depth, "n", 0)
            depth.n = getattr(depth, "n", 0) + 1
            cpu0, wall0 = thread_time(), clock()
            try:
                return func(*args, **kwargs)
            finally:
                cpu, wall = thread_time() - cpu0, clock() - wall0
                depth.n -= 1
                add(kind, cpu, wall)
                if outer:
                    add(ALL_STEPS, cpu, wall)

        setattr(obj, name, timed)

    def _add(self, kind: str, cpu_ns: int, wall_ns: int) -> None:
        with self._lock:
            s = self._steps.setdefault(kind, {"n": 0, "total_cpu_ns": 0, "max_cpu_ns": 0,
                                              "max_wall_ns": 0, "over_1ms": 0, "thread": ""})
            s["n"] += 1
            s["total_cpu_ns"] += cpu_ns
            s["over_1ms"] += cpu_ns > 1_000_000
            s["max_wall_ns"] = max(s["max_wall_ns"], wall_ns)
            if wall_ns > 1_000_000 and kind != ALL_STEPS:
                end = time.monotonic()
                self.long.append((kind, end - wall_ns / 1e9, end))
            if cpu_ns >= s["max_cpu_ns"]:
                s["max_cpu_ns"] = cpu_ns
                s["thread"] = threading.current_thread().name

    def take(self) -> dict[str, Any]:
        with self._lock:
            steps, self._steps = self._steps, {}
        return steps

    def during(self, start: float, end: float) -> list[str]:
        """The kinds of long steps that overlapped [start, end]."""
        with self._lock:
            return sorted({k for k, t0, t1 in self.long if t0 <= end and t1 >= start})


def _inferwatch_monitor(workdir: str, weights: Any, export_interval_ms: float) -> Any:
    import numpy as np
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )

    import inferwatch
    import inferwatch.drift
    import inferwatch.otel

    try:
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    except ImportError:  # no OTLP exporter installed: JSON is the nearest cost
        encode_metrics = None

    class EncodeAndDrop(MetricExporter):
        """Pays the OTLP encoding an exporter would, then drops the bytes."""

        def export(self, metrics_data: Any, timeout_millis: float = 10_000,
                   **kwargs: Any) -> MetricExportResult:
            if encode_metrics is not None:
                encode_metrics(metrics_data).SerializeToString()
            else:
                metrics_data.to_json()
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            return None

    reader = PeriodicExportingMetricReader(
        inferwatch.otel.wrap_exporter(EncodeAndDrop()),  # reads the process default monitor
        export_interval_millis=export_interval_ms,
    )
    monitor = inferwatch.configure(
        meter_provider=MeterProvider(metric_readers=[reader]),
        service_name="churn-api",
        log_sink="file",
        log_file=os.path.join(workdir, f"inferwatch-{os.getpid()}.jsonl"),
        pii_fields=["user_id"],
        pii_key=PII_KEY,
        low_confidence_threshold=0.55,
        environ={},  # the same configuration whatever INFERWATCH_*/OTEL_* this shell sets
    )
    rng = np.random.default_rng(11)
    reference = rng.normal(size=(20_000, N_FEATURES))
    predictions = 1.0 / (1.0 + np.exp(-(reference @ weights - 0.2)))
    profile = inferwatch.drift.build_profile(reference, prediction=predictions)
    inferwatch.drift.watch(profile, monitor, window="count:10000")
    return monitor, reader


def build_app(variant: str, workdir: str, export_interval_ms: float) -> tuple[Any, StepTimer]:
    import numpy as np
    from fastapi import FastAPI, HTTPException

    rng = np.random.default_rng(7)
    weights = rng.normal(size=N_FEATURES) / np.sqrt(N_FEATURES)
    timer = StepTimer()
    probe = Probe()

    def churn_probability(x: Any) -> float:
        return float(1.0 / (1.0 + np.exp(-(x @ weights - 0.2))))

    predict: Callable[[Any], float] = churn_probability
    if variant == "inferwatch":
        import inferwatch

        monitor, reader = _inferwatch_monitor(workdir, weights, export_interval_ms)
        predict = inferwatch.monitor(model="churn", version="1", features="x",
                                     monitor=monitor,
                                     confidence=lambda p: float(max(p, 1.0 - p)))(predict)
        timer.wrap(monitor, "_drain", "aggregator drain")
        timer.wrap(monitor, "_write_logs", "log-writing batch")
        timer.wrap(monitor, "collect", "metric collection (drift included)")
        timer.wrap(reader, "collect", "OTel export cycle")

    app = FastAPI(title="churn-api")

    @app.post("/models/{name}/predict")
    def predict_route(name: str, request: PredictRequest) -> dict[str, Any]:
        if name != "churn":
            raise HTTPException(status_code=404, detail=f"no model named {name!r}")
        if len(request.features) != N_FEATURES:
            raise HTTPException(status_code=422, detail=f"expected {N_FEATURES} features")
        probability = predict(np.asarray(request.features, dtype=np.float64))
        return {"model": name, "churn_probability": probability, "pid": os.getpid()}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(STATS_PATH)
    async def stats(probe_on: int = 0) -> dict[str, Any]:
        """What happened since the last call; turns the probe on or off for what follows."""
        probed = probe.take()
        for stall in probed.get("stalls", ()):
            stall["during"] = timer.during(stall["at"] - stall["late_us"] / 1e6, stall["at"])
        # The longest waits while a background step ran, and the longest others.
        stalls = probed.get("stalls", [])
        probed["stalls"] = ([st for st in stalls if st["during"]][:3]
                            + [st for st in stalls if not st["during"]][:3])
        out = {
            "cpu_ns": time.process_time_ns(),
            "threads": _thread_cpu_ns(),
            "thread_starts": THREAD_STARTS.take() if THREAD_STARTS is not None else {},
            "probe": probed,
            "steps": timer.take(),
            "missing": timer.missing,
            "switch_interval_ms": sys.getswitchinterval() * 1000,
            "rss_mb": _rss_mb(),
        }
        if probe_on:
            probe.on.set()
        else:
            probe.on.clear()
        return out

    excluded = ("/health", STATS_PATH)
    if variant == "inferwatch":
        from inferwatch_fastapi import instrument_app

        instrument_app(app, monitor=monitor, model="churn-api", status_routes=True,
                       exclude_paths=excluded)
    elif variant == "instrumentator":
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator(excluded_handlers=list(excluded)).instrument(app).expose(
            app, include_in_schema=False)
    return app, timer


def _thread_cpu_ns() -> dict[str, int]:
    """CPU time of each live thread, keyed "name/ident" (pthread CPU clocks, ns)."""
    out = {}
    for thread in threading.enumerate():
        try:
            clock = time.pthread_getcpuclockid(thread.ident or 0)
            out[f"{thread.name}/{thread.ident}"] = time.clock_gettime_ns(clock)
        except (AttributeError, OSError):  # not on this platform, or the thread just ended
            continue
    return out


THREAD_GROUPS = (
    "event loop (ASGI, middleware)", "thread pool (route, predict)", "inferwatch threads",
    "OTel reader (export, drift)", "benchmark probe", "other threads",
    "BLAS workers, ended threads",
)


class ThreadStarts:
    """Counts threads started in the server, by name (digits dropped): short-lived helper
    threads show here, and their CPU as "ended threads" in the per-thread split."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        original = threading.Thread.start
        counts = self

        def start(thread: threading.Thread) -> None:
            name = "".join(c for c in thread.name if not c.isdigit()).rstrip("-_ ")
            with counts._lock:
                counts._counts[name] = counts._counts.get(name, 0) + 1
            original(thread)

        threading.Thread.start = start  # type: ignore[method-assign]

    def take(self) -> dict[str, int]:
        with self._lock:
            counts, self._counts = self._counts, {}
        return counts


THREAD_STARTS: ThreadStarts | None = None


def thread_group(key: str) -> str:
    """Which part of the server a thread is, from its name."""
    name = key.rsplit("/", 1)[0]
    if name == "MainThread":
        return "event loop (ASGI, middleware)"
    if name.startswith("AnyIO worker"):
        return "thread pool (route, predict)"
    if name.startswith("inferwatch"):
        return "inferwatch threads"
    if name.startswith("Otel"):
        return "OTel reader (export, drift)"
    if name.startswith("bench-"):
        return "benchmark probe"
    return "other threads"


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def _die_with_parent() -> None:
    """Linux: be killed when the benchmark dies, even while stopped (SIGSTOP) for a round."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # the watchdog thread still covers a server that is running


def _watchdog(max_seconds: float) -> None:
    """Exit when the benchmark that started this server is gone, or after max_seconds."""
    parent, deadline = os.getppid(), time.monotonic() + max_seconds
    while True:
        time.sleep(0.5)
        if os.getppid() != parent or time.monotonic() > deadline:
            os._exit(3)


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    global THREAD_STARTS
    _die_with_parent()
    threading.Thread(target=_watchdog, args=(args.max_seconds,), daemon=True).start()
    THREAD_STARTS = ThreadStarts()
    app, _timer = build_app(args.serve, args.workdir, args.export_interval_ms)
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY on accepted sockets only
    # when their proto says TCP, and without it every response waits for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


# ------------------------------------------------------------------ client side

WRK_SCRIPT = r"""
local requests_ = {}
local counter = 0
init = function(args)
  local n_features = tonumber(args[1])
  local seed = tonumber(args[2])
  math.randomseed(seed)
  for i = 1, 256 do
    local parts = {}
    for j = 1, n_features do
      local u1 = math.max(math.random(), 1e-12)
      local u2 = math.random()
      parts[j] = string.format("%.6f", math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2))
    end
    local body = '{"user_id":"u-' .. (seed * 1000 + i) .. '","features":['
                 .. table.concat(parts, ",") .. ']}'
    requests_[i] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
  end
end
request = function()
  counter = counter + 1
  return requests_[(counter % 256) + 1]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


def request_bodies(seed: int, n: int = 256) -> list[bytes]:
    rnd = random.Random(seed)
    return [json.dumps({"user_id": f"u-{seed * 1000 + i}",
                        "features": [round(rnd.gauss(0, 1), 6) for _ in range(N_FEATURES)]}
                       ).encode() for i in range(n)]


class Client:
    def __init__(self, kind: str, workdir: str, connections: int, cpu: int | None) -> None:
        self.kind, self.connections, self.cpu = kind, connections, cpu
        self.script = os.path.join(workdir, "predict.lua")
        with open(self.script, "w") as f:
            f.write(WRK_SCRIPT)
        self._seed = 0

    def run(self, port: int, seconds: float) -> dict[str, Any]:
        self._seed += 1
        if self.kind == "wrk":
            return self._wrk(port, seconds)
        return self._httpx(port, seconds)

    def _wrk(self, port: int, seconds: float) -> dict[str, Any]:
        cmd = ["wrk", "-t1", f"-c{self.connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", self.script,
               f"http://127.0.0.1:{port}{PREDICT_PATH}", "--", str(N_FEATURES), str(self._seed)]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                             check=False)
        for line in out.stdout.splitlines():
            if line.startswith("WRK_JSON "):
                result: dict[str, Any] = json.loads(line[len("WRK_JSON "):])
                result["seconds"] = result.pop("duration_us") / 1e6
                return result
        raise RuntimeError(f"wrk gave no result (rc {out.returncode}): {out.stderr[-2000:]}")

    def _httpx(self, port: int, seconds: float) -> dict[str, Any]:
        import asyncio

        import httpx
        import numpy as np

        bodies = request_bodies(self._seed)
        latencies: list[int] = []
        errors = 0
        headers = {"content-type": "application/json"}

        async def load() -> float:
            nonlocal errors
            limits = httpx.Limits(max_connections=self.connections,
                                  max_keepalive_connections=self.connections)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                         timeout=10.0, trust_env=False) as client:
                deadline = time.perf_counter() + seconds

                async def worker(k: int) -> None:
                    nonlocal errors
                    i = k
                    while time.perf_counter() < deadline:
                        body, i = bodies[i % len(bodies)], i + self.connections
                        t0 = time.perf_counter_ns()
                        try:
                            ok = (await client.post(PREDICT_PATH, content=body,
                                                    headers=headers)).status_code == 200
                        except httpx.HTTPError:
                            ok = False
                        latencies.append(time.perf_counter_ns() - t0)
                        errors += not ok

                start = time.perf_counter()
                await asyncio.gather(*(worker(k) for k in range(self.connections)))
                return time.perf_counter() - start

        elapsed = asyncio.run(load())
        lat = np.asarray(latencies, dtype=np.float64) / 1000
        p50, p99, p999 = np.percentile(lat, [50, 99, 99.9]) if len(lat) else (0, 0, 0)
        return {"requests": len(latencies), "seconds": elapsed, "errors": errors,
                "p50_us": p50, "p99_us": p99, "p999_us": p999,
                "max_us": float(lat.max()) if len(lat) else 0.0}


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy


class Server:
    """One ``--serve`` process; paused (SIGSTOP) whenever it is not under test."""

    def __init__(self, variant: str, args: argparse.Namespace, workdir: str) -> None:
        self.variant = variant
        cmd = [sys.executable, os.path.abspath(__file__), "--serve", variant,
               "--workdir", workdir, "--export-interval-ms", str(args.export_interval_ms),
               "--max-seconds", str(args.max_seconds)]
        if args.server_cpu is not None:
            cmd += ["--cpu", str(args.server_cpu)]
        self.stderr = open(os.path.join(workdir, f"{variant}.stderr"), "w+")  # noqa: SIM115
        env = dict(os.environ)
        if args.blas_threads:
            for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env[name] = str(args.blas_threads)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     env=env)
        self.port = 0
        self.completed = 0  # requests the client saw answered, over every run
        self.runs = 0

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while not self.port:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError(f"{self.variant} server did not start: {self.error_tail()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("PORT "):
                    self.port = int(line.split()[1])
                elif not line:
                    time.sleep(0.1)
        while time.monotonic() < deadline:
            try:
                with _opener.open(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.variant} server never answered /health: {self.error_tail()}")

    def stats(self, probe_on: bool = False) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}{STATS_PATH}?probe_on={int(probe_on)}"
        with _opener.open(url, timeout=30) as r:
            result: dict[str, Any] = json.loads(r.read())
            return result

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.stderr.close()

    def error_tail(self) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()[-3000:]


# ------------------------------------------------------------------ the benchmark


def measure(server: Server, client: Client, seconds: float) -> dict[str, Any]:
    server.resume()
    time.sleep(0.5)  # let work queued while paused (a due export, a drain) finish first
    before = server.stats()
    result = client.run(server.port, seconds)
    server.completed += result["requests"]
    server.runs += 1
    time.sleep(0.3)  # the last drain and log batch count against this run
    after = server.stats()
    server.pause()
    result["cpu_us_per_request"] = (after["cpu_ns"] - before["cpu_ns"]) / 1000 / max(
        1, result["requests"])
    result["throughput"] = result["requests"] / result["seconds"]
    groups: dict[str, float] = {}
    for key, ns in after.get("threads", {}).items():
        start = before.get("threads", {}).get(key, 0)  # a thread started during the run: all
        group = thread_group(key)
        groups[group] = groups.get(group, 0.0) + (ns - start) / 1000 / max(1, result["requests"])
    groups["BLAS workers, ended threads"] = result["cpu_us_per_request"] - sum(groups.values())
    result["cpu_by_thread"] = groups
    result["thread_starts"] = after.get("thread_starts", {})
    result["steps"] = after["steps"]
    result["missing"] = after["missing"]
    result["rss_mb"] = after["rss_mb"]
    return result


def probe_gil(server: Server, client: Client, load_s: float, quiet_s: float) -> dict[str, Any]:
    server.resume()
    time.sleep(0.5)
    server.stats(probe_on=True)
    done = client.run(server.port, load_s)
    server.completed += done["requests"]
    server.runs += 1
    loaded = server.stats(probe_on=True)
    time.sleep(quiet_s)
    quiet = server.stats(probe_on=False)
    server.pause()
    return {"load": loaded["probe"], "quiet": quiet["probe"], "quiet_steps": quiet["steps"],
            "switch_interval_ms": quiet["switch_interval_ms"]}


def check_counts(server: Server, connections: int) -> None:
    """inferwatch's own count of predict calls against the requests the client saw answered."""
    server.resume()
    try:
        with _opener.open(f"http://127.0.0.1:{server.port}/inferwatch/status", timeout=30) as r:
            status = json.loads(r.read())
    except (OSError, ValueError) as exc:
        print(f"\ninferwatch's status route did not answer: {exc}")
        return
    models = status.get("models", {}) if isinstance(status, dict) else {}
    calls = sum(int(m.get("calls", 0)) for m in models.values() if isinstance(m, dict))
    slack = server.runs * connections  # answered by the server as the client stopped
    exact = server.completed <= calls <= server.completed + slack
    print(f"\ninferwatch counted {calls:,} predict calls; the client saw {server.completed:,} "
          f"answered over {server.runs} runs (up to {slack:,} more were in flight as runs "
          f"ended) -> {'consistent' if exact else 'NOT consistent'}; dropped "
          f"{ {k: v for k, v in status.get('dropped', {}).items() if v} or 'nothing'}")


def _ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def report(results: dict[str, list[dict[str, Any]]], gil: dict[str, dict[str, Any]],
           args: argparse.Namespace, client: Client) -> None:
    print(f"\nclosed loop: {client.kind}, {args.connections} connections, {args.duration:g} s "
          f"per run, {args.rounds} rounds interleaved (medians over rounds)")
    print(f"{'variant':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} "
          f"{'max ms':>8} {'CPU us/req':>10} {'errors':>7}")
    for variant, runs in results.items():
        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        print(f"{variant:<15} {med('throughput'):>8.0f} {_ms(med('p50_us')):>8} "
              f"{_ms(med('p99_us')):>8} {_ms(med('p999_us')):>9} {_ms(med('max_us')):>8} "
              f"{med('cpu_us_per_request'):>10.0f} {sum(r['errors'] for r in runs):>7}")

    print("\nCPU per request by thread (us, medians over rounds):")
    seen = {g for runs in results.values() for r in runs for g in r["cpu_by_thread"]}
    names = [g for g in THREAD_GROUPS if g in seen] + sorted(seen - set(THREAD_GROUPS))
    print(f"  {'':<32}" + "".join(f"{v:>16}" for v in results))
    for group in names:
        row = [statistics.median(r["cpu_by_thread"].get(group, 0.0) for r in runs)
               for runs in results.values()]
        print(f"  {group:<32}" + "".join(f"{x:>16.1f}" for x in row))

    for variant, runs in results.items():
        starts: dict[str, int] = {}
        for r in runs:
            for name, n in r.get("thread_starts", {}).items():
                starts[name] = starts.get(name, 0) + n
        served = sum(r["requests"] for r in runs)
        if starts:
            print(f"  threads started during {variant}'s measured runs ({served:,} requests): "
                  + ", ".join(f"{k} x{v:,}" for k, v in sorted(starts.items())))

    def paired(variant: str, key: str) -> list[float]:
        return [r[key] / b[key] for r, b in zip(results[variant], results["bare"], strict=True)
                if b[key]]

    print("\nratios to bare (median of per-round ratios; range over rounds):")
    for variant in (v for v in results if v != "bare"):
        for key, label in (("throughput", "throughput"), ("p50_us", "p50"),
                           ("p99_us", "p99"), ("p999_us", "p99.9"),
                           ("cpu_us_per_request", "CPU/request")):
            values = paired(variant, key)
            print(f"  {variant:<15} {label:<12} {statistics.median(values):.3f}x "
                  f"({min(values):.3f}-{max(values):.3f})")
    if "inferwatch" in results:
        p99 = statistics.median(paired("inferwatch", "p99_us"))
        tput = statistics.median(paired("inferwatch", "throughput"))
        print(f"\nbudget: inferwatch p99 / bare p99 = {p99:.3f} (<= {BUDGET_P99}) -> "
              f"{'OK' if p99 <= BUDGET_P99 else 'OVER'}")
        print(f"budget: inferwatch throughput / bare = {tput:.3f} (>= {BUDGET_THROUGHPUT}) -> "
              f"{'OK' if tput >= BUDGET_THROUGHPUT else 'UNDER'}")
        if "instrumentator" in results:
            bare_cpu = statistics.median(r["cpu_us_per_request"] for r in results["bare"])
            added = {v: statistics.median(r["cpu_us_per_request"] for r in results[v]) - bare_cpu
                     for v in ("inferwatch", "instrumentator")}
            if added["instrumentator"] > 0:
                print(f"CPU added per request: inferwatch {added['inferwatch']:.0f} us, "
                      f"instrumentator {added['instrumentator']:.0f} us "
                      f"({added['inferwatch'] / added['instrumentator']:.2f}x)")

        steps: dict[str, dict[str, Any]] = {}
        for run in results["inferwatch"]:
            for kind, s in run["steps"].items():
                agg = steps.setdefault(kind, {"n": 0, "total_cpu_ns": 0, "max_cpu_ns": 0,
                                              "max_wall_ns": 0, "over_1ms": 0, "thread": ""})
                agg["n"] += s["n"]
                agg["total_cpu_ns"] += s["total_cpu_ns"]
                agg["over_1ms"] += s["over_1ms"]
                agg["max_wall_ns"] = max(agg["max_wall_ns"], s["max_wall_ns"])
                if s["max_cpu_ns"] >= agg["max_cpu_ns"]:
                    agg["max_cpu_ns"], agg["thread"] = s["max_cpu_ns"], s["thread"]
        switch_ms = next(iter(gil.values()))["switch_interval_ms"] if gil else 5.0
        print("\nbackground steps in the inferwatch server during the measured rounds "
              "(thread CPU time per step):")
        print(f"  {'step':<38} {'steps':>7} {'mean ms':>8} {'max ms':>8} {'max wall':>9} "
              f"{'> 1 ms':>7}  thread of the longest")
        for kind, s in sorted(steps.items()):
            print(f"  {kind:<38} {s['n']:>7} {s['total_cpu_ns'] / max(1, s['n']) / 1e6:>8.3f} "
                  f"{s['max_cpu_ns'] / 1e6:>8.3f} {s['max_wall_ns'] / 1e6:>9.3f} "
                  f"{s['over_1ms']:>7}  {s['thread']}")
        total = steps.get(ALL_STEPS)
        served = sum(r["requests"] for r in results["inferwatch"])
        if total and served:
            per_request = total["total_cpu_ns"] / served / 1000
            cpu = statistics.median(r["cpu_us_per_request"] for r in results["inferwatch"])
            print(f"  background CPU {per_request:.1f} us per request (every outermost step over "
                  f"{served:,} requests); the rest of the {cpu:.0f} us is the request path, "
                  f"the server and the OS")
            export = steps.get("OTel export cycle")
            if export:
                share = export["total_cpu_ns"] / served / 1000
                scale = 60_000 / args.export_interval_ms
                print(f"  of which OTel export cycles {share:.1f} us per request at one export "
                      f"every {args.export_interval_ms / 1000:g} s; at the default 60 s about "
                      f"{share / scale:.2f} us")
        missing = results["inferwatch"][0]["missing"]
        if missing:
            print(f"  not timed (no such method in this version): {', '.join(missing)}")
        # Nested steps (a collection drains first) are each timed; the outermost is the stretch.
        longest = max((s["max_cpu_ns"] for s in steps.values()), default=0) / 1e6
        bound = min(longest, switch_ms)
        print(f"  longest background step {longest:.3f} ms of CPU: without a C call longer "
              f"than the switch interval ({switch_ms:g} ms) it held the GIL at most "
              f"{bound:.3f} ms at a stretch")
        verdict = "OK" if bound <= BUDGET_GIL_MS else (
            "OVER, unless those steps let the GIL go inside (I/O, time.sleep(0) between "
            "chunks): the probe below measures the stretches themselves")
        print(f"budget: GIL held by background work at a stretch, bound from the steps = "
              f"{bound:.3f} ms (<= {BUDGET_GIL_MS} ms) -> {verdict}")
    if gil:
        realtime = all(g[p].get("realtime") for g in gil.values() for p in ("load", "quiet")
                       if g[p].get("samples"))
        print(f"\nGIL probe (a thread sleeping {PROBE_SLEEP_NS // 1000} us in a loop, "
              f"{'at real-time priority' if realtime else 'at normal priority (no SCHED_FIFO)'}; "
              "lateness = how long it waited to run again):")
        print(f"  {'variant':<15} {'phase':<6} {'wakeups':>8} {'p50 us':>8} {'p99 us':>8} "
              f"{'p99.9 us':>9} {'max us':>8} {'> 1 ms':>7}")
        for variant, g in gil.items():
            for phase in ("load", "quiet"):
                p = g[phase]
                if not p.get("samples"):
                    print(f"  {variant:<15} {phase:<6} {0:>8}")
                    continue
                print(f"  {variant:<15} {phase:<6} {p['samples']:>8} {p['p50_us']:>8.0f} "
                      f"{p['p99_us']:>8.0f} {p['p999_us']:>9.0f} {p['max_us']:>8.0f} "
                      f"{p['over_1ms']:>7}")
        if "inferwatch" in gil:
            _print_stalls(gil["inferwatch"])
            quiet = gil["inferwatch"]["quiet"]
            # A quiet wake-up late while a background step ran is that step's stretch.
            blamed = [st["late_us"] / 1000 for st in quiet.get("stalls", ()) if st["during"]]
            worst = max(blamed, default=0.0)
            base = gil.get("bare", {}).get("quiet", {}).get("max_us", 0.0) / 1000
            if worst <= BUDGET_GIL_MS:
                verdict = "OK"
            elif worst <= base:
                verdict = ("OVER or noise: this machine alone (bare, no load) made the probe "
                           "wait as long; re-run on a quiet machine")
            else:
                verdict = "OVER"
            print(f"budget: longest probe wait during a background step, no load = "
                  f"{worst:.3f} ms (bare's longest quiet wait, the machine's own noise: "
                  f"{base:.3f} ms) (<= {BUDGET_GIL_MS} ms) -> {verdict}")


def _print_stalls(g: dict[str, Any]) -> None:
    for phase in ("quiet", "load"):
        stalls = g[phase].get("stalls", [])
        if not stalls:
            continue
        print(f"  inferwatch server, longest probe waits ({phase}) and the background steps "
              "running then:")
        for st in stalls:
            print(f"    {st['late_us'] / 1000:7.2f} ms  during: "
                  f"{', '.join(st['during']) or 'no background step (other threads, the OS)'}")
            if not st["during"]:
                continue
            for thread, frames in sorted(st["stacks"].items()):
                # Where a background thread stood as the probe got the GIL back.
                if thread.startswith(("inferwatch", "Otel")) and " wait" not in frames[-1]:
                    print(f"      {thread} at: {' <- '.join(reversed(frames))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per variant")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of " + ", ".join(VARIANTS))
    parser.add_argument("--export-interval-ms", type=float, default=2000.0)
    parser.add_argument("--gil-seconds", type=float, default=4.0,
                        help="seconds of load with the GIL probe on, per variant (0 skips)")
    parser.add_argument("--quiet-seconds", type=float, default=3.0,
                        help="seconds without load with the GIL probe on, per variant")
    parser.add_argument("--blas-threads", type=int, default=0,
                        help="OPENBLAS/OMP/MKL_NUM_THREADS for the servers (default: as set)")
    parser.add_argument("--pin", action="store_true",
                        help="pin the servers to one CPU and the client to another")
    parser.add_argument("--max-seconds", type=float, default=1800.0,
                        help="servers exit by themselves after this long")
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 3 s runs and a short probe: a smoke check")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args)
        return 0
    if args.quick:  # smaller defaults; options given explicitly still win
        quick = {"rounds": 1, "duration": 3.0, "warmup": 1.0, "gil_seconds": 2.0,
                 "quiet_seconds": 2.5}
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    variants = [v for v in args.variants.split(",") if v]
    if "bare" not in variants or any(v not in VARIANTS for v in variants):
        parser.error(f"--variants must include bare and name only {', '.join(VARIANTS)}")
    args.server_cpu = client_cpu = None
    if args.pin and hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            args.server_cpu, client_cpu = cpus[0], cpus[1]
    kind = args.client
    if kind == "auto":
        kind = "wrk" if _have_wrk() else "httpx"
        if kind == "httpx":
            print("wrk not found (apt-get install wrk): falling back to the httpx client")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench_load-") as workdir:
        client = Client(kind, workdir, args.connections, client_cpu)
        servers = {v: Server(v, args, workdir) for v in variants}
        try:
            for server in servers.values():
                server.wait_ready()
                server.pause()
            print(f"bench_load: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
                  f"client {kind}, uvicorn {_uvicorn_flavour()}, servers ready in "
                  f"{time.monotonic() - started:.0f} s, load average {_loadavg()}")
            for variant in variants:
                measure(servers[variant], client, args.warmup)
            results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
            for r in range(args.rounds):
                order = variants[r % len(variants):] + variants[:r % len(variants)]
                for variant in order:
                    run = measure(servers[variant], client, args.duration)
                    results[variant].append(run)
                    print(f"  round {r + 1} {variant:<15} {run['throughput']:7.0f} req/s  "
                          f"p50 {_ms(run['p50_us'])} ms  p99 {_ms(run['p99_us'])} ms  "
                          f"p99.9 {_ms(run['p999_us'])} ms  "
                          f"CPU {run['cpu_us_per_request']:.0f} us/req", flush=True)
            gil: dict[str, dict[str, Any]] = {}
            if args.gil_seconds > 0:
                for variant in variants:
                    gil[variant] = probe_gil(servers[variant], client, args.gil_seconds,
                                             args.quiet_seconds)
            report(results, gil, args, client)
            if "inferwatch" in servers:
                check_counts(servers["inferwatch"], args.connections)
            logs = [f for f in os.listdir(workdir) if f.endswith(".jsonl")]
            size = sum(os.path.getsize(os.path.join(workdir, f)) for f in logs)
            if logs:
                print(f"\ninferwatch log file: {size / 1e6:.1f} MB written")
        finally:
            for server in servers.values():
                server.stop()
    print(f"total {time.monotonic() - started:.0f} s; load average now {_loadavg()} "
          f"(above ~1 per CPU other processes share the machine: re-measure when quiet)")
    return 0


def _uvicorn_flavour() -> str:
    """What uvicorn's "auto" picks: httptools and uvloop when installed, else h11 and asyncio."""
    from importlib.util import find_spec

    http = "httptools" if find_spec("httptools") else "h11"
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    return f"(http {http}, loop {loop})"


def _loadavg() -> str:
    try:
        return "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _have_wrk() -> bool:
    from shutil import which

    return which("wrk") is not None


if __name__ == "__main__":
    sys.exit(main())
