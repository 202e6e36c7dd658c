"""The inferwatch demo: an instrumented model under replayed traffic.

A small numpy model (logistic regression over 20 numeric features) sits
behind a ``@inferwatch.monitor``-decorated predict function. The demo replays
a few thousand synthetic requests, some of them batches, some invalid (they
raise), some slow, then shows what inferwatch produced: sampled JSON log
records, the SLI summary, the sampling counts and the metrics it would
export over OpenTelemetry.

Run it with ``python3 tasks.py demo`` (sets everything up), or, inside the
project's virtual environment, ``python examples/demo.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

import inferwatch
from inferwatch.logsinks import RotatingFileSink

N_FEATURES = 20
FEATURES = [f"f{i:02d}" for i in range(N_FEATURES)]


class ChurnModel:
    """Logistic regression with fixed weights: fast, deterministic, numpy only."""

    def __init__(self, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.weights = rng.normal(0, 0.6, N_FEATURES)
        self.bias = -0.2

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or infinity")
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))


def build_service(monitor: inferwatch.Monitor, model: ChurnModel) -> Any:
    @inferwatch.monitor(model="churn", version="2024-05", features="x", monitor=monitor,
                        confidence=lambda p: np.maximum(p, 1 - p))
    def predict(x: np.ndarray, *, slow: bool = False) -> np.ndarray:
        with inferwatch.stage("validate"):
            x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        with inferwatch.stage("inference"):
            if slow:
                time.sleep(0.03)  # a cold cache, a GC pause: the calls ops asks about
            proba = model.predict_proba(x)
        with inferwatch.stage("postprocess"):
            return np.round(proba, 4)

    return predict


def replay(predict: Any, n_requests: int, seed: int = 1) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    outcomes = {"ok": 0, "error": 0}
    for i in range(n_requests):
        rows = 1 if rng.random() < 0.8 else int(rng.integers(2, 33))
        x = rng.normal(0, 1, (rows, N_FEATURES))
        if rng.random() < 0.02:
            x[0, int(rng.integers(N_FEATURES))] = np.nan  # a client sends bad data
        try:
            predict(x, slow=(i % 150 == 75))
            outcomes["ok"] += 1
        except ValueError:
            outcomes["error"] += 1  # the model's own exception reached us unchanged
    return outcomes


def show_logs(path: Path) -> None:
    events = [json.loads(line) for line in path.read_text().splitlines()]
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_rule.setdefault(event["sampling.rule"], []).append(event)
    print(f"\n== log records: {len(events)} written to {path} ==")
    for rule in ("error", "slow", "low_confidence", "rate"):
        if rule in by_rule:
            event = dict(by_rule[rule][0])
            if "features" in event:
                event["features"] = f"<{len(event['features'])} rows/values, elided here>"
            print(f"-- one '{rule}' record (of {len(by_rule[rule])}):")
            print(json.dumps(event, indent=None)[:700])


def show_slis(monitor: inferwatch.Monitor) -> None:
    summary = monitor.summary()
    print("\n== service SLIs ==")
    for model, sli in summary["models"].items():
        print(f"model {model}: {sli['calls']} calls, {sli['predictions']} predictions, "
              f"error rate {sli['error_rate']:.2%}, in flight {sli['in_flight']}")
        print(f"  latency p50 {sli['latency_p50_ms']:.3f} ms, p95 {sli['latency_p95_ms']:.3f} ms,"
              f" p99 {sli['latency_p99_ms']:.3f} ms")
    print("\n== sampling (rule/decision: records) ==")
    for key, n in summary["sampling"].items():
        print(f"  {key:<28} {n}")
    print(f"  dropped by inferwatch: {summary['dropped']}; own errors: {summary['errors']}")


def show_metrics(monitor: inferwatch.Monitor) -> None:
    print("\n== metrics handed to OpenTelemetry at collection time ==")
    totals: dict[str, Any] = {}
    for point in monitor.collect():
        value = point.value
        if hasattr(value, "counts"):
            entry = totals.setdefault(point.name, [0, 0.0])
            entry[0] += value.count
            entry[1] += value.sum
        else:
            totals[point.name] = totals.get(point.name, 0) + value
    for name, value in sorted(totals.items()):
        if isinstance(value, list):
            mean = value[1] / max(value[0], 1)
            print(f"  {name:<44} histogram: {value[0]} values, mean {mean:.6g}")
        else:
            print(f"  {name:<44} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--out", default=".iw-demo")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(exist_ok=True)
    log_path = out / "inference.jsonl"
    log_path.unlink(missing_ok=True)
    monitor = inferwatch.Monitor(
        service_name="churn-api",
        log_sink=RotatingFileSink(str(log_path), max_bytes=50 * 1024 * 1024,
                                  rotate_seconds=86400, backups=2),
        feature_sample_rate=0.05,
        slow_threshold_ms=25,
        low_confidence_threshold=0.52,
        pii_key="hex:" + "5e" * 32,  # a real deployment reads INFERWATCH_PII_KEY
        metrics_exporter="none",
    )
    predict = build_service(monitor, ChurnModel())
    print(f"replaying {args.requests} requests through @inferwatch.monitor ...")
    started = time.perf_counter()
    outcomes = replay(predict, args.requests)
    elapsed = time.perf_counter() - started
    monitor.flush()
    print(f"done in {elapsed:.2f} s: {outcomes['ok']} ok, {outcomes['error']} raised "
          f"(ValueError from the model, propagated unchanged)")
    show_logs(log_path)
    show_slis(monitor)
    show_metrics(monitor)
    monitor.shutdown()


if __name__ == "__main__":
    main()
