"""The Prometheus names the rule generator writes queries with, on both naming schemes."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import inferwatch
from inferwatch._catalogue import METRICS
from inferwatch.rules import le_value, prometheus_label, prometheus_name
from inferwatch.rules._names import collector_name, exporter_name

PINNED = Path(__file__).resolve().parents[1] / "metric_names.txt"


def _pinned() -> dict[str, tuple[str, str]]:
    """OTel name -> (exporter name, collector name) from tests/metric_names.txt."""
    out: dict[str, tuple[str, str]] = {}
    current = ""
    for line in PINNED.read_text().splitlines():
        head = re.match(r"(\S+)  \w+  unit=", line)
        if head:
            current = head.group(1)
        names = re.match(r"  prometheus \(\w+\): exporter (\S+) \| collector (\S+)$", line)
        if names:
            out[current] = (names.group(1), names.group(2))
    return out


def test_every_pinned_name_is_what_the_library_computes_on_each_path() -> None:
    for module in pkgutil.walk_packages(inferwatch.__path__, "inferwatch."):
        importlib.import_module(module.name)  # each registers its metrics
    pinned = _pinned()
    assert len(pinned) >= 40
    for name, (exporter, collector) in pinned.items():
        definition = METRICS[name]
        assert prometheus_name(name, definition.unit, definition.kind,
                               "otel-prometheus") == exporter, name
        assert prometheus_name(name, definition.unit, definition.kind, "collector") == collector


@pytest.mark.parametrize(("name", "unit", "kind", "exporter", "collector"), [
    # The two paths part ways on a unit-1 gauge (the Collector adds _ratio) ...
    ("queue.fill", "1", "gauge", "queue_fill", "queue_fill_ratio"),
    # ... agree on annotations and mapped units ...
    ("x.calls", "{call}", "counter", "x_calls_total", "x_calls_total"),
    ("x.size", "By", "histogram", "x_size_bytes", "x_size_bytes"),
    ("speed", "m/s", "gauge", "speed_meters_per_second", "speed_meters_per_second"),
    # ... and a counter named *.total is not doubled on either.
    ("requests.total", "{request}", "counter", "requests_total", "requests_total"),
])
def test_the_two_paths(name: str, unit: str, kind: str, exporter: str, collector: str) -> None:
    assert exporter_name(name, unit, kind) == exporter
    assert collector_name(name, unit, kind) == collector


def test_labels() -> None:
    assert prometheus_label("model.name") == prometheus_label("model.name", "collector") == (
        "model_name")
    assert prometheus_label("0key", "collector") == "key_0key"
    assert prometheus_label("0key") == "_key"  # the exporter replaces the digit


def test_unknown_naming_is_refused() -> None:
    with pytest.raises(ValueError, match="otel-prometheus, collector"):
        prometheus_name("a", "1", "gauge", "prom")
    with pytest.raises(ValueError, match="unknown naming"):
        le_value(1.0, "otlp")


@pytest.mark.parametrize(("bound", "go"), [
    # strconv.FormatFloat(x, 'g', -1, 64), as the Collector's prometheus exporter writes le.
    (1.0, "1"), (0.3, "0.3"), (2.5, "2.5"), (10.0, "10"), (123456.0, "123456"),
    (1e6, "1e+06"), (1.5e6, "1.5e+06"), (0.0001, "0.0001"), (5e-05, "5e-05"),
    (0.00025, "0.00025"), (float("inf"), "+Inf"),
])
def test_collector_le(bound: float, go: str) -> None:
    assert le_value(bound, "collector") == go


def test_exporter_le_is_what_the_real_exporter_writes(make_monitor: Any) -> None:
    prometheus = pytest.importorskip("opentelemetry.exporter.prometheus")
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, generate_latest

    from inferwatch.otel import instrument_reader

    registry = CollectorRegistry()
    reader = instrument_reader(prometheus.PrometheusMetricReader(registry=registry))
    provider = MeterProvider(metric_readers=[reader])
    try:
        mon = make_monitor(meter_provider=provider, metrics_exporter="auto")
        inferwatch.set_monitor(mon)

        @inferwatch.monitor(model="m", monitor=mon)
        def predict(x: float) -> float:
            return x

        predict(1.0)
        text = generate_latest(registry).decode()
    finally:
        provider.shutdown()
    written = re.findall(r'^inferwatch_predict_duration_seconds_bucket\{.*le="([^"]+)"', text,
                         re.MULTILINE)
    bounds = METRICS["inferwatch.predict.duration"].bounds
    assert written == [le_value(b) for b in bounds] + ["+Inf"]
    assert "1.0" in written and "0.25" in written  # where the Collector writes "1"
    assert [le_value(b, "collector") for b in bounds].count("1") == 1
