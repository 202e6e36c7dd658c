"""The record of the call running in this context, and a transport's record.

``_current`` binds a record to the context (contextvars, so it follows
``await`` and nested calls). A transport (ASGI, gRPC) opens a record with
``begin_transport`` and closes it with ``end_transport``; a monitored predict
running inside fills that record in (see ``_capture``). The public face of
this module is ``inferwatch.transport``.
"""

from __future__ import annotations

import contextvars
import itertools
import time
from collections.abc import Mapping
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from ._record import Endpoint, HttpInfo, InferenceRecord, count_value
from ._spans import _trace_ids

if TYPE_CHECKING:
    from ._monitor import Monitor

__all__ = [
    "begin_transport",
    "current_record",
    "end_transport",
    "internal_error_count",
    "new_record",
    "set_attribute",
    "set_attributes",
]

#: The record of the inference call running in this context, if any.
_current: contextvars.ContextVar[InferenceRecord | None] = contextvars.ContextVar(
    "inferwatch_current_record", default=None
)


def current_record() -> InferenceRecord | None:
    """The record of the monitored call running in this context, or None."""
    return _current.get()


def set_attribute(key: str, value: Any) -> bool:
    """Set a per-call attribute on the inference running in this context.

    ::

        @app.post("/predict")
        async def predict(body: Body):
            inferwatch.set_attribute("segment", body.segment)    # on logs and metrics
            inferwatch.set_attribute("email", body.email)        # pii_fields=["email"]:
            return model(body.features)                           # pseudonymised, never a metric

    The attribute goes on the record's log line and, unless its key is listed
    in ``pii_fields`` or ``drop_fields``, on its metrics (values capped per key
    by ``max_attribute_values``; free text that looks like an email or phone
    number is kept off metrics). Keys in ``pii_fields`` are pseudonymised in
    the log, keys in ``drop_fields`` dropped. Returns False (and does nothing)
    outside a monitored call or after its record was closed.
    """
    record = _current.get()
    if record is None or record.closed:
        return False
    attributes = record.attributes
    if attributes is None:
        record.attributes = {str(key): value}
    else:
        attributes[str(key)] = value
    return True


def set_attributes(attributes: Mapping[str, Any] | None = None, /, **more: Any) -> bool:
    """Set several per-call attributes at once (see ``set_attribute``)."""
    items = {**(attributes or {}), **more}
    done = True
    for key, value in items.items():
        done = set_attribute(key, value) and done
    return done


def new_record(endpoint: Endpoint, inference_id: str | None = None) -> InferenceRecord:
    """A record for a call beginning now, outside any decorator (tools, tests)."""
    trace_id, span_id = _trace_ids()
    return InferenceRecord(
        endpoint, time.time_ns(), perf_counter_ns(), 0, inference_id, trace_id, span_id
    )


def begin_transport(
    endpoint: Endpoint, http: HttpInfo, inference_id: str | None = None
) -> tuple[InferenceRecord, contextvars.Token[InferenceRecord | None]]:
    """Open the record of a request arriving over a transport (ASGI, gRPC).

    The record is bound to the context so that a ``@monitor``-decorated
    predict running inside the request fills it in (one record per
    inference) instead of writing its own. Pair with ``end_transport`` in a
    ``finally`` of the same task.
    """
    trace_id, span_id = _trace_ids()
    # Timestamp and generated id are filled in lazily (see InferenceRecord).
    record = InferenceRecord(
        endpoint, 0, perf_counter_ns(), 0, inference_id, trace_id, span_id
    )
    record.http = http
    record.joinable = True
    record.inference = False
    token = _current.set(record)
    next(endpoint.starts)
    return record, token


def end_transport(
    monitor: Monitor,
    endpoint: Endpoint,
    record: InferenceRecord,
    token: contextvars.Token[InferenceRecord | None],
) -> None:
    """Close a transport record: restore the context and submit it.

    ``endpoint`` is the one given to ``begin_transport`` (a joined predict
    may have replaced ``record.endpoint`` with the model's). Never raises.
    """
    try:
        next(endpoint.ends)
        record.closed = True
        try:  # noqa: SIM105 - runs per request: contextlib.suppress costs ~0.2 µs more
            _current.reset(token)
        except (ValueError, RuntimeError):  # another context, or reset twice: leave it
            pass
        if record.joinable:  # no monitored predict ran: the request is all there is
            record.joinable = False
            if record.http is not None:
                record.duration_ns = record.http.duration_ns
        monitor.submit(record)
    except BaseException as error:
        _reraise_fatal(error)
        _count_internal_error()


_internal_errors = itertools.count()
_FATAL = (KeyboardInterrupt, SystemExit)


def _reraise_fatal(exc: BaseException) -> None:
    """Let an interrupt or exit through; anything else a hostile object raised
    inside inferwatch's own work (a feature's ``__getattr__`` raising a custom
    ``BaseException``) is counted and survived, never raised into the call."""
    if isinstance(exc, _FATAL):
        raise exc


def _count_internal_error() -> None:
    """Last-resort counter for failures before a monitor is known."""
    next(_internal_errors)


def internal_error_count() -> int:
    return count_value(_internal_errors)
