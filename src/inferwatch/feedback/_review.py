"""Review sampling: predictions with their features, written for people to label.

Off the request path end to end. The monitor's aggregator thread hands every
drained batch of inferences to :meth:`ReviewSampler._consume`, which picks
records (:mod:`._review_select`) and appends them to a bounded queue; a
writer thread of its own renders them with the log pipeline's processors
(the monitor's pseudonymiser and drop fields, and its log processors, so a
field the log hides is hidden here too) and writes them to the review sink.
A slow or failing sink delays only reviews; every loss is counted in
``inferwatch.self.dropped`` with a ``review_*`` reason.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _forks
from .._bounded import BoundedCalls
from .._catalogue import REASON, MetricPoint
from .._errors import ConfigurationError
from .._snapshot import estimate_nbytes
from ..logsinks._base import LossCounter
from ._holdout import check_share
from ._keys import secret_of
from ._metrics import REVIEW_DECISION, REVIEW_RECORDS, REVIEW_RULE
from ._review_select import ReviewSelector

if TYPE_CHECKING:
    from .._logs import LogPipeline
    from .._monitor import Monitor
    from .._record import InferenceRecord

__all__ = ["DEFAULT_PATH", "ReviewSampler", "review"]

#: Where reviews go when no sink is given (JSON lines, rotated like the log file).
DEFAULT_PATH = "review.jsonl"
#: Events rendered and written per sink call.
_BATCH = 256

# The open sampler of each monitor (at most one), and each monitor's counts,
# which outlive its samplers (cumulative counters never go back).
_open: weakref.WeakKeyDictionary[Monitor, ReviewSampler] = weakref.WeakKeyDictionary()
_ledgers: weakref.WeakKeyDictionary[Monitor, _Ledger] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


class _Ledger:
    """One monitor's review counts, exported by one collector however many samplers."""

    def __init__(self) -> None:
        self.records = LossCounter()   # "rule/decision" -> n
        self.losses = LossCounter()    # reason -> n (review_* already)
        self.current: ReviewSampler | None = None

    def points(self) -> list[MetricPoint]:
        points = []
        for key, n in sorted(self.records.snapshot().items()):
            rule, decision = key.split("/", 1)
            points.append(MetricPoint(REVIEW_RECORDS, {REVIEW_RULE: rule,
                                                       REVIEW_DECISION: decision}, n))
        current = self.current
        losses = _summed(self.losses.snapshot(),
                         current._source_losses() if current is not None else {})
        for reason, n in losses.items():
            points.append(MetricPoint("inferwatch.self.dropped", {REASON: reason}, n))
        return points


