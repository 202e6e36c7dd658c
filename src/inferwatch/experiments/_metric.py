"""What an experiment measures: its primary metric and its guardrails."""

from __future__ import annotations

import dataclasses
import math

from .._errors import ConfigurationError

__all__ = ["KINDS", "Guardrail", "Metric"]

#: ``mean`` for any number per unit (revenue, latency, a score); ``proportion``
#: for 0/1 outcomes (a conversion), the Bernoulli case of the same test.
KINDS = ("mean", "proportion")


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{what} needs a non-empty name, got {name!r}")


@dataclasses.dataclass(frozen=True)
class Metric:
    """A metric per unit, and which direction is good.

    ::

        Metric("conversion", kind="proportion")
        Metric("revenue")                                  # a mean, higher is better
    """

    name: str
    _: dataclasses.KW_ONLY
    kind: str = "mean"
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        _check_name(self.name, "a metric")
        if self.kind not in KINDS:
            raise ConfigurationError(
                f"metric {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}"
            )
        if not isinstance(self.higher_is_better, bool):
            raise ConfigurationError(f"metric {self.name!r}: higher_is_better must be a bool")


@dataclasses.dataclass(frozen=True)
class Guardrail:
    """A metric the treatment must not make worse by more than ``margin``.

    ::

        Guardrail("latency_ms", margin=5.0)                       # at most +5 ms
        Guardrail("error_rate", margin=0.002, kind="proportion")  # at most +0.2 points
        Guardrail("revenue", margin=0.01, relative=True, higher_is_better=True)  # -1 %

    ``margin`` is in the metric's units, or a share of the control's mean
    with ``relative=True``. Lower is better by default (latency, errors).
    A non-inferiority test, read with the same always-valid machinery as the
    primary metric: *breach* (the stop signal) once the whole confidence
    sequence of the degradation lies above the margin, *pass* once it lies
    below, *pending* in between.
    """

    name: str
    margin: float
    _: dataclasses.KW_ONLY
    kind: str = "mean"
    higher_is_better: bool = False
    relative: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name, "a guardrail")
        margin = self.margin
        if (isinstance(margin, bool) or not isinstance(margin, (int, float))
                or not math.isfinite(margin) or margin < 0):
            raise ConfigurationError(
                f"guardrail {self.name!r}: margin must be a finite number >= 0, got {margin!r}"
            )
        if not isinstance(self.relative, bool):
            raise ConfigurationError(f"guardrail {self.name!r}: relative must be a bool")
        self.metric  # noqa: B018 (validates kind and direction)

    @property
    def metric(self) -> Metric:
        return Metric(self.name, kind=self.kind, higher_is_better=self.higher_is_better)
