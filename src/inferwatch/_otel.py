"""Handing inferwatch's in-process aggregates to OpenTelemetry at collection time.

OTel Python's instrument calls cost 13-26 µs each (opentelemetry-sdk 1.45), so
the request path never calls them. Instead, at each collection:

* counters, up-down counters and gauges are reported through observable
  instruments, whose callbacks read the monitor's aggregates. These work with
  any MeterProvider and any reader, push or pull.
* histograms have no observable form in the OTel SDK, so they are joined to
  the export as ready-made ``HistogramDataPoint``s by ``InferwatchMetricExporter``,
  a MetricExporter that wraps the real one. inferwatch installs it when it
  builds the MeterProvider; with your own provider, wrap your exporter in one
  line: ``PeriodicExportingMetricReader(inferwatch.otel.wrap_exporter(OTLPMetricExporter()))``.

Only public SDK classes are used (``MetricExporter``, ``MetricsData`` and the
point data classes), built with the keyword arguments each supported SDK
version declares.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from ._catalogue import METRICS, MetricDef, MetricPoint
from ._histogram import Histogram

if TYPE_CHECKING:
    from ._monitor import Monitor

__all__ = [
    "HistogramInjector",
    "InferwatchMetricExporter",
    "OtelMetrics",
    "instrument_reader",
    "wrap_exporter",
]

SCOPE_NAME = "inferwatch"
_SNAPSHOT_TTL_S = 0.5


def _version() -> str:
    from . import __version__

    return __version__


def _build(cls: type, **kwargs: Any) -> Any:
    """Construct an SDK data class with the fields this SDK version declares."""
    names = {field.name for field in dataclasses.fields(cls)}
    if "exemplars" in names:
        kwargs.setdefault("exemplars", [])
    return cls(**{k: v for k, v in kwargs.items() if k in names})


class _Snapshot:
    """One ``monitor.collect()`` shared by every callback of a collection cycle."""

    def __init__(self, monitor: Monitor) -> None:
        self._monitor = monitor
        self._lock = threading.Lock()
        self._taken = 0.0
        self._points: dict[str, list[MetricPoint]] = {}

    def by_name(self) -> dict[str, list[MetricPoint]]:
        with self._lock:
            now = time.monotonic()
            if now - self._taken > _SNAPSHOT_TTL_S:
                grouped: dict[str, list[MetricPoint]] = {}
                for point in self._monitor.collect():
                    grouped.setdefault(point.name, []).append(point)
                self._points = grouped
                self._taken = now
            return self._points

    def invalidate(self) -> None:
        with self._lock:
            self._taken = 0.0


class OtelMetrics:
    """Registers a monitor's metrics on a MeterProvider (built or given)."""

    def __init__(self, monitor: Monitor, meter_provider: Any = None) -> None:
        self.monitor = monitor
        self.snapshot = _Snapshot(monitor)
        self._owned_provider = meter_provider is None
        if meter_provider is None:
            meter_provider = self._build_provider()
        self.meter_provider = meter_provider
        self._meter = meter_provider.get_meter(SCOPE_NAME, _version())
        self._registered: set[str] = set()
        self._register_lock = threading.Lock()
        self.register_new_names()

    def _build_provider(self) -> Any:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        config = self.monitor.config
        exporter = InferwatchMetricExporter(OTLPMetricExporter(), self.monitor, self.snapshot)
        reader = PeriodicExportingMetricReader(
            exporter, export_interval_millis=config.export_interval_ms
        )
        resource = Resource.create({"service.name": config.service_name})
        # The Monitor shuts it down, with a deadline: no second shutdown at exit.
        return MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)

    def register_new_names(self) -> None:
        """Create an observable instrument for each scalar metric in the catalogue.

        Called at start and again by ``Monitor.add_collector`` when an
        integration declares metrics of its own.
        """
        with self._register_lock:
            for definition in list(METRICS.values()):
                if definition.kind != "histogram" and definition.name not in self._registered:
                    self._registered.add(definition.name)
                    self._create(definition)

    def _create(self, definition: MetricDef) -> None:
        name = definition.name
        snapshot = self.snapshot

        def callback(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(p.value, p.attributes) for p in snapshot.by_name().get(name, ())]

        create = {
            "counter": self._meter.create_observable_counter,
            "updown": self._meter.create_observable_up_down_counter,
            "gauge": self._meter.create_observable_gauge,
        }[definition.kind]
        create(name, callbacks=[callback], unit=definition.unit,
               description=definition.description)

    def shutdown(self, timeout: float) -> None:
        if self._owned_provider:
            try:
                self.meter_provider.shutdown(timeout_millis=timeout * 1000)
            except TypeError:  # older SDKs take no timeout
                self.meter_provider.shutdown()


