"""ASGI middleware cost on a small FastAPI predict route, as ratios to the bare app.

Run::

    python benchmarks/bench_asgi.py            # about a minute
    python benchmarks/bench_asgi.py --quick    # a few seconds, for a smoke check
    python benchmarks/bench_asgi.py --cpu      # process CPU time: for a busy machine
    python benchmarks/bench_asgi.py --large-body   # a ~1 MiB captured body, parsed or not

Each variant is its own FastAPI app with the same predict route, called with
raw ASGI messages (no sockets, no HTTP parsing): a fresh scope per request, a
``receive`` that hands over one JSON body of 20 features, a ``send`` that drops
what it gets. Variants run interleaved in rounds so drifts in machine speed
hit them alike; the figure per variant is the median over rounds of the mean
time per request.

inferwatch defers work to its background threads (aggregation, sampling,
PII hashing, log rendering). Left to their timers those threads would run
during whichever variant happens to be timed, charging inferwatch's work to
the others, so here the timers are set long and each inferwatch variant's
background work is done by ``Monitor.flush()`` right after its timed batch,
timed on its own: "us/request" is the request path (the latency a request
sees), "+ background" the flush's time per request, and "total" their sum,
the CPU the process spends per request (what throughput at saturation pays).
The anchors do all their work inside the request, so for them the two agree.

Wall time on a shared machine moves by a microsecond or so between runs, so
each variant's Python bytecodes per request are also counted (``sys.settrace``
with opcode events, over a few requests after the timed run): a figure that
does not depend on the machine and moves only when the code does. It leaves
out work done in C (numpy, orjson, pydantic-core), so it complements the
timings rather than replacing them.

Variants:

- ``bare``: the app alone.
- ``inferwatch``: ``InferenceMiddleware`` with everything on: a ``@monitor``
  predict capturing 20 features inside the route, JSON logs to /dev/null,
  sampling, PII pseudonymisation of a field, SLIs, and OTel export configured
  with a ``MeterProvider`` and an in-memory reader.
- ``inferwatch-mw-only``: the middleware alone (no decorator, logs or export),
  for a breakdown; not part of the budget checks.
- ``floor``: a reference, not a product: the least a middleware plus a
  predict decorator can do and still produce one record per request (a
  pass-through layer counting body bytes and taking status and end time, a
  context variable binding the record, a decorator timing predict and keeping
  a reference to its features, an append to a deque). No ids, no echoed
  header, no route template, no trace ids, no in-flight count, no error
  handling, no sampling: what is left is the cost of the ASGI and contextvars
  machinery itself, the lower bound for any pure-Python implementation.
- ``instrumentator``: prometheus-fastapi-instrumentator's default metrics.
- ``otel-metrics``: OTel's FastAPI instrumentation with a no-op tracer.
- ``otel-traces+metrics``: OTel's FastAPI instrumentation with an SDK tracer
  (batch processor, exporter that drops spans) and metrics.

Budgets (DESIGN.md, issue 9): inferwatch's request path ≤ 1.20x bare; its
added time ≤ 0.35x the instrumentator's; background ≤ 4 us per request. The
ratios to OTel's instrumentation are printed for reference.

``--large-body`` times instead one route with a ``Capture`` receiving a
~1 MiB JSON body: the bare app, the middleware with the default
``max_body_bytes`` (64 KiB: the body is counted, not parsed) and with the
limit raised to 2 MiB (the body is parsed on the event loop after the
response, as every captured body up to 1 MiB was before).
"""

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

N_FEATURES = 20
PII_KEY = "hex:" + "5a" * 32

Message = dict[str, Any]
# name, ASGI app, background work to time after each batch (or None), cleanup
Variant = tuple[str, Any, Callable[[], None] | None, Callable[[], None]]
#: Background threads stay idle during the run; Monitor.flush() does their work.
IDLE_TIMERS_MS = 60_000.0
#: What a request's time is read from: wall time, or with ``--cpu`` the CPU
#: time of the whole process (every thread), which other processes on a busy
#: machine do not inflate.
CLOCK: Callable[[], float] = time.perf_counter


