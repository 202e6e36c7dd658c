"""Cost of rendering log events, per record, off the request path.

Prints µs per record for record_to_event + StreamSink.emit to /dev/null
(orjson vs stdlib json), the alternative of a structlog bound logger per
event, the OTLP sink with an in-memory exporter, and pseudonym() cost.

    python benchmarks/bench_logs.py
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import structlog

from inferwatch._logs import record_to_event
from inferwatch._pii import PiiKey, Pseudonymizer
from inferwatch._record import Endpoint, HttpInfo, InferenceRecord
from inferwatch.logsinks import OtlpLogSink, StreamSink
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


def main() -> None:
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

    width = max(len(name) for name, _ in rows)
    for name, us in rows:
        print(f"{name:<{width}}  {us:8.2f} µs/record")

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
    devnull.close()


if __name__ == "__main__":
    main()
