"""Property tests: ``@inferwatch.monitor`` is transparent whatever it is handed.

For arguments, features, predictions and confidences of any shape and type
(nested containers, numpy arrays of every dtype including object, bytes that
are not UTF-8, huge and empty values, NaN and inf, objects whose dunder
methods raise, BaseException included) the wrapped call must behave exactly
as the bare call: the same result object, the same exception object with the
same traceback below the wrapper, nothing raised out of inferwatch (not even
by ``flush``, ``collect`` or the log rendering), and every call counted in
``inferwatch.predict.calls``. A bad value may cost its own record's detail,
never another record's (issue 8, defect 8): well-behaved calls made in the
same drain batch keep their counts, prediction values and log lines.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from fuzz.hostile import (
    DUNDERS,
    EXCEPTION_TYPES,
    Hostile,
    HostileBase,
    hostile_settings,
    make_hostile,
    model_exceptions,
    realize,
    values,
)
from hypothesis import assume, given
from hypothesis import strategies as st

import inferwatch
from inferwatch.logsinks._base import JsonLinesRenderer
from inferwatch.testing import MemorySink, capture

#: Defects found by these tests and still open (see /tmp/team/hostile_failing.md):
#: each is left out of the property and pinned by a strict xfail test below,
#: which starts failing (XPASS) the day it is fixed: then drop it from here.
OPEN_DEFECTS: frozenset[str] = frozenset()

#: Examples per property (reported in the README's Reliability section).
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "1000"))

_Outcome = tuple[str, Any, list[tuple[str, str, int]]]
#: No inference_id extractor (a sentinel: None is a value the extractor may return).
NO_ID = "<no inference_id extractor>"


# -- helpers ------------------------------------------------------------------------


def make_hostile_exception(exc_type: type[BaseException]) -> BaseException:
    """An exception whose ``__str__`` and ``__repr__`` raise ``exc_type``."""
    built: BaseException = Hostile("exception", frozenset(), exc_type).build()
    return built


#: Options that make a monitor log every record and copy every call's features.
LOG_ALL = {"sample_rate": 1.0, "feature_sample_rate": 1.0, "max_records_per_second": 1e9}
#: The background aggregator waits a minute between drains, so an example's calls
#: are drained by its own flush, in one batch: a bad value that poisons its batch
#: fails every time, not only when the thread happens to drain mid-example.
ONE_BATCH = {"flush_interval_ms": 60_000}
#: LOG_ALL with PII handling on: hostile values go through pseudonymising and scrubbing.
PII = {**LOG_ALL, "pii_fields": ["email", "segment", "x", "payload"], "pii_key": "k" * 40,
       "pii_detectors": ["email", "phone"], "drop_fields": ["variant"]}


@contextmanager
def fresh_monitor(kind: str) -> Iterator[tuple[inferwatch.Monitor, MemorySink]]:
    """A fresh monitor: ``capture()``'s (production defaults), ``capture()`` logging
    every record (every call copies its features), the same with PII handling, or a
    plain ``Monitor``."""
    if kind in ("capture", "log_all", "pii"):
        options = {"capture": {}, "log_all": LOG_ALL, "pii": PII}[kind]
        with capture(**options, **ONE_BATCH) as cap:  # type: ignore[arg-type]
            yield cap.monitor, cap._sink
        return
    sink = MemorySink()
    mon = inferwatch.Monitor(log_sink=sink, environ={}, metrics_exporter="none", **ONE_BATCH)
    try:
        yield mon, sink
    finally:
        mon.shutdown()


def _near_float_limit(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` holds a finite float whose sum with another may overflow."""
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return math.isfinite(v) and abs(v) > 1e300
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.dtype.itemsize >= 8:
        finite = value[np.isfinite(value)].astype(np.float64)
        return bool(finite.size and np.abs(finite).max() > 1e300)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return any(_near_float_limit(v, depth + 1) for v in value.ravel().tolist())
    if type(value) in (list, tuple) and depth < 50:
        return any(_near_float_limit(v, depth + 1) for v in value)
    if type(value) is dict and depth < 50:
        return any(_near_float_limit(v, depth + 1) for v in value.values())
    return False