def make_app(with_monitor: Any = None, decorate: Callable[[Any], Any] | None = None) -> Any:
    import numpy as np
    from fastapi import FastAPI
    from pydantic import BaseModel

    import inferwatch

    weights = np.linspace(-1.0, 1.0, N_FEATURES)

    class Request(BaseModel):
        user_id: str
        features: list[float]

    def score(user_id: str, features: np.ndarray) -> float:
        return float(1.0 / (1.0 + np.exp(-features @ weights)))

    if with_monitor is not None:
        score = inferwatch.monitor(
            model="churn", version="3", monitor=with_monitor,
            features=lambda user_id, features: {"user_id": user_id, "x": features},
        )(score)

    if decorate is not None:
        score = decorate(score)

    app = FastAPI()

    @app.post("/models/{name}/predict")
    async def predict(name: str, request: Request) -> dict[str, float]:
        return {"prediction": score(request.user_id, np.asarray(request.features))}

    return app


def bare() -> Variant:
    return "bare", make_app(), None, lambda: None


def with_inferwatch() -> Variant:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    import inferwatch
    from inferwatch.asgi import InferenceMiddleware
    from inferwatch.logsinks import StreamSink

    devnull = open("/dev/null", "w")  # noqa: SIM115 - closed by the returned cleanup
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    monitor = inferwatch.Monitor(
        log_sink=StreamSink(devnull),
        meter_provider=meter_provider,
        sample_rate=0.1,
        feature_sample_rate=0.1,
        pii_fields=["user_id"],
        pii_key=PII_KEY,
        flush_interval_ms=IDLE_TIMERS_MS,
        environ={},
    )
    app = InferenceMiddleware(make_app(monitor), monitor=monitor, model="churn")

    def close() -> None:
        monitor.shutdown()
        meter_provider.shutdown()
        devnull.close()

    return "inferwatch", app, monitor.flush, close


class _FloorRecord:
    __slots__ = ("duration_ns", "features", "joinable", "prediction", "request_size",
                 "response_size", "start_ns", "status", "total_ns")

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.joinable = True
        self.request_size = self.response_size = self.duration_ns = self.total_ns = 0
        self.status = 0
        self.features: Any = None
        self.prediction: Any = None


