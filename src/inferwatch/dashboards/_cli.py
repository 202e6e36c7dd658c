"""``inferwatch dashboard grafana``: write the Grafana dashboards as JSON files."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    """Add ``dashboard grafana`` to the command's subparsers."""
    from ..rules._names import NAMINGS

    dashboard = sub.add_parser("dashboard", help="generate dashboards")
    dsub = dashboard.add_subparsers(dest="action", required=True)
    grafana = dsub.add_parser(
        "grafana", help="Grafana dashboards, one per audience",
        description="Write Grafana dashboard JSON (engineering, data science, business) "
                    "generated from the metric catalogue: a Prometheus data source chosen "
                    "by variable, model and version as template variables. Import the files "
                    "in Grafana or provision them.")
    grafana.add_argument("--out", default=".", help="the folder to write into (default: .)")
    grafana.add_argument("--slo", help="OpenSLO v1 YAML file: adds the fleet's error budget "
                         "panels, read from `inferwatch rules prometheus`'s recording rules")
    grafana.add_argument("--naming", choices=NAMINGS, default="otel-prometheus",
                         help="how metrics reach Prometheus, as for `inferwatch rules "
                         "prometheus` (default otel-prometheus)")


def run(args: argparse.Namespace) -> int:
    """Write one file per dashboard; returns the exit code."""
    from . import grafana_dashboards

    slos: list[Any] = []
    if args.slo:
        from ..slo import load_slos

        slos = load_slos(args.slo)
    os.makedirs(args.out, exist_ok=True)
    for uid, dashboard in grafana_dashboards(slos, args.naming).items():
        path = os.path.join(args.out, f"{uid}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(dashboard, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        panels = sum(p["type"] != "row" for p in dashboard["panels"])
        print(f"wrote {path}: {panels} panels", file=sys.stderr)
    return 0
