"""BoundedCalls: blocking calls on a reused helper thread, each waited for at most a timeout."""

from __future__ import annotations

import threading
import time

import pytest

from inferwatch import _bounded
from inferwatch._bounded import BoundedCalls


def test_calls_share_one_helper_thread_while_nothing_is_stuck() -> None:
    calls = BoundedCalls("test-reuse")
    idents = {calls.run(threading.get_ident, 2.0).value for _ in range(50)}
    assert len(idents) == 1
    assert threading.get_ident() not in idents


def test_errors_and_false_answers_come_back_as_outcomes_never_raised() -> None:
    calls = BoundedCalls("test-errors")

    def boom() -> None:
        raise KeyboardInterrupt  # even a BaseException stays on the helper

    outcome = calls.run(boom, 2.0)
    assert outcome.finished and isinstance(outcome.error, KeyboardInterrupt)
    assert not outcome.ok
    assert calls.call(lambda: False, 2.0) is False  # a backend that gave up
    assert calls.call(lambda: None, 2.0) is True
    assert calls.run(lambda: 42, 2.0).value == 42  # the helper survived the error


def test_a_stuck_call_is_left_behind_and_the_next_call_gets_a_fresh_helper() -> None:
    calls = BoundedCalls("test-stuck")
    release = threading.Event()
    started = time.monotonic()
    stuck = calls.run(lambda: release.wait(30), 0.2)
    assert not stuck.finished
    assert time.monotonic() - started < 2.0  # the caller returned at its timeout
    stuck_thread = calls._helper.thread if calls._helper else None
    fresh = calls.run(threading.get_ident, 2.0)
    assert fresh.ok
    assert stuck_thread is not None and fresh.value != stuck_thread.ident
    release.set()
    stuck_thread.join(5)
    assert stuck.ok
    assert not stuck_thread.is_alive()  # replaced: it ended after its call


def test_one_at_a_time_waits_for_the_earlier_call_and_never_queues_behind_a_stuck_one() -> None:
    calls = BoundedCalls("test-one", one_at_a_time=True)
    release = threading.Event()
    ran: list[int] = []
    first = calls.run(lambda: release.wait(30), 0.1)
    assert not first.finished
    for i in range(20):  # each gives up while the first still runs
        assert not calls.run(lambda i=i: ran.append(i), 0.05).finished
    release.set()
    assert calls.call(lambda: ran.append(99), 2.0)
    assert ran == [99]  # none of the calls that gave up ran later

    # An earlier call that ends within the next caller's timeout is waited for.
    slow = threading.Event()
    calls.run(lambda: slow.wait(0.3), 0.0)
    started = time.monotonic()
    assert calls.call(lambda: True, 5.0)
    assert 0.1 < time.monotonic() - started < 4.0


def test_concurrent_callers_never_overlap_when_one_at_a_time() -> None:
    calls = BoundedCalls("test-overlap", one_at_a_time=True)
    active = [0]
    overlapped = [False]
    guard = threading.Lock()

    def call() -> None:
        with guard:
            active[0] += 1
            overlapped[0] |= active[0] > 1
        time.sleep(0.002)
        with guard:
            active[0] -= 1

    threads = [threading.Thread(target=lambda: [calls.run(call, 5.0) for _ in range(20)])
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not overlapped[0]


def test_an_idle_helper_ends_and_a_later_call_starts_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_bounded, "IDLE_SECONDS", 0.05)
    calls = BoundedCalls("test-idle")
    for _ in range(30):  # calls landing around the moment a helper decides to end
        assert calls.call(lambda: True, 2.0)
        time.sleep(0.04 + 0.001 * (_ % 5))
    helper = calls._helper
    assert helper is not None
    helper.thread.join(2.0)
    assert not helper.thread.is_alive() and helper.ended
    assert calls.call(lambda: True, 2.0)
