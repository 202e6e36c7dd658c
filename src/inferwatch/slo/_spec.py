"""The SLO spec: one frozen value per objective, validated when it is made."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from .._errors import ConfigurationError

__all__ = ["KINDS", "QUALITY_METRICS", "SLO", "parse_duration"]

#: The kinds of SLI inferwatch computes (see the README's SLO section).
KINDS = ("availability", "latency", "drift", "quality", "freshness")

#: The label tracker's measures a quality SLO may watch, and whether more is better.
QUALITY_METRICS: dict[str, bool] = {
    "accuracy": True, "precision": True, "recall": True, "f1": True, "macro_f1": True,
    "roc_auc": True, "log_loss": False, "brier": False, "ece": False, "mae": False,
    "rmse": False, "mape": False,
}

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
#: A quality SLO's defaults: within 5 % of the baseline, on at least 100 joined pairs.
DEFAULT_TOLERANCE = 0.05
DEFAULT_MIN_PAIRS = 100
#: Longest window a budget is kept for: the hourly ring is sized by it.
MAX_WINDOW_SECONDS = 366 * 86400


def parse_duration(text: str) -> float:
    """Seconds in a duration string: ``"5m"``, ``"1h"``, ``"30d"``, ``"4w"``, ``"1h30m"``.

    Units are s, m, h, d and w (OpenSLO's rolling-window units); calendar
    units (months, quarters) have no fixed length and are refused. Raises
    ``ValueError`` on anything else.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r} is not a duration; write e.g. '5m', '1h', '30d' or '4w'")
    raw = text.strip()
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or pos == 0:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit (s, m, h, d, w), "
            "e.g. '5m', '1h', '30d' or '4w'"
        )
    if total <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return total


@dataclasses.dataclass(frozen=True)
class SLO:
    """A service level objective for a model, declared once.

    ::

        SLO("churn-availability", "availability", 0.999)                 # 30-day window
        SLO("churn-latency", "latency", 0.99, threshold_ms=300, model="churn")
        SLO("churn-drift", "drift", 0.95, window="7d", model="churn")
        SLO("churn-fresh", "freshness", 0.99, max_age="30d", model="churn")
        SLO("churn-accuracy", "quality", 0.95, model="churn", metric="accuracy",
            baseline=0.91, tolerance=0.05)          # accuracy at least 0.91 x 0.95

    ``kind`` says what a good event is: *availability*, a call that did not
    fail; *latency*, a successful call that took at most ``threshold_ms``;
    *drift*, a closed drift window with no feature in status ``drift``;
    *freshness*, a tick at which the model version (or the reference
    profile) is younger than ``max_age``; *quality*, a minute at which the
    label tracker's ``metric`` (``inferwatch.labels.track``; its first window,
    organic labels, at least ``min_pairs`` joined pairs) is within
    ``tolerance`` (relative) of ``baseline``: at least ``baseline * (1 -
    tolerance)`` for a measure where more is better (accuracy, F1, ROC AUC, ...),
    at most ``baseline * (1 + tolerance)`` for a loss (log loss, Brier, ECE,
    MAE, RMSE, MAPE); one event per minute per model version (and variant) with
    enough pairs. ``target`` is the share of
    good events in ``window`` (strictly between 0 and 1); ``1 - target`` is
    the error budget. ``model`` / ``version`` restrict the SLO to one model
    (and version); without them it covers every model of the monitor.

    Raises ``ConfigurationError`` naming the SLO and the field for an invalid
    value.
    """

    name: str
    kind: str
    target: float
    _: dataclasses.KW_ONLY
    window: str = "30d"
    model: str | None = None
    version: str | None = None
    threshold_ms: float | None = None
    max_age: str | None = None
    metric: str | None = None
    baseline: float | None = None
    tolerance: float | None = None
    min_pairs: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        check_slo(self)

    @property
    def window_seconds(self) -> float:
        """The window's length in seconds."""
        return parse_duration(self.window)

    @property
    def max_age_seconds(self) -> float | None:
        """``max_age`` in seconds (freshness SLOs), else None."""
        return None if self.max_age is None else parse_duration(self.max_age)

    @property
    def threshold_s(self) -> float | None:
        """The latency threshold in seconds (the duration histogram's unit)."""
        return None if self.threshold_ms is None else self.threshold_ms / 1000.0

    @property
    def quality_bound(self) -> float | None:
        """The worst value of ``metric`` still good (quality SLOs), else None."""
        if self.kind != "quality" or self.metric is None or self.baseline is None:
            return None
        tolerance = DEFAULT_TOLERANCE if self.tolerance is None else self.tolerance
        if QUALITY_METRICS[self.metric]:
            return self.baseline * (1.0 - tolerance)
        return self.baseline * (1.0 + tolerance)

    def quality_good(self, value: float) -> bool:
        """Whether ``value`` of ``metric`` meets the bound (quality SLOs)."""
        bound = self.quality_bound
        assert bound is not None and self.metric is not None
        return value >= bound if QUALITY_METRICS[self.metric] else value <= bound

    @property
    def error_budget(self) -> float:
        """The share of events allowed to be bad: ``1 - target``."""
        return 1.0 - self.target


