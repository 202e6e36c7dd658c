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
from ._record import Endpoint, HttpInfo, InferenceRecord, rpc_method

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


_FLOAT_TYPES = frozenset((float, np.float64, np.float32, type(None)))
_LABEL_TYPES = frozenset((str, bool, int, np.str_, np.bool_, np.int64, np.int32, type(None)))


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
        #: Records whose per-call attributes could not be read (counted, kept).
        self.bad_attributes = 0

    # -- ingestion -------------------------------------------------------

    def ingest(self, records: list[InferenceRecord]) -> None:
        """Fold a batch of records in: group them by series, then work per column.

        One pass of dictionary bookkeeping per record puts it in its series;
        everything else runs per group on lists pulled out with comprehensions
        and binned with numpy, which is several times cheaper per record than
        handling each record's fields one by one.
        """
        groups: dict[tuple[Endpoint, Attrs, str, str | None], list[InferenceRecord]] = {}
        limit = self.limiter.limit
        transports: list[InferenceRecord] = []
        for record in records:
            attributes = record.attributes
            dyn: Attrs = ()
            if attributes:
                try:
                    dyn = limit(attributes)
                except Exception:  # e.g. attributes set to a non-mapping: drop them only
                    self.bad_attributes += 1
            key = (record.endpoint, dyn, record.outcome, record.error_type)
            group = groups.get(key)
            if group is None:
                groups[key] = [record]
            else:
                group.append(record)
            if record.http is not None:
                transports.append(record)
        for key, group in groups.items():
            self._ingest_group(key, group)
        if transports:
            self._ingest_transports(transports)

    def _histogram(self, metric: str, key: Any) -> Histogram:
        hist = self.histograms.get((metric, key))
        if hist is None:
            hist = self.histograms[(metric, key)] = Histogram(_BOUNDS[metric])
        return hist

    def _add(self, metric: str, key: Any, values: Any) -> None:
        arr = np.asarray(values, dtype=np.float64)
        if arr.size:
            self._histogram(metric, key).add(arr[np.isfinite(arr)])

    def _ingest_group(
        self, key: tuple[Endpoint, Attrs, str, str | None], group: list[InferenceRecord]
    ) -> None:
        endpoint, dyn, outcome, _error_type = key
        series = (endpoint, dyn)
        n = len(group)
        self.calls[key] = self.calls.get(key, 0) + n
        batch_sizes = [r.batch_size for r in group]
        self.rows[series] = self.rows.get(series, 0) + sum(batch_sizes)
        self._add("batch", series, batch_sizes)
        durations = np.fromiter((r.duration_ns for r in group), dtype=np.float64, count=n)
        self._histogram("duration", (series, outcome)).add(durations * 1e-9)
        if outcome == "ok":
            log_hist = self.latency.get(endpoint)
            if log_hist is None:
                log_hist = self.latency[endpoint] = LogHistogram()
            log_hist.add(durations)
        staged = [r.stages for r in group if r.stages]
        if staged:
            per_stage: dict[str, list[int]] = {}
            for stages in staged:
                for name, ns in stages.items():
                    per_stage.setdefault(name, []).append(ns)
            for name, values in per_stage.items():
                self._add("stage", (series, name), np.asarray(values, dtype=np.float64) * 1e-9)
        if outcome == "ok":
            self._ingest_predictions(series, group)

    def _ingest_predictions(
        self, series: tuple[Endpoint, Attrs], group: list[InferenceRecord]
    ) -> None:
        predictions = [r.prediction for r in group]
        confidences = [r.confidence for r in group]
        kinds = set(map(type, predictions))
        if kinds <= _FLOAT_TYPES:  # the common regression / score case, vectorised
            self._add("value", series, predictions)
        elif kinds <= _LABEL_TYPES:
            self._count_classes(series, [p for p in predictions if p is not None])
        else:
            values: list[float] = []
            for i, prediction in enumerate(predictions):
                derived = self._ingest_prediction(series, prediction, values)
                if derived is not None and confidences[i] is None:
                    confidences[i] = derived
            self._add("value", series, values)
        if set(map(type, confidences)) <= _FLOAT_TYPES:
            self._add("confidence", series, [c for c in confidences if c is not None])
            return
        flat: list[float] = []
        for confidence in confidences:
            if confidence is None:
                continue
            if isinstance(confidence, (float, int)):
                flat.append(float(confidence))
                continue
            try:
                flat.extend(np.asarray(confidence, dtype=np.float64).ravel().tolist())
            except (TypeError, ValueError):
                self.unsupported_predictions += 1
        self._add("confidence", series, flat)

    def _ingest_prediction(
        self, series: tuple[Endpoint, Attrs], prediction: Any, values: list[float]
    ) -> Any:
        """One prediction of a mixed batch; returns a derived confidence or None."""
        if prediction is None:
            return None
        kind = type(prediction)
        if kind is float or isinstance(prediction, np.floating):
            values.append(float(prediction))
            return None
        if kind in _LABEL_TYPES or isinstance(prediction, np.integer):
            self._count_classes(series, [prediction])
            return None
        try:
            arr = np.asarray(prediction)
        except Exception:
            arr = None
        if arr is None or arr.dtype.kind not in "fiubUSO" or arr.ndim > 2 or (
            arr.dtype.kind == "O"
            and not _LABEL_TYPES.issuperset(map(type, arr.ravel().tolist()))
        ):
            self.unsupported_predictions += 1
        elif arr.ndim == 2 and arr.dtype.kind == "f":
            # Per-class scores: the predicted class is the arg-max.
            if arr.shape[1] > 0:
                self._count_classes(series, arr.argmax(axis=1))
                return arr.max(axis=1)
        elif arr.dtype.kind == "f":
            values.extend(arr.ravel().tolist())
        else:
            self._count_classes(series, arr.ravel().tolist())
        return None

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

    def _ingest_transports(self, records: list[InferenceRecord]) -> None:
        # Group on a flat tuple first; the attribute tuples are built per group.
        groups: dict[tuple[Any, ...], list[HttpInfo]] = {}
        for record in records:
            http = record.http
            if http is None:
                continue
            # error.type only for failed requests, as the semantic conventions ask.
            error = (record.error_type or "_OTHER") if record.outcome == "error" else None
            key = (http.system, http.method, http.status_code, http.route, error)
            group = groups.get(key)
            if group is None:
                groups[key] = [http]
            else:
                group.append(http)
        for (system, method, status, route, error), infos in groups.items():
            prefix: Attrs = (("error.type", error),) if error is not None else ()
            if system == "grpc":
                attrs: Attrs = (
                    *prefix,
                    ("rpc.method", rpc_method(route)),
                    ("rpc.status_code", str(status)),
                    ("rpc.system.name", "grpc"),
                )
            else:
                attrs = (
                    *prefix,
                    ("http.request.method", method),
                    ("http.response.status_code", status),
                    ("http.route", route),
                )
            self.transport_calls[attrs] = self.transport_calls.get(attrs, 0) + len(infos)
            self._add("t_duration", attrs, [h.duration_ns * 1e-9 for h in infos])
            ttfb = [h.ttfb_ns * 1e-9 for h in infos if h.ttfb_ns is not None]
            if ttfb:
                self._add("t_ttfb", attrs, ttfb)
            self._add("t_req", attrs, [h.request_size for h in infos])
            self._add("t_resp", attrs, [h.response_size for h in infos])

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
