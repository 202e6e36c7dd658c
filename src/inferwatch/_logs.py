"""Per-inference log events: a pipeline of structlog-style processors, and the sinks.

A sampled :class:`~inferwatch._record.InferenceRecord` becomes one JSON-able
dict in :class:`LogPipeline`: the core fields (ids, model, outcome, timing,
sampling) first, then one small processor per group of fields, each a
callable ``(logger, method_name, event_dict) -> event_dict`` as in structlog,
then the user's own processors (``configure(log_processors=[...])``). While
the pipeline runs, ``event_dict["_record"]`` is the record being rendered
(read it, never change it); it is removed before the event reaches a sink. A
processor drops an event by raising ``structlog.DropEvent``; a user's
processor that raises anything else drops the event too (it may have been
meant to redact something), and both are counted in :meth:`LogPipeline.losses`.

Field names follow OpenTelemetry semantic conventions where one exists; keys
inferwatch invents live under ``inferwatch.*``. Rendering runs on
inferwatch's background log thread, never on the request path, and never
raises: a built-in field that cannot be rendered is replaced by
``"<unrenderable: Type>"`` and counted in :class:`RenderCounter`.

Personal data: attributes, features and prediction mappings go through
:meth:`Pseudonymizer.apply_value`; exception messages are always redacted
(emails and phone numbers, and ``field=value`` pairs of configured fields); a
features value inferwatch cannot walk is never ``repr``-ed, since a dropped
field could hide inside it. The caller's inference id is pseudonymised when
``inference.id`` or the id header (see :data:`ID_FIELDS`) is a PII field.
Strings are capped (:data:`MAX_ID_CHARS`, :data:`MAX_NAME_CHARS`,
:data:`MAX_ROUTE_CHARS`, :data:`MAX_STRING_CHARS`), so a hostile 8,000-character
id is not repeated on every line.

Sinks live in :mod:`inferwatch.logsinks`; :func:`make_log_sink` builds one by
name, or several (``"file,otlp"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from structlog import DropEvent

from inferwatch._errors import ConfigurationError
from inferwatch._pii import MAX_MESSAGE_CHARS, Pseudonymizer, redact_message
from inferwatch._record import InferenceRecord, rpc_method
from inferwatch.logsinks import (
    FanoutSink,
    LogSink,
    NullSink,
    OtlpLogSink,
    RotatingFileSink,
    StreamSink,
)
from inferwatch.logsinks._base import LossCounter

__all__ = [
    "ID_FIELDS",
    "LOG_SINK_KINDS",
    "LogPipeline",
    "LogSink",
    "Processor",
    "RenderCounter",
    "default_processors",
    "make_log_sink",
    "parse_log_sinks",
    "record_to_event",
    "to_jsonable",
]

#: A structlog-style processor: ``(logger, method_name, event_dict) -> event_dict``.
Processor = Callable[[Any, str, dict[str, Any]], Any]

#: Items kept from a prediction / confidence array; the rest is counted.
MAX_ITEMS = 32
#: Values kept per feature row, and rows kept from a 2-D feature batch.
MAX_FEATURE_VALUES = 256
MAX_FEATURE_ROWS = 32
#: Longest string kept from a ``repr()`` fallback.
MAX_REPR_CHARS = 200
#: Longest inference id written (longer ones are cut, ending in "…").
MAX_ID_CHARS = 128
#: Longest model name, version, endpoint, error type or RPC status written.
MAX_NAME_CHARS = 128
#: Longest ``http.route`` / ``rpc.method`` written.
MAX_ROUTE_CHARS = 256
#: Longest string value written inside attributes, features and predictions.
MAX_STRING_CHARS = 1024
#: PII field names that mean "the caller's inference id": listing one of them
#: (or the configured id header's name) in ``pii_fields`` pseudonymises it.
ID_FIELDS = frozenset({"inference.id", "inference_id", "request_id", "x-request-id"})

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


def _cap(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_PLAIN = frozenset((str, int, float, bool, type(None)))


def to_jsonable(value: Any, max_items: int = MAX_ITEMS, _depth: int = 0) -> Any:
    """Convert ``value`` to str/int/float/bool/None, lists and str-keyed dicts.

    numpy scalars and arrays become Python values; arrays and sequences keep
    their first ``max_items`` items (a 2-D array keeps ``max_items`` rows);
    strings keep :data:`MAX_STRING_CHARS` characters; anything else becomes
    its truncated ``repr()``. Never raises.
    """
    if value is None or isinstance(value, (str, bool)):
        if type(value) is str and len(value) > MAX_STRING_CHARS:
            return _cap(value, MAX_STRING_CHARS)
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
            elif kind is str and len(v) > MAX_STRING_CHARS:
                v = _cap(v, MAX_STRING_CHARS)
            flat[k if type(k) is str else str(k)] = v
        return flat
    if isinstance(value, np.generic):  # numpy scalars, before the slower ABC checks
        try:
            return to_jsonable(value.item(), max_items, _depth + 1)
        except Exception:
            return _repr(value)
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


class _Field:
    """A built-in processor: adds one group of fields; a failure marks ``field``."""

    field = "record"

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        raise NotImplementedError


class AddAttributes(_Field):
    """``attributes``: the endpoint's static and the call's dynamic attributes, PII handled."""

    field = "attributes"

    def __init__(self, pseudonymizer: Pseudonymizer | None) -> None:
        self._p = pseudonymizer

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        record: InferenceRecord = event_dict["_record"]
        static = record.endpoint.attributes
        dynamic = record.attributes
        if static or dynamic:
            merged: dict[str, Any] = dict(static)
            if dynamic:
                merged.update(dynamic)
            event_dict["attributes"] = _protect(to_jsonable(merged, MAX_FEATURE_VALUES), self._p)
        return event_dict


class AddError(_Field):
    """``error.type`` and the redacted ``error.message``."""

    field = "error.message"

    def __init__(self, pseudonymizer: Pseudonymizer | None) -> None:
        self._p = pseudonymizer

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        record: InferenceRecord = event_dict["_record"]
        if record.error_type is not None:
            event_dict["error.type"] = _cap(record.error_type, MAX_NAME_CHARS)
        if record.error_message is not None:
            event_dict["error.message"] = _cap(
                redact_message(str(record.error_message), self._p), MAX_MESSAGE_CHARS
            )
        return event_dict


class AddStages(_Field):
    """``stages_ms``: time per stage in milliseconds."""

    field = "stages_ms"

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        stages = event_dict["_record"].stages
        if stages:
            event_dict["stages_ms"] = {
                (k if len(k) <= MAX_NAME_CHARS else _cap(k, MAX_NAME_CHARS)): round(v / 1e6, 3)
                for k, v in stages.items()
            }
        return event_dict


class AddOutput(_Field):
    """``prediction`` or ``confidence``, JSON-converted and cut (``*_truncated``)."""

    def __init__(self, name: str, pseudonymizer: Pseudonymizer | None) -> None:
        self.field = name
        self._p = pseudonymizer

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        name = self.field
        value = getattr(event_dict["_record"], name)
        if value is not None:
            event_dict[name] = _protect(to_jsonable(value), self._p)
            cut = _truncated_length(value, MAX_ITEMS) if not isinstance(value, (str, dict)) else 0
            if cut:
                event_dict[f"{name}_truncated"] = cut
        return event_dict


class AddFeatures(_Field):
    """``feature_hash`` (with a PII key) and, when ``include``, ``features``."""

    field = "features"

    def __init__(self, pseudonymizer: Pseudonymizer | None, include: bool) -> None:
        self._p = pseudonymizer
        self._include = include

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        features = event_dict["_record"].features
        if features is None:
            return event_dict
        p = self._p
        if p is not None and p.hash_features:
            event_dict["feature_hash"] = p.feature_hash(features)
        if self._include:
            event_dict["features"] = _features(features, p)
        return event_dict


class AddPolicy(_Field):
    """``inferwatch.propensity``, ``inferwatch.explored`` and ``inferwatch.target_probability``,
    when the call logged them."""

    field = "inferwatch.propensity"

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        # Unset unless inferwatch.feedback.set_propensity ran (see InferenceRecord).
        policy = getattr(event_dict["_record"], "_policy", None)
        if policy is not None:
            propensity, explored, target = policy
            if propensity is not None:
                event_dict["inferwatch.propensity"] = propensity
            if explored is not None:
                event_dict["inferwatch.explored"] = explored
            if target is not None:
                event_dict["inferwatch.target_probability"] = target
        return event_dict


class AddTransport(_Field):
    """HTTP (``http.*``, ``url.scheme``, ``network.protocol.version``) or gRPC (``rpc.*``)."""

    field = "http"

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
        info = event_dict["_record"].http
        if info is None:
            return event_dict
        if info.system == "grpc":
            event_dict["rpc.system.name"] = "grpc"
            event_dict["rpc.method"] = _cap(rpc_method(info.method or info.route), MAX_ROUTE_CHARS)
            if info.status_code is not None:
                event_dict["rpc.response.status_code"] = (
                    _cap(info.status_code, MAX_NAME_CHARS)
                    if isinstance(info.status_code, str)
                    else info.status_code
                )
            event_dict["inferwatch.rpc.request.size"] = info.request_size
            event_dict["inferwatch.rpc.response.size"] = info.response_size
            if info.ttfb_ns is not None:
                event_dict["inferwatch.rpc.time_to_first_message_ms"] = round(
                    info.ttfb_ns / 1e6, 3
                )
        else:
            method, route = info.method, info.route
            event_dict["http.request.method"] = (
                method if len(method) <= MAX_NAME_CHARS else _cap(method, MAX_NAME_CHARS)
            )
            if route:
                event_dict["http.route"] = (
                    route if len(route) <= MAX_ROUTE_CHARS else _cap(route, MAX_ROUTE_CHARS)
                )
            if info.status_code is not None:
                event_dict["http.response.status_code"] = info.status_code
            if info.scheme:
                event_dict["url.scheme"] = _cap(info.scheme, MAX_NAME_CHARS)
            if info.protocol_version:
                event_dict["network.protocol.version"] = _cap(info.protocol_version, MAX_NAME_CHARS)
            event_dict["http.request.body.size"] = info.request_size
            event_dict["http.response.body.size"] = info.response_size
            if info.ttfb_ns is not None:
                event_dict["inferwatch.http.ttfb_ms"] = round(info.ttfb_ns / 1e6, 3)
        if info.duration_ns:
            event_dict["inferwatch.transport.duration_ms"] = round(info.duration_ns / 1e6, 3)
        return event_dict


def default_processors(
    pseudonymizer: Pseudonymizer | None, include_features: bool
) -> tuple[_Field, ...]:
    """The built-in processors, in order, that add every field after the core ones."""
    return (
        AddAttributes(pseudonymizer),
        AddError(pseudonymizer),
        AddStages(),
        AddOutput("prediction", pseudonymizer),
        AddOutput("confidence", pseudonymizer),
        AddFeatures(pseudonymizer, include_features),
        AddPolicy(),
        AddTransport(),
    )


def _pseudonymises_id(p: Pseudonymizer | None, id_fields: Iterable[str]) -> bool:
    if p is None:
        return False
    names = ID_FIELDS | {name.lower() for name in id_fields}
    return not names.isdisjoint(p.fields)


def logged_id(record: InferenceRecord, pseudonymizer: Pseudonymizer | None, hide: bool) -> str:
    """The inference id as the log writes it: pseudonymised (caller's ids) when ``hide``, capped."""
    if hide and pseudonymizer is not None and record.inference_id is not None:
        return pseudonymizer.pseudonym(record.inference_id)
    text = record.id
    return text if type(text) is str and len(text) <= MAX_ID_CHARS else _cap(text, MAX_ID_CHARS)


class LogPipeline:
    """Render records as log events: the core fields, the built-in processors, then ``processors``.

    ``render`` returns None when a processor dropped the event; what was
    dropped, and why, is in :meth:`losses` (``log_processor_dropped`` for
    ``structlog.DropEvent``, ``log_processor_error`` for a user processor that
    raised). ``id_fields`` adds names (e.g. a custom request-id header) that,
    listed in ``pii_fields``, mean the inference id.

    >>> from inferwatch._record import Endpoint, InferenceRecord
    >>> def add_region(logger, method_name, event_dict):
    ...     event_dict["region"] = "eu-west-1"
    ...     return event_dict
    >>> pipeline = LogPipeline(service_name="svc", processors=[add_region])
    >>> record = InferenceRecord(Endpoint("predict", "iris", "3"), 0, 0, 1, "req-1", 0, 0)
    >>> pipeline.render(record, "rate", 1.0)["region"]
    'eu-west-1'
    """

    __slots__ = ("_builtin", "_hide_id", "_losses", "_p", "_user", "service_name")

    def __init__(
        self,
        *,
        service_name: str = "unknown_service",
        pseudonymizer: Pseudonymizer | None = None,
        include_features: bool = True,
        processors: Sequence[Processor] = (),
        id_fields: Iterable[str] = (),
    ) -> None:
        for proc in processors:
            if not callable(proc):
                raise ConfigurationError(
                    f"log processor {proc!r} is not callable: pass functions or objects "
                    "taking (logger, method_name, event_dict) and returning event_dict"
                )
        self.service_name = service_name
        self._p = pseudonymizer
        self._hide_id = _pseudonymises_id(pseudonymizer, id_fields)
        # Bound __call__ methods: calling them skips the instance-call slot (~0.1 µs each).
        self._builtin = tuple(
            (proc.field, proc.__call__)
            for proc in default_processors(pseudonymizer, include_features)
        )
        self._user = tuple(processors)
        self._losses = LossCounter()

    def losses(self) -> dict[str, int]:
        """Events the processors dropped, by reason."""
        return self._losses.snapshot()

    def logged_id(self, record: InferenceRecord) -> str:
        """The inference id exactly as this pipeline logs it."""
        return logged_id(record, self._p, self._hide_id)

    def render(
        self,
        record: InferenceRecord,
        rule: str,
        adjusted_count: float,
        counter: RenderCounter | None = None,
    ) -> dict[str, Any] | None:
        """One event for ``record`` (see the README's log schema), or None when dropped."""
        event = self._core(record, rule, adjusted_count, counter)
        level = event.get("level", "info")
        for proc in self._user:
            try:
                event = proc(None, level, event)
            except DropEvent:
                self._losses.add("log_processor_dropped")
                return None
            except Exception:  # it may have been meant to redact: drop, never write unredacted
                self._losses.add("log_processor_error")
                return None
            if not isinstance(event, dict):
                self._losses.add("log_processor_error")
                return None
        event.pop("_record", None)
        return event

    def _core(
        self,
        record: InferenceRecord,
        rule: str,
        adjusted_count: float,
        counter: RenderCounter | None,
    ) -> dict[str, Any]:
        # The core fields and the built-in processors; "_record" is still in the event.
        failures = 0
        event: dict[str, Any] = {}
        level = "info"
        try:
            endpoint = record.endpoint
            level = _level(record, rule)
            event["timestamp"] = _rfc3339(record.timestamp_ns)
            event["level"] = level
            event["event"] = "inference"
            if self._hide_id or record.inference_id is not None:
                event["inference.id"] = logged_id(record, self._p, self._hide_id)
            else:  # a generated id: 32 hex digits, nothing to hide or cap
                event["inference.id"] = record.id
            if record.trace_id:
                event["trace_id"] = f"{record.trace_id:032x}"
                if record.span_id:
                    event["span_id"] = f"{record.span_id:016x}"
            event["service.name"] = self.service_name
            name, version, function = endpoint.model_name, endpoint.model_version, endpoint.name
            if len(name) + len(version) + len(function) > MAX_NAME_CHARS:
                name, version, function = _short(name), _short(version), _short(function)
            event["model.name"] = name
            event["model.version"] = version
            event["endpoint"] = function
            event["outcome"] = record.outcome
            event["duration_ms"] = round(record.duration_ns / 1e6, 3)
            event["batch_size"] = record.batch_size
            event["sampling.rule"] = rule
            event["sampling.adjusted_count"] = adjusted_count
        except Exception as exc:  # a malformed record: keep what was rendered
            failures += 1
            event["record"] = f"<unrenderable: {type(exc).__name__}>"

        event["_record"] = record
        for field, call in self._builtin:
            try:
                event = call(None, level, event)
            except Exception as exc:
                failures += 1
                event[field] = f"<unrenderable: {type(exc).__name__}>"
        if failures:
            event["inferwatch.render_errors"] = failures
            if counter is not None:
                counter.errors += failures
        return event


def _short(text: Any) -> Any:
    return text if type(text) is str and len(text) <= MAX_NAME_CHARS else _cap(text, MAX_NAME_CHARS)


# The pipeline of the last call: the Monitor's log thread renders with one setup.
_last_pipeline: tuple[Pseudonymizer | None, str, bool, LogPipeline] | None = None


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
    """Render one sampled record with the built-in processors only (see :class:`LogPipeline`).

    ``rule`` and ``adjusted_count`` come from the sampler. Never raises: a
    field that fails is replaced by ``"<unrenderable: Type>"``, counted in
    ``counter`` and in the event's ``inferwatch.render_errors``.
    """
    global _last_pipeline
    last = _last_pipeline
    if (
        last is not None
        and last[0] is pseudonymizer
        and last[1] == service_name
        and last[2] is include_features
    ):
        pipeline = last[3]
    else:
        pipeline = LogPipeline(
            service_name=service_name,
            pseudonymizer=pseudonymizer,
            include_features=include_features,
        )
        _last_pipeline = (pseudonymizer, service_name, include_features, pipeline)
    event = pipeline._core(record, rule, adjusted_count, counter)
    event.pop("_record", None)
    return event


# -- sinks -----------------------------------------------------------------------------


def parse_log_sinks(kind: str) -> tuple[str, ...]:
    """``"file, otlp"`` → ``("file", "otlp")``; an unknown or repeated name is an error."""
    kinds = tuple(part.strip().lower() for part in str(kind).split(",") if part.strip())
    unknown = [k for k in kinds if k not in LOG_SINK_KINDS]
    if not kinds or unknown:
        raise ConfigurationError(
            f"unknown log sink {kind!r}: use one of {', '.join(LOG_SINK_KINDS)}, or several "
            "separated by commas (e.g. 'file,otlp')"
        )
    if len(set(kinds)) != len(kinds):
        raise ConfigurationError(f"log sink {kind!r} names a sink twice: name each once")
    if "none" in kinds and len(kinds) > 1:
        raise ConfigurationError(f"log sink {kind!r}: 'none' cannot be combined with other sinks")
    return kinds


def make_log_sink(
    kind: str,
    *,
    path: str | None = None,
    max_bytes: int = 100 * 1024 * 1024,
    rotate_seconds: float = 86400.0,
    backups: int = 5,
    logger_provider: Any = None,
    service_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> LogSink:
    """Build a sink by name: ``stdout``, ``stderr``, ``file``, ``otlp`` or ``none``.

    ``otlp`` without a ``logger_provider`` exports as ``environ``'s (default:
    ``os.environ``) ``OTEL_EXPORTER_OTLP_*`` variables say, with
    ``service_name`` on its resource when given.

    Several names separated by commas (``"file,otlp"``) build a
    :class:`~inferwatch.logsinks.FanoutSink` writing to each, whose losses
    stay per sink (``losses_by_sink()``, keyed by these names).

    >>> make_log_sink("none").emit([{"event": "inference"}])
    >>> type(make_log_sink("stdout,stderr")).__name__
    'FanoutSink'
    """
    kinds = parse_log_sinks(kind)
    sinks = [
        _one_sink(k, path, max_bytes, rotate_seconds, backups, logger_provider, service_name,
                  environ)
        for k in kinds
    ]
    if len(sinks) == 1:
        return sinks[0]
    return FanoutSink(sinks, names=list(kinds))


def _one_sink(
    kind: str,
    path: str | None,
    max_bytes: int,
    rotate_seconds: float,
    backups: int,
    logger_provider: Any,
    service_name: str | None,
    environ: Mapping[str, str] | None,
) -> LogSink:
    import sys

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
        if logger_provider is not None:
            return OtlpLogSink(logger_provider)
        return OtlpLogSink(service_name=service_name, environ=environ)
    return NullSink()