class SpecError(ConfigurationError):
    """A ``ConfigurationError`` that keeps the SLO and field apart, so the
    YAML loader can name the file and the field as written there."""

    def __init__(self, slo_name: Any, field: str, problem: str) -> None:
        super().__init__(f"SLO {slo_name!r}: {field}: {problem}")
        self.slo_name = slo_name
        self.field = field
        self.problem = problem


def _fail(slo_name: Any, field: str, problem: str) -> SpecError:
    return SpecError(slo_name, field, problem)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_slo(slo: SLO) -> None:
    """Validate every field of ``slo``; raise ``ConfigurationError`` naming the first bad one."""
    name = slo.name
    if not isinstance(name, str) or not name.strip():
        raise _fail(name, "name", "must be a non-empty string")
    if slo.kind not in KINDS:
        raise _fail(name, "kind", f"unknown kind {slo.kind!r}; use one of {', '.join(KINDS)}")
    target = slo.target
    if not _number(target) or not math.isfinite(target) or not 0.0 < target < 1.0:
        raise _fail(name, "target", f"{target!r} is not strictly between 0 and 1 "
                    "(write 99.9 % as 0.999)")
    try:
        window = parse_duration(slo.window)
    except ValueError as exc:
        raise _fail(name, "window", str(exc)) from None
    if window < 60:
        raise _fail(name, "window", f"{slo.window!r} is shorter than a minute, the finest "
                    "step budgets are kept in")
    if window > MAX_WINDOW_SECONDS:
        raise _fail(name, "window", f"{slo.window!r} is longer than the 366 days a budget "
                    "is kept for")
    threshold = slo.threshold_ms
    if slo.kind == "latency":
        if threshold is None:
            raise _fail(name, "threshold_ms", "a latency SLO needs a threshold in "
                        "milliseconds (threshold_ms=300)")
        if not _number(threshold) or not math.isfinite(threshold) or threshold <= 0:
            raise _fail(name, "threshold_ms", f"{threshold!r} is not a positive number "
                        "of milliseconds")
    elif threshold is not None:
        raise _fail(name, "threshold_ms", f"only latency SLOs take a threshold (kind is "
                    f"{slo.kind!r})")
    if slo.kind == "freshness":
        if slo.max_age is None:
            raise _fail(name, "max_age", "a freshness SLO needs a maximum age "
                        "(max_age='30d')")
        try:
            parse_duration(slo.max_age)
        except ValueError as exc:
            raise _fail(name, "max_age", str(exc)) from None
    elif slo.max_age is not None:
        raise _fail(name, "max_age", f"only freshness SLOs take a maximum age (kind is "
                    f"{slo.kind!r})")
    _check_quality(slo)
    for field in ("model", "version"):
        value = getattr(slo, field)
        if value is not None and (not isinstance(value, str) or not value):
            raise _fail(name, field, f"{value!r} is not a non-empty string")
    if slo.version is not None and slo.model is None:
        raise _fail(name, "version", "a version needs its model (model='churn')")
    if not isinstance(slo.description, str):
        raise _fail(name, "description", "must be a string")


def _check_quality(slo: SLO) -> None:
    name = slo.name
    fields = ("metric", "baseline", "tolerance", "min_pairs")
    if slo.kind != "quality":
        for field in fields:
            if getattr(slo, field) is not None:
                raise _fail(name, field, f"only quality SLOs take a {field} (kind is "
                            f"{slo.kind!r})")
        return
    if slo.metric not in QUALITY_METRICS:
        raise _fail(name, "metric", f"{slo.metric!r}: a quality SLO watches one of "
                    f"{', '.join(QUALITY_METRICS)} (metric='accuracy')")
    baseline = slo.baseline
    if baseline is None:
        raise _fail(name, "baseline", "a quality SLO needs the metric's baseline, e.g. "
                    "its value on the validation set (baseline=0.91)")
    if not _number(baseline) or not math.isfinite(baseline) or baseline <= 0:
        raise _fail(name, "baseline", f"{baseline!r} is not a positive number")
    tolerance = slo.tolerance
    if tolerance is not None and (not _number(tolerance) or not math.isfinite(tolerance)
                                  or not 0.0 < tolerance < 1.0):
        raise _fail(name, "tolerance", f"{tolerance!r} is not strictly between 0 and 1 "
                    "(5 % of the baseline is 0.05)")
    pairs = slo.min_pairs
    if pairs is not None and (isinstance(pairs, bool) or not isinstance(pairs, int)
                              or pairs < 1):
        raise _fail(name, "min_pairs", f"{pairs!r} is not a whole number of pairs >= 1")
