"""Coverage-guided fuzzing of log rendering: ``record_to_event`` and the JSON-lines renderer.

Each input is decoded into an inference record whose prediction, confidence,
features, attributes, error and transport fields hold any value the decoder
can build: nested lists, tuples and dicts with keys of any type, ints past 64
bits, NaN and ±inf, strings with lone surrogates, bytes that are not UTF-8,
numpy arrays of every numeric, string and object dtype. The invariants,
checked per input with and without PII pseudonymisation: rendering never
raises, the event holds only JSON types with string keys, and both renderers
(orjson and the standard library) write it as one valid UTF-8 JSON line.
"""

from __future__ import annotations

import contextlib
import math
import sys
from typing import Any

import atheris
from _harness import check_json_lines, main

with atheris.instrument_imports(include=["inferwatch"]):
    import numpy as np

    from inferwatch._logs import record_to_event
    from inferwatch._pii_key import PiiKey
    from inferwatch._pii_pseudonym import Pseudonymizer
    from inferwatch._record import Endpoint, HttpInfo, InferenceRecord
    from inferwatch.logsinks._base import JsonLinesRenderer

PSEUDONYMIZER = Pseudonymizer(
    PiiKey("fuzz", b"k" * 32), fields=("email", "user_id", "a"), drop_fields=("secret",),
    detect_emails=True, detect_phones=True,
)
RENDERERS = (JsonLinesRenderer(use_orjson=True), JsonLinesRenderer(use_orjson=False))
DTYPES = ("f8", "f4", "f2", "i1", "i8", "u8", "?", "c16", "U3", "S3", "O", "M8[s]", "m8[ms]")
JSON_PLAIN = (str, int, float, bool, type(None))


def _value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    kind = fdp.ConsumeIntInRange(0, 14 if depth < 6 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 12))  # up to 96 bits
    if kind == 3:
        return fdp.ConsumeFloat()  # NaN and ±inf included
    if kind == 4:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40))  # lone surrogates included
    if kind == 5:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    if kind == 6:
        return np.float32(fdp.ConsumeFloatInRange(-3e38, 3e38))
    if kind == 7:
        return complex(fdp.ConsumeFloat(), fdp.ConsumeFloat())
    if kind == 8:
        return np.int64(fdp.ConsumeIntInRange(-(2**63), 2**63 - 1))
    if kind == 9:
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 5))]
    if kind == 10:
        return tuple(_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3)))
    if kind == 11:
        out: dict[Any, Any] = {}
        for _ in range(fdp.ConsumeIntInRange(0, 5)):
            key = _value(fdp, 7)
            with contextlib.suppress(TypeError):  # an unhashable key: skip it
                out[key] = _value(fdp, depth + 1)
        return out
    if kind == 12:
        return _array(fdp, depth)
    if kind == 13:
        return {"email": fdp.ConsumeUnicode(30), "user_id": fdp.ConsumeInt(4),
                "secret": _value(fdp, depth + 1)}
    return [[fdp.ConsumeFloat() for _ in range(3)] for _ in range(fdp.ConsumeIntInRange(0, 40))]


def _array(fdp: atheris.FuzzedDataProvider, depth: int) -> Any:
    dtype = np.dtype(DTYPES[fdp.ConsumeIntInRange(0, len(DTYPES) - 1)])
    n = fdp.ConsumeIntInRange(0, 70)
    shape = (n,) if fdp.ConsumeBool() else (max(n // 7, 0), 7)
    if dtype.kind == "O":
        flat = np.empty(int(np.prod(shape)), dtype=object)
        for i in range(flat.size):
            flat[i] = _value(fdp, depth + 1)
        return flat.reshape(shape)
    if dtype.kind == "U":  # from strings: raw bytes would make code points past U+10FFFF
        texts = [fdp.ConsumeUnicode(3) for _ in range(int(np.prod(shape)))]
        return np.array(texts, dtype=dtype).reshape(shape)
    raw = fdp.ConsumeBytes(int(np.prod(shape)) * dtype.itemsize)
    raw += b"\x00" * (int(np.prod(shape)) * dtype.itemsize - len(raw))
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _record(fdp: atheris.FuzzedDataProvider) -> InferenceRecord:
    attributes = {"variant": fdp.ConsumeUnicode(10)} if fdp.ConsumeBool() else {}
    endpoint = Endpoint(fdp.ConsumeUnicode(20), fdp.ConsumeUnicode(20), fdp.ConsumeUnicode(5),
                        attributes)
    record = InferenceRecord(
        endpoint, fdp.ConsumeIntInRange(0, 2**63), 0, fdp.ConsumeInt(16),
        fdp.ConsumeUnicode(40) if fdp.ConsumeBool() else None,
        fdp.ConsumeIntInRange(0, 2**128 - 1), fdp.ConsumeIntInRange(0, 2**64 - 1),
    )
    record.duration_ns = fdp.ConsumeIntInRange(0, 2**63)
    record.batch_size = fdp.ConsumeIntInRange(0, 10**6)
    record.prediction = _value(fdp)
    record.confidence = _value(fdp)
    record.features = _value(fdp)
    record.has_features = record.features is not None
    if fdp.ConsumeBool():
        record.attributes = {fdp.ConsumeUnicode(8): _value(fdp) for _ in range(3)}
    if fdp.ConsumeBool():
        record.outcome = "error"
        record.error_type = fdp.ConsumeUnicode(300)
        record.error_message = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 3000))
    if fdp.ConsumeBool():
        record.stages = {fdp.ConsumeUnicode(8): fdp.ConsumeIntInRange(0, 2**62)}
    if fdp.ConsumeBool():
        http = HttpInfo("grpc" if fdp.ConsumeBool() else "http", fdp.ConsumeUnicode(8),
                        fdp.ConsumeUnicode(60))
        http.status_code = fdp.ConsumeIntInRange(0, 999) if fdp.ConsumeBool() else "UNKNOWN"
        http.request_size = fdp.ConsumeIntInRange(0, 2**40)
        http.ttfb_ns = fdp.ConsumeIntInRange(0, 2**40) if fdp.ConsumeBool() else None
        record.http = http
    return record


def _check_jsonable(value: Any, path: str = "event") -> None:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AssertionError(f"{path}: a non-finite float reached the renderer")
        return
    if type(value) in JSON_PLAIN:
        return
    if type(value) is list:
        for i, item in enumerate(value):
            _check_jsonable(item, f"{path}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise AssertionError(f"{path}: key {key!r} is not a str")
            _check_jsonable(item, f"{path}.{key}")
        return
    raise AssertionError(f"{path}: {type(value).__name__} is not a JSON type")


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    record = _record(fdp)
    for pseudonymizer in (None, PSEUDONYMIZER):
        event = record_to_event(
            record, rule="rate", adjusted_count=1.0 / max(fdp.ConsumeProbability(), 1e-6),
            service_name="fuzz", pseudonymizer=pseudonymizer, include_features=True,
        )
        _check_jsonable(event)
        for renderer in RENDERERS:
            rendered, failed = renderer.render([event])
            if failed:
                raise AssertionError("the event could not be rendered")
            check_json_lines(rendered, 1)


SEEDS = [
    b"",
    bytes(range(256)),
    b"\x0b\x03" + "\ud800 caf\u00e9 \U0001f600".encode("utf-8", "surrogatepass") * 4,
    b"\x0c\x05" + b"\xff" * 200,
    b"\x09\x04" * 50,
]


if __name__ == "__main__":
    main(test_one_input, SEEDS)
    sys.exit(0)
