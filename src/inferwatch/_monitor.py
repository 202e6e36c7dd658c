"""The Monitor: the bounded buffer, the aggregator and log threads, and collection.

Request path: ``submit`` appends the finished record to a bounded deque
(``deque.append`` is atomic under the GIL; a full buffer drops the record and
counts it). Nothing else happens there.

Aggregator thread: every ``flush_interval_ms`` it drains the deque, folds the
records into the SLI aggregates, hands them to feature consumers (the drift
engine) and lets the sampler pick the ones to log, which go to a second
bounded queue. Log thread: renders those records (PII pseudonymised) and
writes them to the sink, so a slow or failing sink delays only logs, never
metrics and never the predict call.

Collection (an OTel export, a test, the status page) drains synchronously
first, so what it reads includes every call that has finished.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, cast

from ._aggregate import Aggregates
from ._catalogue import MetricPoint
from ._config import Config, resolve_config
from ._record import Endpoint, InferenceRecord
from ._sampling import Sampler, sampling_hash

__all__ = ["Monitor", "configure", "get_monitor", "set_monitor"]

FeatureConsumer = Callable[[list[InferenceRecord]], None]
Collector = Callable[[], list[MetricPoint]]

_live_monitors: weakref.WeakSet[Monitor] = weakref.WeakSet()


def _count_value(counter: itertools.count[int]) -> int:
    return int(repr(counter)[6:-1])


class Monitor:
    """One monitoring pipeline: configuration, buffer, aggregates, sinks, export.

    Most applications use the process default made by ``inferwatch.configure``;
    tests and multi-tenant servers build their own and pass ``monitor=`` to the
    decorator. Options are those of ``inferwatch.configure`` (see the README's
    configuration reference); providers are injected for tests.

    Args:
        meter_provider: an OpenTelemetry ``MeterProvider`` to register metrics
            on. Without one, inferwatch builds its own exporting over OTLP when
            ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; metrics stay inspectable
            in-process either way (``collect()``, ``summary()``).
        log_sink: one of the ``log_sink`` option's values ("stdout", "file",
            "otlp", ...), or an object with ``emit(events)``, ``flush()`` and
            ``close()`` replacing the configured sink (``inferwatch.testing``
            uses this).
        logger_provider: an OpenTelemetry ``LoggerProvider`` for the 'otlp' sink.
    """

    def __init__(
        self,
        *,
        meter_provider: Any = None,
        log_sink: Any = None,
        logger_provider: Any = None,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        if isinstance(log_sink, str):  # the option's name, e.g. log_sink="file"
            options["log_sink"], log_sink = log_sink, None
        self.config: Config = resolve_config(options, environ)
        config = self.config
        self.enabled = config.enabled
        self._pseudonymizer = _build_pseudonymizer(config)
        if log_sink is None:
            from ._logs import make_log_sink

            log_sink = make_log_sink(
                config.log_sink,
                path=config.log_file,
                max_bytes=config.log_max_bytes,
                rotate_seconds=config.log_rotate_seconds,
                backups=config.log_backups,
                logger_provider=logger_provider,
            )
        self._sink = log_sink
        from .logsinks import NullSink

        # With nowhere to write, skip sampling and rendering altogether.
        self._logging = not isinstance(log_sink, NullSink)
        self._endpoints: dict[tuple[Any, ...], Endpoint] = {}
        self._errors: dict[str, itertools.count[int]] = {}
        self._feature_consumers: list[FeatureConsumer] = []
        self._collectors: list[Collector] = []
        self._closed = False
        self._init_runtime()
        self._update_feature_policy()
        self._otel: Any = None
        if config.metrics_exporter != "none" and (
            meter_provider is not None
            or config.metrics_exporter == "otlp"
            or config.otlp_endpoint_configured
        ):
            from ._otel import OtelMetrics

            self._otel = OtelMetrics(self, meter_provider)
        _live_monitors.add(self)

    # -- runtime state (re-created after fork) ---------------------------

    def _init_runtime(self) -> None:
        config = self.config
        self._queue: deque[InferenceRecord] = deque()
        self._capacity = config.buffer_size
        self._dropped_buffer = itertools.count()
        self._dropped_logs = itertools.count()
        self._lock = threading.Lock()
        self._aggregates = Aggregates(
            max_attribute_values=config.max_attribute_values,
            max_classes=config.max_classes,
            # A metric attribute is never pseudonymised: PII keys stay off metrics.
            excluded_attributes=frozenset(
                name.lower() for name in (*config.pii_fields, *config.drop_fields)
            ),
        )
        self._sampler = Sampler(
            sample_rate=config.sample_rate,
            feature_sample_rate=config.feature_sample_rate,
            slow_threshold_ms=config.slow_threshold_ms,
            low_confidence_threshold=config.low_confidence_threshold,
            max_records_per_second=config.max_records_per_second,
        )
        self._log_queue: deque[tuple[InferenceRecord, str, float]] = deque()
        self._log_lock = threading.Lock()
        self._log_wakeup = threading.Event()
        self._stop = threading.Event()
        self._threads_pid = os.getpid()
        self._aggregator = threading.Thread(
            target=self._aggregate_loop, name="inferwatch-aggregator", daemon=True
        )
        self._log_writer = threading.Thread(
            target=self._log_loop, name="inferwatch-log-writer", daemon=True
        )
        if self.enabled:
            self._aggregator.start()
            self._log_writer.start()

    def _after_fork_in_child(self) -> None:
        # The parent keeps reporting what it buffered and counted; the child
        # starts from zero so nothing is counted twice, with threads of its own.
        if not self._closed:
            self._init_runtime()

    # -- request path ------------------------------------------------------

    def endpoint(self, model_name: str, model_version: str, attributes: dict[str, str]) -> Endpoint:
        """The endpoint for this model, version and static attributes (shared)."""
        key = (model_name, model_version, tuple(sorted(attributes.items())))
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints.setdefault(
                key, Endpoint(model_name, model_name, model_version, attributes)
            )
        return endpoint

    def submit(self, record: InferenceRecord) -> None:
        """Hand a finished record to the aggregator; O(1), never blocks."""
        queue = self._queue
        if len(queue) < self._capacity:
            queue.append(record)
        else:
            next(self._dropped_buffer)

    def count_error(self, component: str) -> None:
        """Count a failure of inferwatch's own code (exported as inferwatch.self.errors)."""
        counter = self._errors.get(component)
        if counter is None:
            counter = self._errors.setdefault(component, itertools.count())
        next(counter)

    # -- aggregation -------------------------------------------------------

    def add_feature_consumer(self, consumer: FeatureConsumer) -> None:
        """Call ``consumer(records)`` with every drained batch (off the request path).

        From then on every monitored call copies its features, so the
        consumer sees them all.
        """
        self._feature_consumers.append(consumer)
        self._update_feature_policy()

    def wants_features(self, record: InferenceRecord) -> bool:
        """Whether a finished record's features will be read (drift, or the log keeping it).

        For captures that can only take features once the call is over (an
        ASGI body parsed after the response): parsing is skipped for the
        records nobody will read. Marks the record as carrying features, so
        it is sampled as one either way.
        """
        record.has_features = True
        copy = self._features_copy
        if copy is None:
            copy = sampling_hash(record) < self._feature_bound
        return copy or (self._features_late and self._sampler.kept_always(record))

    def _update_feature_policy(self) -> None:
        """Decide which calls copy their features before the call runs.

        Copying a call's features (a dict, an array) is the largest part of
        capture's cost inside a request, and most copies would never be read:
        feature consumers (drift) read every record's features, the log only
        those of the records it keeps. ``_features_copy`` is read by capture
        per call:

        - ``True``: every call copies its features;
        - ``None``: a call copies when the deterministic ``rate`` sample
          (``sampling_hash`` below the feature bound) will keep its record;
        - ``False``: no call copies before the call.

        With ``_features_late`` a call that did not copy copies after it
        returns when an always-kept rule applies (error, slow, low
        confidence), so the log still shows those records' features.
        """
        pseudonymizer = self._pseudonymizer
        logged = self._logging and (
            self.config.log_features
            or (pseudonymizer is not None and bool(pseudonymizer.hash_features))
        )
        bound = self._feature_bound = self._sampler.feature_bound
        self._features_late = logged
        if self._feature_consumers or (logged and bound >= 1 << 64):
            self._features_copy: bool | None = True
        elif logged and bound > 0:
            self._features_copy = None
        else:
            self._features_copy = False

    def add_collector(self, collector: Collector) -> None:
        """Add metric points computed at collection time (integrations, drift).

        Declare the collector's metrics with ``inferwatch._catalogue.register``
        first, so they get instruments on the MeterProvider.
        """
        self._collectors.append(collector)
        if self._otel is not None:
            self._otel.register_new_names()

    def _aggregate_loop(self) -> None:
        interval = self.config.flush_interval_ms / 1000.0
        while not self._stop.wait(interval):
            try:
                self._drain()
            except Exception:  # the loop must outlive any bug in aggregation
                self.count_error("aggregator")

    def _drain(self) -> int:
        with self._lock:
            queue = self._queue
            n = len(queue)
            if n == 0:
                return 0
            popleft = queue.popleft
            records = [popleft() for _ in range(n)]
            # The request path leaves the wall-clock start to be derived here.
            offset = time.time_ns() - time.perf_counter_ns()
            for record in records:
                if record.timestamp_ns == 0:
                    record.timestamp_ns = record.start_perf_ns + offset
            try:
                self._aggregates.ingest(records)
            except Exception:
                self.count_error("aggregator")
            for consumer in self._feature_consumers:
                try:
                    consumer(records)
                except Exception:
                    self.count_error("feature_consumer")
            if self._logging:
                self._select_for_log(records)
        self._log_wakeup.set()
        return n

    def _select_for_log(self, records: list[InferenceRecord]) -> None:
        decide = self._sampler.decide
        log_queue = self._log_queue
        limit = self.config.log_queue_size
        for record in records:
            try:
                decision = decide(record)
            except Exception:
                self.count_error("sampler")
                continue
            if decision is None:
                continue
            if len(log_queue) < limit:
                log_queue.append((record, decision[0], decision[1]))
            else:
                next(self._dropped_logs)

    # -- logging -------------------------------------------------------------

    def _log_loop(self) -> None:
        while not self._stop.is_set():
            self._log_wakeup.wait(1.0)
            self._log_wakeup.clear()
            try:
                self._write_logs()
            except Exception:  # the loop must outlive any bug in rendering
                self.count_error("log_writer")

    def _write_logs(self) -> None:
        from ._logs import record_to_event

        with self._log_lock:
            queue = self._log_queue
            while queue:
                n = min(len(queue), 512)
                events = []
                for _ in range(n):
                    record, rule, adjusted = queue.popleft()
                    try:
                        events.append(record_to_event(
                            record,
                            rule=rule,
                            adjusted_count=adjusted,
                            service_name=self.config.service_name,
                            pseudonymizer=self._pseudonymizer,
                            include_features=self.config.log_features,
                        ))
                    except Exception:
                        self.count_error("log_render")
                try:
                    self._sink.emit(events)
                except Exception:
                    self.count_error("log_sink")

    # -- collection ----------------------------------------------------------

    def flush(self, *, logs: bool = True) -> None:
        """Aggregate everything finished so far and, with ``logs``, write pending logs."""
        self._drain()
        if logs:
            self._write_logs()
            try:
                self._sink.flush()
            except Exception:
                self.count_error("log_sink")

    def collect(self) -> list[MetricPoint]:
        """Every metric point, current as of now (drains the buffer first)."""
        self._drain()
        with self._lock:
            points = self._aggregates.points()
            sampling = dict(self._sampler.counts)
            # Bad values survived in aggregation, reported with inferwatch's own errors.
            survived = {
                "record_attributes": self._aggregates.bad_attributes,
                "prediction_type": self._aggregates.unsupported_predictions,
            }
        for endpoint in list(self._endpoints.values()):
            attrs = {"model.name": endpoint.model_name, "model.version": endpoint.model_version}
            attrs.update(endpoint.attributes)
            points.append(MetricPoint("inferwatch.predict.in_flight", attrs, endpoint.in_flight))
        for (rule, decision), n in sampling.items():
            points.append(MetricPoint(
                "inferwatch.log.records", {"sampling.rule": rule, "sampling.decision": decision}, n
            ))
        for reason, counter in (
            ("buffer_full", self._dropped_buffer), ("log_queue_full", self._dropped_logs),
        ):
            points.append(MetricPoint(
                "inferwatch.self.dropped", {"reason": reason}, _count_value(counter)
            ))
        for component, counter in list(self._errors.items()):
            points.append(MetricPoint(
                "inferwatch.self.errors", {"component": component}, _count_value(counter)
            ))
        for component, n in survived.items():
            if n:
                points.append(MetricPoint("inferwatch.self.errors", {"component": component}, n))
        for collector in self._collectors:
            try:
                points.extend(collector())
            except Exception:
                self.count_error("collector")
        return points

    def summary(self) -> dict[str, Any]:
        """SLIs per model and the sampling and drop counts, for people to read."""
        self._drain()
        with self._lock:
            models = self._aggregates.summary()
            sampling = {f"{rule}/{decision}": n for (rule, decision), n in
                        sorted(self._sampler.counts.items())}
        return {
            "models": models,
            "sampling": sampling,
            "dropped": {
                "buffer_full": _count_value(self._dropped_buffer),
                "log_queue_full": _count_value(self._dropped_logs),
            },
            "errors": {k: _count_value(v) for k, v in sorted(self._errors.items())},
        }

    def dropped(self) -> int:
        return _count_value(self._dropped_buffer) + _count_value(self._dropped_logs)

    # -- lifecycle -------------------------------------------------------------

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush records and logs, stop the threads, shut down owned exporters.

        Returns within about ``timeout`` seconds whatever the sinks and
        exporters do: a blocked log sink or an OTLP exporter retrying against
        a collector that is down is left behind (counted as
        ``shutdown_timeout``) rather than holding up the process's exit.
        """
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._log_wakeup.set()
        if self._threads_pid == os.getpid():
            for thread in (self._aggregator, self._log_writer):
                if thread.is_alive():
                    thread.join(max(0.0, deadline - time.monotonic()))

        def finish() -> None:
            self.flush()
            if self._otel is not None:
                self._otel.shutdown(max(0.1, deadline - time.monotonic()))
            try:
                self._sink.close()
            except Exception:
                self.count_error("log_sink")

        closer = threading.Thread(target=finish, name="inferwatch-shutdown", daemon=True)
        closer.start()
        closer.join(max(0.0, deadline - time.monotonic()))
        if closer.is_alive():
            self.count_error("shutdown_timeout")
        _live_monitors.discard(self)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def _build_pseudonymizer(config: Config) -> Any:
    if not (config.pii_fields or config.drop_fields or config.pii_detectors
            or config.pii_key or config.pii_key_file):
        return None
    import secrets

    from ._pii import PiiKey, Pseudonymizer, load_pii_key

    keyed = bool(config.pii_fields or config.pii_detectors or config.pii_key
                 or config.pii_key_file)
    if keyed:
        key = load_pii_key(
            key=config.pii_key,
            key_file=config.pii_key_file,
            key_id=config.pii_key_id,
            allow_ephemeral=config.pii_ephemeral_key,
        )
    else:
        # Only dropping fields: no pseudonym is written, so no key is needed;
        # a throwaway one scrubs emails/phones out of exception messages.
        key = PiiKey("0", secrets.token_bytes(32))
    return Pseudonymizer(
        key,
        fields=config.pii_fields,
        drop_fields=config.drop_fields,
        detect_emails="email" in config.pii_detectors,
        detect_phones="phone" in config.pii_detectors,
        hash_features=keyed and not (config.pii_ephemeral_key and not (
            config.pii_key or config.pii_key_file)),
    )


# -- the process default ----------------------------------------------------------

_default: Monitor | None = None
_default_lock = threading.Lock()


def get_monitor() -> Monitor:
    """The process default monitor, built from the environment on first use."""
    mon = _default
    if mon is not None:
        return mon
    with _default_lock:
        if _default is None:
            set_monitor(Monitor())
        return cast(Monitor, _default)


_default_listeners: list[Callable[[Monitor | None], None]] = []


def add_default_listener(listener: Callable[[Monitor | None], None]) -> None:
    """Call ``listener(monitor)`` each time the process default is replaced.

    For components that follow the default (``inferwatch.drift.watch``
    without a monitor). It runs with the default's lock held: it must not
    call ``get_monitor``. A listener that raises is counted, never propagated.
    """
    _default_listeners.append(listener)


def set_monitor(monitor: Monitor | None) -> Monitor | None:
    """Replace the process default monitor; returns the previous one (not shut down)."""
    global _default
    previous, _default = _default, monitor
    if monitor is not previous:
        for listener in list(_default_listeners):
            try:
                listener(monitor)
            except Exception:
                if monitor is not None:
                    monitor.count_error("default_listener")
    return previous


def configure(**options: Any) -> Monitor:
    """Build the process default monitor from options and the environment.

    ::

        inferwatch.configure(service_name="churn-api", feature_sample_rate=0.05,
                             pii_fields=["email", "user_id"])

    Functions decorated before this call report to the new monitor from their
    next call on. The previous default is flushed and shut down.
    """
    monitor = Monitor(**options)
    with _default_lock:
        previous = set_monitor(monitor)
    if previous is not None:
        previous.shutdown()
    return monitor


def _after_fork_in_child() -> None:
    for monitor in list(_live_monitors):
        monitor._after_fork_in_child()


def _shutdown_all() -> None:
    for monitor in list(_live_monitors):
        with contextlib.suppress(Exception):  # interpreter exit: nowhere left to report
            monitor.shutdown(timeout=2.0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_shutdown_all)
