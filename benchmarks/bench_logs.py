"""Cost of rendering log events, per record, off the request path.

Prints µs per record for record_to_event + StreamSink.emit to /dev/null
(orjson vs stdlib json), the processor pipeline with a user processor, the
rotating file sink (flock-guarded, shared by workers) and a fan-out to two
sinks, the alternative of a structlog bound logger per event, the OTLP sink
with an in-memory exporter (a provider of yours, and the sink's own counted
one), and pseudonym() cost; ratios are against figures of the same run.

``--baseline FILE`` loads another version of ``_logs.py`` (e.g. from
``git show HEAD~5:src/inferwatch/_logs.py``) beside the current one and
prints both renderers' cost, interleaved, best of many rounds:

    python benchmarks/bench_logs.py
    python benchmarks/bench_logs.py --baseline /tmp/old_logs.py
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import structlog

from inferwatch._logs import LogPipeline, record_to_event
from inferwatch._pii import PiiKey, Pseudonymizer
from inferwatch._record import Endpoint, HttpInfo, InferenceRecord
from inferwatch.logsinks import FanoutSink, OtlpLogSink, RotatingFileSink, StreamSink
from inferwatch.logsinks._base import HAVE_ORJSON

BATCH = 256


def make_records(n: int) -> list[InferenceRecord]:
    endpoint = Endpoint("predict", "iris", "3", {"region": "eu"})
    out = []
    base = time.time_ns()
    for i in range(n):
        r = InferenceRecord(endpoint, base + i * 1000, 0, 0xABC + i, None, 0x1234 + i, 0x56)
        r.duration_ns = 1_234_567
        r.stages = {"preprocess": 100_000, "model": 1_000_000}
        r.attributes = {"user_id": f"user-{i}", "tenant": "acme"}
        r.prediction = np.int64(i % 3)
        r.confidence = np.float32(0.9)
        r.features = {f"f{j}": float(j) for j in range(20)}
        http = HttpInfo("http", "POST", "/predict")
        http.status_code = 200
        r.http = http
        out.append(r)
    return out


def per_record(fn: Callable[[], Any], records: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / records * 1e6


def compare_baseline(path: str, records: list[InferenceRecord], p: Pseudonymizer) -> None:
    """The current record_to_event against another version's, interleaved."""
    spec = importlib.util.spec_from_file_location("inferwatch._logs_baseline", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    import inferwatch._logs as new

    print(f"\nbaseline {path} vs current, best of 40 interleaved rounds (order alternating):")
    for label, pseudo, feats in (
        ("no pseudonymizer", None, False),
        ("pseudonymizer", p, False),
        ("pseudonymizer, 20 features", p, True),
    ):
        best = {"baseline": float("inf"), "current": float("inf")}
        pair = [("baseline", old), ("current", new)]
        for _ in range(40):
            # The order alternates: the second of a pair runs with the first's
            # caches (the pseudonymizer's among them) and would look slower.
            pair.reverse()
            for name, mod in pair:
                render = mod.record_to_event
                t0 = time.perf_counter()
                for r in records:
                    render(
                        r,
                        rule="rate",
                        adjusted_count=10.0,
                        service_name="svc",
                        pseudonymizer=pseudo,
                        include_features=feats,
                    )
                best[name] = min(best[name], time.perf_counter() - t0)
        b, c = (best[k] / len(records) * 1e6 for k in ("baseline", "current"))
        print(f"  record_to_event, {label:<28} baseline {b:6.2f} µs  current {c:6.2f} µs  "
              f"ratio {c / b:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="another version's _logs.py to compare with")
    args = parser.parse_args()
    records = make_records(BATCH)
    key = PiiKey("1", os.urandom(32))
    p = Pseudonymizer(key, fields=["user_id"], drop_fields=["ssn"])
    devnull = open(os.devnull, "wb")  # noqa: SIM115 -- kept open for the whole run

    def events(pseudo: Pseudonymizer | None, features: bool) -> list[dict[str, Any]]:
        return [
            record_to_event(
                r,
                rule="rate",
                adjusted_count=10.0,
                service_name="svc",
                pseudonymizer=pseudo,
                include_features=features,
            )
            for r in records
        ]

    print(f"records per batch: {BATCH}; orjson installed: {HAVE_ORJSON}")
    rows: list[tuple[str, float]] = []
    rows.append(
        ("record_to_event, no pseudonymizer", per_record(lambda: events(None, False), BATCH))
    )
    rows.append(
        (
            "record_to_event, pseudonymizer (+feature_hash)",
            per_record(lambda: events(p, False), BATCH),
        )
    )
    rows.append(
        ("record_to_event, pseudonymizer, 20 features", per_record(lambda: events(p, True), BATCH))
    )
    ready = events(p, False)
    for use_orjson in (True, False):
        if use_orjson and not HAVE_ORJSON:
            continue
        sink = StreamSink(devnull, use_orjson=use_orjson)
        name = "orjson" if use_orjson else "json"
        rows.append(
            (f"StreamSink.emit only ({name})", per_record(lambda s=sink: s.emit(ready), BATCH))
        )
        rows.append(
            (
                f"record_to_event + StreamSink.emit ({name})",
                per_record(lambda s=sink: s.emit(events(p, False)), BATCH),
            )
        )

    # The alternative: a private structlog bound logger, one call per event.
    if HAVE_ORJSON:
        import orjson

        bound = structlog.wrap_logger(
            structlog.BytesLogger(devnull),
            processors=[structlog.processors.JSONRenderer(serializer=orjson.dumps)],
        )

        def via_bound_logger() -> None:
            for e in ready:
                bound.info(**e)

        rows.append(
            (
                "structlog wrap_logger+BytesLogger per event (orjson)",
                per_record(via_bound_logger, BATCH),
            )
        )

    from opentelemetry.sdk._logs import LoggerProvider, export

    exporter_cls = getattr(export, "InMemoryLogRecordExporter", None) or export.InMemoryLogExporter
    exporter = exporter_cls()
    provider = LoggerProvider()
    provider.add_log_record_processor(export.SimpleLogRecordProcessor(exporter))
    otlp = OtlpLogSink(provider)

    def via_otlp() -> None:
        otlp.emit(ready)
        exporter.clear()

    rows.append(("OtlpLogSink.emit (in-memory exporter)", per_record(via_otlp, BATCH)))

    # The sink's own provider: queue accounting and the counting exporter wrapper.
    counted = OtlpLogSink(exporter=exporter_cls(), max_queue_size=BATCH * 8)
    own = counted.exporter

    def via_counted() -> None:
        counted.emit(ready)
        counted.flush(10.0)
        own.clear()

    rows.append(("OtlpLogSink.emit+flush (own provider, counted)", per_record(via_counted, BATCH)))

    def add_region(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        event_dict["region"] = "eu-west-1"
        return event_dict

    pipeline = LogPipeline(
        service_name="svc", pseudonymizer=p, include_features=False, processors=[add_region]
    )
    rows.append(
        (
            "LogPipeline.render + 1 user processor",
            per_record(lambda: [pipeline.render(r, "rate", 10.0) for r in records], BATCH),
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        file_sink = RotatingFileSink(os.path.join(tmp, "log.jsonl"), max_bytes=1 << 30)
        rows.append(
            ("RotatingFileSink.emit (flock)", per_record(lambda: file_sink.emit(ready), BATCH))
        )
        both = FanoutSink(
            [RotatingFileSink(os.path.join(tmp, "b.jsonl"), max_bytes=1 << 30), StreamSink(devnull)]
        )
        rows.append(("FanoutSink(file, stream).emit", per_record(lambda: both.emit(ready), BATCH)))
        file_sink.close()
        both.close()

    width = max(len(name) for name, _ in rows)
    for name, us in rows:
        print(f"{name:<{width}}  {us:8.2f} µs/record")
    figures = dict(rows)
    plain = figures["record_to_event, pseudonymizer (+feature_hash)"]
    stream = figures.get("StreamSink.emit only (orjson)") or figures["StreamSink.emit only (json)"]
    counted_ratio = (
        figures["OtlpLogSink.emit+flush (own provider, counted)"]
        / figures["OtlpLogSink.emit (in-memory exporter)"]
    )
    print(
        f"ratios: pipeline+processor / record_to_event "
        f"{figures['LogPipeline.render + 1 user processor'] / plain:.2f}; "
        f"file sink / stream sink {figures['RotatingFileSink.emit (flock)'] / stream:.2f}; "
        f"OTLP own provider (batch, counted, +flush) / yours (simple) {counted_ratio:.2f}"
    )

    n = 200_000
    email = "canary.user@example.org"
    for label, fn in (
        ("pseudonym(email)", lambda: p.pseudonym(email)),
        ("pseudonym(int)", lambda: p.pseudonym(123456789)),
        (
            "hmac.new(...).digest() for comparison",
            lambda: hmac.new(key.secret, email.encode(), hashlib.sha256).digest(),
        ),
    ):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        print(f"{label:<{width}}  {(time.perf_counter() - t0) / n * 1e6:8.2f} µs")
    feats = {f"f{j}": float(j) for j in range(20)}
    arr = np.arange(20.0)
    for label, value in (("feature_hash(dict of 20)", feats), ("feature_hash(array of 20)", arr)):
        t0 = time.perf_counter()
        for _ in range(20_000):
            p.feature_hash(value)
        print(f"{label:<{width}}  {(time.perf_counter() - t0) / 20_000 * 1e6:8.2f} µs")
    if args.baseline:
        compare_baseline(args.baseline, records, p)
    devnull.close()


if __name__ == "__main__":
    main()
