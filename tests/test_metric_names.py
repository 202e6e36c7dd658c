"""Every exported metric name, unit and attribute key, and its Prometheus name on both paths,
pinned in tests/metric_names.txt.

Two ways lead into Prometheus, and a query written against one must work on
the other:

* OTel's Prometheus exporter (``PrometheusMetricReader``), run here for real:
  each catalogue metric goes through inferwatch's bridge into a registry and
  the family and label names are read back;
* the OpenTelemetry Collector's OTLP -> Prometheus translation, implemented
  in ``inferwatch.rules._names`` from its documented rules (collector-contrib
  ``pkg/translator/prometheus``: ``normalize_name.go`` with the NormalizeName
  feature gate on, its default, and ``normalize_label.go``).

A rename must change the pinned file deliberately: regenerate it with
``INFERWATCH_UPDATE_METRIC_NAMES=1 python -m pytest tests/test_metric_names.py``
and say so in the CHANGELOG under Unreleased.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import inferwatch
from inferwatch._catalogue import METRICS, MetricDef, MetricPoint
from inferwatch._config import resolve_config
from inferwatch._histogram import Histogram

PINNED = Path(__file__).with_name("metric_names.txt")

# -- the Collector's translation, from its documented rules ------------------------
# (in the library: the rule generator writes queries for either path)
from inferwatch.rules._names import collector_label, collector_name  # noqa: E402


def test_collector_rules_on_known_examples() -> None:
    # Examples from the Collector's own documentation and tests.
    assert collector_name("system.cpu.utilization", "1", "gauge") == (
        "system_cpu_utilization_ratio")
    assert collector_name("http.server.request.duration", "s", "histogram") == (
        "http_server_request_duration_seconds")
    assert collector_name("system.network.io", "By", "counter") == "system_network_io_bytes_total"
    assert collector_name("requests.total", "{request}", "counter") == "requests_total"
    assert collector_name("speed", "m/s", "gauge") == "speed_meters_per_second"
    assert collector_name("queue.size", "1", "updown") == "queue_size"
    assert collector_label("http.route") == "http_route"
    assert collector_label("0key") == "key_0key"
    assert collector_label("_private") == "key_private"


# -- OTel's Prometheus exporter, for real ---------------------------------------------


def _all_metrics() -> dict[str, MetricDef]:
    for module in pkgutil.walk_packages(inferwatch.__path__, "inferwatch."):
        if module.name != "inferwatch.cli":
            importlib.import_module(module.name)
    return dict(sorted(METRICS.items()))


def _keys(definition: MetricDef) -> list[str]:
    return [k for k in definition.attributes if not k.startswith("<")]


_COMPANION = "inferwatch.log.records"


class _OnePoint:
    """A metric source with one point of one metric (what the bridge needs of a monitor)."""

    def __init__(self, definition: MetricDef) -> None:
        self.config = resolve_config({}, environ={})
        attributes = {key: "x" for key in _keys(definition)}
        if definition.kind == "histogram":
            value: Any = Histogram(definition.bounds)
            value.add(np.array([0.5]))
        else:
            value = 1
        self.points = [MetricPoint(definition.name, attributes, value)]
        # The SDK hands a reader nothing to add histograms to when no instrument of
        # its own has data (never so in a monitor, whose call counters always have):
        # a companion counter, left out of what is read back.
        self.companion = ("inferwatch.self.errors" if definition.name == _COMPANION
                          else _COMPANION)
        self.points.append(MetricPoint(self.companion, {}, 1))

    def collect(self) -> list[MetricPoint]:
        return list(self.points)

    def count_error(self, component: str) -> None:
        raise AssertionError(f"the bridge failed: {component}")


def exporter_names(definition: MetricDef) -> tuple[str, str, list[str]]:
    """(Prometheus type, exposed name, label names) through PrometheusMetricReader."""
    prometheus = pytest.importorskip("opentelemetry.exporter.prometheus")
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry

    from inferwatch._otel import OtelMetrics
    from inferwatch.otel import instrument_reader

    registry = CollectorRegistry()
    source = _OnePoint(definition)
    reader = instrument_reader(prometheus.PrometheusMetricReader(registry=registry), source)
    provider = MeterProvider(metric_readers=[reader])
    try:
        OtelMetrics(source, provider)
        companion = source.companion.replace(".", "_")
        families = [f for f in registry.collect()  # neither target_info nor the companion
                    if f.type != "info" and f.name != companion]
    finally:
        provider.shutdown()
    assert len(families) == 1, [f.name for f in families]
    (family,) = families
    sample = next(s for s in family.samples if not s.name.endswith("_created"))
    labels = sorted(k for k in sample.labels if k != "le" and not k.startswith("otel_scope_"))
    exposed = sample.name if family.type == "counter" else family.name
    return family.type, exposed, labels


_PROM_TYPES = {"counter": "counter", "updown": "gauge", "gauge": "gauge",
               "histogram": "histogram"}


def _listing() -> str:
    lines = [
        "# Every metric inferwatch exports: OTel name, kind, unit, attribute keys, and the",
        "# Prometheus name through OTel's Prometheus exporter and through the Collector",
        "# (identical, checked by tests/test_metric_names.py). Histograms are exposed as",
        "# <name>_bucket, <name>_sum and <name>_count. Regenerate deliberately:",
        "# INFERWATCH_UPDATE_METRIC_NAMES=1 python -m pytest tests/test_metric_names.py",
        "",
    ]
    for name, definition in _all_metrics().items():
        keys = _keys(definition)
        prom_type, exposed, labels = exporter_names(definition)
        collector = collector_name(name, definition.unit, definition.kind)
        lines.append(f"{name}  {definition.kind}  unit={definition.unit}")
        lines.append(f"  attributes: {', '.join(keys) or '-'}")
        lines.append(f"  prometheus ({prom_type}): exporter {exposed} | collector {collector}")
        lines.append(f"  labels: exporter {', '.join(labels) or '-'} | collector "
                     f"{', '.join(sorted(collector_label(k) for k in keys)) or '-'}")
    return "\n".join(lines) + "\n"


def test_both_prometheus_paths_give_the_same_names() -> None:
    for name, definition in _all_metrics().items():
        prom_type, exposed, labels = exporter_names(definition)
        assert prom_type == _PROM_TYPES[definition.kind], name
        assert exposed == collector_name(name, definition.unit, definition.kind), name
        assert labels == sorted(collector_label(k) for k in _keys(definition)), name
        assert not exposed.endswith("_ratio") or definition.unit == "1", name


def test_pinned_metric_names() -> None:
    listing = _listing()
    if os.environ.get("INFERWATCH_UPDATE_METRIC_NAMES"):
        PINNED.write_text(listing)
    assert PINNED.read_text() == listing, (
        "metric names, units, attributes or Prometheus names changed: if deliberate, "
        "regenerate tests/metric_names.txt (INFERWATCH_UPDATE_METRIC_NAMES=1) and add a "
        "CHANGELOG entry under Unreleased"
    )


# -- attribute keys: the conventions' where they exist, inferwatch.* otherwise -----------


def _semconv_keys() -> set[str]:
    """Every attribute key the installed opentelemetry-semantic-conventions defines."""
    keys: set[str] = set()
    for package_name in ("opentelemetry.semconv.attributes",
                         "opentelemetry.semconv._incubating.attributes"):
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__, package_name + "."):
            mod = importlib.import_module(module.name)
            keys.update(v for k, v in vars(mod).items()
                        if k.isupper() and isinstance(v, str) and not k.endswith("_TEMPLATE"))
    return keys


_NEWER_RPC_KEYS = frozenset({"rpc.response.status_code", "rpc.system.name"})
# Keys that predate the inferwatch.* rule; moving them is the lead's call.
_NOT_YET_NAMESPACED = frozenset({"model.name", "model.version", "sampling.rule",
                                 "sampling.decision"})


def test_attribute_keys_are_the_conventions_or_inferwatch() -> None:
    known = _semconv_keys()
    conventions = {key.split(".", 1)[0] for key in known}
    for name, definition in _all_metrics().items():
        for key in _keys(definition):
            if key.startswith("inferwatch.") or key in _NOT_YET_NAMESPACED:
                continue
            assert key.split(".", 1)[0] in conventions, (name, key)
            # Semantic conventions 0.48b0 (with SDK 1.27) predate the two newer RPC keys.
            assert key in known or key in _NEWER_RPC_KEYS, (name, key)


def test_rpc_literals_match_the_conventions_where_installed() -> None:
    from inferwatch import _catalogue

    try:
        from opentelemetry.semconv._incubating.attributes import rpc_attributes
    except ImportError:  # pragma: no cover - every supported version has the module
        pytest.skip("no incubating RPC attributes")
    for literal, constant in ((_catalogue.RPC_METHOD, "RPC_METHOD"),
                              (_catalogue.RPC_SYSTEM_NAME, "RPC_SYSTEM_NAME"),
                              (_catalogue.RPC_RESPONSE_STATUS_CODE, "RPC_RESPONSE_STATUS_CODE")):
        value = getattr(rpc_attributes, constant, None)
        if value is not None:  # 0.48b0 lacks the newer two
            assert value == literal


def test_readme_table_matches_the_catalogue() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        match = re.match(r"\| `([a-z_.]+)` \| (\w+) \| `([^`]*)` \| (.*?) \| .* \|$", line)
        if match and match.group(1) in METRICS:
            rows[match.group(1)] = (match.group(2), match.group(3),
                                    re.findall(r"`([^`]+)`", match.group(4)))
    for name, definition in _all_metrics().items():
        assert name in rows, f"README metric table lacks {name}"
        kind, unit, keys = rows[name]
        assert (kind, unit) == (definition.kind, definition.unit), name
        assert keys == _keys(definition), name
