"""Log events and sinks: schema, PII never rendered, rotation, failures survived."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from structlog import DropEvent

from inferwatch._errors import ConfigurationError
from inferwatch._logs import (
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_ROUTE_CHARS,
    MAX_STRING_CHARS,
    LogPipeline,
    RenderCounter,
    default_processors,
    make_log_sink,
    record_to_event,
    to_jsonable,
)
from inferwatch._pii import PiiKey, Pseudonymizer
from inferwatch._record import Endpoint, HttpInfo, InferenceRecord
from inferwatch.logsinks import (
    FanoutSink,
    JsonLinesRenderer,
    LogSink,
    NullSink,
    OtlpLogSink,
    RotatingFileSink,
    StreamSink,
)
from inferwatch.logsinks._base import HAVE_ORJSON

SECRET = bytes(range(200, 232))
CANARY_EMAIL = "canary.user@example.org"
CANARY_ID = "canary-user-8675309"
CANARY_SSN = "987-65-4321"
TS_NS = 1_714_564_800_123_456_789  # 2024-05-01T12:00:00.123456789Z


def forbidden() -> list[str]:
    """Text that must never appear in any rendered output."""
    return [
        CANARY_EMAIL,
        CANARY_ID,
        CANARY_SSN,
        "8675309",
        SECRET.hex(),
        base64.b64encode(SECRET).decode().rstrip("="),
        base64.urlsafe_b64encode(SECRET).decode().rstrip("="),
        SECRET.decode("latin-1"),
    ]


def assert_clean(text: str) -> None:
    for bad in forbidden():
        assert bad not in text, bad


def pseudonymizer(**kw: Any) -> Pseudonymizer:
    kw.setdefault("fields", ["user_id", "email"])
    kw.setdefault("drop_fields", ["ssn"])
    return Pseudonymizer(PiiKey("1", SECRET), **kw)


def make_record(**fields: Any) -> InferenceRecord:
    endpoint = Endpoint("predict", "iris", "3", {"region": "eu"})
    record = InferenceRecord(endpoint, TS_NS, 0, 0xABC, None, 0x1234, 0x56)
    record.duration_ns = 1_234_567
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def pii_record() -> InferenceRecord:
    """A record carrying the canaries in every place PII can enter."""
    http = HttpInfo("http", "POST", "/predict")
    http.status_code = 500
    return make_record(
        attributes={
            "user_id": CANARY_ID,
            "email": CANARY_EMAIL,
            "ssn": CANARY_SSN,
            "note": f"from {CANARY_EMAIL}",
        },
        features={
            "age": np.int64(31),
            "user_id": CANARY_ID,
            "ssn": CANARY_SSN,
            "contact": {"email": CANARY_EMAIL},
            "bio": f"mail {CANARY_EMAIL}",
        },
        outcome="error",
        error_type="ValueError",
        error_message=f"unknown user_id={CANARY_ID} ({CANARY_EMAIL}) ssn={CANARY_SSN}",
        prediction={"label": "setosa", "email": CANARY_EMAIL},
        http=http,
    )


def event(record: InferenceRecord | None = None, **kw: Any) -> dict[str, Any]:
    kw.setdefault("rule", "rate")
    kw.setdefault("adjusted_count", 10.0)
    kw.setdefault("service_name", "svc")
    kw.setdefault("pseudonymizer", None)
    kw.setdefault("include_features", False)
    return record_to_event(record or make_record(), **kw)


# -- schema ---------------------------------------------------------------------------


def test_minimal_event_schema() -> None:
    e = event()
    assert e == {
        "timestamp": "2024-05-01T12:00:00.123456Z",
        "level": "info",
        "event": "inference",
        "inference.id": f"{0xABC:032x}",
        "trace_id": f"{0x1234:032x}",
        "span_id": f"{0x56:016x}",
        "service.name": "svc",
        "model.name": "iris",
        "model.version": "3",
        "endpoint": "predict",
        "outcome": "ok",
        "duration_ms": 1.235,
        "batch_size": 1,
        "sampling.rule": "rate",
        "sampling.adjusted_count": 10.0,
        "attributes": {"region": "eu"},
    }


def test_zero_ids_are_left_out_and_caller_id_wins() -> None:
    record = InferenceRecord(Endpoint("f", "m", "1"), 0, 0, 5, "req-1", 0, 0)
    e = event(record)
    assert "trace_id" not in e and "span_id" not in e and "attributes" not in e
    assert e["inference.id"] == "req-1"
    assert e["timestamp"] == "1970-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    ("outcome", "rule", "level"),
    [
        ("ok", "rate", "info"),
        ("error", "error", "error"),
        ("ok", "slow", "warning"),
        ("ok", "low_confidence", "warning"),
        ("error", "rate", "error"),
    ],
)
def test_level(outcome: str, rule: str, level: str) -> None:
    assert event(make_record(outcome=outcome), rule=rule)["level"] == level


def test_timestamps_across_seconds() -> None:
    a = event(make_record(timestamp_ns=TS_NS))["timestamp"]
    b = event(make_record(timestamp_ns=TS_NS + 1_000_000_000))["timestamp"]
    assert (a, b) == ("2024-05-01T12:00:00.123456Z", "2024-05-01T12:00:01.123456Z")


def test_optional_fields() -> None:
    http = HttpInfo("http", "GET", "/v1/predict")
    http.status_code, http.request_size, http.response_size = 200, 10, 20
    http.ttfb_ns, http.duration_ns = 500_000, 2_000_000
    record = make_record(
        stages={"preprocess": 1_000_000, "model": 234_567},
        batch_size=4,
        prediction=np.arange(40),
        confidence=np.float32(0.75),
        http=http,
        attributes={"region": "us", "tenant": "a"},
    )
    e = event(record)
    assert e["stages_ms"] == {"preprocess": 1.0, "model": 0.235}
    assert e["batch_size"] == 4
    assert e["prediction"] == list(range(32)) and e["prediction_truncated"] == 8
    assert e["confidence"] == 0.75 and type(e["confidence"]) is float
    assert e["attributes"] == {"region": "us", "tenant": "a"}
    assert e["http.request.method"] == "GET"
    assert e["http.route"] == "/v1/predict"
    assert e["http.response.status_code"] == 200
    assert (e["http.request.body.size"], e["http.response.body.size"]) == (10, 20)
    assert e["inferwatch.http.ttfb_ms"] == 0.5
    assert e["inferwatch.transport.duration_ms"] == 2.0
    assert not {"http.server.ttfb_ms", "transport.duration_ms"} & set(e)
    assert "features" not in e and "feature_hash" not in e


def test_grpc_fields() -> None:
    info = HttpInfo("grpc", "/iris.Model/Predict")
    info.status_code = "OK"
    info.request_size, info.response_size, info.ttfb_ns = 7, 9, 250_000
    e = event(make_record(http=info))
    assert e["rpc.system.name"] == "grpc"
    assert e["rpc.method"] == "iris.Model/Predict"  # semantic conventions: no leading slash
    assert e["rpc.response.status_code"] == "OK"
    assert (e["inferwatch.rpc.request.size"], e["inferwatch.rpc.response.size"]) == (7, 9)
    assert e["inferwatch.rpc.time_to_first_message_ms"] == 0.25
    assert not any(k.startswith("http.") for k in e)
    renamed = {
        "rpc.status_code",
        "rpc.request.size",
        "rpc.response.size",
        "rpc.server.time_to_first_message_ms",
    }
    assert not renamed & set(e)


def test_features_rendering() -> None:
    p = pseudonymizer()
    e = event(
        make_record(features=np.arange(6.0).reshape(2, 3)), include_features=True, pseudonymizer=p
    )
    assert e["features"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert e["feature_hash"] == p.feature_hash([[0, 1, 2], [3, 4, 5]])
    big = event(make_record(features=np.zeros((100, 3))), include_features=True)
    assert len(big["features"]) == 32
    rows = event(make_record(features=[[1, 2], [3, 4]]), include_features=True)
    assert rows["features"] == [[1, 2], [3, 4]]
    flat = event(make_record(features=(1.5, float("inf"))), include_features=True)
    assert flat["features"] == [1.5, "Infinity"]
    hidden = event(make_record(features=object()), include_features=True)
    assert hidden["features"] == "<object: not rendered>"
    no_hash = event(make_record(features=[1]), include_features=False, pseudonymizer=p)
    assert "features" not in no_hash and "feature_hash" in no_hash


def test_to_jsonable_odd_values() -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("nope")

    assert to_jsonable(Weird()) == "<Weird>"
    assert to_jsonable(2**70) == str(2**70)
    assert to_jsonable(float("nan")) == "NaN"
    assert to_jsonable(float("-inf")) == "-Infinity"
    assert to_jsonable({1: np.bool_(True), "b": (np.float16(0.5),)}) == {"1": True, "b": [0.5]}
    assert to_jsonable("x" * 1000) == "x" * 1000
    assert len(to_jsonable(object())) <= 200
    assert to_jsonable(b"\x00abc") == repr(b"\x00abc")
    deep: list[Any] = []
    for _ in range(50):
        deep = [deep]
    json.dumps(to_jsonable(deep))


def test_failing_field_is_marked_and_counted() -> None:
    class Exploding:
        ndim = 1

        def tolist(self) -> list[int]:
            raise RuntimeError("boom")

        def __len__(self) -> int:
            raise RuntimeError("boom")

        def __getitem__(self, item: Any) -> Any:
            raise RuntimeError("boom")

    class BadStages(dict[str, int]):
        def items(self) -> Any:
            raise RuntimeError("boom")

    counter = RenderCounter()
    record = make_record(stages=BadStages(a=1), prediction=Exploding())
    e = event(record, counter=counter)
    assert e["stages_ms"] == "<unrenderable: RuntimeError>"
    assert e["prediction"].startswith("<")
    assert counter.errors == e["inferwatch.render_errors"] >= 1
    json.dumps(e)


def test_broken_record_still_renders_something() -> None:
    record = make_record()
    record.endpoint = None  # type: ignore[assignment]
    counter = RenderCounter()
    e = event(record, counter=counter)
    assert e["record"] == "<unrenderable: AttributeError>"
    assert counter.errors >= 1


# -- PII never rendered -----------------------------------------------------------------


def rendered_everywhere(events: list[dict[str, Any]], tmp_path: Path) -> list[str]:
    """Render events through every sink and return what each produced."""
    buf = io.StringIO()
    StreamSink(buf).emit(events)
    out = [buf.getvalue()]
    path = tmp_path / "logs" / "events.jsonl"
    sink = RotatingFileSink(path)
    sink.emit(events)
    sink.close()
    out.append(path.read_text())
    exporter, provider = otel_memory()
    otlp = OtlpLogSink(provider)
    otlp.emit(events)
    out.append(repr([otel_fields(r) for r in exporter.get_finished_logs()]))
    assert otlp.errors == 0
    return out


@pytest.mark.parametrize("detect", [False, True])
def test_canaries_never_rendered_with_pseudonymizer(tmp_path: Path, detect: bool) -> None:
    p = pseudonymizer(detect_emails=detect, detect_phones=detect)
    e = event(pii_record(), pseudonymizer=p, include_features=True)
    outputs = rendered_everywhere([e], tmp_path)
    for text in outputs:
        assert p.pseudonym(CANARY_ID) in text
        assert "ssn" not in text.replace("ssn=<dropped>", "")
        if detect:
            assert_clean(text)
        else:
            # Without detectors, only free text in unnamed fields keeps the email;
            # named fields, error messages and the key are always protected.
            assert_clean(
                text.replace(f"from {CANARY_EMAIL}", "").replace(f"mail {CANARY_EMAIL}", "")
            )
    assert e["attributes"]["email"] == p.pseudonym(CANARY_EMAIL)
    assert e["prediction"]["email"] == p.pseudonym(CANARY_EMAIL)
    assert "ssn" not in e["features"] and "ssn" not in e["attributes"]


def test_error_message_redacted_without_pseudonymizer(tmp_path: Path) -> None:
    record = make_record(
        outcome="error",
        error_type="KeyError",
        error_message=f"{CANARY_EMAIL} tel +1 415 555 0100 " + "z" * 900,
    )
    e = event(record)
    assert e["error.message"].startswith("<email> tel <phone> ")
    assert len(e["error.message"]) <= 256
    for text in rendered_everywhere([e], tmp_path):
        assert CANARY_EMAIL not in text and "555 0100" not in text


def test_exception_locals_never_logged() -> None:
    def fail(password: str) -> None:
        raise ValueError("bad input")

    p = pseudonymizer()
    record = make_record()
    try:
        fail("hunter2-local")
    except ValueError as exc:
        record.set_error(exc)
    e = event(record, pseudonymizer=p)
    assert "hunter2-local" not in json.dumps(e)
    assert e["error.type"] == "ValueError" and e["error.message"] == "bad input"


# -- stream sink ------------------------------------------------------------------------


@pytest.mark.parametrize("use_orjson", [True, False])
def test_stream_sink_writes_json_lines(use_orjson: bool) -> None:
    if use_orjson and not HAVE_ORJSON:
        pytest.skip("orjson not installed")
    buf = io.StringIO()
    sink = StreamSink(buf, use_orjson=use_orjson)
    events = [event(), event(make_record(prediction="café ☕"))]
    sink.emit(events)
    lines = buf.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == events
    assert sink.errors == sink.dropped == 0


def test_stream_sink_binary_stream_and_default_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    raw = io.BytesIO()
    StreamSink(raw).emit([{"event": "x"}])
    assert json.loads(raw.getvalue()) == {"event": "x"}
    StreamSink().emit([{"event": "y"}])
    make_log_sink("stderr").emit([{"event": "z"}])
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"event": "y"}
    assert json.loads(captured.err) == {"event": "z"}


def test_stream_sink_survives_broken_stream() -> None:
    stream = io.StringIO()
    sink = StreamSink(stream)
    stream.close()
    sink.emit([{"event": "x"}, {"event": "y"}])
    sink.flush()
    sink.close()
    assert sink.errors >= 1 and sink.dropped == 2


def test_unrenderable_events_are_counted_not_raised() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return CANARY_EMAIL

    buf = io.StringIO()
    sink = StreamSink(buf)
    sink.emit([{"a": Opaque(), "big": 2**80}, {"event": "ok"}])
    text = buf.getvalue()
    assert CANARY_EMAIL not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first == {"a": "<Opaque>", "big": 2**80}
    assert second == {"event": "ok"}


def test_renderer_counts_events_it_cannot_render() -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    data, failed = JsonLinesRenderer().render([circular, {"ok": 1}])
    assert failed == 1
    assert json.loads(data) == {"ok": 1}


# -- rotating file sink -------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_file_sink_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "log.jsonl"
    line_len = len(json.dumps({"n": 0}, separators=(",", ":"))) + 1
    sink = RotatingFileSink(path, max_bytes=line_len * 3, backups=2)
    for n in range(10):
        sink.emit([{"n": n}])
    sink.close()
    read = lambda p: [json.loads(x)["n"] for x in p.read_text().splitlines()]  # noqa: E731
    assert read(path) == [9]
    assert read(Path(f"{path}.1")) == [6, 7, 8]
    assert read(Path(f"{path}.2")) == [3, 4, 5]
    assert not Path(f"{path}.3").exists()
    assert sink.rotations == 3


def test_file_sink_rotates_by_time(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "log.jsonl"
    sink = RotatingFileSink(path, rotate_seconds=60, backups=1, clock=clock)
    sink.emit([{"n": 1}])
    clock.now += 59
    sink.emit([{"n": 2}])
    assert not Path(f"{path}.1").exists()
    clock.now += 1
    sink.emit([{"n": 3}])
    clock.now += 60
    sink.emit([{"n": 4}])
    sink.close()
    assert path.read_text() == '{"n":4}\n'
    assert Path(f"{path}.1").read_text() == '{"n":3}\n'


def test_file_sink_without_backups(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    sink = RotatingFileSink(path, max_bytes=10, backups=0)
    sink.emit([{"n": 1}])
    sink.emit([{"n": 2}])
    sink.close()
    assert path.read_text() == '{"n":2}\n'
    assert list(tmp_path.iterdir()) == [path]


def test_file_sink_reopens_a_deleted_file(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    sink = RotatingFileSink(path)
    sink.emit([{"n": 1}])
    path.unlink()
    sink.emit([{"n": 2}])
    sink.close()
    assert path.read_text() == '{"n":2}\n'
    assert sink.errors == 0


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="needs POSIX permissions that root ignores"
)
def test_file_sink_survives_an_unwritable_directory(tmp_path: Path) -> None:
    clock = Clock()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        sink = RotatingFileSink(locked / "log.jsonl", retry_seconds=5, clock=clock)
        sink.emit([{"n": 1}])
        sink.emit([{"n": 2}])
        assert (sink.errors, sink.dropped) == (1, 2)  # the retry waits for its time
        locked.chmod(0o700)
        clock.now += 5
        sink.emit([{"n": 3}])
        sink.close()
        assert (locked / "log.jsonl").read_text() == '{"n":3}\n'
        assert sink.errors == 1
    finally:
        locked.chmod(0o700)


def test_file_sink_survives_a_path_that_is_a_directory(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "log.jsonl"
    path.mkdir()
    sink = RotatingFileSink(path, retry_seconds=1, clock=clock)
    sink.emit([{"n": 1}])
    assert sink.errors == 1 and sink.dropped == 1
    path.rmdir()
    clock.now += 1
    sink.emit([{"n": 2}])
    sink.flush()
    assert path.read_text() == '{"n":2}\n'
    sink.close()


@pytest.mark.parametrize("kw", [{"max_bytes": 0}, {"rotate_seconds": 0}, {"backups": -1}])
def test_file_sink_bad_options(tmp_path: Path, kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RotatingFileSink(tmp_path / "x", **kw)


# -- OTLP sink ------------------------------------------------------------------------------


def otel_memory() -> tuple[Any, Any]:
    from opentelemetry.sdk._logs import LoggerProvider, export

    exporter_cls = getattr(export, "InMemoryLogRecordExporter", None) or export.InMemoryLogExporter
    exporter = exporter_cls()
    provider = LoggerProvider()
    provider.add_log_record_processor(export.SimpleLogRecordProcessor(exporter))
    return exporter, provider


def otel_fields(item: Any) -> dict[str, Any]:
    record = getattr(item, "log_record", item)
    return {
        "body": record.body,
        "attributes": dict(record.attributes or {}),
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "severity_text": record.severity_text,
        "severity_number": record.severity_number.value,
        "timestamp": record.timestamp,
    }


def test_otlp_sink_maps_fields() -> None:
    exporter, provider = otel_memory()
    sink = OtlpLogSink(provider)
    e = event(
        make_record(
            outcome="error",
            error_type="ValueError",
            error_message="bad",
            stages={"model": 2_000_000},
            prediction=[1, 2],
            features={"a": 1},
        ),
        rule="error",
        include_features=True,
    )
    sink.emit([e, event()])
    sink.flush()
    sink.close()  # does not shut down a provider it did not build
    first, second = (otel_fields(x) for x in exporter.get_finished_logs())
    assert first["body"] == "inference error iris@3 1.235 ms ValueError: bad"
    assert first["trace_id"] == 0x1234 and first["span_id"] == 0x56
    assert first["severity_text"] == "ERROR" and first["severity_number"] == 17
    assert first["timestamp"] == 1_714_564_800_123_456_000
    attrs = first["attributes"]
    assert attrs["model.name"] == "iris"
    assert attrs["stages_ms.model"] == 2.0
    assert attrs["attributes.region"] == "eu"
    assert tuple(attrs["prediction"]) == (1, 2)
    assert json.loads(attrs["features"]) == {"a": 1}
    assert "timestamp" not in attrs and "trace_id" not in attrs
    assert second["severity_text"] == "INFO"
    assert sink.errors == 0


def test_otlp_sink_caps_attributes_and_survives_bad_events() -> None:
    exporter, provider = otel_memory()
    sink = OtlpLogSink(provider)
    wide = {f"k{i}": i for i in range(300)}
    sink.emit([{"trace_id": "not-hex"}, wide, {"big": 2**70, "mixed": [1, "a"], "none": None}])
    logs = [otel_fields(x) for x in exporter.get_finished_logs()]
    assert sink.errors == 1
    assert len(logs[0]["attributes"]) <= 101
    assert logs[1]["attributes"] == {"big": str(2**70), "mixed": '[1,"a"]'}


def test_otlp_default_provider_is_built_and_shut_down() -> None:
    sink = make_log_sink("otlp")
    assert isinstance(sink, OtlpLogSink)
    sink.close()


# -- factory ---------------------------------------------------------------------------------


def test_make_log_sink_kinds(tmp_path: Path) -> None:
    assert isinstance(make_log_sink("stdout"), StreamSink)
    assert isinstance(make_log_sink(" None "), NullSink)
    file_sink = make_log_sink("file", path=str(tmp_path / "l.jsonl"), max_bytes=10, backups=1)
    assert isinstance(file_sink, RotatingFileSink) and file_sink.max_bytes == 10
    for sink in (make_log_sink("stdout"), NullSink(), file_sink):
        assert isinstance(sink, LogSink)
    NullSink().emit([{"x": 1}])


def test_make_log_sink_errors() -> None:
    with pytest.raises(ConfigurationError, match="needs a path"):
        make_log_sink("file")
    with pytest.raises(ConfigurationError, match="stdout, stderr, file, otlp, none"):
        make_log_sink("syslog")


# -- inference id and string caps ------------------------------------------------------------


@pytest.mark.parametrize("field", ["x-request-id", "X-Request-Id", "inference.id", "request_id"])
def test_caller_id_is_pseudonymised_when_listed(field: str, tmp_path: Path) -> None:
    p = pseudonymizer(fields=[field])
    record = make_record(inference_id=CANARY_EMAIL)
    e = event(record, pseudonymizer=p)
    assert e["inference.id"] == p.pseudonym(CANARY_EMAIL)
    for text in rendered_everywhere([e], tmp_path):
        assert CANARY_EMAIL not in text


def test_id_field_names_can_be_added_for_a_custom_header() -> None:
    p = pseudonymizer(fields=["x-correlation-id"])
    record = make_record(inference_id=CANARY_ID)
    assert event(record, pseudonymizer=p)["inference.id"] == CANARY_ID  # not an id name
    pipeline = LogPipeline(pseudonymizer=p, id_fields=["X-Correlation-Id"])
    rendered = pipeline.render(record, "rate", 1.0)
    assert rendered is not None and rendered["inference.id"] == p.pseudonym(CANARY_ID)


def test_generated_and_unlisted_ids_stay_as_they_are() -> None:
    p = pseudonymizer(fields=["inference.id"])
    generated = make_record()  # no caller id: a random id is nobody's data
    assert event(generated, pseudonymizer=p)["inference.id"] == f"{0xABC:032x}"
    unlisted = pseudonymizer(fields=["user_id"])
    assert event(make_record(inference_id="req-7"), pseudonymizer=unlisted)["inference.id"] == (
        "req-7"
    )


def test_rendered_strings_are_capped() -> None:
    http = HttpInfo("http", "POST", "/r/" + "a" * 5000)
    endpoint = Endpoint("f" * 900, "m" * 900, "v" * 900)
    record = InferenceRecord(endpoint, TS_NS, 0, 1, "i" * 8000, 0, 0)
    record.outcome, record.error_type = "error", "E" * 900
    record.error_message = "bad value " * 900
    record.attributes = {"note": "n" * 5000}
    record.prediction = ["p" * 5000]
    record.http = http
    e = event(record)
    limits = {
        "inference.id": MAX_ID_CHARS,
        "http.route": MAX_ROUTE_CHARS,
        "error.type": MAX_NAME_CHARS,
        "model.name": MAX_NAME_CHARS,
        "model.version": MAX_NAME_CHARS,
        "endpoint": MAX_NAME_CHARS,
    }
    for key, limit in limits.items():
        assert len(e[key]) == limit and e[key].endswith("…"), key
    assert 0 < len(e["error.message"]) <= 256
    assert len(e["attributes"]["note"]) == MAX_STRING_CHARS
    assert len(e["prediction"][0]) == MAX_STRING_CHARS
    assert len(json.dumps(e)) < 6000  # an 8,000-character id is not on every line


def test_grpc_status_is_capped() -> None:
    info = HttpInfo("grpc", "/" + "s" * 900)
    info.status_code = "S" * 900
    e = event(make_record(http=info))
    assert len(e["rpc.method"]) == MAX_ROUTE_CHARS
    assert len(e["rpc.response.status_code"]) == MAX_NAME_CHARS


def test_http_scheme_and_protocol_version() -> None:
    http = HttpInfo("http", "GET", "/p", scheme="https", protocol_version="2")
    e = event(make_record(http=http))
    assert (e["url.scheme"], e["network.protocol.version"]) == ("https", "2")
    assert "url.scheme" not in event(make_record(http=HttpInfo("http", "GET", "/p")))


# -- the processor pipeline -----------------------------------------------------------------


def test_pipeline_runs_user_processors_after_the_built_ins() -> None:
    seen: list[Any] = []

    def add_region(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        seen.append((method_name, event_dict["_record"], "model.name" in event_dict))
        event_dict["region"] = "eu-west-1"
        return event_dict

    class Rename:
        def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
            event_dict["svc"] = event_dict.pop("service.name")
            return event_dict

    record = make_record(outcome="error")
    pipeline = LogPipeline(service_name="svc", processors=[add_region, Rename()])
    e = pipeline.render(record, "error", 1.0)
    assert e is not None
    assert seen == [("error", record, True)]
    assert e["region"] == "eu-west-1" and e["svc"] == "svc" and "service.name" not in e
    assert "_record" not in e
    assert pipeline.losses() == {}
    base = event(record, rule="error", adjusted_count=1.0)
    base["svc"] = base.pop("service.name")
    assert e == {**base, "region": "eu-west-1"}


def test_pipeline_drops_are_counted() -> None:
    def drop_health(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        if event_dict["model.name"] == "iris":
            raise DropEvent
        return event_dict

    def broken(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        raise RuntimeError("user bug")

    def returns_none(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        return None

    assert LogPipeline(processors=[drop_health]).render(make_record(), "rate", 1.0) is None
    for proc in (broken, returns_none):
        pipeline = LogPipeline(processors=[proc])
        assert pipeline.render(make_record(), "rate", 1.0) is None
        assert pipeline.render(make_record(), "rate", 1.0) is None
        assert pipeline.losses() == {"log_processor_error": 2}
    pipeline = LogPipeline(processors=[drop_health])
    pipeline.render(make_record(), "rate", 1.0)
    assert pipeline.losses() == {"log_processor_dropped": 1}


def test_pipeline_rejects_what_is_not_a_processor() -> None:
    with pytest.raises(ConfigurationError, match="not callable"):
        LogPipeline(processors=["add_region"])  # type: ignore[list-item]


def test_built_in_processors_are_structlog_processors() -> None:
    record = make_record(stages={"model": 1_000_000})
    event_dict: dict[str, Any] = {"_record": record}
    for proc in default_processors(None, include_features=False):
        event_dict = proc(None, "info", event_dict)
    assert event_dict["stages_ms"] == {"model": 1.0}
    assert event_dict["attributes"] == {"region": "eu"}


# -- several sinks -----------------------------------------------------------------------------


def test_make_log_sink_several(tmp_path: Path) -> None:
    sink = make_log_sink("file, stderr", path=str(tmp_path / "l.jsonl"))
    assert isinstance(sink, FanoutSink)
    assert sink.names == ["file", "stderr"]
    assert [type(s) for s in sink.sinks] == [RotatingFileSink, StreamSink]
    sink.emit([{"event": "x"}])
    sink.close(1.0)
    assert (tmp_path / "l.jsonl").read_text() == '{"event":"x"}\n'
    assert sink.losses_by_sink() == {"file": {}, "stderr": {}}


@pytest.mark.parametrize("kind", ["file,file", "none,stdout", "stdout,syslog", " , "])
def test_make_log_sink_refuses_bad_lists(kind: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="sink"):
        make_log_sink(kind, path=str(tmp_path / "l"))
