"""Dashboards generated from the metric catalogue (and the SLOs, where declared).

::

    from inferwatch.dashboards import grafana_dashboards
    boards = grafana_dashboards(load_slos("slos.yaml"), naming="otel-prometheus")

or ``inferwatch dashboard grafana --out dashboards/ [--slo slos.yaml]``: one
JSON file per audience (engineering, data science, business), a Prometheus
data source chosen by variable, model and version as template variables.
"""

from __future__ import annotations

from ._grafana import AUDIENCES, SCHEMA_VERSION, grafana_dashboards, queries

__all__ = ["AUDIENCES", "SCHEMA_VERSION", "grafana_dashboards", "queries"]