def _frames(exc: BaseException) -> list[tuple[str, str, int]]:
    return [(f.filename, f.name, f.lineno or 0) for f in traceback.extract_tb(exc.__traceback__)]


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
          is_async: bool) -> _Outcome:
    """Run ``fn`` once, returning ("ok", result, []) or ("raised", exc, frames)."""
    if is_async:
        # The outcome is kept out of the task's result: asyncio may repr a
        # finished task, and with it a hostile result.
        box: list[_Outcome] = []

        async def main() -> None:
            try:
                box.append(("ok", await fn(*args, **kwargs), []))
            except BaseException as exc:  # compare exactly what escapes
                box.append(("raised", exc, _frames(exc)))

        asyncio.run(main())
        return box[0]
    try:
        return ("ok", fn(*args, **kwargs), [])
    except BaseException as exc:  # compare exactly what escapes
        return ("raised", exc, _frames(exc))


def _points(mon: inferwatch.Monitor, name: str, model: str) -> list[Any]:
    return [p for p in mon.collect() if p.name == name and p.attributes.get("model.name") == model]


def _total(points: list[Any]) -> int:
    return sum(int(p.value) for p in points)


def _self_losses(mon: inferwatch.Monitor) -> int:
    return sum(
        int(p.value) for p in mon.collect()
        if p.name in ("inferwatch.self.errors", "inferwatch.self.dropped")
    )


def _check_renders(events: list[dict[str, Any]]) -> None:
    """Every event renders to valid UTF-8 JSON lines, with orjson and with the stdlib."""
    for use_orjson in (True, False):
        data, failed = JsonLinesRenderer(use_orjson=use_orjson).render(events)
        assert failed == 0
        text = data.decode("utf-8")  # strict: every line valid UTF-8
        # Split on newlines only: U+0085 or U+2028 inside a string are not line ends.
        lines = text.split("\n")
        assert lines.pop() == ""
        assert len(lines) == len(events)
        for line in lines:
            json.loads(line)


def _make_target(kind: str, outcome: Callable[[], Any]) -> Any:
    if kind == "async":
        async def apredict(x: Any, *args: Any, **kwargs: Any) -> Any:
            return outcome()

        return apredict
    if kind == "callable":
        class Model:
            def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
                return outcome()

        return Model()

    def predict(x: Any, *args: Any, **kwargs: Any) -> Any:
        return outcome()

    return predict


# -- the property -----------------------------------------------------------------------


