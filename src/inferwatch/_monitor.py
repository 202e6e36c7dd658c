"""The Monitor: the bounded buffer, the aggregator and log threads, and collection.

Request path: ``submit`` appends the finished record to a bounded deque
(``deque.append`` is atomic under the GIL). A full buffer (in records, or in
estimated bytes admitted since the last drain) keeps the call's counts exact
through ``_spill`` and drops only its detail, counted. Nothing else happens
there.

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

import itertools
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _forks
from ._aggregate import Aggregates
from ._bounded import BoundedCalls
from ._catalogue import MetricPoint
from ._config import Config, resolve_config
from ._pii_setup import build_pseudonymizer
from ._record import Endpoint, InferenceRecord, count_value
from ._sampling import Sampler
from ._snapshot import estimate_nbytes
from ._spill import Spill
from .infra._attach import Infrastructure
from .infra._cuda import PENDING as _GPU_EVENTS

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._config import MonitorOptions

__all__ = ["Monitor"]

FeatureConsumer = Callable[[list[InferenceRecord]], None]
Collector = Callable[[], list[MetricPoint]]

_live_monitors: weakref.WeakSet[Monitor] = weakref.WeakSet()


# Records handled per aggregation step: the aggregator yields the GIL between
# steps so background work never holds it for long stretches.
_DRAIN_CHUNK = 1024
#: How long an export's collection drains before reading (see ``collect``).
COLLECT_DRAIN_SECONDS = 0.25
#: The series calls go to once a monitor has ``max_endpoints`` of them.
OVERFLOW_MODEL = "_other"
#: Events waiting for the log thread at most (``log_event``).
_MAX_EVENTS = 1024


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
        log_processors: Sequence[Callable[[Any, str, dict[str, Any]], Any]] = (),
        **given: Unpack[MonitorOptions],
    ) -> None:
        options: dict[str, Any] = dict(given)
        if isinstance(log_sink, str):  # the option's name, e.g. log_sink="file"
            options["log_sink"], log_sink = log_sink, None
        #: The options this monitor was built with (``testing.capture`` reuses them).
        self.options: dict[str, Any] = dict(options)
        self.environ = environ
        self.config: Config = resolve_config(options, environ)
        config = self.config
        self.enabled = config.enabled
        # The infrastructure layer's options, checked before anything starts (a
        # missing extra raises here); attached below, once the exporter exists.
        self._infra = Infrastructure(config)
        self._pseudonymizer = build_pseudonymizer(config)
        if log_sink is None:
            from ._logs import make_log_sink

            log_sink = make_log_sink(
                config.log_sink,
                path=config.log_file,
                max_bytes=config.log_max_bytes,
                rotate_seconds=config.log_rotate_seconds,
                backups=config.log_backups,
                logger_provider=logger_provider,
                service_name=config.service_name,
                environ=environ,
            )
        self._sink = log_sink
        from ._logs import LogPipeline, RenderCounter

        #: User processors run after the built-in ones (``configure(log_processors=...)``).
        self.log_processors = tuple(log_processors)
        self._log_pipeline = LogPipeline(
            service_name=config.service_name,
            pseudonymizer=self._pseudonymizer,
            include_features=config.log_features,
            processors=self.log_processors,
        )
        self._render_counter = RenderCounter()
        from .logsinks import NullSink

        # With nowhere to write, skip sampling and rendering altogether.
        self._logging = not isinstance(log_sink, NullSink)
        self._endpoints: dict[tuple[Any, ...], Endpoint] = {}
        self._series: dict[tuple[Any, ...], Endpoint] = {}
        self._errors: dict[str, itertools.count[int]] = {}
        self._drops: dict[str, itertools.count[int]] = {}
        self._max_record_bytes = config.max_record_bytes
        self._buffer_bytes = config.buffer_bytes
        self._feature_consumers: list[FeatureConsumer] = []
        self._all_record_consumers: set[int] = set()
        self._copying_consumers = 0
        self._collectors: list[Collector] = []
        self._tickers: list[Callable[[float], None]] = []
        self._summaries: dict[str, Callable[[], Any]] = {}
        self._closers: list[Callable[[float], Any]] = []
        self._closed = False
        self._init_runtime()
        self._update_feature_policy()
        self._otel: Any = None
        if config.exports_metrics(meter_provider is not None):
            from ._otel import OtelMetrics

            self._otel = OtelMetrics(self, meter_provider)
        self._infra.attach(self)  # GPU gauges, cost, process metrics (inferwatch.infra)
        # Flushes and the shutdown run here, so that a stuck sink or exporter
        # cannot hold up the caller past its timeout.
        self._bounded = BoundedCalls("inferwatch-flush")
        _live_monitors.add(self)
        _forks.register(self)

    # -- runtime state (re-created after fork) ---------------------------

    def _init_runtime(self) -> None:
        config = self.config
        self._queue: deque[InferenceRecord] = deque()
        self._capacity = config.buffer_size
        # Estimated bytes of copies admitted since the last drain; updated
        # without a lock on the request path (a lost update only shifts one
        # interval's estimate) and reset by each drain.
        self._pending_bytes = 0
        self._spill = Spill()
        self._dropped_buffer = itertools.count()
        self._dropped_logs = itertools.count()
        self._lock = threading.Lock()
        self._consumer_lock = threading.Lock()
        self._aggregates = Aggregates(
            max_attribute_values=config.max_attribute_values,
            max_classes=config.max_classes,
            # A metric attribute is never pseudonymised: PII keys stay off metrics.
            excluded_attributes=frozenset(
                name.lower() for name in (*config.pii_fields, *config.drop_fields)
            ),
        )
        # Keyed by sampling_key (or the PII key) so clients cannot choose
        # which of their requests are logged.
        self._sampler = Sampler.from_config(config)
        # The log's keyed rate decision, also read by capture for feature copies.
        self._sampling_hash = self._sampler.sampling_hash
        # The one always-kept predicate, bound once (capture calls it per call).
        self._always_kept = self._sampler.always_kept
        self._log_queue: deque[tuple[InferenceRecord, str, float, int]] = deque()
        # Events (a model version first seen) waiting for the log thread.
        self._events: deque[dict[str, Any]] = deque()
        self._log_queue_bytes = 0
        self._log_bytes_lock = threading.Lock()
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
        # starts from zero so nothing is counted twice, with threads and locks
        # of its own (a lock the parent's aggregator held at fork time would
        # otherwise stay held in the child forever).
        if not self._closed:
            self._drops = {}
            self._errors = {}
            for endpoint in (*self._endpoints.values(), *self._series.values()):
                endpoint.starts = itertools.count()
                endpoint.ends = itertools.count()
            self._init_runtime()

    # -- request path ------------------------------------------------------

    def endpoint(
        self,
        model_name: str,
        model_version: str,
        attributes: dict[str, str],
        name: str | None = None,
    ) -> Endpoint:
        """The endpoint of function ``name`` serving this model, version and attributes.

        Endpoints of different functions with the same model, version and
        attributes share one metric series (``Endpoint.series``). Past
        ``max_endpoints`` series (model names made up at run time), calls are
        counted under model ``_other`` and the overflow is counted.
        """
        display = name or model_name
        key = (display, model_name, model_version, tuple(sorted(attributes.items())))
        endpoint = self._endpoints.get(key)
        if endpoint is not None:
            return endpoint
        series_key = key[1:]
        series = self._series.get(series_key)
        if series is None:
            if len(self._series) >= self.config.max_endpoints:
                self.count_dropped("endpoints_overflow")
                series_key = (OVERFLOW_MODEL, OVERFLOW_MODEL, ())
                series = self._series.get(series_key)
                if series is None:
                    series = self._series.setdefault(
                        series_key, Endpoint(OVERFLOW_MODEL, OVERFLOW_MODEL, OVERFLOW_MODEL))
                return series
            series = self._series.setdefault(
                series_key, Endpoint(display, model_name, model_version, attributes))
        endpoint = Endpoint(display, model_name, model_version, attributes)
        endpoint.series = series
        return self._endpoints.setdefault(key, endpoint)

    def submit(self, record: InferenceRecord) -> None:
        """Hand a finished record to the aggregator; O(1), never blocks."""
        queue = self._queue
        if len(queue) < self._capacity:
            queue.append(record)
        else:
            self._overflow(record)

    def _overflow(self, record: InferenceRecord) -> None:
        """The buffer is full: keep the call's counts exact, drop (and count) its detail.

        (The byte bound is applied where a copy is made: see ``_capture``.)
        """
        next(self._dropped_buffer)
        try:
            self._spill.add(record)
        except BaseException:
            self.count_error("spill")

    def _counter(self, reason: str) -> itertools.count[int]:
        counter = self._drops.get(reason)
        if counter is None:
            counter = self._drops.setdefault(reason, itertools.count())
        return counter

    def count_dropped(self, reason: str) -> None:
        """Count detail lost for ``reason`` (exported as inferwatch.self.dropped)."""
        next(self._counter(reason))

    def count_error(self, component: str) -> None:
        """Count a failure of inferwatch's own code (exported as inferwatch.self.errors)."""
        counter = self._errors.get(component)
        if counter is None:
            counter = self._errors.setdefault(component, itertools.count())
        next(counter)

    # -- aggregation -------------------------------------------------------

    def add_feature_consumer(
        self,
        consumer: FeatureConsumer,
        *,
        copies_features: bool = True,
        all_records: bool = False,
        first: bool = False,
    ) -> None:
        """Call ``consumer(records)`` with every drained batch of inferences
        (off the request path; requests that never reached a model are left
        out unless ``all_records``). ``first``: before the consumers added
        earlier (the drift engine, which tags each record with its window).

        From then on every monitored call copies its features, so the
        consumer sees them all; with ``copies_features=False`` the consumer
        only observes records and the copy policy stays as it was.
        """
        if all_records:
            self._all_record_consumers.add(id(consumer))
        if first:
            self._feature_consumers.insert(0, consumer)
        else:
            self._feature_consumers.append(consumer)
        if copies_features:
            self._copying_consumers += 1
        self._update_feature_policy()

    def remove_feature_consumer(self, consumer: FeatureConsumer) -> None:
        """Stop calling ``consumer`` (one registered with ``copies_features``)."""
        with self._lock:
            if consumer in self._feature_consumers:
                self._feature_consumers.remove(consumer)
                self._copying_consumers = max(0, self._copying_consumers - 1)
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
            copy = self._sampling_hash(record) < self._feature_bound
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
        if self._copying_consumers or (logged and bound >= 1 << 64):
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

    def add_ticker(self, ticker: Callable[[float], None]) -> None:
        """Call ``ticker(time.time())`` on the aggregator thread after each drain.

        For components that keep time-bucketed state over the aggregates (SLO
        budgets, baselines): the drain has just folded in every finished call,
        so ``collect()``/``summary()``-style reads are current. A ticker must be
        quick (it shares the thread with aggregation); one that raises is
        counted (``ticker``), never stops the loop.
        """
        self._tickers.append(ticker)

    def drain(self) -> int:
        """Fold every finished call into the aggregates now, on this thread
        (no logs written, no helper thread); returns the records taken. For
        components that read the aggregates beside the monitor (SLOs, health)."""
        return self._drain()

    def add_summary(self, name: str, section: Callable[[], Any]) -> None:
        """Add ``summary()[name]``, computed by ``section()`` at summary time (SLO
        budgets). It runs outside the aggregation lock; one that raises is
        counted (``summary``) and its section left out, never propagated."""
        self._summaries[name] = section

    def add_closer(self, closer: Callable[[float], Any]) -> None:
        """Call ``closer(seconds_left)`` at shutdown, after the last drain (a component
        with a queue and a sink of its own: the review sampler). One that raises or
        blocks is counted (``closer``, ``shutdown_timeout``), never propagated."""
        self._closers.append(closer)

    def log_event(self, event: dict[str, Any]) -> None:
        """Write ``event`` (JSON values; ``"event"`` names it) through the log sink
        on the log thread, unsampled: for rare events such as a model version
        first seen. Past ``_MAX_EVENTS`` waiting it is dropped and counted
        (``event_queue_full``); never blocks, never raises."""
        if not self._logging:
            return
        if len(self._events) >= _MAX_EVENTS:
            self.count_dropped("event_queue_full")
            return
        self._events.append(event)
        self._log_wakeup.set()

    def snapshot(self) -> Aggregates:
        """The live aggregates, for a ticker reading them under the aggregation
        lock (``with monitor.aggregation_lock: ...``); never mutate them."""
        return self._aggregates

    @property
    def aggregation_lock(self) -> threading.Lock:
        return self._lock

    def _aggregate_loop(self) -> None:
        interval = self.config.flush_interval_ms / 1000.0
        while not self._stop.wait(interval):
            try:
                self._drain()
            except BaseException:  # the loop must outlive any bug in aggregation
                self.count_error("aggregator")
            self._tick()

    def _tick(self) -> None:
        if not self._tickers:
            return
        now = time.time()
        for ticker in list(self._tickers):
            try:
                ticker(now)
            except BaseException:
                self.count_error("ticker")

    def _drain(self, deadline: float | None = None) -> int:
        """Aggregate what the request path buffered, in steps of ``_DRAIN_CHUNK``.

        The lock is released and the GIL offered to request threads between
        steps, so a long backlog never holds them up for long. Records the
        request path adds while this runs are taken too (up to what was there
        plus one step's worth), so a flush sees every call finished before it.
        """
        if _GPU_EVENTS.active:  # gpu_stage in use: let finished calls' events complete
            _GPU_EVENTS.settle(self)
        queue = self._queue
        total = 0
        budget = len(queue) + _DRAIN_CHUNK
        self._pending_bytes = 0
        while True:
            inferences = None
            with self._lock:
                n = min(len(queue), _DRAIN_CHUNK, budget - total)
                if n > 0:
                    popleft = queue.popleft
                    inferences = self._ingest([popleft() for _ in range(n)])
                    total += n
                try:
                    self._aggregates.ingest_spill(self._spill)
                except BaseException:
                    self.count_error("aggregator")
                if inferences is not None:
                    # Taken before the aggregation lock is let go, so batches
                    # reach the consumers in the order they were drained.
                    self._consumer_lock.acquire()
            if inferences is not None:
                # Feature consumers (drift: a report when a window closes) run
                # outside the aggregation lock: collect() and summary() never
                # wait for them.
                try:
                    self._feed_consumers(inferences)
                finally:
                    self._consumer_lock.release()
            if n < _DRAIN_CHUNK or total >= budget or (
                deadline is not None and time.monotonic() > deadline
            ):
                break
            time.sleep(0)  # let request threads run between steps
        if total:
            self._log_wakeup.set()
        return total

    def _ingest(self, records: list[InferenceRecord]) -> list[InferenceRecord] | None:
        """Fold records into the aggregates and pick the ones to log; returns the
        inferences for the feature consumers (None when there are none)."""
        # The request path leaves the wall-clock start to be derived here.
        offset = time.time_ns() - time.perf_counter_ns()
        for record in records:
            if record.timestamp_ns == 0:
                record.timestamp_ns = record.start_perf_ns + offset
        if _GPU_EVENTS.active:  # device time of gpu_stage stages, read off the request path
            try:
                _GPU_EVENTS.attach(records, self)
            except BaseException:
                self.count_error("gpu_events")
        try:
            self._aggregates.ingest(records)
        except BaseException:
            self.count_error("aggregator")
        if self._logging:
            self._select_for_log(records)
        return records if self._feature_consumers else None

    def _feed_consumers(self, records: list[InferenceRecord]) -> None:
        # Requests that never reached a model are kept out of drift.
        inferences = [r for r in records if r.inference]
        everything = self._all_record_consumers
        for consumer in list(self._feature_consumers):
            try:
                consumer(records if id(consumer) in everything else inferences)
            except BaseException:
                self.count_error("feature_consumer")

    def _select_for_log(self, records: list[InferenceRecord]) -> None:
        decide = self._sampler.decide
        log_queue = self._log_queue
        limit = self.config.log_queue_size
        byte_limit = self.config.log_queue_bytes
        added = 0
        for record in records:
            try:
                decision = decide(record)
            except BaseException:
                self.count_error("sampler")
                continue
            if decision is None:
                continue
            size = _record_bytes(record)
            if len(log_queue) >= limit:
                next(self._dropped_logs)
            elif self._log_queue_bytes + added + size > byte_limit:
                self.count_dropped("log_queue_bytes_full")
            else:
                log_queue.append((record, decision[0], decision[1], size))
                added += size
        if added:
            with self._log_bytes_lock:
                self._log_queue_bytes += added

    # -- logging -------------------------------------------------------------

    def _log_loop(self) -> None:
        while not self._stop.is_set():
            self._log_wakeup.wait(1.0)
            self._log_wakeup.clear()
            try:
                self._write_logs()
            except BaseException:  # the loop must outlive any bug in rendering
                self.count_error("log_writer")

    def _write_logs(self) -> None:
        render = self._log_pipeline.render
        counter = self._render_counter
        with self._log_lock:
            pending = self._events
            if pending:
                try:
                    self._sink.emit([pending.popleft() for _ in range(len(pending))])
                except BaseException:
                    self.count_error("log_sink")
                    self.count_dropped("sink_emit_failed")
            queue = self._log_queue
            while queue:
                n = min(len(queue), 512)
                events = []
                released = 0
                for _ in range(n):
                    record, rule, adjusted, size = queue.popleft()
                    released += size
                    try:
                        event = render(record, rule, adjusted, counter)
                        if event is not None:  # None: a processor dropped it (counted)
                            events.append(event)
                    except BaseException:
                        self.count_error("log_render")
                        self.count_dropped("log_render_failed")
                with self._log_bytes_lock:
                    self._log_queue_bytes -= released
                try:
                    self._sink.emit(events)
                except BaseException:
                    self.count_error("log_sink")
                    self.count_dropped("sink_emit_failed")

    # -- collection ----------------------------------------------------------

    def flush(self, timeout: float = 5.0, *, logs: bool = True, export: bool = False) -> bool:
        """Aggregate everything finished so far; with ``logs`` write pending logs,
        with ``export`` also push the metrics to the OpenTelemetry exporter.

        Returns within about ``timeout`` seconds whatever the sinks and
        exporters do (a hanging collector, a blocked file): True when
        everything finished, False when something was left behind (counted as
        ``flush_timeout``).
        """
        deadline = time.monotonic() + timeout
        return self._within(lambda: self._flush_until(deadline, logs=logs, export=export),
                            deadline, "flush_timeout")

    def _flush_until(self, deadline: float, *, logs: bool, export: bool) -> bool:
        """``flush``'s work, on the calling thread: False when a sink or the
        exporter gave up by ``deadline``. The SIGTERM flusher calls it directly
        (it is itself the bounded helper, and must start no thread)."""
        self._drain()
        self._tick()
        finished = True
        if logs:
            self._write_logs()
            try:
                flushed = self._sink.flush(max(0.05, deadline - time.monotonic()))
            except TypeError:  # a user's sink whose flush() takes no timeout
                flushed = self._sink.flush()
            if flushed is False:  # the sink gave up within its timeout
                self.count_error("flush_timeout")
                finished = False
        if export and self._otel is not None:
            flush_otel = getattr(self._otel, "force_flush", None)
            if flush_otel is not None and flush_otel(
                max(0.05, deadline - time.monotonic())
            ) is False:
                finished = False  # the bridge gave up at its timeout
        return finished

    def _within(self, work: Callable[[], bool | None], deadline: float, reason: str) -> bool:
        """Run ``work`` on the flush helper, waiting at most until ``deadline``:
        True when it finished in time and did not answer False."""
        outcome = self._bounded.run(work, deadline - time.monotonic())
        if not outcome.finished:
            self.count_error(reason)
            return False
        if outcome.error is not None:
            self.count_error("flush")
            return False
        return outcome.value is not False

    def collect(self, drain_seconds: float | None = None) -> list[MetricPoint]:
        """Every metric point, current as of now: every call finished before it
        is counted (the buffer is drained first).

        With ``drain_seconds`` the drain stops after that long: what the
        aggregator has not reached yet is counted at the next collection (the
        totals are cumulative). Exports use this (``export_points``), so that
        under saturation an export never waits on the whole backlog.
        """
        self._drain(None if drain_seconds is None else time.monotonic() + drain_seconds)
        with self._lock:
            points = self._aggregates.points()
            sampling = dict(self._sampler.counts)
            # Bad values survived in aggregation, reported with inferwatch's own errors.
            survived = {
                "record_attributes": self._aggregates.bad_attributes,
                "prediction_type": self._aggregates.unsupported_predictions,
                "batch_size": self._aggregates.bad_batch_sizes,
                "aggregate_group": self._aggregates.failed_groups,
                # Log fields replaced by an <unrenderable> marker.
                "log_render_field": self._render_counter.errors,
            }
        for series, in_flight in self._in_flight().items():
            attrs = {"model.name": series.model_name, "model.version": series.model_version}
            attrs.update(series.attributes)
            points.append(MetricPoint("inferwatch.predict.in_flight", attrs, in_flight))
        for (rule, decision), n in sampling.items():
            points.append(MetricPoint(
                "inferwatch.log.records", {"sampling.rule": rule, "sampling.decision": decision}, n
            ))
        for reason, n in self._drop_counts().items():
            points.append(MetricPoint("inferwatch.self.dropped", {"inferwatch.reason": reason}, n))
        errors = {component: count_value(c) for component, c in list(self._errors.items())}
        for component, n in survived.items():
            if n:
                errors[component] = errors.get(component, 0) + n
        for component, n in errors.items():
            points.append(MetricPoint(
                "inferwatch.self.errors", {"inferwatch.component": component}, n
            ))
        for collector in self._collectors:
            try:
                points.extend(collector())
            except BaseException:
                self.count_error("collector")
        return points

    def export_points(self) -> list[MetricPoint]:
        """``collect`` for an exporter: the drain bounded by ``COLLECT_DRAIN_SECONDS``."""
        return self.collect(COLLECT_DRAIN_SECONDS)

    def summary(self) -> dict[str, Any]:
        """SLIs per model and the sampling and drop counts, for people to read."""
        self._drain()
        with self._lock:
            models = self._aggregates.summary()
            sampling = {f"{rule}/{decision}": n for (rule, decision), n in
                        sorted(self._sampler.counts.items())}
        in_flight = {f"{s.model_name}:{s.model_version}": n for s, n in self._in_flight().items()}
        for name, entry in models.items():
            entry["in_flight"] = in_flight.get(name, 0)
        sections: dict[str, Any] = {}
        for name, section in list(self._summaries.items()):
            try:
                sections[name] = section()
            except BaseException:
                self.count_error("summary")
        return {
            "models": models,
            "sampling": sampling,
            "dropped": self._drop_counts(),
            "errors": {k: count_value(v) for k, v in sorted(self._errors.items())},
            **sections,
        }

    def dropped(self) -> int:
        """Everything lost so far, all reasons together."""
        return sum(self._drop_counts().values())

    def _drop_counts(self) -> dict[str, int]:
        """Every loss by reason: the buffers', the sinks' and the exporters' own."""
        drops = {
            "buffer_full": count_value(self._dropped_buffer),
            "log_queue_full": count_value(self._dropped_logs),
        }
        for reason, counter in list(self._drops.items()):
            drops[reason] = drops.get(reason, 0) + count_value(counter)
        # Values past their caps (attributes, error types, classes, stages: shown
        # as '_other') and values kept off metrics because they looked like PII.
        drops["attribute_overflow"] = self._aggregates.overflowed
        drops["attribute_redacted"] = self._aggregates.limiter.redacted
        for source in (self._sink, self._otel, self._log_pipeline):
            losses = getattr(source, "losses", None)
            if losses is None:
                continue
            try:
                for reason, n in losses().items():
                    drops[str(reason)] = drops.get(str(reason), 0) + int(n)
            except BaseException:
                self.count_error("losses")
        return drops

    def _in_flight(self) -> dict[Endpoint, int]:
        totals: dict[Endpoint, int] = {}
        for endpoint in list(self._endpoints.values()):
            totals[endpoint.series] = totals.get(endpoint.series, 0) + endpoint.in_flight
        for series in list(self._series.values()):
            if series.series is series:  # a transport's own endpoint, or the overflow
                totals[series] = totals.get(series, 0) + series.in_flight
        return totals

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
            self._drain()
            for closer in list(self._closers):
                try:
                    closer(max(0.05, deadline - time.monotonic()))
                except BaseException:
                    self.count_error("closer")
            self._write_logs()
            if self._otel is not None:
                self._otel.shutdown(max(0.1, deadline - time.monotonic()))
            try:
                self._sink.close(max(0.05, deadline - time.monotonic()))
            except TypeError:  # a user's sink whose close() takes no timeout
                self._sink.close()
            except BaseException:
                self.count_error("log_sink")

        self._within(finish, deadline, "shutdown_timeout")
        self._infra.close()
        _live_monitors.discard(self)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def attached_drift_monitors(monitor: Monitor) -> list[Any]:
    """The drift monitors fed by ``monitor`` (attached to it or following it).

    For the components that read drift beside the aggregates (SLOs, health,
    the status page); drift is never imported for it: when nothing imported
    it, no drift monitor can exist.
    """
    module = sys.modules.get("inferwatch.drift._drift_monitor")
    return [] if module is None else module.attached_to(monitor)


def _record_bytes(record: InferenceRecord) -> int:
    """Estimated bytes a queued log record holds (its copies, plus the record)."""
    size = 512
    for value in (record.features, record.prediction, record.confidence):
        if value is not None:
            size += estimate_nbytes(value)
    return size