def _histogram_metric(
    name: str, points: list[MetricPoint], start_ns: int, now_ns: int,
    temporality: AggregationTemporality, previous: dict[Any, Histogram],
) -> Any:
    """An OTel histogram Metric; for delta, points since ``start_ns`` (the last export)."""
    data_points = []
    for point in points:
        hist: Histogram = point.value
        key = (name, tuple(sorted(point.attributes.items())))
        counts, count, total = hist.counts, hist.count, hist.sum
        if temporality == AggregationTemporality.DELTA:
            last = previous.get(key)
            previous[key] = hist
            if last is not None:
                counts = counts - last.counts
                count -= last.count
                total -= last.sum
        data_points.append(_build(
            HistogramDataPoint,
            attributes=dict(point.attributes),
            start_time_unix_nano=start_ns,
            time_unix_nano=now_ns,
            count=int(count),
            sum=float(total),
            bucket_counts=[int(c) for c in counts],
            explicit_bounds=[float(b) for b in hist.bounds],
            min=float(hist.min) if hist.count else 0.0,
            max=float(hist.max) if hist.count else 0.0,
        ))
    definition = METRICS[name]
    return _build(
        Metric,
        name=name,
        description=definition.description,
        unit=definition.unit,
        data=_build(HistogramData, data_points=data_points, aggregation_temporality=temporality),
    )


class HistogramInjector:
    """Adds inferwatch's histograms to a ``MetricsData`` on its way out.

    One per reader or exporter (it keeps the delta state). Cumulative by
    default; for delta temporality each export carries the counts since the
    previous one (min and max stay cumulative: they cannot be undone).
    """

    def __init__(
        self,
        monitor: Monitor | None,
        temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE,
        snapshot: _Snapshot | None = None,
    ) -> None:
        self._monitor = monitor
        self._snapshot = snapshot
        self._temporality = temporality
        self._start_ns = time.time_ns()
        self._previous: dict[Any, Any] = {}

    def _points(self) -> dict[str, list[MetricPoint]]:
        if self._snapshot is not None:
            return self._snapshot.by_name()
        from ._monitor import get_monitor

        monitor = self._monitor if self._monitor is not None else get_monitor()
        grouped: dict[str, list[MetricPoint]] = {}
        for point in monitor.collect():
            grouped.setdefault(point.name, []).append(point)
        return grouped

    def __call__(self, metrics_data: MetricsData) -> MetricsData:
        """``metrics_data`` plus the histograms; on any failure, unchanged (and counted)."""
        try:
            return self._inject(metrics_data)
        except Exception:
            if self._monitor is not None:
                self._monitor.count_error("otel_export")
            return metrics_data

    def _inject(self, metrics_data: MetricsData) -> MetricsData:
        now = time.time_ns()
        metrics = [
            _histogram_metric(name, points, self._start_ns, now, self._temporality,
                              self._previous)
            for name, points in self._points().items()
            if points and points[0].kind == "histogram"
        ]
        if self._temporality == AggregationTemporality.DELTA:
            self._start_ns = now  # the next delta starts where this one ends
        if not metrics:
            return metrics_data
        resource_metrics = list(metrics_data.resource_metrics)
        if resource_metrics:
            first = resource_metrics[0]
            scopes = list(first.scope_metrics)
            for i, scope in enumerate(scopes):
                if scope.scope.name == SCOPE_NAME:
                    scopes[i] = _build(ScopeMetrics, scope=scope.scope,
                                       metrics=[*scope.metrics, *metrics],
                                       schema_url=scope.schema_url)
                    break
            else:
                scopes.append(_build(ScopeMetrics, scope=InstrumentationScope(
                    SCOPE_NAME, _version()), metrics=metrics, schema_url=""))
            resource_metrics[0] = _build(ResourceMetrics, resource=first.resource,
                                         scope_metrics=scopes, schema_url=first.schema_url)
        else:
            resource_metrics.append(_build(
                ResourceMetrics, resource=Resource.create(),
                scope_metrics=[_build(ScopeMetrics, scope=InstrumentationScope(
                    SCOPE_NAME, _version()), metrics=metrics, schema_url="")],
                schema_url=""))
        return cast(MetricsData, _build(MetricsData, resource_metrics=resource_metrics))


