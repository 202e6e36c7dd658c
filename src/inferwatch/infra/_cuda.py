"""``inferwatch.gpu_stage``: a stage's device time from CUDA events, read off the request path.

A CUDA kernel launch returns before the kernel runs: wall-clock time around an
unsynchronised call measures the launch (tens of microseconds), not the work on
the GPU, and synchronising on every call to time it stalls the stream. So the
stage records a pair of ``torch.cuda.Event(enable_timing=True)`` around the
block, on the current stream, and never synchronises. The pair waits in a
bounded queue; the aggregator resolves it when it takes the call's record
(``end.query()`` true: ``start.elapsed_time(end)``) and adds the device time to
the record as the stage ``"<name>.gpu"``, next to the wall time of ``"<name>"``
(logs' ``stages_ms`` and ``inferwatch.predict.stage.duration`` alike).

A call that returns its result to the client has normally synchronised already
(``.cpu()``, ``.item()``), so its events are complete when its record is
taken. Events still pending then are waited for a little (``SETTLE_SECONDS``,
outside every lock, never on the request path) and otherwise lost and counted
(``inferwatch.self.dropped{inferwatch.reason="gpu_event_pending"}``); a pair
whose record never reaches an aggregator within ``MAX_AGE_SECONDS`` counts as
``gpu_event_expired``, a full queue as ``gpu_events_full``, an event CUDA
cannot read as ``gpu_event_error``.

Without torch the stage raises ``MissingDependencyError`` where it is created;
with torch but no CUDA device (a laptop, a CPU test run) it falls back to wall
time alone, like ``inferwatch.stage``.
"""

from __future__ import annotations

import importlib
import itertools
import os
import threading
import time
from collections import deque
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from .. import _forks
from .._context import _current
from .._errors import MissingDependencyError
from .._record import InferenceRecord, count_value
from .._stage import stage

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["MAX_AGE_SECONDS", "PENDING", "SETTLE_SECONDS", "gpu_stage"]

#: How long a drain waits, at most, for the events of calls that have finished.
SETTLE_SECONDS = 0.02
#: How long the events of a call that never reaches an aggregator are kept.
MAX_AGE_SECONDS = 60.0
#: Event pairs waiting at most; past it a stage keeps its wall time only (counted).
MAX_PENDING = 10_000
#: Suffix of the stage that holds the device time.
DEVICE_SUFFIX = ".gpu"


class _Pending:
    """Event pairs waiting to be read: appended on the request path, resolved by drains."""

    def __init__(self) -> None:
        self._init()
        _forks.register(self)

    def _init(self) -> None:
        #: (record, stage name, start event, end event, perf_counter_ns when queued).
        self.new: deque[tuple[InferenceRecord, str, Any, Any, int]] = deque()
        self._by_record: dict[int, list[tuple[InferenceRecord, str, Any, Any, int]]] = {}
        self._lock = threading.Lock()
        self.overflowed = itertools.count()
        self._overflow_reported = 0
        #: Device time resolved so far in this process (ns), for the cost of GPU time.
        self.device_ns = 0
        self.resolved = 0
        #: Whether a gpu_stage ever queued a pair here: drains skip all of this until then.
        self.active = False

    def _after_fork_in_child(self) -> None:
        # The parent's events belong to its CUDA context, which the child cannot use.
        self._init()

    def add(self, record: InferenceRecord, name: str, start: Any, end: Any) -> None:
        """Queue a pair (request path: O(1), never blocks)."""
        if len(self.new) < MAX_PENDING:
            self.new.append((record, name, start, end, perf_counter_ns()))
            self.active = True
        else:
            next(self.overflowed)

    def _absorb(self) -> None:
        """Move newly queued pairs under their record (lock held)."""
        new, by_record = self.new, self._by_record
        for _ in range(len(new)):
            entry = new.popleft()
            by_record.setdefault(id(entry[0]), []).append(entry)

    def settle(self, monitor: Any, timeout: float = SETTLE_SECONDS) -> None:
        """Before a drain: count what expired or overflowed (on ``monitor``), then wait up
        to ``timeout`` for the events of calls that have finished (no lock held while
        waiting; no record is touched, ``attach`` reads them)."""
        if not self.active:
            return
        with self._lock:
            self._absorb()
            expired = self._expire(perf_counter_ns())
            overflowed = count_value(self.overflowed)
            new_overflow, self._overflow_reported = (overflowed - self._overflow_reported,
                                                     overflowed)
            waiting = [entry[3] for entries in self._by_record.values() for entry in entries
                       if entry[0].duration_ns]
        for _ in range(expired):
            monitor.count_dropped("gpu_event_expired")
        for _ in range(new_overflow):
            monitor.count_dropped("gpu_events_full")
        deadline = time.monotonic() + timeout
        while waiting:
            try:
                waiting = [end for end in waiting if not end.query()]
            except Exception:
                return  # attach counts what cannot be read
            if not waiting or time.monotonic() >= deadline:
                return
            time.sleep(0.0005)

    def attach(self, records: list[InferenceRecord], monitor: Any) -> None:
        """Add the device time of ``records`` (about to be aggregated) to them.

        Called by the monitor with its aggregation lock held, before the
        records are folded in: nothing else reads them yet.
        """
        if not self.active:
            return
        with self._lock:
            self._absorb()
            found = [(record, self._by_record.pop(id(record), None)) for record in records]
        total = resolved = 0
        for record, entries in found:
            if not entries:
                continue
            for _record, name, start, end, _queued in entries:
                try:
                    if not end.query():
                        monitor.count_dropped("gpu_event_pending")
                        continue
                    ns = round(float(start.elapsed_time(end)) * 1e6)  # ms -> ns
                except Exception:
                    monitor.count_dropped("gpu_event_error")
                    continue
                record.add_stage(name + DEVICE_SUFFIX, ns)
                total += ns
                resolved += 1
        if resolved:
            with self._lock:
                self.device_ns += total
                self.resolved += resolved

    def _expire(self, now: int) -> int:
        """Forget pairs older than MAX_AGE_SECONDS (lock held); how many."""
        limit = now - int(MAX_AGE_SECONDS * 1e9)
        stale = [key for key, entries in self._by_record.items() if entries[0][4] < limit]
        for key in stale:
            del self._by_record[key]
        return len(stale)

    def waiting(self) -> int:
        with self._lock:
            return len(self.new) + sum(len(e) for e in self._by_record.values())


