"""Handing inferwatch's in-process aggregates to OpenTelemetry at collection time.

OTel Python's instrument calls cost 13-26 µs each (opentelemetry-sdk 1.45), so
the request path never calls them. Instead, at each collection:

* counters, up-down counters and gauges are reported through observable
  instruments, whose callbacks read the monitor's aggregates. These work with
  any MeterProvider and any reader, push or pull.
* histograms have no observable form in the OTel SDK, so they are joined to
  the export as ready-made points by ``InferwatchMetricExporter``, a
  MetricExporter that wraps the real one. inferwatch installs it when it
  builds the MeterProvider; with your own provider, wrap your exporter in one
  line: ``PeriodicExportingMetricReader(inferwatch.otel.wrap_exporter(OTLPMetricExporter()))``.
  Each histogram goes out as the exporter (or reader) prefers for histograms:
  explicit buckets (the default, exact at every boundary) or, with
  ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=base2_exponential_bucket_histogram``,
  an exponential histogram (quantiles within about 2 %).

Failed exports are counted as ``inferwatch.self.errors{inferwatch.component=
"metric_export"}``. What a failure loses: with cumulative temporality (the
default) nothing but resolution, since the next export that gets through
carries every total (counters, histograms) again; gauges lose the values of
the failed instant. With delta temporality inferwatch's histograms keep the
failed interval and send it with the next export, while the SDK's observable
counters lose that interval's increments.

Flush and shutdown return within their timeout whatever the collector does:
the SDK call runs on a helper thread that is left behind, counted, when it
does not finish in time.

Only public SDK classes are used (``MetricExporter``, ``MetricsData`` and the
point data classes), built with the keyword arguments each supported SDK
version declares.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, cast

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.export import ExponentialHistogram as ExponentialHistogramData
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from . import _forks
from ._bounded import BoundedCalls
from ._catalogue import METRICS, MetricDef, MetricPoint
from ._histogram import Histogram
from ._otel_env import (
    EXPLICIT,
    EXPONENTIAL,
    build_otlp_exporter,
    build_resource,
    export_timeout_ms,
    preferred_aggregation,
    preferred_temporality,
)

__all__ = [
    "HistogramInjector",
    "InferwatchMetricExporter",
    "MetricSource",
    "OtelMetrics",
    "instrument_reader",
    "wrap_exporter",
]

SCOPE_NAME = "inferwatch"
_SNAPSHOT_TTL_S = 0.5
#: ``inferwatch.component`` of a failed metric export in ``inferwatch.self.errors``.
EXPORT_COMPONENT = "metric_export"


def _export_points(source: Any) -> list[MetricPoint]:
    """The source's points for an export: a monitor bounds its drain (see
    ``Monitor.export_points``); any other source is collected whole."""
    export = getattr(source, "export_points", None)
    return list(export() if export is not None else source.collect())


class MetricSource(Protocol):
    """What the bridge needs from a monitor: its points, an error counter, its config."""

    @property
    def config(self) -> Any: ...

    def collect(self) -> list[MetricPoint]: ...

    def count_error(self, component: str) -> None: ...




def _version() -> str:
    from . import __version__

    return __version__


def _default_source() -> MetricSource:
    from ._process import get_monitor

    return get_monitor()


def _build(cls: type, **kwargs: Any) -> Any:
    """Construct an SDK data class with the fields this SDK version declares."""
    names = {field.name for field in dataclasses.fields(cls)}
    if "exemplars" in names:
        kwargs.setdefault("exemplars", [])
    return cls(**{k: v for k, v in kwargs.items() if k in names})


def _for_histograms(preferences: Mapping[type, Any] | None, default: Any = None) -> Any:
    """The value for histograms in an exporter's or reader's per-instrument preferences.

    Exporters key them by the public ``Histogram`` class, readers by the SDK's
    private subclass of it: match either.
    """
    for cls, value in (preferences or {}).items():
        if isinstance(cls, type) and issubclass(cls, HistogramInstrument):
            return value
    return default


def _histogram_aggregation(preferences: Mapping[type, Any] | None) -> str:
    """EXPONENTIAL when the exporter or reader prefers it for histograms, else EXPLICIT."""
    if isinstance(_for_histograms(preferences), ExponentialBucketHistogramAggregation):
        return EXPONENTIAL
    return EXPLICIT


class _Snapshot:
    """One ``collect()`` shared by every callback of a collection cycle."""

    def __init__(self, source: MetricSource) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._taken = 0.0
        self._points: dict[str, list[MetricPoint]] = {}
        _forks.register(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._taken = 0.0
        self._points = {}

    def by_name(self) -> dict[str, list[MetricPoint]]:
        with self._lock:
            now = time.monotonic()
            if now - self._taken > _SNAPSHOT_TTL_S:
                grouped: dict[str, list[MetricPoint]] = {}
                for point in _export_points(self._source):
                    grouped.setdefault(point.name, []).append(point)
                self._points = grouped
                self._taken = now
            return self._points

    def invalidate(self) -> None:
        with self._lock:
            self._taken = 0.0


def _millis_left(deadline: float) -> float:
    """What the SDK's ``timeout_millis`` arguments take: the time left, at least 1 ms."""
    return max(1.0, (deadline - time.monotonic()) * 1000)


