"""The task a tracker measures, and how a prediction is read for it.

A classifier's prediction comes in one of three forms, each read here into
``(predicted class, positive-class probability, confidence)``:

- a class (``"fraud"``, ``1``, ``True``): the class itself; the confidence
  (the ``confidence=`` mapping of ``@monitor``) is taken as the predicted
  class's probability, so for a binary task the positive class's probability
  is the confidence or one minus it;
- a probability (a float in [0, 1]): the positive class's probability; the
  predicted class is ``positive`` at or above ``threshold``, else
  :data:`NEGATIVE` (binary tasks only);
- per-class scores (a 1-D array, or one row of a 2-D one): the arg-max is
  the predicted class (named by ``classes`` when given, else its index),
  its score the confidence.

A regressor's prediction is its number. Anything else is unreadable: the
record is not stored, and counted.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import ConfigurationError
from ._validate import check_class_label

__all__ = ["NEGATIVE", "TASKS", "Task", "Unreadable"]

TASKS = ("classification", "regression")
#: The predicted class of a binary probability below the threshold.
NEGATIVE = "_negative"
#: Per-class score vectors longer than this are not read.
MAX_CLASSES = 256

_NAN = float("nan")


class Unreadable(Exception):
    """A prediction this task cannot read (counted, never raised to a caller)."""


@dataclasses.dataclass(frozen=True)
class Task:
    """``kind`` "classification" or "regression"; ``positive`` the positive class of a
    binary classifier (None: multiclass metrics only)."""

    kind: str = "classification"
    positive: str | int | bool | None = None
    threshold: float = 0.5
    classes: tuple[str | int | bool, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in TASKS:
            raise ConfigurationError(f"task must be one of {', '.join(TASKS)}, got {self.kind!r}")
        if self.kind == "regression" and (self.positive is not None or self.classes):
            raise ConfigurationError("positive= and classes= are for task='classification'")
        if self.positive is not None:
            try:
                object.__setattr__(self, "positive", check_class_label(self.positive))
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"positive: {exc}") from None
        if not (isinstance(self.threshold, (int, float)) and 0 < self.threshold < 1):
            raise ConfigurationError(f"threshold must be in (0, 1), got {self.threshold!r}")
        if self.classes is not None:
            try:
                classes = tuple(check_class_label(c) for c in self.classes)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"classes: {exc}") from None
            if len(set(classes)) != len(classes) or len(classes) < 2:
                raise ConfigurationError("classes must name at least two distinct classes, "
                                         "in the order of the model's score columns")
            object.__setattr__(self, "classes", classes)

    @property
    def binary(self) -> bool:
        return self.kind == "classification" and self.positive is not None

    def read(self, prediction: Any, confidence: Any) -> tuple[str | int | bool | float,
                                                              float, float]:
        """``(prediction, score, confidence)`` as stored; raises :class:`Unreadable`."""
        # Exact-type fast paths first: ABC isinstance checks cost ~0.5 µs each, and
        # this runs once per stored prediction.
        if type(confidence) is float:
            conf = confidence if 0.0 <= confidence <= 1.0 else _NAN
        elif confidence is None:
            conf = _NAN
        else:
            conf = _probability(confidence)
        kind = type(prediction)
        if self.kind == "regression" and kind is float:
            if prediction - prediction != 0.0:  # NaN or infinite
                raise Unreadable("prediction is not finite")
            return prediction, _NAN, conf
        if kind is float and self.positive is not None and 0.0 <= prediction <= 1.0:
            predicted = self.positive if prediction >= self.threshold else NEGATIVE
            return predicted, prediction, conf if conf == conf else max(prediction,
                                                                         1.0 - prediction)
        if (kind is str or kind is int or kind is bool) and self.kind == "classification":
            predicted = check_class_label(prediction)
            score = _NAN
            if self.positive is not None and conf == conf:
                score = conf if predicted == self.positive else 1.0 - conf
            return predicted, score, conf
        if self.kind == "regression":
            if isinstance(prediction, bool) or not isinstance(prediction, numbers.Real):
                prediction = _scalar(prediction)
            value = float(prediction)
            if not math.isfinite(value):
                raise Unreadable("prediction is not finite")
            return value, _NAN, conf
        if isinstance(prediction, (float, np.floating)):
            p = float(prediction)
            if self.positive is None or not 0.0 <= p <= 1.0:
                raise Unreadable("a probability needs positive= and a value in [0, 1]")
            predicted = self.positive if p >= self.threshold else NEGATIVE
            return predicted, p, conf if conf == conf else max(p, 1.0 - p)
        if isinstance(prediction, (np.ndarray, list, tuple)):
            return self._scores(prediction)
        try:
            predicted = check_class_label(prediction)
        except (TypeError, ValueError):
            raise Unreadable("prediction is not a class") from None
        score = _NAN
        if self.positive is not None and conf == conf:
            score = conf if predicted == self.positive else 1.0 - conf
        return predicted, score, conf

    def _scores(self, prediction: Any) -> tuple[str | int | bool, float, float]:
        arr = np.asarray(prediction, dtype=np.float64)
        if arr.ndim == 2 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 1 or not 2 <= arr.size <= MAX_CLASSES or not np.isfinite(arr).all():
            raise Unreadable("scores must be one finite row of 2 or more classes")
        index = int(arr.argmax())
        classes = self.classes
        if classes is not None and len(classes) != arr.size:
            raise Unreadable("score columns do not match classes=")
        names: Sequence[str | int | bool] = classes if classes is not None else range(arr.size)
        predicted = names[index]
        score = _NAN
        if self.positive is not None:
            try:
                score = float(arr[list(names).index(self.positive)])
            except ValueError:
                score = _NAN
        return predicted, score, float(arr[index])


def _scalar(value: Any) -> float:
    item = getattr(value, "item", None)
    if item is not None:
        try:
            out = item()
        except (TypeError, ValueError):
            raise Unreadable("prediction is not one number") from None
        if isinstance(out, numbers.Real) and not isinstance(out, bool):
            return float(out)
    raise Unreadable("prediction is not a number")


def _probability(confidence: Any) -> float:
    """A confidence in [0, 1] as a float; NaN when absent or unusable."""
    if confidence is None or isinstance(confidence, bool):
        return _NAN
    if not isinstance(confidence, numbers.Real):
        try:
            confidence = _scalar(confidence)
        except Unreadable:
            return _NAN
    value = float(confidence)
    return value if 0.0 <= value <= 1.0 else _NAN
