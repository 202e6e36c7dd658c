"""Blocking calls that must return within a timeout, on a reusable helper thread.

Flushes and shutdowns call backends that can block far past any deadline
they are given (an exporter retrying against a collector that accepts and
never answers, a pipe nobody reads). The caller must return on time all the
same, so the call runs on a helper thread and the caller waits for it at most
``timeout``. Starting a thread per call costs more than the call itself when
nothing is wrong (a flush after every batch), so the helper is kept and
reused; only a helper stuck in an earlier call is replaced (or, with
``one_at_a_time``, waited for).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from . import _forks

__all__ = ["BoundedCalls", "Outcome"]


class Outcome:
    """What became of one call: whether it ``finished`` in time, its ``value`` or ``error``."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self.done.is_set()

    @property
    def ok(self) -> bool:
        """Finished without raising, and did not answer ``False`` (a backend giving up)."""
        return self.done.is_set() and self.error is None and self.value is not False


_STOP = None  # handed to a helper replaced while stuck: it ends after its call
#: Seconds a helper waits for its next call before its thread ends.
IDLE_SECONDS = 10.0


class _Helper:
    """One daemon thread running calls from its queue, one after the other.

    It ends after ``IDLE_SECONDS`` without a call (an idle flusher costs
    nothing, and one whose owner is gone does not live on), or after its
    current call once replaced; the owner starts a fresh one when needed.
    """

    def __init__(self, name: str, lock: threading.Lock) -> None:
        self.jobs: queue.SimpleQueue[tuple[Callable[[], Any], Outcome] | None] = (
            queue.SimpleQueue())
        self.current: Outcome | None = None  # the call it runs or will run next
        self.ended = False  # set under the owner's lock: no job is taken after
        self._lock = lock
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    @property
    def busy(self) -> bool:
        current = self.current
        return current is not None and not current.finished

    def _loop(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self.jobs.empty():
                        self.ended = True
                        return
                continue
            if job is _STOP:
                return
            fn, outcome = job
            try:
                outcome.value = fn()
            except BaseException as exc:  # handed to the caller, never raised here
                outcome.error = exc
            finally:
                outcome.done.set()


class BoundedCalls:
    """Run blocking calls on a reusable helper thread; wait for each at most a timeout.

    A call that finds the helper still busy with an earlier one either waits
    for it within its own timeout and gives up if it is still busy
    (``one_at_a_time``: the backend never gets overlapping calls, as the OTel
    SDK's flush and shutdown want), or leaves the stuck helper to finish on
    its own and takes a fresh one (a flush must not wait behind a sink's stuck
    earlier flush). Either way at most one call waits in a helper's queue:
    nothing piles up behind a backend that never answers.
    """

    def __init__(self, name: str, *, one_at_a_time: bool = False) -> None:
        self._name = name
        self._one_at_a_time = one_at_a_time
        self._lock = threading.Lock()
        self._helper: _Helper | None = None
        _forks.register(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._helper = None  # the parent's helper thread does not exist here

    def run(self, fn: Callable[[], Any], timeout: float) -> Outcome:
        """Hand ``fn`` to the helper; return once it finished or ``timeout`` passed."""
        deadline = time.monotonic() + max(0.0, timeout)
        outcome = Outcome()
        while True:
            with self._lock:
                helper = self._helper
                earlier = helper.current if helper is not None and helper.busy else None
                if helper is None or helper.ended or (
                    earlier is not None and not self._one_at_a_time
                ):
                    if helper is not None and not helper.ended:
                        helper.jobs.put(_STOP)
                    helper = self._helper = _Helper(self._name, self._lock)
                    earlier = None
                if earlier is None:
                    helper.current = outcome
                    helper.jobs.put((fn, outcome))
                    break
            # One at a time and the helper is busy: wait for the earlier call.
            left = deadline - time.monotonic()
            if left <= 0 or not earlier.done.wait(left):
                return outcome  # never started: the earlier call still runs
        outcome.done.wait(max(0.0, deadline - time.monotonic()))
        return outcome

    def call(self, fn: Callable[[], Any], timeout: float) -> bool:
        """``run``, answered as whether the call finished in time and was ``ok``."""
        return self.run(fn, timeout).ok

