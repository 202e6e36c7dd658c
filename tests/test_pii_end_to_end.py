"""Canary PII fed through features, attributes and exceptions never reaches any output."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

import inferwatch
from inferwatch.logsinks import RotatingFileSink, StreamSink

CANARY_EMAIL = "canary.user@example.org"
CANARY_USER = "user-8731-canary"
KEY = "k" * 8 + "0123456789abcdef0123456789abcdef"


def _forbidden() -> list[str]:
    raw = KEY.encode()
    return [CANARY_EMAIL, CANARY_USER, KEY, raw.hex(), base64.b64encode(raw).decode()]


def _exercise(mon: inferwatch.Monitor) -> None:
    @inferwatch.monitor(model="m", monitor=mon, features=lambda row: row,
                        attributes={"tenant": "acme"})
    def predict(row: dict[str, Any]) -> float:
        rec = inferwatch.current_record()
        assert rec is not None
        rec.attributes = {"user_id": row["user_id"]}
        if row.get("fail"):
            raise ValueError(f"cannot score {row['email']} for user_id={row['user_id']}")
        return 0.5

    for fail in (False, True):
        row = {"email": CANARY_EMAIL, "user_id": CANARY_USER, "secret_note": CANARY_EMAIL,
               "age": 41, "fail": fail}
        try:
            predict(row)
        except ValueError as exc:
            assert CANARY_EMAIL in str(exc)  # the caller's own exception is untouched


@pytest.mark.parametrize("sink_kind", ["stream", "file"])
def test_canaries_never_appear(sink_kind: str, tmp_path: Path) -> None:
    buffer = io.StringIO()
    path = tmp_path / "logs" / "inference.jsonl"
    sink = StreamSink(buffer) if sink_kind == "stream" else RotatingFileSink(
        str(path), max_bytes=10**6, rotate_seconds=3600, backups=1)
    mon = inferwatch.Monitor(
        log_sink=sink, environ={}, metrics_exporter="none", sample_rate=1.0,
        feature_sample_rate=1.0, pii_fields=["email", "user_id"], drop_fields=["secret_note"],
        pii_key=KEY, pii_key_id="7",
    )
    _exercise(mon)
    points = mon.collect()
    summary = mon.summary()
    mon.shutdown()
    text = buffer.getvalue() if sink_kind == "stream" else path.read_text()
    events = [json.loads(line) for line in text.splitlines()]
    assert len(events) == 2
    outputs = [text, repr(points), json.dumps(summary), repr(mon.config)]
    for needle in _forbidden():
        for output in outputs:
            assert needle not in output
    ok, err = events
    assert ok["features"]["email"].startswith("k7:")
    assert "secret_note" not in ok["features"]
    assert ok["features"]["age"] == 41
    assert ok["attributes"]["user_id"].startswith("k7:")
    assert ok["attributes"]["tenant"] == "acme"
    assert ok["features"]["user_id"] == ok["attributes"]["user_id"]  # joinable pseudonyms
    assert err["error.type"] == "ValueError"
    assert "cannot score" in err["error.message"]
    assert "feature_hash" in ok


def test_drop_only_needs_no_key(sink: Any) -> None:
    mon = inferwatch.Monitor(log_sink=sink, environ={}, metrics_exporter="none",
                             feature_sample_rate=1.0, drop_fields=["email", "secret_note"])
    _exercise(mon)
    mon.shutdown()
    assert all("email" not in e.get("features", {}) for e in sink.events)
    assert all("feature_hash" not in e for e in sink.events)
    assert CANARY_EMAIL not in json.dumps(sink.events)
