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
import os
import threading
import weakref
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from inferwatch._bounded import BoundedCalls
from inferwatch._errors import ConfigurationError, MissingDependencyError
from inferwatch.logsinks._base import (
    CountsLosses,
    ForkSafeLock,
    LossCounter,
    register_fork_hooks,
)

__all__ = ["MAX_ATTRIBUTES", "OtlpLogSink"]

#: Attributes kept per log record: under the SDK's default limit of 128, which
#: would otherwise drop attributes with a warning per record.
MAX_ATTRIBUTES = 100

# Fields carried by the log record itself rather than as attributes.
_RECORD_FIELDS = frozenset({"timestamp", "level", "trace_id", "span_id"})
_SCALARS = (str, bool, int, float)


def _default_exporter(environ: Mapping[str, str]) -> Any:
    # The standard variables, as for metrics: OTEL_EXPORTER_OTLP_(LOGS_)PROTOCOL
    # (http/protobuf or grpc), endpoint, headers, timeout, compression, TLS.
    from inferwatch._otel_env import build_otlp_exporter

    return build_otlp_exporter("logs", environ)


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def _build_provider(
    exporter: Any, max_queue_size: int, environ: Mapping[str, str], service_name: str | None
) -> Any:
    try:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    except ImportError:
        raise MissingDependencyError(
            "the OTLP log sink needs the OpenTelemetry SDK: pip install opentelemetry-sdk"
        ) from None
    # Without a service name, the SDK's resource (OTEL_SERVICE_NAME /
    # OTEL_RESOURCE_ATTRIBUTES). The sink shuts the provider down (with a
    # deadline), so no second shutdown from OTel's own atexit hook.
    if service_name is None:
        provider = LoggerProvider(shutdown_on_exit=False)
    else:  # the Monitor's service name and resource, as its metrics carry
        from inferwatch._otel_env import build_resource

        provider = LoggerProvider(
            resource=build_resource(service_name, environ), shutdown_on_exit=False
        )
    batch = min(_env_int(environ, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", 512), max_queue_size)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(
            exporter, max_queue_size=max_queue_size, max_export_batch_size=batch
        )
    )
    return provider


class _CountingExporter:
    """The exporter of the sink's own provider, wrapped to account for every record.

    The SDK's batch processor ignores an export's result and drops records
    silently when its queue is full; the sink keeps its queue from filling
    and this wrapper tells it how each batch ended.
    """

    def __init__(self, inner: Any, sink: OtlpLogSink) -> None:
        self._inner = inner
        self._sink = weakref.ref(sink)

    def export(self, batch: Any) -> Any:
        sink = self._sink()
        n = len(batch)
        if sink is not None:
            sink._export_started(n)
        ok = False
        try:
            result = self._inner.export(batch)
            ok = getattr(result, "name", None) == "SUCCESS"
            return result
        except Exception:  # a raising exporter (1.27 on a refused connection) fails the batch
            return None
        finally:
            if sink is not None:
                sink._export_finished(n, ok)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> Any:
        shutdown = self._inner.shutdown
        if "timeout_millis" in inspect.signature(shutdown).parameters:
            return shutdown(timeout_millis=timeout_millis, **kwargs)
        return shutdown(**kwargs)

    def force_flush(self, timeout_millis: float = 30_000) -> Any:
        return self._inner.force_flush(timeout_millis)


def _attribute(value: Any) -> Any:
    """An OTel attribute value for ``value``, or None to leave it out."""
    if value is None:
        return None
    if isinstance(value, str):
        return _text(value)
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
            if kind is str:
                return tuple(_text(v) for v in value)
            return tuple(value)
    try:
        return _text(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))
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


