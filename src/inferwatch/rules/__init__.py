"""Prometheus rules generated from SLOs and the metric catalogue: the budget the fleet sees.

::

    from inferwatch.rules import RuleOptions, prometheus_rules, render
    from inferwatch.slo import load_slos

    text = render(prometheus_rules(load_slos("slos.yaml"), RuleOptions(naming="collector")))

or ``inferwatch rules prometheus --slo slos.yaml --out inferwatch.rules.yml``.
``alerts_now(build_status(monitor))`` says which of those alerts' conditions
hold on one process's own numbers (no ``for`` waited).
The recording-rule names, the alerts and their severities are listed in the
README's "Alert rules" section; ``_names`` says how metric names reach
Prometheus on each path.
"""

from __future__ import annotations

from typing import Any

from ._names import NAMINGS, le_value, prometheus_label, prometheus_name
from ._now import AlertCondition, alerts_now
from ._prometheus import (
    BURN_WINDOWS,
    DEFAULT_BURN_ALERTS,
    BurnAlert,
    RuleOptions,
    prometheus_rules,
    skipped_slos,
)
from ._yaml import dump

__all__ = [
    "BURN_WINDOWS",
    "DEFAULT_BURN_ALERTS",
    "NAMINGS",
    "AlertCondition",
    "BurnAlert",
    "RuleOptions",
    "alerts_now",
    "le_value",
    "prometheus_label",
    "prometheus_name",
    "prometheus_rules",
    "render",
    "skipped_slos",
]


def render(rules: dict[str, Any], header: str = "") -> str:
    """The YAML text of a rule file made by ``prometheus_rules``."""
    return dump(rules, header)
