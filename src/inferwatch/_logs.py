"""Per-inference log events: one JSON-able dict per sampled record, and the sinks they go to.

:func:`record_to_event` turns an :class:`~inferwatch._record.InferenceRecord`
into the log schema (field names follow OpenTelemetry semantic conventions
where one exists). It runs on inferwatch's background log thread, never on the
request path, and never raises: a field that cannot be rendered is replaced by
``"<unrenderable: Type>"`` and counted in :class:`RenderCounter`.

Personal data: attributes, features and prediction mappings go through
:meth:`Pseudonymizer.apply`; exception messages are always redacted (emails
and phone numbers, and ``field=value`` pairs of configured fields); a features
value inferwatch cannot walk is never ``repr``-ed, since a dropped field could
hide inside it.

Sinks live in :mod:`inferwatch.logsinks`; :func:`make_log_sink` builds one by
name.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from inferwatch._errors import ConfigurationError
from inferwatch._pii import Pseudonymizer, redact_message
from inferwatch._record import InferenceRecord, rpc_method
from inferwatch.logsinks import (
    LogSink,
    NullSink,
    OtlpLogSink,
    RotatingFileSink,
    StreamSink,
)

__all__ = [
    "LOG_SINK_KINDS",
    "LogSink",
    "RenderCounter",
    "make_log_sink",
    "record_to_event",
    "to_jsonable",
]

#: Items kept from a prediction / confidence array; the rest is counted.
MAX_ITEMS = 32
#: Values kept per feature row, and rows kept from a 2-D feature batch.
MAX_FEATURE_VALUES = 256
MAX_FEATURE_ROWS = 32
#: Longest string kept from a ``repr()`` fallback.
MAX_REPR_CHARS = 200

LOG_SINK_KINDS = ("stdout", "stderr", "file", "otlp", "none")

_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


class RenderCounter:
    """Counts fields that could not be rendered (each replaced by a marker)."""

    __slots__ = ("errors",)

    def __init__(self) -> None:
        self.errors = 0


# -- JSON-able conversion ---------------------------------------------------------


def _float(x: float) -> float | str:
    # Non-finite floats use the proto3 JSON spelling, as OTLP/JSON does.
    if x - x == 0.0:
        return x
    if x != x:
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def _repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break logging
        return f"<{type(value).__name__}>"
    if len(text) > MAX_REPR_CHARS:
        text = text[: MAX_REPR_CHARS - 1] + "…"
    return text


_PLAIN = frozenset((str, int, float, bool, type(None)))


def to_jsonable(value: Any, max_items: int = MAX_ITEMS, _depth: int = 0) -> Any:
    """Convert ``value`` to str/int/float/bool/None, lists and str-keyed dicts.

    numpy scalars and arrays become Python values; arrays and sequences keep
    their first ``max_items`` items (a 2-D array keeps ``max_items`` rows);
    anything else becomes its truncated ``repr()``. Never raises.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _UINT64_MAX else str(value)
    if isinstance(value, float):
        return _float(value)
    if _depth > 8:
        return _repr(value)
    if type(value) is dict and len(value) <= max_items and _PLAIN.issuperset(
        map(type, value.values())
    ):
        # Fast path, the common feature row: scalars only, no recursion.
        flat: dict[str, Any] = {}
        for k, v in value.items():
            kind = type(v)
            if kind is float and v - v != 0.0:
                v = _float(v)
            elif kind is int and not _INT64_MIN <= v <= _UINT64_MAX:
                v = str(v)
            flat[k if type(k) is str else str(k)] = v
        return flat
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= max_items:
                out["…_truncated"] = len(value) - max_items
                break
            out[k if isinstance(k, str) else str(k)] = to_jsonable(v, max_items, _depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, max_items, _depth + 1) for v in value[:max_items]]
    item = getattr(value, "item", None)
    ndim = getattr(value, "ndim", None)
    if item is not None and ndim == 0:  # numpy (and torch) scalars
        try:
            return to_jsonable(item(), max_items, _depth + 1)
        except Exception:
            return _repr(value)
    tolist = getattr(value, "tolist", None)
    if tolist is not None and isinstance(ndim, int):  # numpy arrays, tensors
        try:
            head = value[:max_items] if ndim > 0 else value
            if ndim > 1:
                head = head[:, :MAX_FEATURE_VALUES]
            # Fast path: numbers need no walk, unless a float is not finite.
            if _is_numeric_array(head) and (
                head.dtype.kind != "f" or bool(np.isfinite(head).all())
            ):
                return head.tolist()
            return to_jsonable(head.tolist(), max_items, _depth + 1)
        except Exception:
            return _repr(value)
    if isinstance(value, (bytes, bytearray)):
        return _repr(bytes(value[:MAX_REPR_CHARS]))
    return _repr(value)