class ReviewSampler:
    """Writes a share of a monitor's predictions, and its low-confidence ones, for review.

    Built by :func:`review`. ``flush()`` writes what is queued; ``close()``
    flushes, stops feeding and closes the sink. Usable as a context manager.
    """

    def __init__(
        self,
        monitor: Monitor,
        *,
        share: float,
        low_confidence: float | None,
        max_per_second: float,
        sink: Any,
        key: str | bytes | None,
        queue_size: int,
        queue_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.monitor = monitor
        self.share = share
        self.low_confidence = low_confidence
        self.max_per_second = max_per_second
        self._selector = ReviewSelector(
            share=share, low_confidence=low_confidence, max_per_second=max_per_second,
            secret=secret_of(key, monitor.config, "review()"), clock=clock)
        self.sink = sink
        self._queue_size = queue_size
        self._queue_bytes = queue_bytes
        self._pipeline = _pipeline(monitor)
        self._closed = False
        self._ledger: _Ledger | None = None
        self._flusher = BoundedCalls("inferwatch-review-flush")
        self._init_runtime()
        _forks.register(self)

    @property
    def keyed(self) -> bool:
        """Whether the share decision is keyed with a secret (see :func:`review`)."""
        return self._selector.keyed

    def in_share(self, inference_id: str) -> bool:
        """Whether ``inference_id`` is in the reviewed share (rate cap aside)."""
        return self._selector.in_share(inference_id)

    # -- runtime state (re-created after fork) ----------------------------------------

    def _init_runtime(self) -> None:
        self._queue: deque[tuple[InferenceRecord, str, int]] = deque()
        self._bytes = 0
        self._bytes_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="inferwatch-review-writer",
                                        daemon=True)
        if not self._closed:
            self._thread.start()

    def _after_fork_in_child(self) -> None:
        # The parent's writer thread and queue are not the child's.
        self._init_runtime()

    # -- aggregator thread ------------------------------------------------------------

    def _consume(self, records: list[InferenceRecord]) -> None:
        if self._closed:
            return
        ledger = self._ledger
        if ledger is None:
            return
        decide = self._selector.decide
        queue = self._queue
        added = 0
        for record in records:
            try:
                rule, taken = decide(record)
            except Exception:
                self.monitor.count_error("review_select")
                continue
            if rule is None:
                continue
            if not taken:
                ledger.records.add(f"{rule}/rate_limited")
                continue
            ledger.records.add(f"{rule}/kept")
            size = _record_bytes(record)
            if len(queue) >= self._queue_size:
                ledger.losses.add("review_queue_full")
            elif self._bytes + added + size > self._queue_bytes:
                ledger.losses.add("review_queue_bytes_full")
            else:
                queue.append((record, rule, size))
                added += size
        if added:
            with self._bytes_lock:
                self._bytes += added
            self._wakeup.set()

    # -- writer thread ----------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wakeup.wait(1.0)
            self._wakeup.clear()
            try:
                self._write()
            except BaseException:  # the loop outlives any bug in rendering
                self.monitor.count_error("review_writer")

    def _write(self) -> None:
        ledger = self._ledger
        if ledger is None:
            return
        render = self._pipeline.render
        adjusted = {"share": 1.0 / self.share if self.share > 0 else 1.0, "low_confidence": 1.0}
        with self._write_lock:
            queue = self._queue
            while queue:
                events = []
                released = 0
                for _ in range(min(len(queue), _BATCH)):
                    record, rule, size = queue.popleft()
                    released += size
                    try:
                        event = render(record, rule, adjusted[rule])
                    except BaseException:
                        ledger.losses.add("review_render_failed")
                        continue
                    if event is not None:  # None: a log processor dropped it (counted)
                        event["event"] = "review"
                        events.append(event)
                with self._bytes_lock:
                    self._bytes -= released
                if not events:
                    continue
                try:
                    self.sink.emit(events)
                except BaseException:
                    self.monitor.count_error("review_sink")
                    ledger.losses.add("review_sink_failed", len(events))

    # -- control ----------------------------------------------------------------------

    def _source_losses(self) -> dict[str, int]:
        """The sink's and the render pipeline's own losses, as ``review_*`` reasons."""
        out: dict[str, int] = {}
        for source in (self.sink, self._pipeline):
            losses = getattr(source, "losses", None)
            if losses is None:
                continue
            try:
                for reason, n in losses().items():
                    name = f"review_{reason}"
                    out[name] = out.get(name, 0) + int(n)
            except BaseException:
                self.monitor.count_error("review_losses")
        return out

    def flush(self, timeout: float = 5.0) -> bool:
        """Write every record picked so far (after the monitor's next drain) and flush
        the sink. Returns within about ``timeout``; False when something was left."""
        deadline = time.monotonic() + timeout
        self.monitor.drain()  # hands the batches finished so far to _consume

        def work() -> bool:
            self._write()
            flush = getattr(self.sink, "flush", None)
            if flush is None:
                return True
            try:
                return flush(max(0.05, deadline - time.monotonic())) is not False
            except TypeError:  # a sink whose flush() takes no timeout
                return flush() is not False

        outcome = self._flusher.run(work, deadline - time.monotonic())
        if not outcome.finished or outcome.error is not None:
            self.monitor.count_error("review_flush")
            return False
        return outcome.value is not False

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, stop reviewing the monitor's predictions and close the sink."""
        if self._closed:
            return True
        deadline = time.monotonic() + timeout
        done = self.flush(timeout)  # what finished before close() is reviewed
        self.monitor.remove_feature_consumer(self._consume)
        self._closed = True
        self._stop.set()
        self._wakeup.set()
        ledger = self._ledger
        with _registry_lock:
            if _open.get(self.monitor) is self:
                del _open[self.monitor]
            if ledger is not None and ledger.current is self:
                ledger.current = None
                for reason, n in self._source_losses().items():
                    ledger.losses.add(reason, n)
        close = getattr(self.sink, "close", None)

        def finish() -> Any:
            self._write()  # anything picked between the flush and the removal
            return True if close is None else _close_sink(close, deadline)

        outcome = self._flusher.run(finish, deadline - time.monotonic())
        return done and outcome.ok

    def summary(self) -> dict[str, Any]:
        """Counts for people to read (also ``Monitor.summary()["review"]``)."""
        ledger = self._ledger
        if ledger is None:
            return {}
        return {
            "share": self.share,
            "low_confidence": self.low_confidence,
            "max_per_second": self.max_per_second,
            "keyed": self.keyed,
            "records": dict(sorted(ledger.records.snapshot().items())),
            "dropped": _summed(ledger.losses.snapshot(), self._source_losses()),
            "queued": len(self._queue),
        }

    def __enter__(self) -> ReviewSampler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self) -> None:
        """Register on the monitor: one sampler per monitor, one collector per monitor."""
        monitor = self.monitor
        with _registry_lock:
            existing = _open.get(monitor)
            if existing is not None and not existing._closed:
                raise ConfigurationError(
                    "this monitor already has a review sampler: close() it first "
                    "(or change its options by building a new one after closing)")
            ledger = _ledgers.get(monitor)
            new_ledger = ledger is None
            if ledger is None:
                ledger = _ledgers[monitor] = _Ledger()
            ledger.current = self
            self._ledger = ledger
            _open[monitor] = self
        if new_ledger:
            monitor.add_collector(ledger.points)
        monitor.add_summary("review", self._summary_of_open(monitor))
        # Features are what a reviewer looks at: every call copies them from now on.
        monitor.add_feature_consumer(self._consume)
        # What is still queued is written when the monitor shuts down (atexit, SIGTERM).
        monitor.add_closer(self.close)

    @staticmethod
    def _summary_of_open(monitor: Monitor) -> Callable[[], Any]:
        ref = weakref.ref(monitor)

        def section() -> Any:
            mon = ref()
            sampler = None if mon is None else _open.get(mon)
            return {} if sampler is None else sampler.summary()

        return section


