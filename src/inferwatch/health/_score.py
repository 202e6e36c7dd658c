"""A model's health score: components with their points, and the explanation."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from ._bands import light

__all__ = ["LABELS", "Assessment", "ComponentScore", "HealthScore", "compose"]

#: How each built-in component is named in explanations.
LABELS = {
    "availability": "availability",
    "latency": "latency",
    "data_drift": "data drift",
    "prediction_stability": "prediction stability",
    "freshness": "freshness",
}
_MINUS = "-"


@dataclasses.dataclass(frozen=True)
class Assessment:
    """What a component measured: ``share`` of its points in [0, 1] (None: no
    data, so the component is unknown and left out of the weights), why, and
    the measured value behind it. Custom components return one of these."""

    share: float | None
    detail: str
    value: float | None = None


@dataclasses.dataclass(frozen=True)
class ComponentScore:
    """One component of a model's score: ``points`` out of ``weight`` (None when unknown)."""

    name: str
    weight: float
    points: float | None
    detail: str
    value: float | None = None

    @property
    def known(self) -> bool:
        return self.points is not None

    @property
    def lost(self) -> float:
        """Points this component cost (0 when unknown)."""
        return 0.0 if self.points is None else self.weight - self.points

    def to_dict(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "points": None if self.points is None else round(self.points, 2),
            "status": "scored" if self.known else "unknown",
            "detail": self.detail,
            "value": self.value,
        }


@dataclasses.dataclass(frozen=True)
class HealthScore:
    """The health of one model version now.

    ``score`` is 0-100 over the components with data (None when none has any),
    ``status`` its traffic light; ``explanation`` names what cost points and
    why (``"data drift -12: f03 PSI 0.65"``) and which components are unknown.
    """

    model: str
    version: str
    score: float | None
    status: str
    components: dict[str, ComponentScore]
    explanation: tuple[str, ...]

    @property
    def known_weight(self) -> float:
        return sum(c.weight for c in self.components.values() if c.known)

    def text(self) -> str:
        head = (f"{self.model} {self.version}: health unknown" if self.score is None else
                f"{self.model} {self.version}: health {self.score:.0f} ({self.status})")
        return "; ".join((head, *self.explanation))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model.name": self.model,
            "model.version": self.version,
            "score": None if self.score is None else round(self.score, 1),
            "status": self.status,
            "known_weight": self.known_weight,
            "components": {name: c.to_dict() for name, c in self.components.items()},
            "explanation": list(self.explanation),
        }


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def compose(model: str, version: str, weights: Mapping[str, float],
            assessments: Mapping[str, Assessment]) -> HealthScore:
    """The score from each component's assessment (in ``weights``' order)."""
    components: dict[str, ComponentScore] = {}
    for name, weight in weights.items():
        assessment = assessments.get(name) or Assessment(None, "not measured")
        share = assessment.share
        if share is not None and not (isinstance(share, (int, float)) and math.isfinite(share)):
            share = None
        points = None if share is None else weight * min(max(float(share), 0.0), 1.0)
        components[name] = ComponentScore(name, weight, points, assessment.detail,
                                          assessment.value)
    known = [c for c in components.values() if c.known]
    total = sum(c.weight for c in known)
    score = None if not known or total <= 0 else (
        100.0 * sum(c.points for c in known if c.points is not None) / total)
    explanation: list[str] = []
    for c in sorted(known, key=lambda c: -c.lost):
        if c.lost >= 0.05:
            explanation.append(f"{_label(c.name)} {_MINUS}{round(c.lost, 1):g}: {c.detail}")
    for c in components.values():
        if not c.known:
            explanation.append(f"{_label(c.name)} unknown: {c.detail}")
    return HealthScore(model, version, score, light(score), components, tuple(explanation))