def _is_numeric_array(value: Any) -> bool:
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return isinstance(value, np.ndarray) and kind is not None and kind in "biuf"


def _truncated_length(value: Any, max_items: int) -> int:
    """How many top-level items :func:`to_jsonable` cut from ``value`` (0 when none)."""
    try:
        n = len(value) if not hasattr(value, "shape") else (value.shape[0] if value.ndim else 0)
    except Exception:
        return 0
    return max(0, int(n) - max_items)


# -- timestamps ----------------------------------------------------------------------

_second_cache: tuple[int, str] = (-1, "")


def _rfc3339(timestamp_ns: int) -> str:
    """``2024-05-01T12:00:00.123456Z``; the seconds part is cached, as a batch shares it."""
    global _second_cache
    sec, ns = divmod(timestamp_ns, 1_000_000_000)
    cached_sec, prefix = _second_cache
    if sec != cached_sec:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _second_cache = (sec, prefix)
    return f"{prefix}.{ns // 1000:06d}Z"


# -- the event -----------------------------------------------------------------------


def _level(record: InferenceRecord, rule: str) -> str:
    if record.outcome == "error" or rule == "error":
        return "error"
    if rule in ("slow", "low_confidence"):
        return "warning"
    return "info"


def _protect(value: Any, pseudonymizer: Pseudonymizer | None) -> Any:
    """Apply the pseudonymizer to an already JSON-able value."""
    if pseudonymizer is None:
        return value
    return pseudonymizer.apply_value(value)


def _features(features: Any, pseudonymizer: Pseudonymizer | None) -> Any:
    if isinstance(features, Mapping):
        rendered = to_jsonable(features, MAX_FEATURE_VALUES)
    elif isinstance(features, (list, tuple)) or (
        hasattr(features, "tolist") and isinstance(getattr(features, "ndim", None), int)
    ):
        ndim = getattr(features, "ndim", None)
        if ndim is None:  # a list: rows when its items are sequences
            nested = bool(features) and isinstance(features[0], (list, tuple))
            rendered = (
                [to_jsonable(row, MAX_FEATURE_VALUES) for row in features[:MAX_FEATURE_ROWS]]
                if nested
                else to_jsonable(features, MAX_FEATURE_VALUES)
            )
        elif ndim > 1:
            rendered = to_jsonable(features[:MAX_FEATURE_ROWS], MAX_FEATURE_ROWS)
        else:
            rendered = to_jsonable(features, MAX_FEATURE_VALUES)
    else:
        # repr() of an unknown container could show a dropped field's value.
        return f"<{type(features).__name__}: not rendered>"
    if _is_numeric_array(features):
        return rendered  # numbers only: no field names, no strings to protect
    return _protect(rendered, pseudonymizer)


def record_to_event(
    record: InferenceRecord,
    *,
    rule: str,
    adjusted_count: float,
    service_name: str,
    pseudonymizer: Pseudonymizer | None,
    include_features: bool,
    counter: RenderCounter | None = None,
) -> dict[str, Any]:
    """Render one sampled record as a log event (see the README's log schema table).

    ``rule`` and ``adjusted_count`` come from the sampler. Never raises: a
    field that fails is replaced by ``"<unrenderable: Type>"``, counted in
    ``counter`` and in the event's ``inferwatch.render_errors``.
    """
    failures = 0
    event: dict[str, Any] = {}
    try:
        endpoint = record.endpoint
        event["timestamp"] = _rfc3339(record.timestamp_ns)
        event["level"] = _level(record, rule)
        event["event"] = "inference"
        event["inference.id"] = record.id
        if record.trace_id:
            event["trace_id"] = f"{record.trace_id:032x}"
            if record.span_id:
                event["span_id"] = f"{record.span_id:016x}"
        event["service.name"] = service_name
        event["model.name"] = endpoint.model_name
        event["model.version"] = endpoint.model_version
        event["endpoint"] = endpoint.name
        event["outcome"] = record.outcome
        event["duration_ms"] = round(record.duration_ns / 1e6, 3)
        event["batch_size"] = record.batch_size
        event["sampling.rule"] = rule
        event["sampling.adjusted_count"] = adjusted_count
    except Exception as exc:  # a malformed record: keep what was rendered
        failures += 1
        event["record"] = f"<unrenderable: {type(exc).__name__}>"

    for name, build in _OPTIONAL_FIELDS:
        try:
            build(event, record, pseudonymizer, include_features)
        except Exception as exc:
            failures += 1
            event[name] = f"<unrenderable: {type(exc).__name__}>"
    if failures:
        event["inferwatch.render_errors"] = failures
        if counter is not None:
            counter.errors += failures
    return event


