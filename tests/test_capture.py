"""The monitor decorator and stage timer: what one call records, and that it never interferes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
import threading
from typing import Any

import numpy as np
import pytest

import inferwatch
from inferwatch.testing import capture


def test_sync_function_keeps_identity_and_records_one_call() -> None:
    with capture() as cap:

        @inferwatch.monitor(model="churn", version="3")
        def predict(x: float, *, scale: float = 2.0) -> float:
            """Doubles."""
            return x * scale

        assert predict(2.0) == 4.0
        assert predict.__name__ == "predict"
        assert predict.__doc__ == "Doubles."
        assert str(inspect.signature(predict)) == "(x: 'float', *, scale: 'float' = 2.0) -> 'float'"
        (record,) = cap.records
    assert record.endpoint.model_name == "churn"
    assert record.endpoint.model_version == "3"
    assert record.outcome == "ok"
    assert record.prediction == 4.0
    assert record.duration_ns > 0
    assert len(record.id) == 32


def test_async_function_is_a_coroutine_function_and_recorded() -> None:
    with capture() as cap:

        @inferwatch.monitor(model="m")
        async def predict(x: int) -> int:
            await asyncio.sleep(0)
            return x + 1

        assert inspect.iscoroutinefunction(predict)
        assert asyncio.run(predict(1)) == 2
        assert [r.prediction for r in cap.records] == [2]


def test_method_and_callable_object() -> None:
    class Model:
        classes_ = ("a", "b")

        @inferwatch.monitor(model="method", features="x")
        def predict(self, x: list[float]) -> str:
            return "a"

        def __call__(self, x: list[float]) -> str:
            return "b"

    with capture(feature_sample_rate=1.0) as cap:
        model = Model()
        assert model.predict([1.0, 2.0]) == "a"
        wrapped = inferwatch.monitor(Model(), model="callable", features="x")
        assert wrapped([3.0]) == "b"
        assert wrapped.classes_ == ("a", "b")  # the model's attributes stay reachable
        records = cap.records
    assert [r.endpoint.model_name for r in records] == ["method", "callable"]
    assert records[0].features == [1.0, 2.0]
    assert records[1].features == [3.0]


def test_bare_decorator_uses_function_name() -> None:
    with capture() as cap:

        @inferwatch.monitor
        def score(x: int) -> int:
            return x

        score(1)
        assert cap.records[0].endpoint.model_name.endswith("score")


def test_exception_propagates_unchanged_and_is_counted() -> None:
    boom = KeyError("missing")
    with capture() as cap:

        @inferwatch.monitor(model="m")
        def predict() -> None:
            raise boom

        with pytest.raises(KeyError) as info:
            predict()
        assert info.value is boom
        # The traceback still ends in the user's frame.
        frames = []
        tb = info.tb
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        assert frames[-1] == "predict"
        (record,) = cap.records
        assert record.outcome == "error"
        assert record.error_type == "KeyError"
        assert cap.value("inferwatch.predict.calls", inferwatch__outcome="error",
                         error__type="KeyError") == 1


def test_cancelled_calls_are_not_errors() -> None:
    with capture() as cap:

        @inferwatch.monitor(model="m")
        async def slow() -> None:
            await asyncio.sleep(10)

        async def main() -> None:
            task = asyncio.create_task(slow())
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        assert cap.records[0].outcome == "cancelled"


def test_features_are_snapshotted_against_later_mutation() -> None:
    with capture(feature_sample_rate=1.0) as cap:

        @inferwatch.monitor(model="m", features="x")
        def predict(x: Any) -> int:
            return 0

        row = {"age": 30, "city": "Oslo"}
        arr = np.array([[1.0, 2.0], [3.0, 4.0]])
        nested = {"emb": [0.1, 0.2]}
        predict(row)
        predict(arr)
        predict(nested)
        row["age"] = 99
        arr[:] = -1
        nested["emb"].append(9.9)
        records = cap.records
    assert records[0].features == {"age": 30, "city": "Oslo"}
    np.testing.assert_array_equal(records[1].features, [[1.0, 2.0], [3.0, 4.0]])
    assert records[1].batch_size == 2
    assert records[2].features == {"emb": [0.1, 0.2]}


def test_batch_predictions_count_rows() -> None:
    with capture() as cap:

        @inferwatch.monitor(model="m", features=lambda x: x, confidence=lambda y: y.max(axis=1))
        def predict(x: np.ndarray) -> np.ndarray:
            return np.tile([0.2, 0.8], (len(x), 1))

        predict(np.zeros((5, 20)))
        predict(np.zeros((3, 20)))
        assert cap.value("inferwatch.predict.predictions") == 8
        assert cap.value("inferwatch.predict.calls") == 2
        assert cap.value("inferwatch.prediction.classes", inferwatch__prediction__class="1") == 8
        confidence = cap.value("inferwatch.prediction.confidence")
        assert confidence.count == 8
        assert confidence.sum == pytest.approx(6.4)


def test_failing_extractors_are_counted_and_never_break_the_call() -> None:
    def bad(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("extractor bug")

    with capture() as cap:

        @inferwatch.monitor(model="m", features=bad, prediction=bad, confidence=bad,
                            batch_size=bad, inference_id=bad)
        def predict(x: int) -> int:
            return x * 3

        assert predict(5) == 15
        summary = cap.monitor.summary()
        assert summary["errors"] == {
            "batch_size_extractor": 1, "confidence_extractor": 0, "features_extractor": 1,
            "inference_id_extractor": 1, "prediction_extractor": 1,
        } or summary["errors"]["features_extractor"] == 1
        assert cap.value(
            "inferwatch.self.errors", inferwatch__component="prediction_extractor") == 1
        assert cap.value("inferwatch.predict.calls") == 1


def test_stage_times_nested_and_async_stages() -> None:
    with capture() as cap:

        @inferwatch.stage("postprocess")
        def post(y: int) -> int:
            return y + 1

        @inferwatch.monitor(model="m")
        async def predict(x: int) -> int:
            with inferwatch.stage("features"):
                x += 1
            async with inferwatch.stage("inference"):
                await asyncio.sleep(0.002)
            with inferwatch.stage("features"):  # re-entered: accumulates
                x += 1
            return post(x)

        assert asyncio.run(predict(1)) == 4
        (record,) = cap.records
    assert set(record.stages or {}) == {"features", "inference", "postprocess"}
    assert record.stages is not None and record.stages["inference"] >= 2_000_000
    assert record.duration_ns >= sum(record.stages.values())


def test_stage_outside_a_monitored_call_is_a_no_op() -> None:
    with inferwatch.stage("alone") as s:
        pass
    assert s.name == "alone"
    with pytest.raises(ValueError, match="non-empty name"):
        inferwatch.stage("")


def test_sixteen_threads_count_exactly() -> None:
    with capture(log_queue_size=100_000, max_records_per_second=1e9,
                 feature_sample_rate=1.0) as cap:

        @inferwatch.monitor(model="m", features="x")
        def predict(x: list[float]) -> float:
            if x[0] < 0:
                raise ValueError("negative")
            return sum(x)

        per_thread = 2000
        barrier = threading.Barrier(16)

        def worker(i: int) -> None:
            barrier.wait()
            for j in range(per_thread):
                with contextlib.suppress(ValueError):
                    predict([-1.0 if (i + j) % 10 == 0 else 1.0, 2.0])

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            sys.setswitchinterval(old)
        total = 16 * per_thread
        assert cap.value("inferwatch.predict.calls") == total
        assert cap.value("inferwatch.predict.calls", inferwatch__outcome="error") == total // 10
        assert cap.value("inferwatch.predict.in_flight") == 0
        assert len(cap.logs) == total, cap.monitor.summary()["dropped"]


def test_in_flight_counts_running_calls() -> None:
    started = threading.Event()
    release = threading.Event()
    with capture() as cap:

        @inferwatch.monitor(model="m")
        def predict() -> None:
            started.set()
            release.wait(5)

        t = threading.Thread(target=predict)
        t.start()
        started.wait(5)
        assert cap.value("inferwatch.predict.in_flight") == 1
        release.set()
        t.join()
        assert cap.value("inferwatch.predict.in_flight") == 0


def test_disabled_monitoring_runs_bare() -> None:
    with capture(enabled=False) as cap:

        @inferwatch.monitor(model="m")
        def predict(x: int) -> int:
            return x

        assert predict(3) == 3
        assert cap.records == []


def test_configure_after_decoration_takes_effect(make_monitor: Any) -> None:
    @inferwatch.monitor(model="late")
    def predict(x: int) -> int:
        return x

    first = make_monitor()
    second = make_monitor()
    inferwatch.set_monitor(first)
    predict(1)
    inferwatch.set_monitor(second)
    predict(2)
    predict(3)
    inferwatch.set_monitor(None)
    assert first.summary()["models"]["late:unversioned"]["calls"] == 1
    assert second.summary()["models"]["late:unversioned"]["calls"] == 2


def test_full_buffer_drops_detail_but_counts_every_call(make_monitor: Any) -> None:
    mon = make_monitor(buffer_size=16, flush_interval_ms=60000)
    seen: list[Any] = []
    mon.add_feature_consumer(seen.extend)

    @inferwatch.monitor(model="m", monitor=mon, features="x")
    def predict(x: int) -> int:
        if x % 10 == 0:
            raise ValueError("boom")
        return x

    results = []
    for i in range(100):
        try:
            results.append(predict(i))
        except ValueError:
            results.append(None)
    assert results == [None if i % 10 == 0 else i for i in range(100)]
    summary = mon.summary()
    assert summary["dropped"]["buffer_full"] == 84
    # Calls, errors and predictions are exact; only the detail of 84 records is gone.
    assert summary["models"]["m:unversioned"]["calls"] == 100
    assert summary["models"]["m:unversioned"]["errors"] == 10
    assert summary["models"]["m:unversioned"]["predictions"] == 100
    assert len(seen) == 16
    points = [p for p in mon.collect() if p.name == "inferwatch.predict.duration"]
    assert sum(p.value.count for p in points) == 100
    assert sum(p.value.count for p in points
               if p.attributes["inferwatch.outcome"] == "error") == 10


def test_byte_bound_drops_detail_but_counts_every_call(make_monitor: Any) -> None:
    # 64 KiB of features per call against a 256 KiB budget between drains.
    mon = make_monitor(buffer_bytes=256 * 1024, flush_interval_ms=60000,
                       feature_sample_rate=1.0)
    seen: list[Any] = []
    mon.add_feature_consumer(seen.extend)

    @inferwatch.monitor(model="m", monitor=mon, features="x")
    def predict(x: np.ndarray) -> float:
        return float(x[0])

    batch = np.zeros(8192)  # 64 KiB
    for _ in range(20):
        predict(batch)
    summary = mon.summary()
    assert summary["models"]["m:unversioned"]["calls"] == 20
    assert len(seen) == 20  # every record reaches the aggregator ...
    kept = [r for r in seen if r.features is not None]
    assert 1 <= len(kept) <= 5  # ... but only 256 KiB of copies between two drains
    assert summary["dropped"]["buffer_bytes_full"] == 20 - len(kept)


def test_oversized_features_and_predictions_are_not_copied(make_monitor: Any) -> None:
    mon = make_monitor(max_record_bytes=4096, feature_sample_rate=1.0)
    seen: list[Any] = []
    mon.add_feature_consumer(seen.extend)

    @inferwatch.monitor(model="m", monitor=mon, features="x")
    def predict(x: Any) -> np.ndarray:
        return np.ones(10_000)

    predict(np.zeros(10_000))
    predict({"image": np.zeros(10_000), "id": 1})
    predict([0.0] * 10_000)
    mon.flush()
    assert [r.features for r in seen] == [None, None, None]
    assert [r.prediction for r in seen] == [None, None, None]
    dropped = mon.summary()["dropped"]
    assert dropped["record_too_large"] == 3
    assert dropped["prediction_too_large"] == 3
    assert mon.summary()["models"]["m:unversioned"]["calls"] == 3


def test_features_parameter_must_exist() -> None:
    with pytest.raises(TypeError, match="not a parameter"):

        @inferwatch.monitor(features="nope")
        def predict(x: int) -> int:
            return x


def test_trace_ids_come_from_the_active_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    with capture() as cap:

        @inferwatch.monitor(model="m")
        def predict() -> int:
            return 1

        with tracer.start_as_current_span("request") as span:
            predict()
        predict()
        records = cap.records
    ctx = span.get_span_context()
    assert records[0].trace_id == ctx.trace_id
    assert records[0].span_id == ctx.span_id
    assert records[1].trace_id == 0


def test_generator_functions_are_refused_with_a_clear_error() -> None:
    with pytest.raises(TypeError, match="generator function"):

        @inferwatch.monitor(model="m")
        def stream(x: int) -> Any:
            yield x

    with pytest.raises(TypeError, match="generator function"):

        @inferwatch.monitor(model="m")
        async def astream(x: int) -> Any:
            yield x


def test_an_uncopyable_result_is_counted_and_the_call_still_recorded() -> None:
    class Uncopyable:
        def __deepcopy__(self, memo: Any) -> Any:
            raise TypeError("no copies")

    result = Uncopyable()
    with capture() as cap:

        @inferwatch.monitor(model="m")
        def predict() -> Any:
            return result

        assert predict() is result
        (record,) = cap.records
        assert record.prediction is None
        assert cap.value("inferwatch.self.errors", inferwatch__component="prediction_snapshot") == 1


def test_bad_per_call_attributes_are_counted_and_survived() -> None:
    with capture() as cap:

        @inferwatch.monitor(model="m")
        def predict(x: int) -> dict[str, int]:
            record = inferwatch.current_record()
            assert record is not None
            record.attributes = ["not", "a", "mapping"]  # type: ignore[assignment]
            return {"a": x}  # an unsupported prediction type, also survived

        assert predict(1) == {"a": 1}
        assert predict(2) == {"a": 2}
        assert cap.value("inferwatch.predict.calls") == 2
        assert cap.value("inferwatch.self.errors", inferwatch__component="record_attributes") == 2
        assert cap.value("inferwatch.self.errors", inferwatch__component="prediction_type") == 2


# -- which calls copy their features ------------------------------------------


def _feature_events(sink: Any) -> list[dict[str, Any]]:
    return [e for e in sink.events if e.get("model.name") == "fp"]


def test_features_are_copied_only_for_records_the_log_will_keep(
    make_monitor: Any, sink: Any
) -> None:
    # Half the ordinary records with features are logged: the other half must
    # not pay for a copy, yet still be sampled as records carrying features.
    # The aggregator stays idle, so every record is still in the queue to inspect.
    mon = make_monitor(feature_sample_rate=0.5, sample_rate=1.0, flush_interval_ms=60000)
    assert mon._features_copy is None

    @inferwatch.monitor(model="fp", features="x", monitor=mon)
    def predict(x: Any) -> int:
        return 1

    seen: list[Any] = []
    for i in range(400):
        row = {"i": i}
        seen.append(row)
        predict(row)
    for row in seen:  # mutated after the calls: logged copies must not change
        row["i"] = -1
    pending = list(mon._queue)
    mon.flush()
    events = _feature_events(sink)
    assert all(r.has_features for r in pending)
    assert sum(r.features is not None for r in pending) == len(events)
    # Deterministic 50 % sample: binomial(400, 0.5) lies in [140, 260] with
    # probability 1 - 2e-9.
    assert 140 <= len(events) <= 260
    assert all(e["features"]["i"] >= 0 for e in events)
    assert all(e["sampling.rule"] == "rate" and e["sampling.adjusted_count"] == 2.0 for e in events)
    counts = mon._sampler.counts
    assert counts[("rate", "kept")] == len(events)
    assert counts[("rate", "sampled_out")] == 400 - len(events)


def test_errors_keep_their_features_copied_after_the_call(make_monitor: Any, sink: Any) -> None:
    mon = make_monitor(feature_sample_rate=0.0)  # no ordinary record is logged

    @inferwatch.monitor(model="fp", features="x", monitor=mon)
    def predict(x: Any) -> int:
        if x["bad"]:
            raise ValueError("bad row")
        return 1

    predict({"bad": False, "v": 1})
    row = {"bad": True, "v": 2}
    with pytest.raises(ValueError):
        predict(row)
    row["v"] = 3  # after the call: the log keeps the value the call saw
    mon.flush()
    (event,) = _feature_events(sink)
    assert event["sampling.rule"] == "error"
    assert event["features"] == {"bad": True, "v": 2}


def test_slow_calls_keep_their_features(make_monitor: Any, sink: Any) -> None:
    mon = make_monitor(feature_sample_rate=0.0, slow_threshold_ms=0.0)

    @inferwatch.monitor(model="fp", features="x", monitor=mon)
    def predict(x: Any) -> int:
        return 1

    predict([1.0, 2.0])
    mon.flush()
    (event,) = _feature_events(sink)
    assert event["sampling.rule"] == "slow"
    assert event["features"] == [1.0, 2.0]


def test_a_feature_consumer_sees_every_call_copied_before_it_runs(make_monitor: Any) -> None:
    mon = make_monitor(feature_sample_rate=0.0, log_sink="none")
    assert mon._features_copy is False
    got: list[Any] = []
    mon.add_feature_consumer(got.extend)
    assert mon._features_copy is True

    @inferwatch.monitor(model="fp", features="x", monitor=mon)
    def predict(x: np.ndarray) -> float:
        x *= 2.0  # a model normalising its input in place
        return float(x.sum())

    arrays = [np.full((2, 3), float(i)) for i in range(5)]
    for arr in arrays:
        predict(arr)
    mon.flush()
    assert [r.batch_size for r in got] == [2] * 5
    for i, record in enumerate(got):
        np.testing.assert_array_equal(record.features, np.full((2, 3), float(i)))


def test_uncopied_features_still_give_the_batch_size(make_monitor: Any) -> None:
    mon = make_monitor(feature_sample_rate=0.0, log_sink="none")
    assert mon._features_copy is False

    @inferwatch.monitor(model="fp", features="x", monitor=mon)
    def predict(x: Any) -> int:
        return 1

    predict(np.zeros((7, 3)))
    predict([{"a": 1}, {"a": 2}])
    predict({"a": 1})
    mon.flush()
    (point,) = [p for p in mon.collect() if p.name == "inferwatch.predict.batch_size"]
    assert point.value.sum == 7 + 2 + 1


def test_low_confidence_calls_keep_their_features(make_monitor: Any, sink: Any) -> None:
    mon = make_monitor(feature_sample_rate=0.0, low_confidence_threshold=0.5)

    @inferwatch.monitor(model="fp", features="x", confidence=lambda y: y, monitor=mon)
    def predict(x: Any) -> float:
        return float(x["p"])

    predict({"p": 0.9})
    predict({"p": 0.2})
    mon.flush()
    (event,) = _feature_events(sink)
    assert event["sampling.rule"] == "low_confidence"
    assert event["features"] == {"p": 0.2}
