"""set_propensity: the propensity and exploration flag on the current record and its log line."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

import inferwatch
import inferwatch.feedback as feedback
from inferwatch.testing import MemorySink


def _dropped(mon: inferwatch.Monitor, reason: str) -> int:
    return int(mon.summary()["dropped"].get(reason, 0))


def test_logged_on_the_record_and_its_log_line(make_monitor: Any, sink: MemorySink) -> None:
    mon = make_monitor()
    answers: list[bool] = []

    @inferwatch.monitor(model="ranker", monitor=mon)
    def predict(x: int) -> int:
        answers.append(feedback.set_propensity(0.2 + 0.1 * x, explored=x % 2 == 1))
        return x * 10

    assert [predict(i) for i in range(4)] == [0, 10, 20, 30]
    mon.flush()
    assert answers == [True] * 4
    events = sorted(sink.events, key=lambda e: e["inferwatch.propensity"])
    assert [e["inferwatch.propensity"] for e in events] == pytest.approx([0.2, 0.3, 0.4, 0.5])
    assert [e["inferwatch.explored"] for e in events] == [False, True, False, True]


def test_the_target_probability_is_logged_and_bools_read_as_one_or_zero(
        make_monitor: Any, sink: MemorySink) -> None:
    mon = make_monitor()

    @inferwatch.monitor(model="ranker", monitor=mon)
    def predict(x: int) -> int:
        feedback.set_propensity(0.5, target=x == 1 if x < 2 else 0.25)
        return x

    for x in range(3):
        predict(x)
    mon.flush()
    events = sorted(sink.events, key=lambda e: e["prediction"])
    assert [e["inferwatch.target_probability"] for e in events] == [0.0, 1.0, 0.25]


def test_absent_unless_set(make_monitor: Any, sink: MemorySink) -> None:
    mon = make_monitor()

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        return x

    predict(1)
    mon.flush()
    assert sink.events and all("inferwatch.propensity" not in e and "inferwatch.explored" not in e
                               for e in sink.events)


def test_either_alone_and_later_calls_fill_in(make_monitor: Any, sink: MemorySink) -> None:
    mon = make_monitor()
    seen: list[Any] = []

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        feedback.set_propensity(explored=True)
        feedback.set_propensity(np.float32(0.5))  # numpy numbers and bools are fine
        feedback.set_propensity(explored=np.bool_(False))
        record = inferwatch.current_record()
        assert record is not None
        seen.append((record.propensity, record.explored))
        return x

    predict(1)
    mon.flush()
    assert seen == [(0.5, False)]
    assert sink.events[0]["inferwatch.propensity"] == 0.5
    assert sink.events[0]["inferwatch.explored"] is False


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.0000001, 2, float("nan"), float("inf"),
                                 "0.5", True, [0.5], np.array([0.5, 0.5]), object()])
def test_a_bad_propensity_is_dropped_and_counted_never_raised(
        make_monitor: Any, sink: MemorySink, bad: Any) -> None:
    mon = make_monitor()
    answers: list[bool] = []

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        answers.append(feedback.set_propensity(bad, explored=True))
        return x + 1

    assert predict(41) == 42
    mon.flush()
    assert answers == [False]
    assert _dropped(mon, "invalid_propensity") == 1
    event = sink.events[0]
    assert "inferwatch.propensity" not in event
    assert event["inferwatch.explored"] is True  # the good value is still kept


@pytest.mark.parametrize("bad", ["yes", 1, 0.0, None.__class__, [True]])
def test_a_bad_explored_flag_is_dropped_and_counted(make_monitor: Any, sink: MemorySink,
                                                    bad: Any) -> None:
    mon = make_monitor()

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        assert feedback.set_propensity(0.5, explored=bad) is False
        return x

    assert predict(3) == 3
    mon.flush()
    assert _dropped(mon, "invalid_explored") == 1
    assert sink.events[0]["inferwatch.propensity"] == 0.5
    assert "inferwatch.explored" not in sink.events[0]


def test_a_hostile_number_never_reaches_the_call(make_monitor: Any) -> None:
    class Hostile(float):
        def __float__(self) -> float:
            raise RuntimeError("no")

    mon = make_monitor()

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> int:
        feedback.set_propensity(Hostile(0.5))
        return x

    assert predict(5) == 5


def test_exceptions_and_results_are_unchanged(make_monitor: Any) -> None:
    mon = make_monitor()
    error = KeyError("boom")

    @inferwatch.monitor(model="m", monitor=mon)
    def predict(x: int) -> Any:
        feedback.set_propensity(0.25, explored=False)
        if x < 0:
            raise error
        return {"score": x}

    assert predict(2) == {"score": 2}
    with pytest.raises(KeyError) as caught:
        predict(-1)
    assert caught.value is error
    assert caught.value.__traceback__ is not None

    @inferwatch.monitor(model="m", monitor=mon)
    async def apredict(x: int) -> int:
        feedback.set_propensity(1.0)
        await asyncio.sleep(0)
        if x < 0:
            raise error
        return x

    assert asyncio.run(apredict(7)) == 7
    with pytest.raises(KeyError) as caught_async:
        asyncio.run(apredict(-1))
    assert caught_async.value is error


def test_outside_a_monitored_call_nothing_happens(make_monitor: Any) -> None:
    mon = make_monitor()
    assert feedback.set_propensity(0.5, explored=True) is False
    assert feedback.set_propensity(7.0) is False  # no record: not counted either
    assert _dropped(mon, "invalid_propensity") == 0
    assert feedback.set_propensity() is False


def test_counted_on_the_monitor_the_record_belongs_to(make_monitor: Any) -> None:
    first, second = make_monitor(), make_monitor()

    @inferwatch.monitor(model="a", monitor=second)
    def predict(x: int) -> int:
        feedback.set_propensity(-1)
        return x

    predict(1)
    predict(2)
    assert _dropped(second, "invalid_propensity") == 2
    assert _dropped(first, "invalid_propensity") == 0
