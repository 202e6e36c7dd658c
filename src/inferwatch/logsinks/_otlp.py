"""Log events through the OpenTelemetry logs SDK (OTLP to a collector).

Each event becomes one OTel log record: the body is a one-line summary
(``inference ok iris@3 1.234 ms``), which is what log backends show in their
list views; the fields become attributes (nested dicts flattened with dots,
lists that are not homogeneous and scalar turned into JSON text, at most
:data:`MAX_ATTRIBUTES`), so they stay queryable. Severity comes from the
event's ``level``, and the record's trace and span ids from its ``trace_id``
and ``span_id``, so backends link the log to the trace.

Works with opentelemetry-sdk 1.27 (``Logger.emit(LogRecord)`` with ids on
the record) and later releases (``Logger.emit(**fields)`` with a context,
where ids on the record are deprecated): the API is detected, not the version.
"""

from __future__ import annotations

import inspect
import json
import threading
from datetime import datetime, timezone
from typing import Any

from inferwatch._errors import MissingDependencyError

__all__ = ["MAX_ATTRIBUTES", "OtlpLogSink"]

#: Attributes kept per log record: under the SDK's default limit of 128, which
#: would otherwise drop attributes with a warning per record.
MAX_ATTRIBUTES = 100

# Fields carried by the log record itself rather than as attributes.
_RECORD_FIELDS = frozenset({"timestamp", "level", "trace_id", "span_id"})
_SCALARS = (str, bool, int, float)


def _default_provider() -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    except ImportError:
        raise MissingDependencyError(
            "the OTLP log sink needs the OpenTelemetry SDK and OTLP/HTTP exporter: "
            "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http "
            "(or pass logger_provider=... built with your own exporter)"
        ) from None
    # Resource from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; the Monitor shuts it
    # down (with a deadline), so no second shutdown from OTel's own atexit hook.
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    return provider


def _attribute(value: Any) -> Any:
    """An OTel attribute value for ``value``, or None to leave it out."""
    if value is None:
        return None
    if isinstance(value, _SCALARS):
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not (-(2**63) <= value < 2**63)
        ):
            return str(value)
        return value
    if isinstance(value, list) and value:
        kind = type(value[0])
        if kind in _SCALARS and all(type(v) is kind for v in value):
            if kind is int and not all(-(2**63) <= v < 2**63 for v in value):
                return json.dumps(value)
            return tuple(value)
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return f"<{type(value).__name__}>"


class _Timestamps:
    """RFC 3339 text back to epoch nanoseconds, with the seconds part cached."""

    __slots__ = ("_prefix", "_seconds")

    def __init__(self) -> None:
        self._prefix = ""
        self._seconds = 0

    def parse(self, text: Any) -> int | None:
        if not isinstance(text, str) or len(text) < 20:
            return None
        prefix = text[:19]
        if prefix != self._prefix:
            dt = datetime.fromisoformat(prefix).replace(tzinfo=timezone.utc)
            self._seconds = int(dt.timestamp())
            self._prefix = prefix
        fraction = text[20:-1] if text[19] == "." else ""
        ns = int(fraction.ljust(9, "0")[:9]) if fraction else 0
        return self._seconds * 1_000_000_000 + ns