@hostile_settings(EXAMPLES)
@given(
    config=st.sampled_from(["log_all", "capture", "monitor", "pii"]),
    kind=st.sampled_from(["sync", "async", "callable"]),
    features=values(),
    args=st.lists(values(), max_size=2),
    kwargs=st.dictionaries(st.sampled_from(["a", "b", "payload"]), values(), max_size=2),
    prediction=values(),
    confidence=values(),
    raised=st.none() | model_exceptions(
        unprintable_base="unprintable_base_exception" not in OPEN_DEFECTS),
    extractors=st.booleans(),
    calls=st.integers(1, 3),
    good_calls=st.integers(1, 4),
    hostile_first=st.booleans(),
    as_keyword=st.booleans(),
    attributes=st.dictionaries(st.sampled_from(["variant", "segment", "email", "ü\ud800"]),
                               values(), max_size=2),
    inference_id=st.one_of(st.just(NO_ID), st.text(st.characters(codec=None)), st.none(),
                           values() if "caller_id_not_str" not in OPEN_DEFECTS else st.nothing()),
)
def test_wrapped_call_is_the_bare_call(
    config: str, kind: str, features: Any, args: list[Any], kwargs: dict[str, Any],
    prediction: Any, confidence: Any, raised: BaseException | None, extractors: bool,
    calls: int, good_calls: int, hostile_first: bool, as_keyword: bool,
    attributes: dict[str, Any], inference_id: Any,
) -> None:
    features, args, kwargs = realize(features), realize(args), realize(kwargs)
    prediction, confidence, raised = realize(prediction), realize(confidence), realize(raised)
    attributes, inference_id = realize(attributes), realize(inference_id)
    if "huge_float_sum" in OPEN_DEFECTS:
        assume(not (_near_float_limit(prediction) or _near_float_limit(confidence)))

    def outcome() -> Any:
        if attributes:  # per-call attributes, set from inside the call
            inferwatch.set_attributes(attributes)  # False outside a monitored call
        if raised is not None:
            raise raised
        return prediction

    target = _make_target(kind, outcome)
    is_async = kind == "async"
    if as_keyword:  # the features parameter passed by name
        call_args: tuple[Any, ...] = tuple(args)
        kwargs = {**kwargs, "x": features}
        if args:  # x must stay the first parameter: pass it by name only without extras
            call_args, kwargs = (), {"x": features}
    else:
        call_args = (features, *args)

    bare = []
    for _ in range(calls):
        bare.append(_call(target, call_args, kwargs, is_async))
        if raised is not None:  # a re-raised exception would grow its traceback
            raised.__traceback__ = None

    with fresh_monitor(config) as (mon, sink):
        options: dict[str, Any] = {"model": "hostile", "monitor": mon, "confidence": (
            lambda y: confidence)}
        if inference_id is not NO_ID:
            options["inference_id"] = lambda *a, **k: inference_id
        if extractors:
            options["features"] = lambda x, *a, **k: x
            options["prediction"] = lambda y: y
            options["batch_size"] = lambda x, *a, **k: len(x)
        else:
            options["features"] = "x"
        wrapped = inferwatch.monitor(**options)(target)

        @inferwatch.monitor(model="good", features="x", monitor=mon)
        def good(x: Any) -> float:
            return 0.5

        seen = []
        for i in range(max(calls, good_calls)):  # interleaved: one drain batch, mixed
            if i < good_calls and not hostile_first:
                assert good([1.0, 2.0]) == 0.5
            if i < calls:
                seen.append(_call(wrapped, call_args, kwargs, is_async))
                if raised is not None:
                    raised.__traceback__ = None
            if i < good_calls and hostile_first:
                assert good([1.0, 2.0]) == 0.5

        for (b_kind, b_value, b_frames), (w_kind, w_value, w_frames) in zip(
            bare, seen, strict=True
        ):
            assert w_kind == b_kind
            assert w_value is b_value  # the same object, returned or raised
            if b_kind == "raised":
                # Same frames from the model down; only the wrapper's own frames above.
                below = b_frames[1:]
                assert w_frames[len(w_frames) - len(below):] == below
                assert w_frames[0][1] == b_frames[0][1]
                assert all("inferwatch" in f[0] for f in w_frames[1:len(w_frames) - len(below)])
                assert w_value.__cause__ is None and w_value.__context__ is None
                assert getattr(w_value, "__notes__", None) is None

        mon.flush()  # must not raise, whatever the records hold
        hostile_calls = _points(mon, "inferwatch.predict.calls", "hostile")
        assert _total(hostile_calls) == calls
        failed = sum(int(p.value) for p in hostile_calls
                     if p.attributes.get("inferwatch.outcome") != "ok")
        assert failed == (calls if raised is not None else 0)

        # The well-behaved calls in the same batches lost nothing.
        assert _total(_points(mon, "inferwatch.predict.calls", "good")) == good_calls
        assert _total(_points(mon, "inferwatch.predict.predictions", "good")) == good_calls
        values_hist = _points(mon, "inferwatch.prediction.value", "good")
        assert sum(p.value.count for p in values_hist) == good_calls
        # Every record got a sampling decision, or its loss was counted.
        decided = sum(int(p.value) for p in mon.collect() if p.name == "inferwatch.log.records")
        assert decided == calls + good_calls or _self_losses(mon) > 0
        events = list(sink.events)
        if config in ("log_all", "pii"):  # every record is logged
            good_events = [e for e in events if e.get("model.name") == "good"]
            assert len(good_events) == good_calls
            assert all(e.get("prediction") == 0.5 for e in good_events)
            hostile_events = [e for e in events if e.get("model.name") == "hostile"]
            if len(hostile_events) < calls:  # a lost log line is counted, never silent
                assert _self_losses(mon) > 0
        _check_renders(events)


