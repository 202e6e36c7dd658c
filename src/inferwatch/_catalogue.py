"""The metric catalogue: every metric inferwatch exports, declared once.

Aggregation code emits ``MetricPoint(name, attributes, value)``; kind, unit
and description come from here, and so does the README's metric table (a test
keeps them in step). Integrations and the drift engine register their own
definitions with ``register``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["METRICS", "MetricDef", "MetricPoint", "register"]

MODEL = ("model.name", "model.version", "<static and capped dynamic attributes>")


@dataclasses.dataclass(frozen=True)
class MetricDef:
    """``kind``: counter (monotonic sum), updown (sum), gauge, or histogram."""

    name: str
    kind: str
    unit: str
    description: str
    attributes: tuple[str, ...]


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


_HTTP = ("http.request.method", "http.route", "http.response.status_code", "error.type")
_RPC = ("rpc.system.name", "rpc.method", "rpc.status_code", "error.type")

register(
    MetricDef("inferwatch.predict.calls", "counter", "{call}",
              "Monitored predict calls by outcome (ok, error, cancelled).",
              (*MODEL, "inferwatch.outcome", "error.type")),
    MetricDef("inferwatch.predict.predictions", "counter", "{prediction}",
              "Rows predicted; a batch of N rows counts N.", MODEL),
    MetricDef("inferwatch.predict.duration", "histogram", "s",
              "Duration of the monitored predict call.", (*MODEL, "inferwatch.outcome")),
    MetricDef("inferwatch.predict.stage.duration", "histogram", "s",
              "Duration of a named stage inside a predict call.", (*MODEL, "inferwatch.stage")),
    MetricDef("inferwatch.predict.in_flight", "updown", "{call}",
              "Monitored predict calls running now.", MODEL[:2]),
    MetricDef("inferwatch.predict.batch_size", "histogram", "{prediction}",
              "Rows per predict call.", MODEL),
    MetricDef("inferwatch.prediction.classes", "counter", "{prediction}",
              "Predicted classes; past max_classes distinct names the rest count as '_other'.",
              (*MODEL, "inferwatch.prediction.class")),
    MetricDef("inferwatch.prediction.value", "histogram", "1",
              "Numeric prediction values (fixed 1-2-5 buckets, mergeable across replicas).",
              MODEL),
    MetricDef("inferwatch.prediction.confidence", "histogram", "1",
              "Confidence of each prediction (0.05-wide buckets).", MODEL),
    MetricDef("inferwatch.http.server.request.duration", "histogram", "s",
              "HTTP request duration to the last response byte (background tasks excluded).",
              _HTTP),
    MetricDef("inferwatch.http.server.time_to_first_byte", "histogram", "s",
              "Time from request start to the first response body byte.", _HTTP),
    MetricDef("inferwatch.http.server.request.body.size", "histogram", "By",
              "Request body bytes that flowed.", _HTTP),
    MetricDef("inferwatch.http.server.response.body.size", "histogram", "By",
              "Response body bytes that flowed.", _HTTP),
    MetricDef("rpc.server.call.duration", "histogram", "s",
              "gRPC server call duration (OTel RPC semantic conventions).", _RPC),
    MetricDef("inferwatch.rpc.server.time_to_first_message", "histogram", "s",
              "Time from call start to the first response message.", _RPC),
    MetricDef("inferwatch.rpc.server.request.size", "histogram", "By",
              "Request message bytes.", _RPC),
    MetricDef("inferwatch.rpc.server.response.size", "histogram", "By",
              "Response message bytes.", _RPC),
    MetricDef("inferwatch.log.records", "counter", "{record}",
              "Finished records by sampling rule and decision (kept, sampled_out, "
              "rate_limited).", ("sampling.rule", "sampling.decision")),
    MetricDef("inferwatch.self.dropped", "counter", "{record}",
              "Records inferwatch dropped to stay bounded.", ("reason",)),
    MetricDef("inferwatch.self.errors", "counter", "{error}",
              "Failures inside inferwatch, survived and counted.", ("component",)),
)