class OtlpLogSink:
    """Emit events as OpenTelemetry log records.

    ``logger_provider=None`` builds a private ``LoggerProvider`` with a
    ``BatchLogRecordProcessor`` and the OTLP/HTTP exporter (configured by the
    standard ``OTEL_EXPORTER_OTLP_*`` variables); :meth:`close` shuts down
    only a provider the sink built itself.
    """

    def __init__(self, logger_provider: Any = None, *, logger_name: str = "inferwatch") -> None:
        from opentelemetry._logs import SeverityNumber

        self._owns_provider = logger_provider is None
        self._provider = _default_provider() if logger_provider is None else logger_provider
        self._logger = self._provider.get_logger(logger_name)
        self._severity = {
            "info": (SeverityNumber.INFO, "INFO"),
            "warning": (SeverityNumber.WARN, "WARN"),
            "error": (SeverityNumber.ERROR, "ERROR"),
            "debug": (SeverityNumber.DEBUG, "DEBUG"),
        }
        params = inspect.signature(self._logger.emit).parameters
        self._emit_kwargs = "body" in params
        self._event_name = "event_name" in params
        self._timestamps = _Timestamps()
        self._lock = threading.Lock()
        #: Events that failed to convert or emit.
        self.errors = 0
        self.dropped = 0

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Emit one OTel log record per event; failures are counted, never raised."""
        with self._lock:
            for event in events:
                try:
                    self._emit_one(event)
                except Exception:  # one bad event must not lose the rest of the batch
                    self.errors += 1
                    self.dropped += 1

    def _emit_one(self, event: dict[str, Any]) -> None:
        severity_number, severity_text = self._severity.get(
            event.get("level", "info"), self._severity["info"]
        )
        timestamp = self._timestamps.parse(event.get("timestamp"))
        trace_id = int(event["trace_id"], 16) if "trace_id" in event else 0
        span_id = int(event["span_id"], 16) if "span_id" in event else 0
        body = _summary(event)
        attributes = _flatten(event)
        if self._emit_kwargs:
            kwargs: dict[str, Any] = {
                "timestamp": timestamp,
                "severity_number": severity_number,
                "severity_text": severity_text,
                "body": body,
                "attributes": attributes,
            }
            if trace_id:
                kwargs["context"] = _span_context(trace_id, span_id)
            if self._event_name:
                kwargs["event_name"] = event.get("event", "inference")
            self._logger.emit(**kwargs)
        else:
            self._logger.emit(
                _legacy_record(
                    self._logger,
                    timestamp,
                    trace_id,
                    span_id,
                    severity_number,
                    severity_text,
                    body,
                    attributes,
                )
            )

    def flush(self, timeout_millis: int = 5000) -> None:
        """Ask the provider to export what it holds, waiting at most ``timeout_millis``."""
        force_flush = getattr(self._provider, "force_flush", None)
        if force_flush is not None:
            try:
                force_flush(timeout_millis)
            except Exception:
                self.errors += 1

    def close(self) -> None:
        """Flush; shut the provider down if this sink built it."""
        self.flush()
        if self._owns_provider:
            try:
                self._provider.shutdown()
            except Exception:
                self.errors += 1


def _summary(event: dict[str, Any]) -> str:
    parts = [
        str(event.get("event", "inference")),
        str(event.get("outcome", "")),
        f"{event.get('model.name', '')}@{event.get('model.version', '')}",
        f"{event.get('duration_ms', '')} ms",
    ]
    if "error.type" in event:
        parts.append(f"{event['error.type']}: {event.get('error.message', '')}")
    return " ".join(parts)


def _flatten(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in event.items():
        if key in _RECORD_FIELDS:
            continue
        if isinstance(value, dict) and key in ("attributes", "stages_ms"):
            for k, v in value.items():
                attr = _attribute(v)
                if attr is not None:
                    out[f"{key}.{k}"] = attr
        else:
            attr = _attribute(value)
            if attr is not None:
                out[key] = attr
        if len(out) >= MAX_ATTRIBUTES:
            out["inferwatch.attributes_truncated"] = True
            break
    return out


def _span_context(trace_id: int, span_id: int) -> Any:
    from opentelemetry import trace

    span = trace.NonRecordingSpan(
        trace.SpanContext(trace_id, span_id, is_remote=False, trace_flags=trace.TraceFlags(0))
    )
    return trace.set_span_in_context(span)


def _legacy_record(
    logger: Any,
    timestamp: int | None,
    trace_id: int,
    span_id: int,
    severity_number: Any,
    severity_text: str,
    body: str,
    attributes: dict[str, Any],
) -> Any:
    # opentelemetry-sdk < 1.35: the SDK LogRecord carries ids and the resource.
    from opentelemetry.sdk._logs import LogRecord  # type: ignore[attr-defined,unused-ignore]
    from opentelemetry.trace import TraceFlags

    return LogRecord(
        timestamp=timestamp,
        trace_id=trace_id,
        span_id=span_id,
        trace_flags=TraceFlags(0),
        severity_text=severity_text,
        severity_number=severity_number,
        body=body,
        resource=getattr(logger, "resource", None),
        attributes=attributes,
    )