class OtlpLogSink(CountsLosses):
    """Emit events as OpenTelemetry log records.

    ``logger_provider=None`` builds a private ``LoggerProvider`` with a
    ``BatchLogRecordProcessor`` (queue ``max_queue_size``, default
    ``OTEL_BLRP_MAX_QUEUE_SIZE`` or 2048) exporting through ``exporter``
    (default: the OTLP exporter the standard ``OTEL_EXPORTER_OTLP_*``
    variables of ``environ`` describe, over HTTP or gRPC), with the resource
    the Monitor's metrics carry when ``service_name`` is given. With its own provider the sink
    accounts for every record in :meth:`losses`: ``otlp_queue_full`` (the
    queue was full), ``otlp_export_failed`` (the exporter failed or raised),
    ``shutdown_timeout`` (still queued or in flight when :meth:`close` gave
    up), ``sink_closed`` (emitted after close), ``sink_render_error``.
    With a ``logger_provider`` of yours only the last two are seen: what
    your processors drop is theirs to count.

    :meth:`flush` and :meth:`close` return within their timeout even when
    the collector hangs (the SDK's own ``force_flush`` does not): the SDK call
    runs on a daemon thread that is left behind when time is up.
    """

    def __init__(
        self,
        logger_provider: Any = None,
        *,
        logger_name: str = "inferwatch",
        exporter: Any = None,
        max_queue_size: int | None = None,
        service_name: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        from opentelemetry._logs import SeverityNumber

        if logger_provider is not None and exporter is not None:
            raise ConfigurationError(
                "OtlpLogSink takes logger_provider= or exporter=, not both: add the exporter "
                "to your provider's processor instead"
            )
        self._owns_provider = logger_provider is None
        self._max_queue: int | None = None
        self._exporter: _CountingExporter | None = None
        if logger_provider is None:
            env = os.environ if environ is None else environ
            queue = max_queue_size or _env_int(env, "OTEL_BLRP_MAX_QUEUE_SIZE", 2048)
            self._max_queue = queue
            counted = _CountingExporter(
                _default_exporter(env) if exporter is None else exporter, self
            )
            self._exporter = counted
            logger_provider = _build_provider(counted, queue, env, service_name)
        self._provider = logger_provider
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
        self._guard = ForkSafeLock()
        self._init_counts()
        self._closed = False
        register_fork_hooks(self)

    @property
    def exporter(self) -> Any:
        """The exporter the sink's own provider exports through (None with a provider of yours)."""
        return None if self._exporter is None else self._exporter._inner

    def _init_counts(self) -> None:
        self._losses = LossCounter()
        self._count_lock = threading.Lock()
        # Records handed to the SDK, handed on to the exporter, and whose export ended.
        self._accepted = 0
        self._started = 0
        self._finished = 0
        self._abandoned = False
        self._flushing: _Flush | None = None
        #: Events that failed to convert or emit, and failed flushes and shutdowns.
        self.errors = 0

    # -- accounting (called by _CountingExporter on the SDK's export thread) -----------

    def _export_started(self, n: int) -> None:
        with self._count_lock:
            self._started += n

    def _export_finished(self, n: int, ok: bool) -> None:
        with self._count_lock:
            self._finished += n
            if self._abandoned:
                return  # already counted as shutdown_timeout
        if not ok:
            self._losses.add("otlp_export_failed", n)

    # -- LogSink ---------------------------------------------------------------------

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Emit one OTel log record per event; failures are counted, never raised."""
        if not events:
            return
        with self._guard.lock:
            if self._closed:
                self._losses.add("sink_closed", len(events))
                return
            room = len(events)
            if self._max_queue is not None:
                with self._count_lock:
                    room = self._max_queue - (self._accepted - self._started)
            accepted = 0
            for event in events[: max(0, room)]:
                try:
                    self._emit_one(event)
                    accepted += 1
                except Exception:  # one bad event must not lose the rest of the batch
                    self.errors += 1
                    self._losses.add("sink_render_error")
            with self._count_lock:
                self._accepted += accepted
            if room < len(events):
                self._losses.add("otlp_queue_full", len(events) - max(0, room))

    def _emit_one(self, event: dict[str, Any]) -> None:
        severity_number, severity_text = self._severity.get(
            event.get("level", "info"), self._severity["info"]
        )
        timestamp = self._timestamps.parse(event.get("timestamp"))
        trace_id = int(event["trace_id"], 16) if "trace_id" in event else 0
        span_id = int(event["span_id"], 16) if "span_id" in event else 0
        body = _text(_summary(event))
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

    def flush(self, timeout: float = 5.0) -> bool:
        """Export what the provider holds; True when done within ``timeout`` seconds.

        Records still queued when time is up stay queued (nothing is counted
        lost); a later flush waits for the same SDK call rather than start
        another one behind it.
        """
        force_flush = getattr(self._provider, "force_flush", None)
        if force_flush is None:
            return True
        with self._count_lock:
            pending = self._flushing
            if pending is None:
                pending = self._flushing = _Flush()
                start = True
            else:
                start = False
        if start:
            flush = pending

            def run() -> None:
                try:
                    flush.ok = force_flush(max(1, int(timeout * 1000))) is not False
                except Exception:
                    flush.ok = False
                finally:
                    if not flush.ok:
                        self.errors += 1
                    with self._count_lock:
                        if self._flushing is flush:
                            self._flushing = None
                    flush.done.set()

            threading.Thread(target=run, name="inferwatch-otlp-flush", daemon=True).start()
        return pending.done.wait(max(0.0, timeout)) and pending.ok

    def close(self, timeout: float = 5.0) -> bool:
        """Flush and shut the provider down if this sink built it, within ``timeout``.

        What the provider still holds when time is up (or when its own
        shutdown gave up) is counted as ``shutdown_timeout``; events emitted
        afterwards are counted as ``sink_closed``.
        """
        with self._guard.lock:
            already, self._closed = self._closed, True
        if already:
            return True
        if not self._owns_provider:
            return self.flush(timeout)
        provider = self._provider
        # A little of the budget is kept for the accounting, so a caller that
        # waits exactly ``timeout`` (the Monitor's shutdown) sees the counts.
        wait = max(0.0, timeout - min(0.05, timeout * 0.1))
        finished = BoundedCalls("inferwatch-otlp-shutdown").call(provider.shutdown, wait)
        if not finished:
            self.errors += 1
        with self._count_lock:
            self._abandoned = True
            lost = self._accepted - self._finished
        self._losses.add("shutdown_timeout", lost)
        return finished and lost == 0

    # -- fork (see register_fork_hooks) ------------------------------------------------

    def _after_fork_in_child(self) -> None:
        # The SDK re-creates its batch processor in the child with an empty
        # queue; the counts start from zero with it.
        self._guard.after_fork_in_child()
        self._init_counts()


class _Flush:
    """One SDK ``force_flush`` in flight: done when it returned, ok when it said so."""

    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


def _text(value: str) -> str:
    """``value`` as text OTLP can carry: a lone surrogate becomes its escape."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


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
