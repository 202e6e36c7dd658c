"""App logs join inference records: the structlog processor and the logging.Filter.

End to end through a real Monitor (``inferwatch.testing.capture``): the ids
the application's own log lines get inside a monitored call are the ids the
inference record is logged with, pseudonymised alike.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from typing import Any

import pytest
import structlog

import inferwatch
from inferwatch.logs import InferenceIdFilter, InferenceIds, add_inference_ids
from inferwatch.testing import capture

KEY = "hex:" + secrets.token_hex(32)


def structlog_logger() -> tuple[Any, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def keep(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        seen.append(dict(event_dict))
        raise structlog.DropEvent

    logger = structlog.wrap_logger(
        structlog.PrintLogger(io.StringIO()), processors=[add_inference_ids, keep]
    )
    return logger, seen


def stdlib_logger() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(InferenceIdFilter())
    handler.setFormatter(logging.Formatter("%(inference_id)s|%(trace_id)s|%(message)s"))
    logger = logging.getLogger(f"inferwatch-test-{secrets.token_hex(4)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, out


def test_app_logs_carry_the_logged_inference_id() -> None:
    slog, seen = structlog_logger()
    log, out = stdlib_logger()

    with capture() as cap:

        @inferwatch.monitor(model="iris", name="predict_flowers")
        def predict(x: list[float]) -> int:
            slog.info("scoring", rows=1)
            log.info("scoring")
            return 1

        predict([1.0, 2.0])
        log.info("outside")
        slog.info("outside")
        logs = cap.logs
    assert len(logs) == 1
    inference_id = logs[0]["inference.id"]
    assert seen[0]["inference.id"] == inference_id
    assert seen[1] == {"event": "outside"}
    inside, outside = out.getvalue().splitlines()
    assert inside.split("|")[0] == inference_id and inside.endswith("|scoring")
    assert outside == "||outside"


def test_app_logs_get_the_pseudonym_when_the_id_is_pii() -> None:
    slog, seen = structlog_logger()
    log, out = stdlib_logger()
    raw = "alice@example.org"

    with capture(pii_fields=["x-request-id"], pii_key=KEY) as cap:

        @inferwatch.monitor(model="iris", inference_id=lambda x, request_id: request_id)
        def predict(x: list[float], request_id: str) -> int:
            slog.info("scoring")
            log.info("scoring")
            return 1

        predict([1.0], request_id=raw)
        logs = cap.logs
    logged = logs[0]["inference.id"]
    assert logged != raw and logged.startswith("k")
    assert seen[0]["inference.id"] == logged
    assert out.getvalue().split("|")[0] == logged
    assert raw not in out.getvalue() and raw not in json.dumps(seen)


def test_trace_ids_are_added_inside_a_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("t")
    slog, seen = structlog_logger()
    log, out = stdlib_logger()
    with capture() as cap:

        @inferwatch.monitor(model="iris")
        def predict(x: list[float]) -> int:
            slog.info("scoring")
            log.info("scoring")
            return 1

        with tracer.start_as_current_span("request"):
            predict([1.0])
        logs = cap.logs
    assert seen[0]["trace_id"] == logs[0]["trace_id"] and len(seen[0]["trace_id"]) == 32
    assert seen[0]["span_id"] == logs[0]["span_id"]
    assert out.getvalue().split("|")[1] == logs[0]["trace_id"]


def test_callers_own_keys_win_and_nothing_raises() -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError("monitor gone")

    event = InferenceIds(monitor=Broken())(None, "info", {"event": "x", "inference.id": "mine"})
    assert event == {"event": "x", "inference.id": "mine"}
    record = logging.LogRecord("n", logging.INFO, __file__, 1, "m", None, None)
    record.inference_id = "mine"
    assert InferenceIdFilter(default=None).filter(record) is True
    assert record.inference_id == "mine" and not hasattr(record, "trace_id")


@pytest.mark.parametrize("default", ["", "-"])
def test_filter_default_outside_a_call(default: str) -> None:
    record = logging.LogRecord("n", logging.INFO, __file__, 1, "m", None, None)
    InferenceIdFilter(default=default).filter(record)
    assert (record.inference_id, record.trace_id, record.span_id) == (default,) * 3  # type: ignore[attr-defined]
