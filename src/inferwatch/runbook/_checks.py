"""The on-call checks, in order: one definition that the runbook and ``diagnose`` share.

An engineer paged at night walks them top to bottom: is the service up and
fast (service health), are its outputs what they were (prediction
distribution), are its inputs (input data quality), is what it depends on
current (upstream freshness), and did something change (recent version
changes); then whether inferwatch itself lost data, which would make every
other answer partial. ``inferwatch diagnose`` prints its checks under these
names, in this order within each model version, and names the runbook
section of each; the runbook's check headings are :attr:`CheckDef.heading`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._anchors import github_slug

__all__ = [
    "CHECKS",
    "ERROR_RATE_DEGRADED",
    "ERROR_RATE_FAILING",
    "INPUT_DATA_QUALITY",
    "OWN_LOSSES",
    "PREDICTION_DISTRIBUTION",
    "QUALITY_RATE_DEGRADED",
    "RECENT_SECONDS",
    "RECENT_VERSION_CHANGES",
    "RUNBOOK_CHECKS",
    "SERVICE_HEALTH",
    "UPSTREAM_FRESHNESS",
    "CheckDef",
]

#: Without an availability SLO: the error rates that degrade and fail a model.
ERROR_RATE_DEGRADED, ERROR_RATE_FAILING = 0.01, 0.10
#: Share of a feature's rows missing, out of range or of a new category that degrades it.
QUALITY_RATE_DEGRADED = 0.05
#: A model version first seen this recently (seconds) is a recent change.
RECENT_SECONDS = 3600.0


@dataclass(frozen=True)
class CheckDef:
    """One on-call check: its place, its name, and where the status page shows it.

    ``name`` is what ``diagnose`` prints (``service health: ...``);
    ``section`` the status page's section title as diagnose names it and
    ``section_id`` that section's anchor on the page (``/inferwatch#service``).
    """

    number: int
    name: str
    title: str
    section: str
    section_id: str

    @property
    def heading(self) -> str:
        """The runbook's heading for this check: ``1. Service health``."""
        return f"{self.number}. {self.title}"

    @property
    def anchor(self) -> str:
        """The runbook anchor of the check (GitHub's slug of its heading)."""
        return github_slug(self.heading)


SERVICE_HEALTH = CheckDef(1, "service health", "Service health", "service health", "service")
PREDICTION_DISTRIBUTION = CheckDef(2, "prediction distribution", "Prediction distribution",
                                   "prediction quality", "predictions")
INPUT_DATA_QUALITY = CheckDef(3, "input data quality", "Input data quality", "data quality",
                              "data")
UPSTREAM_FRESHNESS = CheckDef(4, "upstream freshness", "Upstream freshness", "service health",
                              "service")
RECENT_VERSION_CHANGES = CheckDef(5, "recent version changes", "Recent version changes",
                                  "recent events", "events")
OWN_LOSSES = CheckDef(6, "inferwatch's own losses", "inferwatch's own losses", "recent events",
                      "events")

#: The checks of each model version, in the order they are walked.
CHECKS: tuple[CheckDef, ...] = (SERVICE_HEALTH, PREDICTION_DISTRIBUTION, INPUT_DATA_QUALITY,
                                UPSTREAM_FRESHNESS, RECENT_VERSION_CHANGES)
#: Everything the runbook walks: the model's checks, then inferwatch's own (once per process).
RUNBOOK_CHECKS: tuple[CheckDef, ...] = (*CHECKS, OWN_LOSSES)