def _add_attributes(
    event: dict[str, Any], record: InferenceRecord, p: Pseudonymizer | None, _: bool
) -> None:
    static = record.endpoint.attributes
    dynamic = record.attributes
    if not static and not dynamic:
        return
    merged: dict[str, Any] = dict(static)
    if dynamic:
        merged.update(dynamic)
    event["attributes"] = _protect(to_jsonable(merged, MAX_FEATURE_VALUES), p)


def _add_error(
    event: dict[str, Any], record: InferenceRecord, p: Pseudonymizer | None, _: bool
) -> None:
    if record.error_type is not None:
        event["error.type"] = record.error_type
    if record.error_message is not None:
        event["error.message"] = redact_message(str(record.error_message), p)


def _add_stages(
    event: dict[str, Any], record: InferenceRecord, p: Pseudonymizer | None, _: bool
) -> None:
    if record.stages:
        event["stages_ms"] = {k: round(v / 1e6, 3) for k, v in record.stages.items()}


def _add_output(name: str) -> Any:
    def add(
        event: dict[str, Any], record: InferenceRecord, p: Pseudonymizer | None, _: bool
    ) -> None:
        value = getattr(record, name)
        if value is None:
            return
        event[name] = _protect(to_jsonable(value), p)
        cut = _truncated_length(value, MAX_ITEMS) if not isinstance(value, (str, dict)) else 0
        if cut:
            event[f"{name}_truncated"] = cut

    return add


def _add_features(
    event: dict[str, Any], record: InferenceRecord, p: Pseudonymizer | None, include: bool
) -> None:
    features = record.features
    if features is None:
        return
    if p is not None and p.hash_features:
        event["feature_hash"] = p.feature_hash(features)
    if include:
        event["features"] = _features(features, p)


def _add_http(
    event: dict[str, Any], record: InferenceRecord, p: Pseudonymizer | None, _: bool
) -> None:
    info = record.http
    if info is None:
        return
    if info.system == "grpc":
        event["rpc.system.name"] = "grpc"
        event["rpc.method"] = rpc_method(info.method or info.route)
        if info.status_code is not None:
            event["rpc.status_code"] = info.status_code
        event["rpc.request.size"] = info.request_size
        event["rpc.response.size"] = info.response_size
        if info.ttfb_ns is not None:
            event["rpc.server.time_to_first_message_ms"] = round(info.ttfb_ns / 1e6, 3)
    else:
        event["http.request.method"] = info.method
        if info.route:
            event["http.route"] = info.route
        if info.status_code is not None:
            event["http.response.status_code"] = info.status_code
        event["http.request.body.size"] = info.request_size
        event["http.response.body.size"] = info.response_size
        if info.ttfb_ns is not None:
            event["http.server.ttfb_ms"] = round(info.ttfb_ns / 1e6, 3)
    if info.duration_ns:
        event["transport.duration_ms"] = round(info.duration_ns / 1e6, 3)


_OPTIONAL_FIELDS = (
    ("attributes", _add_attributes),
    ("error.message", _add_error),
    ("stages_ms", _add_stages),
    ("prediction", _add_output("prediction")),
    ("confidence", _add_output("confidence")),
    ("features", _add_features),
    ("http", _add_http),
)


# -- sinks -----------------------------------------------------------------------------


def make_log_sink(
    kind: str,
    *,
    path: str | None = None,
    max_bytes: int = 100 * 1024 * 1024,
    rotate_seconds: float = 86400.0,
    backups: int = 5,
    logger_provider: Any = None,
) -> LogSink:
    """Build a sink by name: ``stdout``, ``stderr``, ``file``, ``otlp`` or ``none``.

    >>> make_log_sink("none").emit([{"event": "inference"}])
    """
    import sys

    kind = kind.strip().lower()
    if kind == "stdout":
        return StreamSink(None)
    if kind == "stderr":
        return StreamSink(sys.stderr)
    if kind == "file":
        if not path:
            raise ConfigurationError(
                "log sink 'file' needs a path: set INFERWATCH_LOG_FILE or pass path=..."
            )
        return RotatingFileSink(
            path, max_bytes=max_bytes, rotate_seconds=rotate_seconds, backups=backups
        )
    if kind == "otlp":
        return OtlpLogSink(logger_provider)
    if kind == "none":
        return NullSink()
    raise ConfigurationError(f"unknown log sink {kind!r}: use one of {', '.join(LOG_SINK_KINDS)}")