class InferwatchMetricExporter(MetricExporter):
    """A MetricExporter that adds inferwatch's histograms to each export.

    Wraps the exporter that really sends (OTLP, console, in-memory) and keeps
    its preferred temporality and aggregation.
    """

    def __init__(
        self, exporter: MetricExporter, monitor: Monitor | None = None,
        snapshot: _Snapshot | None = None,
    ) -> None:
        temporality = dict(getattr(exporter, "_preferred_temporality", None) or {})
        super().__init__(
            preferred_temporality=temporality,
            preferred_aggregation=dict(getattr(exporter, "_preferred_aggregation", None) or {}),
        )
        self._exporter = exporter
        self._inject = HistogramInjector(
            monitor,
            temporality.get(HistogramInstrument, AggregationTemporality.CUMULATIVE),
            snapshot,
        )

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return self._exporter.export(
            self._inject(metrics_data), timeout_millis=timeout_millis, **kwargs
        )

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return bool(self._exporter.force_flush(timeout_millis=timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._exporter.shutdown(timeout_millis=timeout_millis, **kwargs)


def instrument_reader(reader: MetricReader, monitor: Monitor | None = None) -> MetricReader:
    """Make any MetricReader include inferwatch's histograms in what it collects.

    ::

        reader = PrometheusMetricReader()            # pull readers too
        inferwatch.otel.instrument_reader(reader)
        inferwatch.configure(meter_provider=MeterProvider(metric_readers=[reader]))

    Every reader hands what it collects to its ``_receive_metrics`` (the
    periodic reader exports it, the Prometheus reader serves it, the in-memory
    reader keeps it); this wraps that one method on this reader instance,
    which is how pull readers, which have no exporter to wrap, get
    histograms. Idempotent. Without ``monitor`` it reads the process default
    at each collection.
    """
    if getattr(reader, "_inferwatch_injector", None) is not None:
        return reader
    temporalities = getattr(reader, "_instrument_class_temporality", None) or {}
    inject = HistogramInjector(
        monitor, temporalities.get(HistogramInstrument, AggregationTemporality.CUMULATIVE)
    )
    receive = reader._receive_metrics

    def receive_with_histograms(
        metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        receive(inject(metrics_data), timeout_millis=timeout_millis, **kwargs)

    reader._receive_metrics = receive_with_histograms  # type: ignore[method-assign]
    reader._inferwatch_injector = inject  # type: ignore[attr-defined]
    return reader


def wrap_exporter(exporter: MetricExporter, monitor: Monitor | None = None) -> MetricExporter:
    """Wrap your MetricExporter so inferwatch's histograms join its exports.

    ::

        reader = PeriodicExportingMetricReader(inferwatch.otel.wrap_exporter(OTLPMetricExporter()))
        inferwatch.configure(meter_provider=MeterProvider(metric_readers=[reader]))

    Without ``monitor`` it reads the process default monitor at each export.
    """
    return InferwatchMetricExporter(exporter, monitor)