def floor() -> Variant:
    """The lower bound described in the module docs (``floor``)."""
    import contextvars
    import functools
    from collections import deque
    from time import perf_counter_ns

    current: contextvars.ContextVar[_FloorRecord | None] = contextvars.ContextVar(
        "floor", default=None
    )
    records: deque[_FloorRecord] = deque()

    def monitor(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def timed(user_id: str, features: Any) -> Any:
            record = current.get()
            if record is None or not record.joinable:
                return func(user_id, features)
            record.joinable = False
            record.features = {"user_id": user_id, "x": features}
            start = perf_counter_ns()
            result = func(user_id, features)
            record.duration_ns = perf_counter_ns() - start
            record.prediction = result
            return result

        return timed

    class Middleware:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            record = _FloorRecord(perf_counter_ns())
            token = current.set(record)

            async def counted_receive() -> Message:
                message = await receive()
                record.request_size += len(message.get("body", b""))
                return message

            async def timed_send(message: Message) -> None:
                await send(message)
                if message["type"] == "http.response.body":
                    record.response_size += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        record.total_ns = perf_counter_ns() - record.start_ns
                elif message["type"] == "http.response.start":
                    record.status = message["status"]

            try:
                await self.app(scope, counted_receive, timed_send)
            finally:
                current.reset(token)
                records.append(record)

    return "floor (reference)", Middleware(make_app(decorate=monitor)), records.clear, lambda: None


def middleware_only() -> Variant:
    """The middleware's own cost: no predict decorator, no logs, no export."""
    import inferwatch
    from inferwatch.asgi import InferenceMiddleware

    monitor = inferwatch.Monitor(
        log_sink="none", metrics_exporter="none", flush_interval_ms=IDLE_TIMERS_MS, environ={}
    )
    app = InferenceMiddleware(make_app(), monitor=monitor)
    return "inferwatch-mw-only", app, monitor.flush, monitor.shutdown


def with_instrumentator() -> Variant:
    from prometheus_client import CollectorRegistry
    from prometheus_fastapi_instrumentator import Instrumentator

    app = make_app()
    Instrumentator(registry=CollectorRegistry()).instrument(app)
    return "instrumentator", app, None, lambda: None


def with_otel(traces: bool) -> Variant:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import NoOpTracerProvider

    class DropSpans(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    tracer_provider: Any
    if traces:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    else:
        tracer_provider = NoOpTracerProvider()
    app = make_app()
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, meter_provider=meter_provider
    )

    def close() -> None:
        meter_provider.shutdown()
        if traces:
            tracer_provider.shutdown()

    return ("otel-traces+metrics" if traces else "otel-metrics"), app, None, close


def request_parts() -> tuple[dict[str, Any], bytes]:
    body = json.dumps({
        "user_id": "user-1234@example.com",
        "features": [round(0.05 * i, 3) for i in range(N_FEATURES)],
    }).encode()
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/models/churn/predict", "raw_path": b"/models/churn/predict",
        "root_path": "", "query_string": b"",
        "headers": [
            (b"host", b"bench"), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }
    return scope, body


async def drive(app: Any, n: int, scope: dict[str, Any], body: bytes) -> float:
    """Mean seconds per request over ``n`` sequential requests."""
    request: Message = {"type": "http.request", "body": body, "more_body": False}
    status: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    headers = scope["headers"]
    start = CLOCK()
    for _ in range(n):
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return request

        fresh = dict(scope)
        fresh["headers"] = list(headers)
        fresh["state"] = {}
        await app(fresh, receive, send)
    elapsed = CLOCK() - start
    if status[-1] != 200:
        raise SystemExit(f"benchmark app answered {status[-1]}, not 200")
    return elapsed / n


def bytecodes_per_request(app: Any, scope: dict[str, Any], body: bytes, n: int = 20) -> float:
    """Python bytecodes executed per request (every frame, inferwatch's and the app's)."""
    executed = 0

    def trace(frame: Any, event: str, arg: Any) -> Any:
        nonlocal executed
        if event == "call":
            frame.f_trace_opcodes = True
        elif event == "opcode":
            executed += 1
        return trace

    async def measured() -> None:
        sys.settrace(trace)
        try:
            await drive(app, n, scope, body)
        finally:
            sys.settrace(None)

    asyncio.run(measured())
    return executed / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--requests", type=int, default=300, help="requests per variant per round")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 100 requests")
    parser.add_argument("--cpu", action="store_true",
                        help="time with the process's CPU time, not wall time (busy machines)")
    parser.add_argument("--large-body", action="store_true",
                        help="time a ~1 MiB captured body instead (see the module docs)")
    args = parser.parse_args(argv)
    global CLOCK
    if args.cpu:
        CLOCK = time.process_time
    if args.quick:
        args.rounds, args.requests = 3, 100
    if args.large_body:
        return large_body(min(args.rounds, 9), max(1, min(args.requests, 20)))

    variants = [bare(), with_inferwatch(), middleware_only(), floor(), with_instrumentator(),
                with_otel(False), with_otel(True)]
    scope, body = request_parts()
    times: dict[str, list[float]] = {name: [] for name, *_ in variants}
    background: dict[str, list[float]] = {name: [] for name, *_ in variants}

    async def run() -> None:
        for _, app, flush, _ in variants:  # warm up: imports, caches, lazily built routes
            await drive(app, 50, scope, body)
            if flush is not None:
                flush()
        for i in range(args.rounds):
            order = variants[i % len(variants):] + variants[: i % len(variants)]
            for name, app, flush, _ in order:
                gc.collect()
                times[name].append(await drive(app, args.requests, scope, body))
                if flush is not None:
                    started = CLOCK()
                    flush()
                    background[name].append((CLOCK() - started) / args.requests)

    started = time.perf_counter()
    try:
        asyncio.run(run())
    finally:
        for *_, close in variants:
            close()
    took = time.perf_counter() - started

    median = {name: statistics.median(values) for name, values in times.items()}
    behind = {name: statistics.median(values) if values else 0.0
              for name, values in background.items()}
    total = {name: median[name] + behind[name] for name in median}
    base = median["bare"]
    opcodes = {name: bytecodes_per_request(app, scope, body) for name, app, *_ in variants}
    for _, _, flush, _ in variants:
        if flush is not None:
            flush()
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds x {args.requests} requests, "
          f"{took:.1f} s, {'process CPU' if args.cpu else 'wall'} time")
    print(f"{'variant':<22}{'us/request':>12}{'x bare':>9}{'added us':>10}"
          f"{'+ background':>14}{'total x bare':>14}{'bytecodes':>11}{'added':>7}")
    for name, value in median.items():
        print(f"{name:<22}{value * 1e6:>12.1f}{value / base:>9.3f}{(value - base) * 1e6:>10.1f}"
              f"{behind[name] * 1e6:>14.1f}{total[name] / base:>14.3f}"
              f"{opcodes[name]:>11.0f}{opcodes[name] - opcodes['bare']:>7.0f}")

    print()
    print("request path (the latency a request sees):")
    report_budgets(median, base, behind["inferwatch"])
    print("total CPU per request, background work included (no budget of its own):")
    report_budgets(total, base, budgets=False)
    return 0