# -- each bad value is counted ------------------------------------------------------------


@pytest.mark.parametrize("exc_type", EXCEPTION_TYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("dunder", ["__deepcopy__", "__getattr__", "__getattribute__"])
def test_uncopyable_features_are_counted_and_survived(dunder: str, exc_type: type) -> None:
    """Features that cannot be read cost their record's detail at most; the call runs."""
    bad = make_hostile(frozenset({dunder}), exc_type)
    ran = []
    with capture(**LOG_ALL) as cap:
        @inferwatch.monitor(model="m", features="x", monitor=cap.monitor)
        def predict(x: Any) -> float:
            ran.append(x)
            return 1.0

        assert predict(bad) == 1.0
        assert ran == [bad]
        logs = cap.logs  # renders the record: must not raise
        assert cap.value("inferwatch.predict.calls", model__name="m") == 1
        # Logged (features marked as not renderable) or its loss counted.
        assert len(logs) == 1 or _self_losses(cap.monitor) >= 1
        _check_renders(logs)


@pytest.mark.parametrize("exc_type", EXCEPTION_TYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("dunder", ["__deepcopy__", "__array__", "__repr__"])
def test_unreadable_predictions_are_counted_and_survived(dunder: str, exc_type: type) -> None:
    bad = make_hostile(frozenset({dunder}), exc_type)
    with capture(**LOG_ALL) as cap:
        @inferwatch.monitor(model="m", monitor=cap.monitor)
        def predict() -> Any:
            return bad

        assert predict() is bad
        logs = cap.logs  # renders the record: must not raise
        assert cap.value("inferwatch.predict.calls", model__name="m") == 1
        assert len(logs) == 1 or _self_losses(cap.monitor) >= 1
        _check_renders(logs)


@pytest.mark.parametrize("exc_type", EXCEPTION_TYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize(
    "option", ["features", "prediction", "confidence", "batch_size", "inference_id"])
def test_an_extractor_that_raises_is_counted_and_contained(option: str, exc_type: type) -> None:
    def extractor(*args: Any, **kwargs: Any) -> Any:
        raise exc_type("extractor")

    with capture(**LOG_ALL) as cap:
        @inferwatch.monitor(model="m", monitor=cap.monitor, **{option: extractor})
        def predict(x: Any) -> float:
            return 1.0

        assert predict(1) == 1.0
        cap.monitor.flush()
        assert cap.value("inferwatch.predict.calls", model__name="m") == 1
        assert cap.value("inferwatch.self.errors",
                         inferwatch__component=f"{option}_extractor") == 1


@pytest.mark.xfail(
    "huge_float_sum" in OPEN_DEFECTS, strict=True,
    reason="open: summing predictions near the float limit warns (overflow in reduce), which "
           "under warnings-as-errors loses the whole drain batch",
)
def test_predictions_near_the_float_limit_do_not_poison_their_batch() -> None:
    # The suite runs with warnings as errors (pyproject filterwarnings), as many users do.
    with capture(**LOG_ALL, **ONE_BATCH) as cap:  # type: ignore[arg-type]
        @inferwatch.monitor(model="huge", monitor=cap.monitor)
        def huge() -> float:
            return 8.98846567431158e307

        @inferwatch.monitor(model="good", monitor=cap.monitor)
        def good() -> float:
            return 0.5

        huge()
        huge()
        good()
        cap.monitor.flush()
        assert cap.value("inferwatch.predict.calls", model__name="good") == 1
        assert cap.value("inferwatch.prediction.value", model__name="good").count == 1


def test_non_ascii_bytes_prediction_does_not_poison_its_batch() -> None:
    """Issue 8, defect 8: one bytes prediction lost every later record of its batch."""
    with capture() as cap:
        @inferwatch.monitor(model="bytes", monitor=cap.monitor)
        def as_bytes() -> bytes:
            return "Grüße".encode()

        @inferwatch.monitor(model="float", monitor=cap.monitor)
        def as_float() -> float:
            return 0.25

        for _ in range(5):
            as_bytes()
            as_float()
        cap.monitor.flush()
        assert cap.value("inferwatch.predict.calls", model__name="bytes") == 5
        assert cap.value("inferwatch.predict.calls", model__name="float") == 5
        assert cap.value("inferwatch.prediction.value", model__name="float").count == 5


@pytest.mark.xfail(
    "unprintable_base_exception" in OPEN_DEFECTS, strict=True,
    reason="open: _record.set_error catches only Exception around str(exc); the call is lost",
)
def test_model_exception_with_unprintable_message_is_counted() -> None:
    """A model's exception whose ``__str__`` raises a BaseException still counts as an error."""
    err = make_hostile_exception(HostileBase)
    with capture(**LOG_ALL) as cap:
        @inferwatch.monitor(model="m", monitor=cap.monitor)
        def predict() -> None:
            raise err

        with pytest.raises(BaseException) as caught:
            predict()
        assert caught.value is err
        cap.monitor.flush()
        assert cap.value("inferwatch.predict.calls", model__name="m",
                         inferwatch__outcome="error") == 1


@pytest.mark.xfail(
    "caller_id_not_str" in OPEN_DEFECTS, strict=True,
    reason="open: a non-str id from inference_id= loses the event's core fields (model.name, ...)",
)
def test_a_caller_id_that_is_not_text_keeps_the_event_whole() -> None:
    deep: Any = 1.0
    for _ in range(3000):
        deep = [deep]
    with capture(**LOG_ALL) as cap:
        @inferwatch.monitor(model="m", monitor=cap.monitor, inference_id=lambda: deep)
        def predict() -> float:
            return 1.0

        predict()
        (event,) = cap.logs
        assert event.get("model.name") == "m" and event.get("outcome") == "ok"
        assert isinstance(event.get("inference.id"), str)


@pytest.mark.xfail(
    "render_errors_not_exported" in OPEN_DEFECTS, strict=True,
    reason="open: fields replaced by <unrenderable> markers are not in inferwatch.self.errors",
)
def test_a_field_that_cannot_be_rendered_is_a_counted_self_error() -> None:
    with capture(**LOG_ALL) as cap:
        @inferwatch.monitor(model="m", monitor=cap.monitor)
        def predict() -> float:
            record = inferwatch.current_record()
            assert record is not None
            record.attributes = 5  # type: ignore[assignment] - not a mapping: cannot render
            return 1.0

        predict()
        (event,) = cap.logs
        assert event.get("inferwatch.render_errors") == 1  # marked in the event
        errors = {p.attributes.get("inferwatch.component"): int(p.value)
                  for p in cap.monitor.collect() if p.name == "inferwatch.self.errors"}
        # Two failures survived: aggregation dropped the attributes, rendering marked them.
        assert errors.pop("record_attributes", 0) == 1
        assert sum(errors.values()) >= 1, errors


def test_dunders_cover_the_brief() -> None:
    assert {"__len__", "__iter__", "__getattr__", "__array__", "__repr__", "__copy__",
            "__deepcopy__"} <= set(DUNDERS)
