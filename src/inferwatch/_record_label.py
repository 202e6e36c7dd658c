"""``inferwatch.record_label``, ``record_labels`` and ``record_outcome``.

Kept out of :mod:`inferwatch.labels` so that ``import inferwatch`` imports
nothing of it: the label trackers are found through ``sys.modules`` (when
nothing imported the package, no tracker can exist), the way the monitor
finds drift monitors.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import ConfigurationError

__all__ = ["record_label", "record_labels", "record_outcome"]


def _trackers(model: Any) -> list[Any]:
    module = sys.modules.get("inferwatch.labels._tracker")
    live = [] if module is None else module.live_trackers()
    if model is not None and type(model) is str:
        live = [t for t in live if t.model is None or t.model == model]
    from . import _process

    default = _process._default
    on_default = [t for t in live if t.monitor is default]
    chosen = on_default or live
    if not chosen:
        raise ConfigurationError(
            "no label tracker is running" + (f" for model {model!r}" if model else "")
            + ": start one with inferwatch.labels.track(task='classification', ...) "
            "(or task='regression') before recording labels"
        )
    return chosen


def record_label(inference_id: str, label: Any, *, model: str | None = None,
                 timestamp: Any = None, source: str = "organic") -> None:
    """Record the ground truth of one prediction, by its inference id.

    ::

        inferwatch.record_label(request_id, 1)                       # a fraud label, days later
        inferwatch.record_label(rid, "spam", source="review", timestamp=reviewed_at)

    ``inference_id`` is the id the prediction's response or log carries
    (the caller's ``x-request-id``, else the generated id echoed in the
    response and logged as ``inference.id``). ``label`` is a class (str,
    int, bool) for a classifier or a finite number for a regressor;
    ``model`` picks the prediction when several models share the id;
    ``timestamp`` (epoch seconds or an aware datetime, default now) is when
    the label became known, for the label delay and time windows;
    ``source`` is "organic" or "review" (reported apart).

    Cheap (the join happens on the aggregator thread) and thread-safe. An id
    with no stored prediction is not an error: it is counted
    (``inferwatch.labels.received{result="no_prediction"}``). Bad arguments
    (NaN, wrong types) raise ``TypeError``/``ValueError``; with no
    ``inferwatch.labels.track(...)`` running it raises ``ConfigurationError``.
    """
    for tracker in _trackers(model):
        tracker.record_label(inference_id, label, model=model, timestamp=timestamp,
                             source=source)


def record_labels(pairs: Iterable[Any]) -> int:
    """Record many labels: ``(inference_id, label)`` tuples, or mappings with
    ``inference_id``, ``label`` and optionally ``model``, ``timestamp``, ``source``.

    ::

        inferwatch.record_labels([("a1", 0), ("b7", 1)])
        inferwatch.record_labels([{"inference_id": "a1", "label": 0, "timestamp": 1.7e9}])

    Every pair is checked before any is recorded (a bad one raises, naming
    its index); returns how many were queued (fewer only if the queue is full,
    which is counted as ``labels_queue_full``).
    """
    items = list(pairs)
    models = {p.get("model") if isinstance(p, Mapping) else None for p in items}
    model = next(iter(models)) if len(models) == 1 else None
    return min(int(tracker.record_labels(items)) for tracker in _trackers(model))


def record_outcome(inference_id: str, name: str, value: float = 1.0, *,
                   model: str | None = None) -> None:
    """Record a business outcome of one prediction (a conversion, revenue, a complaint).

    ::

        inferwatch.record_outcome(request_id, "conversion")          # value 1
        inferwatch.record_outcome(request_id, "revenue", 42.5)

    Joined like a label and aggregated per model, version and variant: count,
    sum (``inferwatch.outcome.value``) and the share of predictions with at
    least one such outcome (``inferwatch.outcome.rate``). ``name`` is 1-64
    letters, digits, ``_.-`` (at most 16 names are kept apart, then
    ``_other``); ``value`` a finite number. Every outcome counts (two
    purchases are two events); unknown ids are counted, never raised.
    """
    for tracker in _trackers(model):
        tracker.record_outcome(inference_id, name, value, model=model)
