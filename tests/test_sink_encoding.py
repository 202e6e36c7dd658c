"""Every line a sink writes is valid UTF-8, whatever strings the events carry."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from inferwatch._logs import record_to_event
from inferwatch._record import Endpoint, InferenceRecord
from inferwatch.logsinks import JsonLinesRenderer, RotatingFileSink, StreamSink
from inferwatch.logsinks._base import HAVE_ORJSON

# Valid JSON a client may send: the stdlib parser returns lone surrogates for these.
HOSTILE = json.loads('["\\ud800", "a\\udfffb", "\\udc80\\ud83d", "😀", "caf\\u00e9", "\\u0000"]')
RENDERERS = [pytest.param(True, id="orjson"), pytest.param(False, id="json")]


def events() -> list[dict[str, Any]]:
    record = InferenceRecord(Endpoint("predict", "m", "1"), 0, 0, 1, HOSTILE[0], 0, 0)
    record.prediction = {"label": HOSTILE[1], HOSTILE[2]: 1}
    record.attributes = {"note": HOSTILE[0] + HOSTILE[3]}
    rendered = record_to_event(
        record,
        rule="rate",
        adjusted_count=1.0,
        service_name="svc",
        pseudonymizer=None,
        include_features=False,
    )
    return [{"event": "x", "values": HOSTILE, HOSTILE[0]: "key"}, rendered]


def check(data: bytes, expected: list[dict[str, Any]]) -> None:
    text = data.decode("utf-8")  # strict: raises on any invalid byte sequence
    assert [json.loads(line) for line in text.splitlines()] == expected


@pytest.mark.parametrize("use_orjson", RENDERERS)
def test_renderer_writes_valid_utf8(use_orjson: bool) -> None:
    if use_orjson and not HAVE_ORJSON:
        pytest.skip("orjson not installed")
    expected = events()
    data, failed = JsonLinesRenderer(use_orjson).render(expected)
    assert failed == 0
    check(data, expected)


@pytest.mark.parametrize("use_orjson", RENDERERS)
def test_stream_and_file_sinks_write_valid_utf8(use_orjson: bool, tmp_path: Path) -> None:
    if use_orjson and not HAVE_ORJSON:
        pytest.skip("orjson not installed")
    expected = events()
    raw = io.BytesIO()
    StreamSink(raw, use_orjson=use_orjson).emit(expected)
    check(raw.getvalue(), expected)
    text = io.StringIO()
    StreamSink(text, use_orjson=use_orjson).emit(expected)
    check(text.getvalue().encode("utf-8"), expected)
    path = tmp_path / "log.jsonl"
    sink = RotatingFileSink(path, use_orjson=use_orjson)
    sink.emit(expected)
    sink.close()
    check(path.read_bytes(), expected)
    assert sink.losses() == {}


def test_otlp_sink_carries_lone_surrogates_as_text() -> None:
    from opentelemetry.sdk._logs import LoggerProvider, export

    from inferwatch.logsinks import OtlpLogSink

    exporter_cls = getattr(export, "InMemoryLogRecordExporter", None) or export.InMemoryLogExporter
    exporter = exporter_cls()
    provider = LoggerProvider()
    provider.add_log_record_processor(export.SimpleLogRecordProcessor(exporter))
    sink = OtlpLogSink(provider)
    sink.emit(events())
    assert sink.losses() == {}
    for item in exporter.get_finished_logs():
        record = getattr(item, "log_record", item)
        for value in [record.body, *dict(record.attributes or {}).values()]:
            for text in value if isinstance(value, tuple) else [value]:
                if isinstance(text, str):
                    text.encode("utf-8")  # protobuf needs valid UTF-8


@pytest.mark.parametrize("encoding", ["ascii", "cp1252", "latin-1"])
def test_a_text_stream_that_is_not_utf8_still_gets_utf8_lines(encoding: str) -> None:
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding=encoding)
    text.write("printed by the app\n")
    sink = StreamSink(text)
    expected = events()
    sink.emit(expected)
    text.flush()
    first, rest = raw.getvalue().split(b"\n", 1)
    assert first == b"printed by the app"  # order kept
    check(rest, expected)
    assert sink.losses() == {}
