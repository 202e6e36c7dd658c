"""Argument checks for labels and outcomes: cheap, on the caller's thread.

Each check returns the value in the one form the join uses (a class label as
``str``/``int``/``bool``, a regression label or outcome value as ``float``, a
timestamp as epoch seconds) or raises ``TypeError``/``ValueError`` with a
message that says what to pass instead. A label that fails here never
reaches the queue; an unknown inference id is not an error (see
``_tracker``).
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import re
from typing import Any

__all__ = [
    "MAX_ID_CHARS",
    "MAX_LABEL_CHARS",
    "SOURCES",
    "check_class_label",
    "check_id",
    "check_model",
    "check_number",
    "check_outcome_name",
    "check_source",
    "check_timestamp",
]

#: Inference ids longer than this are refused (the log caps ids at 128 characters).
MAX_ID_CHARS = 1024
#: A class label is a class name, not free text.
MAX_LABEL_CHARS = 256
#: Where a label came from: reported separately, never mixed.
SOURCES = ("organic", "review")

_OUTCOME_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")


def check_id(inference_id: Any) -> str:
    if not isinstance(inference_id, str):
        raise TypeError(
            f"inference_id must be a str (the id the response or the log carries), "
            f"got {type(inference_id).__name__}"
        )
    text = str(inference_id)
    if not text or len(text) > MAX_ID_CHARS:
        raise ValueError(f"inference_id must be 1 to {MAX_ID_CHARS} characters, got {len(text)}")
    return text


def check_model(model: Any) -> str | None:
    if model is None or type(model) is str:
        return model
    raise TypeError(f"model must be a model name (str) or None, got {type(model).__name__}")


def check_source(source: Any) -> str:
    if source not in SOURCES or type(source) is not str:
        raise ValueError(f"source must be one of {', '.join(map(repr, SOURCES))}, "
                         f"got {source!r}")
    return str(source)


def check_timestamp(timestamp: Any) -> float | None:
    """Epoch seconds (int, float, an aware ``datetime`` or an ISO 8601 text with a
    zone, such as ``2026-12-01T08:00:00Z``); None means now."""
    if timestamp is None:
        return None
    if isinstance(timestamp, str):
        text = timestamp.strip()
        try:
            timestamp = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(
                ("Z", "z")) else text)
        except ValueError:
            raise ValueError(f"timestamp {text!r} is not ISO 8601 (2026-12-01T08:00:00Z) "
                             "or epoch seconds") from None
    if isinstance(timestamp, _dt.datetime):
        if timestamp.tzinfo is None:
            raise ValueError("timestamp is a naive datetime: give it a timezone "
                             "(datetime.now(timezone.utc)) or pass epoch seconds")
        return timestamp.timestamp()
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Real):
        raise TypeError(f"timestamp must be epoch seconds or an aware datetime, got "
                        f"{type(timestamp).__name__}")
    value = float(timestamp)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"timestamp must be finite epoch seconds, got {timestamp!r}")
    return value


def check_number(value: Any, what: str) -> float:
    """A finite real number (a regression label, an outcome value); bool counts as 0/1."""
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return number


def check_class_label(label: Any) -> str | int | bool:
    """A class: ``str``, ``int`` or ``bool`` (numpy scalars and integral floats accepted)."""
    if type(label) in (str, int, bool):
        if type(label) is str and not 0 < len(label) <= MAX_LABEL_CHARS:
            raise ValueError(f"a class label must be 1 to {MAX_LABEL_CHARS} characters, "
                             f"got {len(label)}")
        return label  # type: ignore[no-any-return]
    item = getattr(label, "item", None)
    if item is not None and type(label).__module__ == "numpy":
        return check_class_label(item())
    if isinstance(label, float):
        if not math.isfinite(label):
            raise ValueError(f"label must be a class (str, int or bool), got {label!r}")
        if label.is_integer():  # 1.0 read from a CSV or JSON file means class 1
            return int(label)
        raise ValueError(f"label {label!r} is not a class: a classification label is a "
                         "str, int or bool (use task='regression' for numbers)")
    if isinstance(label, (str, bool, numbers.Integral)):
        return check_class_label(int(label) if not isinstance(label, str) else str(label))
    raise TypeError(f"label must be a class (str, int or bool), got {type(label).__name__}")


def check_outcome_name(name: Any) -> str:
    if type(name) is not str or not _OUTCOME_NAME.fullmatch(name):
        raise ValueError(
            f"outcome name must be 1 to 64 characters of letters, digits, '_', '.' or '-' "
            f"starting with a letter (e.g. 'conversion', 'revenue'), got {name!r}"
        )
    return name
