"""The metric catalogue: every metric inferwatch exports, declared once.

Aggregation code emits ``MetricPoint(name, attributes, value)``; kind, unit,
attribute keys, description and (for histograms) the explicit bucket bounds
come from here, and so does the README's metric table (a test keeps them in
step, and ``tests/metric_names.txt`` pins every name, unit, attribute key and
Prometheus name). Integrations and the drift engine register their own
definitions with ``register``.

Names follow the OpenTelemetry semantic conventions where they define one
(the keys come from ``opentelemetry-semantic-conventions``); everything
inferwatch invents lives under ``inferwatch.*``.

Units are chosen so the Prometheus names agree on both ways into Prometheus
(OTel's Prometheus exporter and the Collector's OTLP translation): the
Collector appends ``_ratio`` to a *gauge* with unit ``1`` and the exporter
does not, so dimensionless gauges use a curly-brace annotation (``{ratio}``,
``{status}``), which UCUM reads as 1 and both paths drop. ``1`` stays on
histograms, where neither path adds a suffix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.network_attributes import NETWORK_PROTOCOL_VERSION
from opentelemetry.semconv.attributes.url_attributes import URL_SCHEME

from ._histogram import (
    BATCH_BOUNDS,
    CONFIDENCE_BOUNDS,
    LATENCY_BOUNDS_S,
    SIZE_BOUNDS,
    VALUE_BOUNDS,
    merge_bounds,
)

__all__ = [
    "COMPONENT",
    "FEATURE",
    "METRICS",
    "REASON",
    "RPC_METHOD",
    "RPC_RESPONSE_STATUS_CODE",
    "RPC_SYSTEM_NAME",
    "STATISTIC",
    "MetricDef",
    "MetricPoint",
    "add_boundaries",
    "register",
]

# The RPC conventions are still incubating (opentelemetry-semantic-conventions
# 0.48b0, which goes with SDK 1.27, lacks the ``rpc.response.status_code`` and
# ``rpc.system.name`` constants), so these are literals; a test checks them
# against the installed package's constants where it has them.
RPC_SYSTEM_NAME = "rpc.system.name"
RPC_METHOD = "rpc.method"
RPC_RESPONSE_STATUS_CODE = "rpc.response.status_code"

#: Attribute keys inferwatch invents (never in a namespace the conventions own).
REASON = "inferwatch.reason"
COMPONENT = "inferwatch.component"
FEATURE = "inferwatch.feature"
STATISTIC = "inferwatch.statistic"
#: The A/B variant of a call (drift, label, quality and experiment series alike).
VARIANT = "inferwatch.variant"

MODEL = ("model.name", "model.version", "<static and capped dynamic attributes>")


@dataclasses.dataclass(frozen=True)
class MetricDef:
    """``kind``: counter (monotonic sum), updown (sum), gauge, or histogram."""

    name: str
    kind: str
    unit: str
    description: str
    attributes: tuple[str, ...]
    #: Explicit bucket bounds of a histogram (exported with the explicit
    #: aggregation; the exponential one needs none).
    bounds: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class MetricPoint:
    """One series value, independent of any metrics SDK (a ``Histogram`` for histograms)."""

    name: str
    attributes: dict[str, Any]
    value: Any

    @property
    def definition(self) -> MetricDef:
        return METRICS[self.name]

    @property
    def kind(self) -> str:
        return METRICS[self.name].kind


METRICS: dict[str, MetricDef] = {}


def register(*definitions: MetricDef) -> None:
    """Declare metrics; re-declaring a name with a different definition is an error."""
    for definition in definitions:
        existing = METRICS.get(definition.name)
        if existing is not None and existing != definition:
            raise ValueError(f"metric {definition.name!r} is already declared differently")
        METRICS[definition.name] = definition


def add_boundaries(name: str, bounds: Iterable[float]) -> None:
    """Make each of ``bounds`` an explicit bucket boundary of histogram ``name``.

    For values that must be counted exactly against a threshold (a latency
    SLO): ``add_boundaries("inferwatch.predict.duration", [0.3])``. Histograms
    created afterwards use them; an existing ``Histogram`` takes them with
    its own ``add_boundaries``.
    """
    definition = METRICS.get(name)
    if definition is None or definition.kind != "histogram":
        histograms = sorted(n for n, d in METRICS.items() if d.kind == "histogram")
        raise ValueError(f"{name!r} is not a histogram; histograms: {', '.join(histograms)}")
    METRICS[name] = dataclasses.replace(
        definition, bounds=merge_bounds(definition.bounds, bounds)
    )


_HTTP = (HTTP_REQUEST_METHOD, HTTP_ROUTE, HTTP_RESPONSE_STATUS_CODE, ERROR_TYPE, URL_SCHEME,
         NETWORK_PROTOCOL_VERSION)
_RPC = (RPC_SYSTEM_NAME, RPC_METHOD, RPC_RESPONSE_STATUS_CODE, ERROR_TYPE)

register(
    MetricDef("inferwatch.predict.calls", "counter", "{call}",
              "Monitored predict calls by outcome (ok, error, cancelled).",
              (*MODEL, "inferwatch.outcome", ERROR_TYPE)),
    MetricDef("inferwatch.predict.predictions", "counter", "{prediction}",
              "Rows predicted; a batch of N rows counts N.", MODEL),
    MetricDef("inferwatch.predict.duration", "histogram", "s",
              "Duration of the monitored predict call.", (*MODEL, "inferwatch.outcome"),
              LATENCY_BOUNDS_S),
    MetricDef("inferwatch.predict.stage.duration", "histogram", "s",
              "Duration of a named stage inside a predict call.", (*MODEL, "inferwatch.stage"),
              LATENCY_BOUNDS_S),
    MetricDef("inferwatch.predict.in_flight", "updown", "{call}",
              "Monitored predict calls running now.", MODEL[:2]),
    MetricDef("inferwatch.predict.batch_size", "histogram", "{prediction}",
              "Rows per predict call.", MODEL, BATCH_BOUNDS),
    MetricDef("inferwatch.prediction.classes", "counter", "{prediction}",
              "Predicted classes; past max_classes distinct names the rest count as '_other'.",
              (*MODEL, "inferwatch.prediction.class")),
    MetricDef("inferwatch.prediction.value", "histogram", "1",
              "Numeric prediction values (fixed 1-2-5 buckets, mergeable across replicas).",
              MODEL, VALUE_BOUNDS),
    MetricDef("inferwatch.prediction.confidence", "histogram", "1",
              "Confidence of each prediction (0.05-wide buckets).", MODEL, CONFIDENCE_BOUNDS),
    MetricDef("inferwatch.http.server.request.duration", "histogram", "s",
              "HTTP request duration to the last response byte (background tasks excluded).",
              _HTTP, LATENCY_BOUNDS_S),
    MetricDef("inferwatch.http.server.time_to_first_byte", "histogram", "s",
              "Time from request start to the first response body byte.", _HTTP,
              LATENCY_BOUNDS_S),
    MetricDef("inferwatch.http.server.request.body.size", "histogram", "By",
              "Request body bytes that flowed.", _HTTP, SIZE_BOUNDS),
    MetricDef("inferwatch.http.server.response.body.size", "histogram", "By",
              "Response body bytes that flowed.", _HTTP, SIZE_BOUNDS),
    MetricDef("rpc.server.call.duration", "histogram", "s",
              "gRPC server call duration (OTel RPC semantic conventions).", _RPC,
              LATENCY_BOUNDS_S),
    MetricDef("inferwatch.rpc.server.time_to_first_message", "histogram", "s",
              "Time from call start to the first response message.", _RPC, LATENCY_BOUNDS_S),
    MetricDef("inferwatch.rpc.server.request.size", "histogram", "By",
              "Request message bytes.", _RPC, SIZE_BOUNDS),
    MetricDef("inferwatch.rpc.server.response.size", "histogram", "By",
              "Response message bytes.", _RPC, SIZE_BOUNDS),
    MetricDef("inferwatch.log.records", "counter", "{record}",
              "Finished records by sampling rule and decision (kept, sampled_out, "
              "rate_limited).", ("sampling.rule", "sampling.decision")),
    MetricDef("inferwatch.self.dropped", "counter", "{record}",
              "Records inferwatch lost, by reason (a full buffer or queue, a failing sink, "
              "an export that could not be sent).", (REASON,)),
    MetricDef("inferwatch.self.errors", "counter", "{error}",
              "Failures inside inferwatch, survived and counted (metric_export: a failed "
              "metric export).", (COMPONENT,)),
    # inferwatch.health's version events (a minimal edit by the health engineer).
    MetricDef("inferwatch.model.info", "gauge", "s",
              "One series per model version seen; the value is when this process first "
              "saw it (epoch seconds), for deploy annotations.", ("model.name", "model.version")),
)
