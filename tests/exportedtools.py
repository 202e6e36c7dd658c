"""What the SDK exports to Prometheus, read from the pinned tests/metric_names.txt:
for tests that check generated PromQL (dashboards, runbooks) reads only real series."""

from __future__ import annotations

from pathlib import Path

__all__ = ["HISTOGRAM_SUFFIXES", "NAMINGS", "PINNED", "exported"]

PINNED = Path(__file__).resolve().parent / "metric_names.txt"
NAMINGS = ("otel-prometheus", "collector")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def exported() -> dict[str, dict[str, set[str]]]:
    """naming -> Prometheus series name -> its labels, from tests/metric_names.txt."""
    names: dict[str, dict[str, set[str]]] = {n: {} for n in NAMINGS}
    kind = ""
    series: dict[str, str] = {}
    for line in PINNED.read_text().splitlines():
        if line.startswith("  prometheus ("):
            kind = line.split("(")[1].split(")")[0]
            exporter, collector = line.split(": ", 1)[1].split(" | ")
            series = {"otel-prometheus": exporter.split()[1], "collector": collector.split()[1]}
        elif line.startswith("  labels:"):
            exporter, collector = line.split(": ", 1)[1].split(" | ")
            labels = {"otel-prometheus": exporter.split(" ", 1)[1],
                      "collector": collector.split(" ", 1)[1]}
            for naming in NAMINGS:
                keys = {k.strip() for k in labels[naming].split(",") if k.strip()}
                base = series[naming]
                for name in ([base + s for s in HISTOGRAM_SUFFIXES] if kind == "histogram"
                             else [base]):
                    names[naming][name] = keys
    return names