#: The process's queue of event pairs (every monitor's drains read it).
PENDING = _Pending()


class _Cuda:
    """torch, and whether CUDA can be used in this process (asked once per process)."""

    def __init__(self) -> None:
        self.torch: Any = None
        self._pid = 0
        self._usable = False

    def load(self) -> Any:
        if self.torch is None:
            try:
                self.torch = importlib.import_module("torch")
            except ImportError:
                raise MissingDependencyError(
                    "inferwatch.gpu_stage times GPU work with PyTorch's CUDA events, and "
                    "torch is not installed: pip install torch (or use inferwatch.stage for "
                    "wall-clock time)") from None
        return self.torch

    def usable(self) -> bool:
        pid = os.getpid()
        if self._pid != pid:  # asked again in a forked child
            self._pid = pid
            try:
                self._usable = bool(self.torch.cuda.is_available())
            except Exception:
                self._usable = False
        return self._usable


_CUDA = _Cuda()


class gpu_stage(stage):
    """Time a stage of GPU work: wall time as ``name``, device time as ``name + ".gpu"``.

    ::

        with inferwatch.gpu_stage("infer"):
            logits = model(batch)          # kernels launched, not waited for

        @inferwatch.gpu_stage("infer")
        def forward(batch): ...

    Records a pair of CUDA events on the current stream around the block,
    without synchronising; they are read later, off the request path (see
    the module's docstring). The wall time of an unsynchronised block is the
    time to *launch* its kernels; the ``.gpu`` stage is the time the GPU
    spent between the two events. Without a CUDA device it records the wall
    time only. Creating one without torch installed raises
    ``MissingDependencyError``.
    """

    __slots__ = ("_start",)

    def __init__(self, name: str) -> None:
        super().__init__(name)
        _CUDA.load()
        self._start: Any = None

    def __enter__(self) -> gpu_stage:
        if _current.get() is not None and _CUDA.usable():
            try:
                start = _CUDA.torch.cuda.Event(enable_timing=True)
                start.record()
                self._start = start
            except Exception:  # a CUDA error must not reach the predict call
                self._start = None
        super().__enter__()  # the wall time, as stage keeps it
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        record = self._record
        super().__exit__(exc_type, exc, tb)  # the wall time, as stage records it
        start, self._start = self._start, None
        if record is not None and start is not None:
            try:
                end = _CUDA.torch.cuda.Event(enable_timing=True)
                end.record()
            except Exception:
                return
            PENDING.add(record, self.name, start, end)
