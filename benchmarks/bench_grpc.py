"""Added latency of inferwatch's gRPC server interceptor, against the anchors, in one run.

Unary calls over loopback in one process: a sync ``grpc.server`` with 4
worker threads, a JSON echo servicer, one client channel calling in a loop.
Variants, each on its own server, interleaved in rounds so machine noise hits
them alike:

* bare         no interceptor
* inferwatch   ``inferwatch_grpc.InferenceInterceptor`` (logs rendered to
               /dev/null, every call sampled)
* otel         ``opentelemetry-instrumentation-grpc``'s server interceptor with
               an SDK TracerProvider and no exporter (spans only: it emits no
               metrics), when that package is installed

Per variant: median over rounds of the mean time per call in a block of
calls; "added" is that minus bare's. Anchor (ANCHORS.md): bare ≈ 885 µs per
call, OTel's interceptor adds ≈ 240 µs (1.27x).

Run: python benchmarks/bench_grpc.py [--rounds 30] [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from inferwatch_grpc import InferenceInterceptor

import inferwatch
from inferwatch.logsinks import StreamSink

METHOD = "/bench.Model/Predict"


def _dumps(message: Any) -> bytes:
    return json.dumps(message).encode()


def _loads(data: bytes) -> Any:
    return json.loads(data)


def _predict(request: Any, context: grpc.ServicerContext) -> Any:
    return {"score": sum(request["x"]) / len(request["x"])}


def _serve(interceptors: list[grpc.ServerInterceptor]) -> tuple[grpc.Server, int]:
    server = grpc.server(ThreadPoolExecutor(max_workers=4), interceptors=interceptors)
    handler = grpc.method_handlers_generic_handler("bench.Model", {
        "Predict": grpc.unary_unary_rpc_method_handler(
            _predict, request_deserializer=_loads, response_serializer=_dumps
        ),
    })
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _otel_interceptor() -> grpc.ServerInterceptor | None:
    try:
        from opentelemetry.instrumentation.grpc import server_interceptor
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        return None
    # The instrumentation package ships untyped.
    interceptor: grpc.ServerInterceptor = server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=TracerProvider()
    )
    return interceptor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=200, help="calls per block")
    args = parser.parse_args()

    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the benchmark
    monitor = inferwatch.Monitor(
        log_sink=StreamSink(devnull), metrics_exporter="none", environ={}
    )
    variants: dict[str, list[grpc.ServerInterceptor]] = {
        "bare": [],
        "inferwatch": [InferenceInterceptor(monitor=monitor)],
    }
    otel = _otel_interceptor()
    if otel is not None:
        variants["otel"] = [otel]
    else:
        print("opentelemetry-instrumentation-grpc not installed: otel variant skipped")

    servers: list[grpc.Server] = []
    calls: dict[str, Callable[..., Any]] = {}
    channels: list[grpc.Channel] = []
    for name, interceptors in variants.items():
        server, port = _serve(interceptors)
        servers.append(server)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        channels.append(channel)
        calls[name] = channel.unary_unary(
            METHOD, request_serializer=_dumps, response_deserializer=_loads
        )
    request = {"x": [0.1] * 20}
    try:
        for call in calls.values():  # warm up connections and code paths
            for _ in range(200):
                call(request, timeout=10)
        per_call: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                t0 = time.perf_counter()
                for _ in range(args.calls):
                    call(request, timeout=10)
                per_call[name].append((time.perf_counter() - t0) / args.calls * 1e6)
    finally:
        for channel in channels:
            channel.close()
        for server in servers:
            server.stop(None)
        monitor.shutdown()
        devnull.close()

    bare = statistics.median(per_call["bare"])
    print(f"unary gRPC calls over loopback, sync server with 4 threads; "
          f"{args.rounds} rounds x {args.calls} calls, medians")
    print(f"{'variant':<12}{'µs/call':>10}{'added µs':>10}{'ratio':>8}")
    for name, values in per_call.items():
        median = statistics.median(values)
        print(f"{name:<12}{median:>10.1f}{median - bare:>10.1f}{median / bare:>8.3f}")
    if "otel" in per_call:
        ours = statistics.median(per_call["inferwatch"]) - bare
        theirs = statistics.median(per_call["otel"]) - bare
        if theirs > 0:
            print(f"inferwatch adds {ours / theirs:.2f}x what OTel's interceptor adds")
    print("anchor: bare ≈ 885 µs/call; OTel's interceptor adds ≈ 240 µs (1.27x)")


if __name__ == "__main__":
    main()
