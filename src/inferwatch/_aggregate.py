"""SLI aggregation: batches of records in, counters and histograms out.

Runs on the aggregator thread (and on a collector's thread during a flush),
always under the monitor's aggregation lock. Per record it does dictionary
bookkeeping; latency, size, batch, prediction and confidence values are
gathered into lists and binned with numpy once per batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._catalogue import METRICS, MetricPoint
from ._histogram import (
    BATCH_BOUNDS,
    CONFIDENCE_BOUNDS,
    LATENCY_BOUNDS_S,
    SIZE_BOUNDS,
    VALUE_BOUNDS,
    Histogram,
)
from ._pii_scrub import contains_pii, cut_text
from ._record import Endpoint, HttpInfo, InferenceRecord, rpc_method
from ._spill import Spill, SpilledCalls

__all__ = ["OTHER", "Aggregates", "AttributeLimiter", "MetricPoint"]

OTHER = "_other"
REDACTED = "_redacted"
_MAX_ATTRIBUTE_KEYS = 16
_MAX_ATTRIBUTE_LENGTH = 256

Attrs = tuple[tuple[str, Any], ...]


class DistinctValues:
    """At most ``limit`` distinct values per key; later ones become ``other``.

    The one cap behind every value inferwatch derives from calls and puts on a
    series: per-call attribute values (per attribute key), ``error.type`` and
    predicted classes (per endpoint), stage names. Overflow is counted.
    """

    def __init__(self, limit: int, other: str = OTHER) -> None:
        self.limit = limit
        self.other = other
        self.overflowed = 0
        self._seen: dict[Any, set[Any]] = {}

    def known(self, key: Any, value: Any) -> bool:
        seen = self._seen.get(key)
        return seen is not None and value in seen

    def admit(self, key: Any, value: Any) -> Any:
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = set()
        if value in seen:
            return value
        if len(seen) >= self.limit:
            self.overflowed += 1
            return self.other
        seen.add(value)
        return value

    def keys(self) -> int:
        """How many keys have values."""
        return len(self._seen)

    def __contains__(self, key: object) -> bool:
        return key in self._seen


def metric_text(value: str) -> tuple[str, bool]:
    """Free text made fit to name a series: ``(text, redacted)``.

    Capped at 256 characters, dropping the cut token (a plain cut can leave the
    head of an address, ``bob@exa``, that no detector recognises); text with an
    email or phone number in it becomes ``_redacted``: the log scrubs it, and a
    metric attribute never carries it.
    """
    if len(value) > _MAX_ATTRIBUTE_LENGTH:
        value = cut_text(value, _MAX_ATTRIBUTE_LENGTH)
    if contains_pii(value):
        return REDACTED, True
    return value, False


class AttributeLimiter:
    """Caps distinct values per attribute key so metric series stay bounded."""

    def __init__(self, max_values: int, excluded: frozenset[str] = frozenset()) -> None:
        self.max_values = max_values
        #: Lower-cased keys never put on metrics (PII and dropped fields).
        self.excluded = excluded
        self._values = DistinctValues(max_values)
        #: Attributes dropped because more than _MAX_ATTRIBUTE_KEYS keys came.
        self.dropped_keys = 0
        #: Attribute values kept off metrics because they looked like PII.
        self.redacted = 0

    @property
    def overflowed(self) -> int:
        return self._values.overflowed + self.dropped_keys

    def limit(self, attributes: dict[str, Any] | None) -> Attrs:
        if not attributes:
            return ()
        out = []
        for key, value in attributes.items():
            if str(key).lower() in self.excluded:
                continue
            if not isinstance(value, (str, bool, int, float)):
                item = getattr(value, "item", None)  # numpy scalars
                if isinstance(value, np.generic) and item is not None:
                    value = item()
                if not isinstance(value, (str, bool, int, float)):
                    # The text of a mapping, list or object shows the fields inside
                    # it, PII fields included (only the log walks and pseudonymises
                    # them): a metric attribute never carries it (minimal edit, pii).
                    self.redacted += 1
                    value = REDACTED
            values = self._values
            if type(value) is str and not values.known(key, value):
                value, redacted = metric_text(value)
                self.redacted += redacted
            if key not in values and values.keys() >= _MAX_ATTRIBUTE_KEYS:
                self.dropped_keys += 1
                continue
            out.append((str(key), values.admit(key, value)))
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


def _exported_name(metric: str, key: Any) -> str:
    """The catalogue name of an internal histogram (transport keys are attribute tuples)."""
    if metric.startswith("t_"):
        grpc = any(k == "rpc.system.name" for k, _ in key)
        return (_GRPC_NAMES if grpc else _HTTP_NAMES)[metric]
    return _MODEL_NAMES[metric]


_FLOAT_TYPES = frozenset((float, np.float64, np.float32, type(None)))
_LABEL_TYPES = frozenset((str, bool, int, np.str_, np.bool_, np.int64, np.int32, type(None)))


_MAX_ERROR_TYPE_LENGTH = 128
_MAX_STAGES = 64
OTHER_ERROR = "_OTHER"
_TRANSPORTS = "transports"  # the error.type cap's key for HTTP/RPC series


def _label_text(label: Any) -> str:
    """A predicted class as text; bytes decode leniently (never raise)."""
    if type(label) is str:
        return label
    if isinstance(label, bytes):
        return label.decode("utf-8", "backslashreplace")
    return str(label)


def _transport_attrs(
    system: str, method: str, status: Any, route: str, error: str | None,
    scheme: str, version: str,
) -> Attrs:
    """The attributes of one HTTP or RPC series, as the semantic conventions name them."""
    prefix: Attrs = (("error.type", error),) if error is not None else ()
    if system == "grpc":
        return (
            *prefix,
            ("rpc.method", rpc_method(route)),
            ("rpc.response.status_code", str(status)),
            ("rpc.system.name", "grpc"),
        )
    attrs: Attrs = (
        *prefix,
        ("http.request.method", method),
        ("http.response.status_code", status),
        ("http.route", route),
    )
    if version:
        attrs = (*attrs, ("network.protocol.version", version))
    if scheme:
        attrs = (*attrs, ("url.scheme", scheme))
    return attrs


class _Chunks:
    """Prediction values, confidences and class labels gathered from records."""

    __slots__ = ("confidences", "labels", "values")

    def __init__(self) -> None:
        self.values: list[np.ndarray] = []
        self.confidences: list[np.ndarray] = []
        self.labels: list[Any] = []

    def extend(self, other: _Chunks) -> None:
        self.values += other.values
        self.confidences += other.confidences
        self.labels += other.labels


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
        self._classes = DistinctValues(max_classes)
        self.histograms: dict[tuple[str, Any], Histogram] = {}
        self.transport_calls: dict[Attrs, int] = {}
        self.unsupported_predictions = 0
        #: Records whose per-call attributes could not be read (counted, kept).
        self.bad_attributes = 0
        #: Records whose batch size was not a non-negative int (counted as 1).
        self.bad_batch_sizes = 0
        #: Series groups of a batch that could not be folded in (counted, skipped).
        self.failed_groups = 0
        self._error_types = DistinctValues(max_attribute_values, OTHER_ERROR)
        self._stages = DistinctValues(_MAX_STAGES)

    @property
    def overflowed(self) -> int:
        """Values past their caps (attributes, error types, classes, stages)."""
        return (self.limiter.overflowed + self._error_types.overflowed
                + self._classes.overflowed + self._stages.overflowed)

    # -- ingestion -------------------------------------------------------

    def ingest(self, records: list[InferenceRecord]) -> None:
        """Fold a batch of records in: group them by series, then work per column.

        One pass of dictionary bookkeeping per record puts it in its series;
        everything else runs per group on lists pulled out with comprehensions
        and binned with numpy, which is several times cheaper per record than
        handling each record's fields one by one. A transport record that never
        reached a model (``inference`` false) counts in the transport metrics
        only. A value that cannot be handled loses that record's detail at
        most: its call is still counted, and the rest of the batch is untouched.
        """
        groups: dict[tuple[Endpoint, Attrs, str, str | None], list[InferenceRecord]] = {}
        limit = self.limiter.limit
        transports: list[InferenceRecord] = []
        for record in records:
            if record.http is not None:
                transports.append(record)
            if not record.inference:
                continue
            attributes = record.attributes
            dyn: Attrs = ()
            if attributes:
                try:
                    dyn = limit(attributes)
                except BaseException:  # e.g. attributes set to a non-mapping: drop them only
                    self.bad_attributes += 1
            endpoint = record.endpoint.series
            error_type = record.error_type
            if error_type is not None:
                error_type = self._error_type(endpoint, error_type)
            key = (endpoint, dyn, record.outcome, error_type)
            group = groups.get(key)
            if group is None:
                groups[key] = [record]
            else:
                group.append(record)
        # Values near the float limit overflow a histogram's sum: that is inf,
        # never a warning (which a server running with warnings as errors would
        # raise here, losing the batch). A group that fails still loses only itself.
        with np.errstate(all="ignore"):
            for key, group in groups.items():
                try:
                    self._ingest_group(key, group)
                except Exception:
                    self.failed_groups += 1
            if transports:
                self._ingest_transports(transports)

    def _error_type(self, endpoint: Any, raw: Any) -> str:
        """``error.type`` capped in length and in distinct values per endpoint."""
        error_type = raw if type(raw) is str else str(raw)
        if len(error_type) > _MAX_ERROR_TYPE_LENGTH:
            error_type = error_type[:_MAX_ERROR_TYPE_LENGTH]
        return str(self._error_types.admit(endpoint, error_type))

    def ingest_spill(self, spill: Spill) -> None:
        """Add the counts of the calls that found the buffer full (see ``_spill``)."""
        predict, transport = spill.take()
        for (endpoint, outcome, error_type), entry in predict.items():
            if error_type is not None:
                error_type = self._error_type(endpoint, error_type)
            key = (endpoint, (), outcome, error_type)
            series = (endpoint, ())
            self.calls[key] = self.calls.get(key, 0) + entry.calls
            self.rows[series] = self.rows.get(series, 0) + entry.rows
            self._fold_spilled(self._histogram("duration", (series, outcome)), entry)
        for (system, method, status, route, error, scheme, version), entry in transport.items():
            if error is not None:
                error = self._error_type(_TRANSPORTS, error)
            attrs = _transport_attrs(system, method, status, route, error, scheme, version)
            self.transport_calls[attrs] = self.transport_calls.get(attrs, 0) + entry.calls
            self._fold_spilled(self._histogram("t_duration", attrs), entry)

    @staticmethod
    def _fold_spilled(hist: Histogram, entry: SpilledCalls) -> None:
        # Both views (explicit and exponential buckets) get the spilled calls.
        hist.add_binned(
            entry.explicit, entry.exp, count=entry.calls, total=entry.sum_ns * 1e-9,
            low=entry.min_ns * 1e-9, high=entry.max_ns * 1e-9,
            zero_count=entry.calls - sum(entry.exp.values()), explicit_bounds=entry.bounds,
        )

    def _histogram(self, metric: str, key: Any) -> Histogram:
        hist = self.histograms.get((metric, key))
        if hist is None:
            # The catalogue's bounds: boundaries added there (SLO thresholds) count exactly.
            bounds = METRICS[_exported_name(metric, key)].bounds or _BOUNDS[metric]
            hist = self.histograms[(metric, key)] = Histogram(bounds)
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
        batch_sizes = []
        for record in group:
            size = record.batch_size
            if type(size) is not int or size < 0:  # a user's batch_size= returned junk
                self.bad_batch_sizes += 1
                size = 1
            batch_sizes.append(size)
        durations = np.fromiter((r.duration_ns for r in group), dtype=np.float64, count=n)
        self.calls[key] = self.calls.get(key, 0) + n
        self.rows[series] = self.rows.get(series, 0) + sum(batch_sizes)
        self._add("batch", series, batch_sizes)
        self._histogram("duration", (series, outcome)).add(durations * 1e-9)
        staged = [r.stages for r in group if r.stages]
        if staged:
            per_stage: dict[str, list[int]] = {}
            for stages in staged:
                try:
                    for name, ns in stages.items():
                        per_stage.setdefault(str(name)[:_MAX_ERROR_TYPE_LENGTH], []).append(ns)
                except BaseException:
                    self.unsupported_predictions += 1
            for name, values in per_stage.items():
                name = self._stages.admit(None, name)
                self._add("stage", (series, name), np.asarray(values, dtype=np.float64) * 1e-9)
        if outcome == "ok":
            self._ingest_predictions(series, group)

    def _ingest_predictions(
        self, series: tuple[Endpoint, Attrs], group: list[InferenceRecord]
    ) -> None:
        try:
            chunks = self._collect(group)
        except BaseException:  # one bad value: sort the group out record by record
            chunks = _Chunks()
            for record in group:
                try:
                    chunks.extend(self._collect([record]))
                except BaseException:
                    self.unsupported_predictions += 1
        if chunks.values:
            self._add("value", series, np.concatenate(chunks.values))
        if chunks.confidences:
            self._add("confidence", series, np.concatenate(chunks.confidences))
        for labels in chunks.labels:
            self._count_classes(series, labels)

    def _collect(self, group: list[InferenceRecord]) -> _Chunks:
        """Predictions and confidences of a group as float arrays and label lists.

        Pure: nothing is added to the aggregates here, so a group that fails
        half-way can be retried record by record without counting twice.
        """
        chunks = _Chunks()
        predictions = [r.prediction for r in group]
        confidences = [r.confidence for r in group]
        kinds = set(map(type, predictions))
        if kinds <= _FLOAT_TYPES:  # the common regression / score case, vectorised
            chunks.values.append(np.asarray(predictions, dtype=np.float64))
        elif kinds <= _LABEL_TYPES:
            chunks.labels.append([p for p in predictions if p is not None])
        else:
            for i, prediction in enumerate(predictions):
                derived = self._collect_one(prediction, chunks)
                if derived is not None and confidences[i] is None:
                    confidences[i] = derived
        if set(map(type, confidences)) <= _FLOAT_TYPES:
            chunks.confidences.append(np.asarray(confidences, dtype=np.float64))
            return chunks
        for confidence in confidences:
            if confidence is None:
                continue
            if isinstance(confidence, (float, int)):
                chunks.confidences.append(np.asarray([confidence], dtype=np.float64))
                continue
            try:
                chunks.confidences.append(np.asarray(confidence, dtype=np.float64).ravel())
            except (TypeError, ValueError):
                self.unsupported_predictions += 1
        return chunks

    def _collect_one(self, prediction: Any, chunks: _Chunks) -> Any:
        """One prediction of a mixed batch; returns a derived confidence or None."""
        if prediction is None:
            return None
        kind = type(prediction)
        if kind is float or isinstance(prediction, np.floating):
            chunks.values.append(np.asarray([prediction], dtype=np.float64))
            return None
        if kind in _LABEL_TYPES or isinstance(prediction, np.integer):
            chunks.labels.append([prediction])
            return None
        if kind is bytes:
            chunks.labels.append([_label_text(prediction)])
            return None
        try:
            arr = np.asarray(prediction)
        except BaseException:
            arr = None
        if arr is None or arr.dtype.kind not in "fiubUSO" or arr.ndim > 2 or (
            arr.dtype.kind == "O"
            and not _LABEL_TYPES.issuperset(map(type, arr.ravel().tolist()))
        ):
            self.unsupported_predictions += 1
        elif arr.ndim == 2 and arr.dtype.kind == "f":
            # Per-class scores: the predicted class is the arg-max.
            if arr.shape[1] > 0 and arr.shape[0] > 0:
                chunks.labels.append(arr.argmax(axis=1))
                return arr.max(axis=1)
        elif arr.dtype.kind == "f":
            chunks.values.append(arr.astype(np.float64, copy=False).ravel())
        else:
            chunks.labels.append(arr.ravel())
        return None

    def _class_label(self, endpoint: Endpoint, label: str) -> str:
        if self._classes.known(endpoint, label):
            return label
        # A text model's answer is its class label: capped and checked for
        # PII like any free-text attribute value before it names a series.
        label, redacted = metric_text(label)
        if redacted:
            self.limiter.redacted += 1
            return label
        return str(self._classes.admit(endpoint, label))

    def _count_classes(self, series: tuple[Endpoint, Attrs], labels: Any) -> None:
        endpoint, dyn = series
        counted: dict[str, int] = {}
        if type(labels) is np.ndarray and labels.dtype.kind in "iub":
            values, counts = np.unique(labels, return_counts=True)  # ints: no text per row
            for value, n in zip(values.tolist(), counts.tolist(), strict=True):
                counted[str(value)] = counted.get(str(value), 0) + n
        else:
            items = labels.tolist() if type(labels) is np.ndarray else labels
            for label in items:
                text = _label_text(label)
                counted[text] = counted.get(text, 0) + 1
        for text, n in counted.items():
            key = (endpoint, dyn, self._class_label(endpoint, text))
            self.classes[key] = self.classes.get(key, 0) + n

    def _ingest_transports(self, records: list[InferenceRecord]) -> None:
        # Group on a flat tuple first; the attribute tuples are built per group.
        groups: dict[tuple[Any, ...], list[HttpInfo]] = {}
        for record in records:
            http = record.http
            if http is None:
                continue
            # error.type only for failed requests, as the semantic conventions ask.
            error = self._error_type(
                _TRANSPORTS, record.error_type or OTHER_ERROR
            ) if record.outcome == "error" else None
            key = (http.system, http.method, http.status_code, http.route, error,
                   http.scheme, http.protocol_version)
            group = groups.get(key)
            if group is None:
                groups[key] = [http]
            else:
                group.append(http)
        for (system, method, status, route, error, scheme, version), infos in groups.items():
            attrs = _transport_attrs(system, method, status, route, error, scheme, version)
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
            return MetricPoint(_exported_name(metric, key), dict(key), hist)
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
        # Latency percentiles of successful calls, from the exported histograms'
        # exponential buckets (within about 2 %), merged over per-call attributes.
        ok: dict[Endpoint, Histogram] = {}
        for (metric, key), hist in self.histograms.items():
            if metric != "duration" or key[1] != "ok":
                continue
            endpoint = key[0][0]
            merged = ok.get(endpoint)
            if merged is None:
                ok[endpoint] = hist.copy()
            else:
                merged.merge(hist)
        for endpoint, hist in ok.items():
            entry = out[f"{endpoint.model_name}:{endpoint.model_version}"]
            for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
                value = hist.quantile(q)
                entry[f"latency_{label}_ms"] = None if value is None else value * 1e3
        for entry in out.values():
            entry["error_rate"] = entry["errors"] / entry["calls"] if entry["calls"] else 0.0
        return out