class OtelMetrics:
    """Registers a monitor's metrics on a MeterProvider (built or given)."""

    def __init__(self, monitor: MetricSource, meter_provider: Any = None) -> None:
        self.monitor = monitor
        self.snapshot = _Snapshot(monitor)
        self._owned_provider = meter_provider is None
        if meter_provider is None:
            meter_provider = self._build_provider()
        self.meter_provider = meter_provider
        self._meter = meter_provider.get_meter(SCOPE_NAME, _version())
        self._registered: set[str] = set()
        self._register_lock = threading.Lock()
        # The SDK's own flush and shutdown can block far past the timeout they
        # are given (an exporter retrying against a collector that accepts and
        # never answers): they run on a helper, one call at a time.
        self._flush = BoundedCalls("inferwatch-metric-flush", one_at_a_time=True)
        self._shutdown = BoundedCalls("inferwatch-metric-shutdown", one_at_a_time=True)
        self.register_new_names()

    def _build_provider(self) -> Any:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            PeriodicExportingMetricReader,
        )

        config = self.monitor.config
        environ: Mapping[str, str] = config.otel_environ
        temporality = preferred_temporality(environ)
        aggregation = preferred_aggregation(environ)
        inner: MetricExporter
        if config.metrics_exporter == "console":
            # sys.stdout as it is now (the SDK's default is bound when it is imported).
            inner = ConsoleMetricExporter(out=sys.stdout, preferred_temporality=temporality,
                                          preferred_aggregation=aggregation)
        else:
            inner = build_otlp_exporter("metrics", environ, preferred_temporality=temporality,
                                        preferred_aggregation=aggregation)
        exporter = InferwatchMetricExporter(inner, self.monitor, self.snapshot)
        timeout_ms = export_timeout_ms(environ)
        reader = PeriodicExportingMetricReader(
            exporter, export_interval_millis=config.export_interval_ms,
            export_timeout_millis=timeout_ms,
        )
        resource = build_resource(config.service_name, environ)
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

    def force_flush(self, timeout: float) -> bool:
        """Export everything now; True when the export finished within ``timeout`` seconds.

        With a MeterProvider passed in, its ``force_flush`` (every reader of
        it). Never blocks past ``timeout``, whatever the collector does.
        """
        self.snapshot.invalidate()
        provider = self.meter_provider
        deadline = time.monotonic() + timeout
        return self._flush.call(
            lambda: provider.force_flush(timeout_millis=_millis_left(deadline)), timeout)

    def shutdown(self, timeout: float) -> bool:
        """Final export and shutdown of the MeterProvider inferwatch built (not a given one)."""
        if not self._owned_provider:
            return True
        self.snapshot.invalidate()
        provider = self.meter_provider
        deadline = time.monotonic() + timeout

        def shutdown() -> None:
            try:
                provider.shutdown(timeout_millis=_millis_left(deadline))
            except TypeError:  # older SDKs take no timeout
                provider.shutdown()

        return self._shutdown.call(shutdown, timeout)


def _explicit_point(hist: Histogram, attributes: dict[str, Any], start_ns: int,
                    now_ns: int) -> Any:
    return _build(
        HistogramDataPoint,
        attributes=attributes,
        start_time_unix_nano=start_ns,
        time_unix_nano=now_ns,
        count=int(hist.count),
        sum=float(hist.sum),
        bucket_counts=[int(c) for c in hist.counts],
        explicit_bounds=[float(b) for b in hist.bounds],
        min=float(hist.min) if hist.count else 0.0,
        max=float(hist.max) if hist.count else 0.0,
    )


