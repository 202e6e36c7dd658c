"""What a drift report holds: plain dataclasses, with ``to_dict()`` for JSON."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

#: Status names by level (the exported ``inferwatch.drift.status`` value).
STATUSES = ("ok", "warning", "drift")
NO_DATA = "no_data"
#: Each status's level (``no_data`` and unknown ones rank below ``ok``).
LEVELS = {status: level for level, status in enumerate(STATUSES)}


def trouble(report: DriftReport) -> tuple[int, int]:
    """How much a report shows wrong, to pick the worst of several (the worst of a
    version's variants): its status level, then the rows of its window."""
    window = report.window
    return LEVELS.get(report.status, -1), 0 if window is None else window.rows


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


class _ToDict:
    __slots__ = ()  # the reports' dataclasses use slots: a history of them stays small

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN and inf become None)."""
        out: dict[str, Any] = _jsonable(self)
        return out


@dataclass(frozen=True, slots=True)
class Statistic(_ToDict):
    """One statistic of one feature; ``adjusted_pvalue`` is corrected across features."""

    name: str
    value: float
    pvalue: float | None = None
    adjusted_pvalue: float | None = None


@dataclass(frozen=True, slots=True)
class Quality(_ToDict):
    """Data quality of one feature in the window (counts; rates are properties)."""

    rows: int
    missing: int = 0
    nan: int = 0
    inf: int = 0
    invalid: int = 0
    out_of_range: int = 0
    new_categories: tuple[Any, ...] = ()
    new_category_rows: int = 0

    def _rate(self, count: int) -> float:
        return count / self.rows if self.rows else 0.0

    @property
    def missing_rate(self) -> float:
        return self._rate(self.missing)

    @property
    def nan_rate(self) -> float:
        return self._rate(self.nan)

    @property
    def inf_rate(self) -> float:
        return self._rate(self.inf)

    @property
    def invalid_rate(self) -> float:
        return self._rate(self.invalid)

    @property
    def out_of_range_rate(self) -> float:
        return self._rate(self.out_of_range)

    @property
    def new_category_rate(self) -> float:
        return self._rate(self.new_category_rows)

    def rates(self) -> dict[str, float]:
        return {
            "missing": self.missing_rate, "nan": self.nan_rate, "inf": self.inf_rate,
            "invalid": self.invalid_rate, "out_of_range": self.out_of_range_rate,
            "new_category": self.new_category_rate,
        }

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["rates"] = self.rates()
        return out


@dataclass(frozen=True, slots=True)
class FeatureDrift(_ToDict):
    """Drift of one feature (or output): statistics, status and how it was decided.

    ``decided_by`` names what set the status: the test and the effect size
    (``"ks+psi"``, ``"chi_square+psi"``), one of them alone (``"mmd"`` for
    vectors, ``"psi"`` when no test ran), or ``""`` when there was no data.
    ``significant`` (adjusted p-value under ``alpha``) and ``material`` (PSI at
    least ``min_effect``) are the two answers behind the status (None where
    not asked); see :mod:`inferwatch.drift._decide` for the rule.
    """

    name: str
    kind: str
    status: str
    level: int
    alert: bool
    decided_by: str
    statistics: dict[str, Statistic]
    n_reference: int
    n_current: int
    thresholds: dict[str, float]
    quality: Quality
    importance: float | None = None
    previous: FeatureDrift | None = None
    significant: bool | None = None
    material: bool | None = None

    @property
    def drifted(self) -> bool:
        return self.status == "drift"

    def score(self, name: str) -> float | None:
        stat = self.statistics.get(name)
        return None if stat is None else stat.value


@dataclass(frozen=True, slots=True)
class WindowInfo(_ToDict):
    index: int
    spec: str
    rows: int
    complete: bool
    opened_at: float
    closed_at: float | None


@dataclass(frozen=True, slots=True)
class DriftReport(_ToDict):
    """The state of drift for one model and window.

    ``drifted_share`` is the share of features with status "drift";
    ``weighted_score`` the importance-weighted share (every feature weighs the
    same without importances, so it is then the drifted share). ``status`` is
    "drift" when ``drifted_share`` reaches ``dataset_drift_share``, "warning"
    when any feature, output or the multivariate test is not ok, "no_data"
    for a window without rows. ``variant`` names the A/B variant whose rows
    the window holds (``""`` for rows of no variant).
    """

    model_name: str
    window: WindowInfo | None
    features: dict[str, FeatureDrift]
    outputs: dict[str, FeatureDrift] = field(default_factory=dict)
    multivariate: FeatureDrift | None = None
    n_drifted: int = 0
    drifted_share: float = 0.0
    weighted_score: float | None = None
    status: str = "ok"
    alert: bool = False
    unknown_features: dict[str, int] = field(default_factory=dict)
    missing_features: tuple[str, ...] = ()
    unreadable_rows: int = 0
    warming_up: bool = False
    warmup_rows: int = 0
    correction: str = "bh"
    reference_rows: int = 0
    compute_seconds: float = 0.0
    model_version: str = ""
    variant: str = ""

    @property
    def drifted_features(self) -> list[str]:
        return [n for n, f in self.features.items() if f.drifted]

    @property
    def prediction(self) -> FeatureDrift | None:
        return self.outputs.get("prediction")

    @property
    def confidence(self) -> FeatureDrift | None:
        return self.outputs.get("confidence")