def _summed(*counts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for one in counts:
        for reason, n in one.items():
            out[reason] = out.get(reason, 0) + n
    return dict(sorted(out.items()))


def _close_sink(close: Callable[..., Any], deadline: float) -> Any:
    try:
        return close(max(0.05, deadline - time.monotonic()))
    except TypeError:  # a sink whose close() takes no timeout
        return close()


def _record_bytes(record: InferenceRecord) -> int:
    size = 512
    for value in (record.features, record.prediction, record.confidence):
        if value is not None:
            size += estimate_nbytes(value)
    return size


def _pipeline(monitor: Monitor) -> LogPipeline:
    """The monitor's log rendering with features on: the same pseudonymiser, drop
    fields and log processors, so nothing the log hides is shown to a reviewer."""
    from .._logs import LogPipeline

    return LogPipeline(
        service_name=monitor.config.service_name,
        pseudonymizer=monitor._pseudonymizer,
        include_features=True,
        processors=monitor.log_processors,
    )


def _make_sink(sink: Any) -> Any:
    if sink is None:
        sink = DEFAULT_PATH
    if isinstance(sink, (str, os.PathLike)):
        from ..logsinks import RotatingFileSink

        return RotatingFileSink(sink)
    if callable(getattr(sink, "emit", None)):
        return sink
    raise ConfigurationError(
        f"review sink must be a file path (JSON lines) or a log sink with emit(events), "
        f"flush() and close() (e.g. inferwatch.logsinks.StreamSink()), not "
        f"{type(sink).__name__}"
    )


def review(
    monitor: Monitor | None = None,
    share: float = 0.01,
    *,
    low_confidence: float | None = 0.6,
    max_per_second: float = 10.0,
    sink: Any = DEFAULT_PATH,
    key: str | bytes | None = None,
    queue_size: int = 1024,
    queue_bytes: int = 16 * 1024 * 1024,
    clock: Callable[[], float] = time.monotonic,
) -> ReviewSampler:
    """Send a share of predictions, and every low-confidence one, to human review.

    ::

        reviews = inferwatch.feedback.review(share=0.01, low_confidence=0.6,
                                             sink="/var/log/churn/review.jsonl")
        ...
        # a reviewer's verdict comes back as a label of its own source:
        inferwatch.record_label(inference_id, "spam", source="review")

    Each picked prediction is written as one JSON line (an object shaped like
    the log record, with ``"event": "review"``, ``features`` always included,
    ``sampling.rule`` ``share`` or ``low_confidence`` and
    ``sampling.adjusted_count``), rendered as the log is: PII fields
    pseudonymised, drop fields removed, the monitor's log processors applied.

    Args:
        monitor: the monitor whose predictions are reviewed (default: the
            process default, as it is now).
        share: the share of predictions picked (0.01 is 1 %), by a keyed hash
            of the inference id, so every replica picks the same ids.
        low_confidence: predictions with a confidence below this are always
            picked (up to the rate cap); None turns this off.
        max_per_second: at most this many predictions picked per second, all
            rules together (a token bucket; refused ones are counted as
            ``inferwatch.review.records{inferwatch.review.decision="rate_limited"}``).
        sink: a file path (JSON lines, rotated at 100 MB, 5 backups) or any
            log sink (``inferwatch.logsinks``: ``StreamSink``, ``OtlpLogSink``,
            ``FanoutSink``, or your own with ``emit``/``flush``/``close``).
        key: the secret for the share decision (at least 32 bytes); default
            the monitor's ``sampling_key`` (else derived from its PII key);
            with neither, a public key: replicas still agree, but a client
            that chooses its request ids can choose whether they are reviewed.
        queue_size, queue_bytes: bounds of the queue between the aggregator and
            the writer; past them records are dropped and counted
            (``review_queue_full``, ``review_queue_bytes_full``).

    Reviewing makes every monitored call copy its features (as drift does),
    so the picked records carry them. Losses after a record is picked are in
    ``inferwatch.self.dropped`` with reasons ``review_*`` (a failing sink:
    ``review_sink_failed``, or the sink's own ``review_sink_write_error``,
    ``review_sink_disk_full``, ...). One sampler per monitor; ``close()`` it
    to stop.
    """
    from .._process import get_monitor

    mon = get_monitor() if monitor is None else monitor
    value = check_share(share)
    if low_confidence is not None:
        if isinstance(low_confidence, bool) or not isinstance(low_confidence, (int, float)) \
                or not 0.0 <= float(low_confidence) <= 1.0:
            raise ConfigurationError(
                f"low_confidence must be a confidence between 0 and 1 (or None to turn it "
                f"off), got {low_confidence!r}")
        low_confidence = float(low_confidence)
    if isinstance(max_per_second, bool) or not isinstance(max_per_second, (int, float)) \
            or not 0.0 < float(max_per_second) < float("inf"):
        raise ConfigurationError(
            f"max_per_second must be a positive number of reviews per second, "
            f"got {max_per_second!r}")
    for name, bound_ in (("queue_size", queue_size), ("queue_bytes", queue_bytes)):
        if isinstance(bound_, bool) or not isinstance(bound_, int) or bound_ < 1:
            raise ConfigurationError(f"{name} must be a positive integer, got {bound_!r}")
    sampler = ReviewSampler(
        mon, share=value, low_confidence=low_confidence, max_per_second=float(max_per_second),
        sink=_make_sink(sink), key=key, queue_size=queue_size, queue_bytes=queue_bytes,
        clock=clock)
    try:
        sampler._start()
    except BaseException:
        sampler._closed = True
        sampler._stop.set()
        sampler._wakeup.set()
        raise
    return sampler