def _exponential_point(hist: Histogram, attributes: dict[str, Any], start_ns: int,
                       now_ns: int) -> Any:
    exp = hist.exp
    return _build(
        ExponentialHistogramDataPoint,
        attributes=attributes,
        start_time_unix_nano=start_ns,
        time_unix_nano=now_ns,
        count=int(exp.count),
        sum=float(hist.sum),
        scale=int(exp.scale),
        zero_count=int(exp.zero_count),
        positive=Buckets(offset=exp.positive.offset,
                         bucket_counts=[int(c) for c in exp.positive.counts]),
        negative=Buckets(offset=exp.negative.offset,
                         bucket_counts=[int(c) for c in exp.negative.counts]),
        flags=0,
        min=float(hist.min) if hist.count else 0.0,
        max=float(hist.max) if hist.count else 0.0,
    )


class HistogramInjector:
    """Adds inferwatch's histograms to a ``MetricsData`` on its way out.

    One per reader or exporter (it keeps the delta state). ``aggregation``
    is EXPLICIT or EXPONENTIAL. For delta temporality each export carries
    what was added since the last export that got through (``prepare`` then
    ``commit`` on success); min and max stay cumulative.
    """

    def __init__(
        self,
        monitor: MetricSource | None,
        temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE,
        snapshot: _Snapshot | None = None,
        aggregation: str = EXPLICIT,
    ) -> None:
        self._monitor = monitor
        self._snapshot = snapshot
        self._temporality = temporality
        self._aggregation = aggregation
        self._start_ns = time.time_ns()
        self._previous: dict[Any, Histogram] = {}
        self._lock = threading.Lock()
        _forks.register(self)

    def _after_fork_in_child(self) -> None:
        # The child's monitor counts from zero: its series start now, with no
        # delta baseline from the parent.
        self._lock = threading.Lock()
        self._previous = {}
        self._start_ns = time.time_ns()

    def source(self) -> MetricSource:
        return self._monitor if self._monitor is not None else _default_source()

    def _points(self) -> dict[str, list[MetricPoint]]:
        if self._snapshot is not None:
            return self._snapshot.by_name()
        grouped: dict[str, list[MetricPoint]] = {}
        for point in _export_points(self.source()):
            grouped.setdefault(point.name, []).append(point)
        return grouped

    def __call__(self, metrics_data: MetricsData) -> MetricsData:
        """``metrics_data`` plus the histograms (delta state committed at once)."""
        data, commit = self.prepare(metrics_data)
        commit()
        return data

    def prepare(self, metrics_data: MetricsData) -> tuple[MetricsData, Callable[[], None]]:
        """``metrics_data`` plus the histograms, and the commit to call once it was sent.

        On any failure, ``metrics_data`` unchanged (and counted).
        """
        try:
            return self._inject(metrics_data)
        except Exception:
            with contextlib.suppress(Exception):  # nothing left to count with
                self.source().count_error("otel_export")
            return metrics_data, lambda: None

    def _inject(self, metrics_data: MetricsData) -> tuple[MetricsData, Callable[[], None]]:
        now = time.time_ns()
        delta = self._temporality == AggregationTemporality.DELTA
        with self._lock:
            start_ns = self._start_ns
            previous = dict(self._previous)
        seen: dict[Any, Histogram] = {}
        metrics = []
        for name, points in self._points().items():
            if not points or points[0].kind != "histogram":
                continue
            data_points = []
            for point in points:
                hist: Histogram = point.value
                if delta:
                    key = (name, tuple(sorted(point.attributes.items())))
                    seen[key] = hist
                    hist = hist.delta(previous.get(key))
                build = _exponential_point if self._aggregation == EXPONENTIAL else _explicit_point
                data_points.append(build(hist, dict(point.attributes), start_ns, now))
            definition = METRICS[name]
            data_class = (ExponentialHistogramData if self._aggregation == EXPONENTIAL
                          else HistogramData)
            metrics.append(_build(
                Metric, name=name, description=definition.description, unit=definition.unit,
                data=_build(data_class, data_points=data_points,
                            aggregation_temporality=self._temporality),
            ))

        def commit() -> None:
            if delta:
                with self._lock:
                    self._previous.update(seen)
                    self._start_ns = now  # the next delta starts where this one ends

        if not metrics:
            return metrics_data, commit
        return self._joined(metrics_data, metrics), commit

    def _resource(self) -> Any:
        try:
            config = self.source().config
            return build_resource(config.service_name, config.otel_environ)
        except Exception:
            from opentelemetry.sdk.resources import Resource

            return Resource.get_empty()

    def _joined(self, metrics_data: MetricsData, metrics: list[Any]) -> MetricsData:
        resource_metrics = list(metrics_data.resource_metrics)
        scope = InstrumentationScope(SCOPE_NAME, _version())
        if resource_metrics:
            first = resource_metrics[0]
            scopes = list(first.scope_metrics)
            for i, existing in enumerate(scopes):
                if existing.scope.name == SCOPE_NAME:
                    scopes[i] = _build(ScopeMetrics, scope=existing.scope,
                                       metrics=[*existing.metrics, *metrics],
                                       schema_url=existing.schema_url)
                    break
            else:
                scopes.append(_build(ScopeMetrics, scope=scope, metrics=metrics, schema_url=""))
            resource_metrics[0] = _build(ResourceMetrics, resource=first.resource,
                                         scope_metrics=scopes, schema_url=first.schema_url)
        else:
            resource_metrics.append(_build(
                ResourceMetrics, resource=self._resource(),
                scope_metrics=[_build(ScopeMetrics, scope=scope, metrics=metrics,
                                      schema_url="")],
                schema_url=""))
        return cast(MetricsData, _build(MetricsData, resource_metrics=resource_metrics))


