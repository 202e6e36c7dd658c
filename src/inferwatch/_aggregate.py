"""SLI aggregation: batches of records in, counters and histograms out.

Runs on the aggregator thread (and on a collector's thread during a flush),
always under the monitor's aggregation lock. Per record it does dictionary
bookkeeping; latency, size, batch, prediction and confidence values are
gathered into lists and binned with numpy once per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ._catalogue import MetricPoint
from ._histogram import (
    BATCH_BOUNDS,
    CONFIDENCE_BOUNDS,
    LATENCY_BOUNDS_S,
    SIZE_BOUNDS,
    VALUE_BOUNDS,
    Histogram,
    LogHistogram,
)
from ._record import Endpoint, InferenceRecord

__all__ = ["OTHER", "Aggregates", "AttributeLimiter", "MetricPoint"]

OTHER = "_other"
_MAX_ATTRIBUTE_KEYS = 16

Attrs = tuple[tuple[str, Any], ...]


class AttributeLimiter:
    """Caps distinct values per attribute key so metric series stay bounded."""

    def __init__(self, max_values: int, excluded: frozenset[str] = frozenset()) -> None:
        self.max_values = max_values
        #: Lower-cased keys never put on metrics (PII and dropped fields).
        self.excluded = excluded
        self._seen: dict[str, set[Any]] = {}
        self.overflowed = 0

    def limit(self, attributes: dict[str, Any] | None) -> Attrs:
        if not attributes:
            return ()
        out = []
        for key, value in attributes.items():
            if str(key).lower() in self.excluded:
                continue
            if not isinstance(value, (str, bool, int, float)):
                value = str(value)
            seen = self._seen.get(key)
            if seen is None:
                if len(self._seen) >= _MAX_ATTRIBUTE_KEYS:
                    self.overflowed += 1
                    continue
                seen = self._seen[key] = set()
            if value not in seen:
                if len(seen) >= self.max_values:
                    self.overflowed += 1
                    value = OTHER
                else:
                    seen.add(value)
            out.append((str(key), value))
        out.sort()
        return tuple(out)


def _model_attrs(endpoint: Endpoint, dyn: Attrs) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "model.name": endpoint.model_name,
        "model.version": endpoint.model_version,
    }
    attrs.update(endpoint.attributes)
    attrs.update(dyn)
    return attrs


class _Batch:
    """Values gathered from one batch of records, binned once at the end."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, Any], list[float]] = {}

    def add(self, metric: str, key: Any, value: float) -> None:
        bucket = self.values.get((metric, key))
        if bucket is None:
            self.values[(metric, key)] = [value]
        else:
            bucket.append(value)

    def extend(self, metric: str, key: Any, values: Iterable[float]) -> None:
        bucket = self.values.get((metric, key))
        if bucket is None:
            self.values[(metric, key)] = list(values)
        else:
            bucket.extend(values)


_BOUNDS = {
    "duration": LATENCY_BOUNDS_S,
    "stage": LATENCY_BOUNDS_S,
    "batch": BATCH_BOUNDS,
    "value": VALUE_BOUNDS,
    "confidence": CONFIDENCE_BOUNDS,
    "t_duration": LATENCY_BOUNDS_S,
    "t_ttfb": LATENCY_BOUNDS_S,
    "t_req": SIZE_BOUNDS,
    "t_resp": SIZE_BOUNDS,
}


_MODEL_NAMES = {
    "duration": "inferwatch.predict.duration",
    "stage": "inferwatch.predict.stage.duration",
    "batch": "inferwatch.predict.batch_size",
    "value": "inferwatch.prediction.value",
    "confidence": "inferwatch.prediction.confidence",
}
_HTTP_NAMES = {
    "t_duration": "inferwatch.http.server.request.duration",
    "t_ttfb": "inferwatch.http.server.time_to_first_byte",
    "t_req": "inferwatch.http.server.request.body.size",
    "t_resp": "inferwatch.http.server.response.body.size",
}
_GRPC_NAMES = {
    "t_duration": "rpc.server.call.duration",
    "t_ttfb": "inferwatch.rpc.server.time_to_first_message",
    "t_req": "inferwatch.rpc.server.request.size",
    "t_resp": "inferwatch.rpc.server.response.size",
}