def report_budgets(
    seconds: dict[str, float], base: float, background_s: float | None = None,
    budgets: bool = True,
) -> None:
    added = {name: value - base for name, value in seconds.items()}
    ours = added["inferwatch"]
    checks: list[tuple[str, float, float | None]] = [
        ("inferwatch / bare", seconds["inferwatch"] / base, 1.20),
        ("added: inferwatch / instrumentator", ours / added["instrumentator"], 0.35),
        ("added: inferwatch / otel-metrics", ours / added["otel-metrics"], None),
        ("added: inferwatch / otel-traces+metrics", ours / added["otel-traces+metrics"], None),
    ]
    if background_s is not None:
        checks.append(("background us per request", background_s * 1e6, 4.0))
    for label, ratio, budget in checks:
        if budget is None or not budgets:
            print(f"  {label:<42}{ratio:>8.3f}  (for reference)")
            continue
        verdict = "ok" if ratio <= budget else "OVER BUDGET"
        print(f"  {label:<42}{ratio:>8.3f}  (budget <= {budget:.2f})  {verdict}")


def large_body(rounds: int, requests: int) -> int:
    """Per-request time with a ~1 MiB captured JSON body: bounded (default) vs parsed."""
    from fastapi import FastAPI, Request

    import inferwatch
    from inferwatch.asgi import Capture, InferenceMiddleware

    def app() -> Any:
        api = FastAPI()

        @api.post("/score")
        async def score(request: Request) -> dict[str, int]:
            return {"n": len(await request.body())}

        return api

    monitor = inferwatch.Monitor(
        log_sink="none", metrics_exporter="none", flush_interval_ms=IDLE_TIMERS_MS,
        feature_sample_rate=1.0, environ={},
    )
    monitor.add_feature_consumer(lambda records: None)  # drift on: every body is wanted
    capture = {"/score": Capture(features=lambda body: body["features"])}
    variants = {
        "bare": app(),
        "inferwatch (default: not parsed)": InferenceMiddleware(
            app(), monitor=monitor, capture=capture),
        "inferwatch, max_body_bytes=2 MiB (parsed)": InferenceMiddleware(
            app(), monitor=monitor, capture=capture, max_body_bytes=2 * 1024 * 1024),
    }
    body = json.dumps({"features": [0.123456789] * 80_000}).encode()  # just under 1 MiB
    scope, _ = request_parts()
    scope = {**scope, "path": "/score", "raw_path": b"/score"}
    times: dict[str, list[float]] = {name: [] for name in variants}

    async def run() -> None:
        for api in variants.values():
            await drive(api, 3, scope, body)
        for i in range(rounds):
            names = list(variants)
            names = names[i % len(names):] + names[: i % len(names)]
            for name in names:
                times[name].append(await drive(variants[name], requests, scope, body))
                monitor.flush()

    try:
        asyncio.run(run())
    finally:
        monitor.shutdown()
    median = {name: statistics.median(values) for name, values in times.items()}
    base = median["bare"]
    print(f"python {sys.version.split()[0]}, {len(body) / 2**20:.2f} MiB body, "
          f"{rounds} rounds x {requests} requests")
    print(f"{'variant':<44}{'ms/request':>11}{'added ms':>10}")
    for name, value in median.items():
        print(f"{name:<44}{value * 1e3:>11.2f}{(value - base) * 1e3:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
