#!/usr/bin/env python3
"""GPU check: NVML readings, CUDA-event stage times beside wall-clock, the decorator's cost.

A small torch MLP on the GPU behind an ``@inferwatch.monitor``-decorated predict.
Prints, in one run (well under two minutes on a GPU machine):

1. what NVML reads for every device (``inferwatch.infra.gpu_reader``) and the CPU
   cost of one collection-time read (timeit, median);
2. per call: wall-clock around the unsynchronised call (the kernel *launch*),
   wall-clock with a ``torch.cuda.synchronize()`` after it, and the device time
   ``inferwatch.gpu_stage`` measured with CUDA events (the ``infer.gpu`` stage);
3. the decorator's added latency per call against the bare predict, medians of
   many interleaved calls, with and without a ``gpu_stage`` inside;
4. the cost per prediction the monitor attributes with example prices.

Needs torch and nvidia-ml-py installed (and inferwatch: run it from a checkout,
``python benchmarks/gpu_check.py``, or after ``pip install -e .``). Without torch
or without a CUDA device it says why and exits 0.

    python benchmarks/gpu_check.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000.0


def _nvml_section(inferwatch: Any) -> None:
    from inferwatch.infra import gpu_reader

    reader = gpu_reader()
    reading = reader.read()
    print("\n== NVML (inferwatch.infra.gpu_reader) ==")
    if not reading["available"]:
        print(f"  no GPU readings: {reading['reason']}")
        return
    def gib(value: Any) -> str:
        return "?" if value is None else f"{value / 2**30:.2f}"

    for d in reading["devices"]:
        print(f"  GPU {d['index']} {d['name']}: utilisation {d['utilization']}, memory "
              f"{gib(d['memory_used_bytes'])} / {gib(d['memory_total_bytes'])} GiB, "
              f"{d['temperature_c']} °C, {d['power_w']} W")
    runs = [timeit.timeit(reader.read, number=200) / 200 for _ in range(7)]
    points = [timeit.timeit(reader.points, number=200) / 200 for _ in range(7)]
    print(f"  one read of every device: {statistics.median(runs) * 1e6:.1f} µs "
          f"(median of 7 x 200); as metric points: {statistics.median(points) * 1e6:.1f} µs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per variant")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu_check: torch is not installed (pip install torch); nothing to check.")
        return 0
    if not torch.cuda.is_available():
        print(f"gpu_check: torch {torch.__version__} sees no CUDA device "
              f"(torch.cuda.is_available() is False); nothing to check.")
        return 0
    try:
        import inferwatch
    except ImportError:
        sys.path.insert(0, str(ROOT / "src"))
        import inferwatch

    device = torch.device("cuda")
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.get_device_name(device)}; inferwatch {inferwatch.__version__}, "
          f"pid {os.getpid()}")
    _nvml_section(inferwatch)

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(256, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 16),
    ).to(device).eval()
    batch = torch.randn(256, 256, device=device)

    monitor = inferwatch.Monitor(log_sink="none", metrics_exporter="none", environ={},
                                 handle_sigterm=False, cost_per_hour=4.0,
                                 gpu_cost_per_hour=3.5)

    def forward(x: Any) -> Any:
        with torch.inference_mode():
            return model(x)

    def bare(x: Any) -> Any:
        return forward(x)

    # prediction=None-returning extractor: the result stays on the GPU, uncopied, so
    # what is measured is the decorator itself.
    @inferwatch.monitor(model="mlp", version="1", monitor=monitor, prediction=lambda y: None)
    def monitored(x: Any) -> Any:
        return forward(x)

    @inferwatch.monitor(model="mlp-staged", version="1", monitor=monitor,
                        prediction=lambda y: None)
    def staged(x: Any) -> Any:
        with inferwatch.gpu_stage("infer"):
            return forward(x)

    for fn in (bare, monitored, staged):  # warm up: cuBLAS handles, kernels, caches
        for _ in range(50):
            fn(batch)
    torch.cuda.synchronize()
    monitor.collect()

    variants = {"bare": bare, "@monitor": monitored, "@monitor + gpu_stage": staged}
    launch: dict[str, list[int]] = {k: [] for k in variants}
    synced: dict[str, list[int]] = {k: [] for k in variants}
    clock = time.perf_counter_ns
    sync = torch.cuda.synchronize
    deadline = time.monotonic() + 75  # stay well inside two minutes
    done = 0
    for _ in range(args.calls):
        for name, fn in variants.items():  # interleaved: drift hits every variant alike
            t0 = clock()
            fn(batch)
            t1 = clock()
            sync()
            t2 = clock()
            launch[name].append(t1 - t0)
            synced[name].append(t2 - t0)
        done += 1
        if time.monotonic() > deadline:
            break

    # A manual CUDA-event pair around the bare call, resolved after a synchronise.
    event_ms = []
    for _ in range(min(done, 500)):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        bare(batch)
        end.record()
        end.synchronize()
        event_ms.append(start.elapsed_time(end))

    stages = {p.attributes["inferwatch.stage"]: p.value for p in monitor.collect()
              if p.name == "inferwatch.predict.stage.duration"}
    dropped = {k: v for k, v in monitor.summary()["dropped"].items()
               if k.startswith("gpu_") and v}

    print(f"\n== per call, median of {done} interleaved calls each (batch 256 x 256, "
          "3-layer MLP) ==")
    print(f"  {'variant':24} {'wall, no sync':>14} {'wall + sync':>12}")
    for name in variants:
        print(f"  {name:24} {_median_us(launch[name]):11.1f} µs {_median_us(synced[name]):9.1f} µs")
    print(f"  CUDA events around the bare call (manual, synchronised): "
          f"{statistics.median(event_ms) * 1000:.1f} µs of GPU time")
    if "infer.gpu" in stages:
        gpu, wall = stages["infer.gpu"], stages["infer"]
        print(f"  gpu_stage 'infer': wall {wall.sum / wall.count * 1e6:.1f} µs mean "
              f"(the launch), device {gpu.sum / gpu.count * 1e6:.1f} µs mean "
              f"({gpu.count} of {wall.count} calls resolved; lost: {dropped or 'none'})")
    else:
        print(f"  gpu_stage recorded no device time (lost: {dropped or 'none'})")

    print("\n== the decorator's added latency per call (median, same run) ==")
    base = _median_us(launch["bare"])
    for name in ("@monitor", "@monitor + gpu_stage"):
        print(f"  {name:24} +{_median_us(launch[name]) - base:6.2f} µs on the launch, "
              f"+{_median_us(synced[name]) - _median_us(synced['bare']):6.2f} µs synchronised")

    cost = monitor.summary().get("cost") or {}
    print("\n== cost (cost_per_hour=4.0, gpu_cost_per_hour=3.5, example prices) ==")
    print(f"  per prediction {cost.get('per_prediction')} USD over {cost.get('over_s'):.1f} s; "
          f"CPU share {cost.get('cpu_share')}, GPU busy {cost.get('gpu_busy_s')} s "
          f"({cost.get('gpu_source')})")
    monitor.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