class Aggregates:
    """Cumulative SLI state of one monitor since it started (or since fork)."""

    def __init__(
        self,
        *,
        max_attribute_values: int,
        max_classes: int,
        excluded_attributes: frozenset[str] = frozenset(),
    ) -> None:
        self.limiter = AttributeLimiter(max_attribute_values, excluded_attributes)
        self.max_classes = max_classes
        self.calls: dict[tuple[Endpoint, Attrs, str, str | None], int] = {}
        self.rows: dict[tuple[Endpoint, Attrs], int] = {}
        self.classes: dict[tuple[Endpoint, Attrs, str], int] = {}
        self._class_names: dict[Endpoint, set[str]] = {}
        self.histograms: dict[tuple[str, Any], Histogram] = {}
        self.latency: dict[Endpoint, LogHistogram] = {}
        self.transport_calls: dict[Attrs, int] = {}
        self.unsupported_predictions = 0

    # -- ingestion -------------------------------------------------------

    def ingest(self, records: list[InferenceRecord]) -> None:
        batch = _Batch()
        latencies: dict[Endpoint, list[int]] = {}
        for record in records:
            self._ingest_one(record, batch, latencies)
        for (metric, key), values in batch.values.items():
            hist = self.histograms.get((metric, key))
            if hist is None:
                hist = self.histograms[(metric, key)] = Histogram(_BOUNDS[metric])
            arr = np.asarray(values, dtype=np.float64)
            hist.add(arr[np.isfinite(arr)])
        for endpoint, durations in latencies.items():
            log_hist = self.latency.get(endpoint)
            if log_hist is None:
                log_hist = self.latency[endpoint] = LogHistogram()
            log_hist.add(np.asarray(durations, dtype=np.float64))

    def _ingest_one(
        self,
        record: InferenceRecord,
        batch: _Batch,
        latencies: dict[Endpoint, list[int]],
    ) -> None:
        endpoint = record.endpoint
        dyn = self.limiter.limit(record.attributes)
        series = (endpoint, dyn)
        key = (endpoint, dyn, record.outcome, record.error_type)
        self.calls[key] = self.calls.get(key, 0) + 1
        self.rows[series] = self.rows.get(series, 0) + record.batch_size
        batch.add("duration", (series, record.outcome), record.duration_ns * 1e-9)
        if record.outcome == "ok":
            latencies.setdefault(endpoint, []).append(record.duration_ns)
        if record.stages:
            for name, ns in record.stages.items():
                batch.add("stage", (series, name), ns * 1e-9)
        batch.add("batch", series, float(record.batch_size))
        if record.outcome == "ok":
            self._ingest_prediction(record, series, batch)
        http = record.http
        if http is not None:
            self._ingest_transport(http, batch)

    def _class_label(self, endpoint: Endpoint, label: str) -> str:
        names = self._class_names.setdefault(endpoint, set())
        if label in names:
            return label
        if len(names) >= self.max_classes:
            return OTHER
        names.add(label)
        return label

    def _count_classes(self, series: tuple[Endpoint, Attrs], labels: Iterable[Any]) -> None:
        endpoint, dyn = series
        names, counts = np.unique(np.asarray(list(labels)).astype(str), return_counts=True)
        for label, n in zip(names, counts, strict=True):
            key = (endpoint, dyn, self._class_label(endpoint, str(label)))
            self.classes[key] = self.classes.get(key, 0) + int(n)

    def _ingest_prediction(
        self, record: InferenceRecord, series: tuple[Endpoint, Attrs], batch: _Batch
    ) -> None:
        prediction = record.prediction
        confidence = record.confidence
        if prediction is not None:
            kind = type(prediction)
            if kind is float or isinstance(prediction, np.floating):
                batch.add("value", series, float(prediction))
            elif kind is str or kind is bool or kind is int or isinstance(prediction, np.integer):
                endpoint, dyn = series
                label = self._class_label(endpoint, str(prediction))
                key = (endpoint, dyn, label)
                self.classes[key] = self.classes.get(key, 0) + 1
            else:
                try:
                    arr = np.asarray(prediction)
                except Exception:
                    arr = None
                if arr is None or arr.dtype.kind not in "fiubUSO" or arr.ndim > 2:
                    self.unsupported_predictions += 1
                elif arr.ndim == 2 and arr.dtype.kind == "f":
                    # Per-class scores: the predicted class is the arg-max.
                    if arr.shape[1] > 0:
                        self._count_classes(series, arr.argmax(axis=1))
                        if confidence is None:
                            confidence = arr.max(axis=1)
                elif arr.dtype.kind == "f":
                    batch.extend("value", series, arr.ravel().tolist())
                else:
                    self._count_classes(series, arr.ravel().tolist())
        if confidence is not None:
            if isinstance(confidence, (float, int)):
                batch.add("confidence", series, float(confidence))
            else:
                try:
                    values = np.asarray(confidence, dtype=np.float64).ravel().tolist()
                except (TypeError, ValueError):
                    self.unsupported_predictions += 1
                else:
                    batch.extend("confidence", series, values)

    def _ingest_transport(self, http: Any, batch: _Batch) -> None:
        if http.system == "grpc":
            attrs: Attrs = (
                ("rpc.method", http.route),
                ("rpc.response.status_code", str(http.status_code)),
                ("rpc.system.name", "grpc"),
            )
        else:
            attrs = (
                ("http.request.method", http.method),
                ("http.response.status_code", http.status_code),
                ("http.route", http.route),
            )
        self.transport_calls[attrs] = self.transport_calls.get(attrs, 0) + 1
        batch.add("t_duration", attrs, http.duration_ns * 1e-9)
        if http.ttfb_ns is not None:
            batch.add("t_ttfb", attrs, http.ttfb_ns * 1e-9)
        batch.add("t_req", attrs, float(http.request_size))
        batch.add("t_resp", attrs, float(http.response_size))

    # -- collection -----------------------------------------------------

    def points(self) -> list[MetricPoint]:
        """Every series as a MetricPoint (histograms copied, safe to hand out)."""
        out: list[MetricPoint] = []
        for (endpoint, dyn, outcome, error_type), n in self.calls.items():
            attrs = _model_attrs(endpoint, dyn)
            attrs["inferwatch.outcome"] = outcome
            if error_type is not None:
                attrs["error.type"] = error_type
            out.append(MetricPoint("inferwatch.predict.calls", attrs, n))
        for (endpoint, dyn), n in self.rows.items():
            attrs = _model_attrs(endpoint, dyn)
            out.append(MetricPoint("inferwatch.predict.predictions", attrs, n))
        for (endpoint, dyn, label), n in self.classes.items():
            attrs = _model_attrs(endpoint, dyn)
            attrs["inferwatch.prediction.class"] = label
            out.append(MetricPoint("inferwatch.prediction.classes", attrs, n))
        for (metric, key), hist in self.histograms.items():
            out.append(self._histogram_point(metric, key, hist.copy()))
        return out

    def _histogram_point(self, metric: str, key: Any, hist: Histogram) -> MetricPoint:
        if metric.startswith("t_"):
            attrs = dict(key)
            names = _GRPC_NAMES if "rpc.system.name" in attrs else _HTTP_NAMES
            return MetricPoint(names[metric], attrs, hist)
        if metric in ("duration", "stage"):
            (endpoint, dyn), extra = key
            attrs = _model_attrs(endpoint, dyn)
            attrs["inferwatch.outcome" if metric == "duration" else "inferwatch.stage"] = extra
            return MetricPoint(_MODEL_NAMES[metric], attrs, hist)
        endpoint, dyn = key
        return MetricPoint(_MODEL_NAMES[metric], _model_attrs(endpoint, dyn), hist)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per model: traffic, errors and latency percentiles, for people to read."""
        out: dict[str, dict[str, Any]] = {}
        for (endpoint, _dyn, outcome, _error), n in self.calls.items():
            name = f"{endpoint.model_name}:{endpoint.model_version}"
            entry = out.setdefault(name, {
                "calls": 0, "errors": 0, "predictions": 0, "error_rate": 0.0,
                "in_flight": endpoint.in_flight,
            })
            entry["calls"] += n
            if outcome == "error":
                entry["errors"] += n
        for (endpoint, _dyn), rows in self.rows.items():
            out[f"{endpoint.model_name}:{endpoint.model_version}"]["predictions"] += rows
        for endpoint, log_hist in self.latency.items():
            entry = out[f"{endpoint.model_name}:{endpoint.model_version}"]
            for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
                value = log_hist.quantile(q)
                entry[f"latency_{label}_ms"] = None if value is None else value / 1e6
        for entry in out.values():
            entry["error_rate"] = entry["errors"] / entry["calls"] if entry["calls"] else 0.0
        return out
