"""The interface serving integrations build on: one record per request.

An integration (the ASGI middleware, the gRPC interceptors, a framework of
your own) opens a *transport record* when a request arrives and closes it
when the response is complete. A ``@inferwatch.monitor`` predict running
inside the request fills that record in instead of writing a second one, so
each inference has one record carrying both the transport's facts (route,
status, sizes) and the model's (prediction, confidence, features)::

    from inferwatch import transport

    endpoint = monitor.endpoint("churn", "3", {})
    http = transport.HttpInfo("http", "POST", "/predict", "https", "1.1")
    record, token = transport.begin_transport(endpoint, http, inference_id)
    try:
        ...                       # run the request; set http.status_code etc.
    finally:
        http.duration_ns = ...
        transport.end_transport(monitor, endpoint, record, token)

Rules every integration follows:

- A record with no monitored predict inside is a transport request, not an
  inference: it counts in the HTTP/RPC metrics only (set
  ``record.inference = True`` for a route the user declared a model endpoint).
- Set ``record.closed = True`` as soon as the response is complete, before
  anything that runs after it (background tasks); ``end_transport`` sets it
  too. A closed record is never joined.
- Ids and every attribute derived from a request are capped by the
  integration; route attributes are templates, never raw paths.

``end_transport`` never raises. This module is public and versioned with the
core; the names below are the whole interface.
"""

from __future__ import annotations

from ._capture import _trace_ids as _read_trace_ids
from ._capture import begin_transport, current_record, end_transport, new_record
from ._record import Endpoint, HttpInfo, InferenceRecord

__all__ = [
    "Endpoint",
    "HttpInfo",
    "InferenceRecord",
    "begin_transport",
    "current_record",
    "end_transport",
    "new_record",
    "trace_ids",
]


def trace_ids() -> tuple[int, int]:
    """``(trace_id, span_id)`` of the active OpenTelemetry span, or ``(0, 0)``."""
    return _read_trace_ids()
