"""Join your application's own logs to inferwatch's inference records.

Inside a monitored call, these add the current inference id and trace id to
the log lines your code writes, under the same names inferwatch's records
use, so a log backend joins the two with one query:

- :data:`add_inference_ids`, a structlog processor::

      structlog.configure(processors=[
          inferwatch.logs.add_inference_ids,
          structlog.processors.JSONRenderer(),
      ])

  adds ``inference.id``, ``trace_id`` and ``span_id`` to the event dict
  (never overwriting a key you set);

- :class:`InferenceIdFilter`, a :class:`logging.Filter` for the standard
  library::

      handler.addFilter(inferwatch.logs.InferenceIdFilter())
      handler.setFormatter(logging.Formatter("%(inference_id)s %(trace_id)s %(message)s"))

  sets ``inference_id``, ``trace_id`` and ``span_id`` on every record
  (``""`` outside a monitored call, so format strings always work; an
  ``extra=`` value of the caller wins).

The id is written exactly as inferwatch's own record writes it: a caller's
id is pseudonymised when ``inference.id`` or the id header is a PII field
(the default monitor's PII settings), and long ids are capped. Both are
cheap (a context-variable read) and never raise: a failure leaves the event
as it was.

To extend inferwatch's own per-inference events instead, pass structlog-style
processors to ``configure(log_processors=[...])`` (see ``inferwatch._logs``).
"""

from __future__ import annotations

import logging
from typing import Any

from inferwatch._logs import _pseudonymises_id, logged_id
from inferwatch._record import InferenceRecord
from inferwatch.transport import current_record

__all__ = ["InferenceIdFilter", "InferenceIds", "add_inference_ids"]


def _monitor_id(record: InferenceRecord, monitor: Any) -> str:
    if monitor is None:
        from inferwatch import _process

        monitor = _process._default
    pipeline = getattr(monitor, "_log_pipeline", None)
    if pipeline is not None:
        text: str = pipeline.logged_id(record)
        return text
    p = getattr(monitor, "_pseudonymizer", None)
    return logged_id(record, p, _pseudonymises_id(p, ()))


def _ids(monitor: Any) -> tuple[str, str, str] | None:
    """(inference id, trace id, span id) of the current monitored call, or None."""
    record = current_record()
    if record is None:
        return None
    trace = f"{record.trace_id:032x}" if record.trace_id else ""
    span = f"{record.span_id:016x}" if record.trace_id and record.span_id else ""
    return _monitor_id(record, monitor), trace, span


class InferenceIds:
    """structlog processor adding ``inference.id``, ``trace_id``, ``span_id`` inside a call.

    ``monitor=None`` follows the process default monitor (its PII settings
    decide whether the id is pseudonymised).
    """

    __slots__ = ("_monitor",)

    def __init__(self, monitor: Any = None) -> None:
        self._monitor = monitor

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        try:
            ids = _ids(self._monitor)
        except Exception:  # app logging must never break because of inferwatch
            return event_dict
        if ids is not None:
            inference_id, trace_id, span_id = ids
            event_dict.setdefault("inference.id", inference_id)
            if trace_id:
                event_dict.setdefault("trace_id", trace_id)
                if span_id:
                    event_dict.setdefault("span_id", span_id)
        return event_dict


#: The ready-made :class:`InferenceIds` processor, following the default monitor.
add_inference_ids = InferenceIds()


class InferenceIdFilter(logging.Filter):
    """Set ``inference_id``, ``trace_id``, ``span_id`` on each :class:`logging.LogRecord`.

    Outside a monitored call they are ``default`` (``""``), or not set at all
    with ``default=None``. Never filters anything out.
    """

    def __init__(self, name: str = "", *, default: str | None = "", monitor: Any = None) -> None:
        super().__init__(name)
        self._default = default
        self._monitor = monitor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            ids = _ids(self._monitor)
        except Exception:
            ids = None
        fields = record.__dict__  # setdefault: an ``extra=`` of the caller wins
        if ids is None:
            if self._default is not None:
                fields.setdefault("inference_id", self._default)
                fields.setdefault("trace_id", self._default)
                fields.setdefault("span_id", self._default)
            return True
        inference_id, trace_id, span_id = ids
        default = self._default or ""
        fields.setdefault("inference_id", inference_id)
        fields.setdefault("trace_id", trace_id or default)
        fields.setdefault("span_id", span_id or default)
        return True
