"""The body of ``POST /inferwatch/labels``: checked, parsed, and recorded.

Two content types are read:

- ``application/json``: one object, ``{"labels": [{"inference_id": ...,
  "label": ..., "timestamp": ..., "model": ..., "source": ...}, ...]}``,
  optionally with ``"outcomes": [{"inference_id": ..., "name": ...,
  "value": ...}, ...]``;
- ``application/x-ndjson`` (also ``application/jsonl``,
  ``application/json-lines``): one label object per line.

Each bad input has its own status, raised as :class:`BodyError`: 415 another
content type, 413 a body over the byte cap or over ``max_items`` labels, 400
a body that is not UTF-8 JSON of that shape, 422 a label or outcome whose
values are wrong (NaN, wrong type, unknown key), naming the item. Nothing
is recorded unless every item is good.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["JSON_LINES", "MAX_BODY_BYTES", "MAX_ITEMS", "BodyError", "parse_body", "record_body"]

#: Default cap on a request body.
MAX_BODY_BYTES = 1 << 20
#: Labels (and outcomes) one request may carry.
MAX_ITEMS = 10_000
JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/json-lines",
              "application/jsonlines")
_OUTCOME_KEYS = {"inference_id", "name", "value", "model"}


class BodyError(Exception):
    """A request the route refuses: ``status`` and a message saying what to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def parse_body(content_type: str, body: bytes,
               max_items: int = MAX_ITEMS) -> tuple[list[Any], list[Any]]:
    """``(labels, outcomes)`` as lists of objects, or :class:`BodyError`."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind != "application/json" and kind not in JSON_LINES:
        raise BodyError(415, "send Content-Type: application/json "
                             '({"labels": [...]}) or application/x-ndjson (one label per line)')
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError(400, "the body is not UTF-8") from None
    outcomes: list[Any] = []
    try:
        if kind == "application/json":
            doc = _loads(text)
            if not isinstance(doc, dict):
                raise BodyError(400, 'the body must be a JSON object: {"labels": [...]}')
            unknown = set(doc) - {"labels", "outcomes"}
            if unknown:
                raise BodyError(400, f"unknown key(s) {', '.join(sorted(unknown))}; the body "
                                     'has "labels" and optionally "outcomes"')
            labels = doc.get("labels", [])
            outcomes = doc.get("outcomes", [])
            if not isinstance(labels, list) or not isinstance(outcomes, list):
                raise BodyError(400, '"labels" and "outcomes" must be JSON arrays')
        else:
            labels = [_loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise BodyError(400, f"the body is not valid JSON: {exc}") from None
    if len(labels) + len(outcomes) > max_items:
        raise BodyError(413, f"at most {max_items} labels and outcomes per request; "
                             "send them in batches")
    for what, items in (("labels", labels), ("outcomes", outcomes)):
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise BodyError(400, f"{what}[{i}] is not a JSON object")
    if not labels and not outcomes:
        raise BodyError(400, "the body holds no labels")
    return labels, outcomes


def record_body(trackers: list[Any], labels: list[Any],
                outcomes: list[Mapping[str, Any]]) -> dict[str, int]:
    """Check every item against every tracker, then record them all; 422 on a bad one."""
    for i, outcome in enumerate(outcomes):
        unknown = set(outcome) - _OUTCOME_KEYS
        if unknown or "inference_id" not in outcome or "name" not in outcome:
            raise BodyError(422, f"outcomes[{i}]: an outcome has inference_id, name and "
                                 "optionally value and model")
    try:
        for tracker in trackers:
            tracker.label_items(labels)  # raises for the first bad one, records nothing
            for i, outcome in enumerate(outcomes):
                try:
                    tracker.check_outcome(outcome["inference_id"], outcome["name"],
                                          outcome.get("value", 1.0), outcome.get("model"))
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"outcomes[{i}]: {exc}") from None
    except (TypeError, ValueError) as exc:
        message = str(exc)
        raise BodyError(422, message.replace("pairs[", "labels[", 1)) from None
    accepted = min(int(t.record_labels(labels)) for t in trackers) if labels else 0
    for tracker in trackers:
        for outcome in outcomes:
            tracker.record_outcome(outcome["inference_id"], outcome["name"],
                                   outcome.get("value", 1.0), model=outcome.get("model"))
    return {"accepted": accepted, "outcomes": len(outcomes)}