class InferwatchMetricExporter(MetricExporter):
    """A MetricExporter that adds inferwatch's histograms to each export.

    Wraps the exporter that really sends (OTLP, console, in-memory) and keeps
    its preferred temporality and aggregation: histograms go out as
    exponential histograms when it prefers ``ExponentialBucketHistogramAggregation``
    for histograms, else with explicit buckets. A failed export (a FAILURE
    result or an exception) is counted as
    ``inferwatch.self.errors{inferwatch.component="metric_export"}``.
    """

    def __init__(
        self, exporter: MetricExporter, monitor: MetricSource | None = None,
        snapshot: _Snapshot | None = None,
    ) -> None:
        temporality = dict(getattr(exporter, "_preferred_temporality", None) or {})
        aggregation = dict(getattr(exporter, "_preferred_aggregation", None) or {})
        super().__init__(preferred_temporality=temporality, preferred_aggregation=aggregation)
        self._exporter = exporter
        self._inject = HistogramInjector(
            monitor,
            _for_histograms(temporality, AggregationTemporality.CUMULATIVE),
            snapshot,
            _histogram_aggregation(aggregation),
        )

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        data, commit = self._inject.prepare(metrics_data)
        try:
            result = self._exporter.export(data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            result = MetricExportResult.FAILURE
        if result == MetricExportResult.SUCCESS:
            commit()
        else:
            with contextlib.suppress(Exception):  # nothing left to count with
                self._inject.source().count_error(EXPORT_COMPONENT)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return bool(self._exporter.force_flush(timeout_millis=timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._exporter.shutdown(timeout_millis=timeout_millis, **kwargs)


def instrument_reader(reader: MetricReader, monitor: MetricSource | None = None) -> MetricReader:
    """Make any MetricReader include inferwatch's histograms in what it collects.

    ::

        reader = PrometheusMetricReader()            # pull readers too
        inferwatch.otel.instrument_reader(reader)
        inferwatch.configure(meter_provider=MeterProvider(metric_readers=[reader]))

    Every reader hands what it collects to its ``_receive_metrics`` (the
    periodic reader exports it, the Prometheus reader serves it, the in-memory
    reader keeps it); this wraps that one method on this reader instance,
    which is how pull readers, which have no exporter to wrap, get
    histograms. Histograms follow the reader's preferred aggregation for
    histograms (explicit buckets unless it asks for exponential ones; the
    Prometheus reader takes explicit buckets only). Idempotent. Without
    ``monitor`` it reads the process default at each collection.
    """
    if getattr(reader, "_inferwatch_injector", None) is not None:
        return reader
    temporalities = getattr(reader, "_instrument_class_temporality", None) or {}
    inject = HistogramInjector(
        monitor, _for_histograms(temporalities, AggregationTemporality.CUMULATIVE),
        aggregation=_histogram_aggregation(
            getattr(reader, "_instrument_class_aggregation", None)),
    )
    receive = reader._receive_metrics

    def receive_with_histograms(
        metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        receive(inject(metrics_data), timeout_millis=timeout_millis, **kwargs)

    reader._receive_metrics = receive_with_histograms  # type: ignore[method-assign]
    reader._inferwatch_injector = inject  # type: ignore[attr-defined]
    return reader


def wrap_exporter(exporter: MetricExporter, monitor: MetricSource | None = None) -> MetricExporter:
    """Wrap your MetricExporter so inferwatch's histograms join its exports.

    ::

        reader = PeriodicExportingMetricReader(inferwatch.otel.wrap_exporter(OTLPMetricExporter()))
        inferwatch.configure(meter_provider=MeterProvider(metric_readers=[reader]))

    Without ``monitor`` it reads the process default monitor at each export.
    """
    return InferwatchMetricExporter(exporter, monitor)
