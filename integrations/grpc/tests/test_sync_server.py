"""InferenceInterceptor on a real grpc.server over loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

import inferwatch
from demo_service import SERVICE, Boom, dumps, loads, sizes, sync_handler, sync_server
from inferwatch_grpc import InferenceInterceptor
from recording import Recorded as Capture
from recording import capture

pytestmark = pytest.mark.network

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    with sync_server(sync_handler(), _health_handler(), interceptors=[InferenceInterceptor()],
                     workers=8) as channel:
        yield channel


def _health_handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(lambda r, c: r)}
    )


def _call(channel: grpc.Channel, kind: str, request: Any, **kw: Any) -> Any:
    method = f"/{SERVICE}/{kind}"
    ser: dict[str, Any] = {"request_serializer": dumps, "response_deserializer": loads}
    if kind == "UnaryUnary":
        return channel.unary_unary(method, **ser)(request, timeout=TIMEOUT, **kw)
    if kind == "UnaryStream":
        return list(channel.unary_stream(method, **ser)(request, timeout=TIMEOUT, **kw))
    if kind == "StreamUnary":
        return channel.stream_unary(method, **ser)(iter(request), timeout=TIMEOUT, **kw)
    return list(channel.stream_stream(method, **ser)(iter(request), timeout=TIMEOUT, **kw))


def _only_record(cap: Capture) -> inferwatch.InferenceRecord:
    records = cap.records
    assert len(records) == 1, records
    return records[0]


def test_unary_unary(channel: grpc.Channel) -> None:
    request = {"x": [1, 2], "pad": 5}
    with capture() as cap:
        response = _call(channel, "UnaryUnary", request)
        record = _only_record(cap)
        hist = cap.value(
            "rpc.server.call.duration",
            rpc__method="demo.Model/UnaryUnary",
            rpc__response__status_code="OK",
            rpc__system__name="grpc",
        )
    assert response == {"echo": [1, 2], "pad": "ppppp"}
    http = record.http
    assert http is not None
    assert (http.system, http.route, http.status_code) == ("grpc", "/demo.Model/UnaryUnary", "OK")
    assert http.request_size == len(dumps(request))
    assert http.response_size == len(dumps(response))
    assert http.ttfb_ns is None
    assert 0 < http.duration_ns == record.duration_ns
    assert record.outcome == "ok"
    assert record.endpoint.model_name == "demo.Model"
    assert len(record.id) == 32
    int(record.id, 16)
    assert hist is not None and hist.count == 1


def test_unary_stream(channel: grpc.Channel) -> None:
    request = {"x": [1], "n": 4}
    with capture() as cap:
        responses = _call(channel, "UnaryStream", request)
        record = _only_record(cap)
    http = record.http
    assert http is not None
    assert len(responses) == 4
    assert http.status_code == "OK"
    assert http.request_size == len(dumps(request))
    assert http.response_size == sizes(responses)
    assert http.ttfb_ns is not None and 0 < http.ttfb_ns <= http.duration_ns


def test_stream_unary(channel: grpc.Channel) -> None:
    requests = [{"x": [i] * i} for i in range(5)]
    with capture() as cap:
        response = _call(channel, "StreamUnary", requests)
        record = _only_record(cap)
    http = record.http
    assert http is not None
    assert response["count"] == 5
    assert (http.status_code, http.request_size) == ("OK", sizes(requests))
    assert http.response_size == len(dumps(response))


def test_stream_stream(channel: grpc.Channel) -> None:
    requests = [{"x": [i], "pad": i} for i in range(6)]
    with capture() as cap:
        responses = _call(channel, "StreamStream", requests)
        record = _only_record(cap)
    http = record.http
    assert http is not None
    assert len(responses) == 6
    assert (http.request_size, http.response_size) == (sizes(requests), sizes(responses))
    assert http.ttfb_ns is not None


KINDS = ["UnaryUnary", "UnaryStream", "StreamUnary", "StreamStream"]


def _request(kind: str, op: str) -> Any:
    return [{"op": op}] if kind.startswith("Stream") else {"op": op}


@pytest.mark.parametrize("kind", KINDS)
def test_abort_maps_to_its_status(channel: grpc.Channel, kind: str) -> None:
    with capture() as cap:
        with pytest.raises(grpc.RpcError) as info:
            _call(channel, kind, _request(kind, "abort"))
        record = _only_record(cap)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "x must be a list"
    assert record.http is not None and record.http.status_code == "INVALID_ARGUMENT"
    assert record.outcome == "ok"  # the request was bad, not the server
    assert record.error_type is None


@pytest.mark.parametrize("kind", KINDS)
def test_unexpected_exception_is_unknown_and_propagates(
    channel: grpc.Channel, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    with capture() as cap:
        with pytest.raises(grpc.RpcError) as info:
            _call(channel, kind, _request(kind, "boom"))
        record = _only_record(cap)
    # grpc's own handling saw the servicer's exception, unchanged.
    assert info.value.code() is grpc.StatusCode.UNKNOWN
    assert "servicer bug" in (info.value.details() or "")
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert any(isinstance(exc, Boom) for exc in logged)
    assert record.http is not None and record.http.status_code == "UNKNOWN"
    assert (record.outcome, record.error_type, record.error_message) == (
        "error", "Boom", "servicer bug"
    )


def test_request_id_from_metadata(channel: grpc.Channel) -> None:
    with capture() as cap:
        _call(channel, "UnaryUnary", {"x": []}, metadata=(("x-request-id", "req-42"),))
        record = _only_record(cap)
        logs = cap.logs
    assert record.id == "req-42"
    assert logs[0]["inference.id"] == "req-42"
    assert logs[0]["rpc.method"] == "demo.Model/UnaryUnary"


def test_monitored_predict_joins_the_rpc_record(channel: grpc.Channel) -> None:
    with capture() as cap:
        response = _call(channel, "UnaryUnary", {"op": "monitored", "x": [1, 2, 3]},
                         metadata=(("x-request-id", "joined"),))
        record = _only_record(cap)
    assert response == {"score": 3.0}
    assert (record.endpoint.model_name, record.endpoint.model_version) == ("scorer", "7")
    assert record.prediction == 3.0
    assert record.id == "joined"
    assert record.http is not None and record.http.route == "/demo.Model/UnaryUnary"
    assert record.http.status_code == "OK"


def test_concurrent_calls_keep_their_own_sizes_and_ids(channel: grpc.Channel) -> None:
    n = 64
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            kind = KINDS[i % 4]
            body = {"x": [i] * (i % 7), "pad": i * 3}
            _call(channel, kind, [body] if kind.startswith("Stream") else body,
                  metadata=(("x-request-id", f"r{i}"),))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    with capture() as cap:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        records = cap.records
    assert not errors
    assert len(records) == n
    for record in records:
        i = int(record.id[1:])
        kind = KINDS[i % 4]
        body = {"x": [i] * (i % 7), "pad": i * 3}
        answer = {"echo": body["x"], "pad": "p" * (i * 3)}
        if kind == "UnaryStream":
            expected = sizes({"i": k, **answer} for k in range(3))
        elif kind == "StreamUnary":
            expected = len(dumps({"count": 1, **answer}))
        else:
            expected = len(dumps(answer))
        assert record.http is not None
        assert record.http.route == f"/{SERVICE}/{kind}"
        assert record.http.request_size == len(dumps(body))
        assert record.http.response_size == expected


def test_health_checks_are_not_recorded(channel: grpc.Channel) -> None:
    with capture() as cap:
        check: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/grpc.health.v1.Health/Check"
        )
        assert check(b"ping", timeout=TIMEOUT) == b"ping"
        assert cap.records == []


def test_disabled_monitor_passes_calls_through(channel: grpc.Channel) -> None:
    with capture(enabled=False) as cap:
        assert _call(channel, "UnaryUnary", {"x": [1]}) == {"echo": [1], "pad": ""}
        assert cap.records == []


def _record_when_done(cap: Capture) -> inferwatch.InferenceRecord:
    """The one record, once the server's behavior (still sleeping) has returned."""
    for _ in range(100):
        records = cap.records
        if records:
            assert len(records) == 1, records
            return records[0]
        time.sleep(0.05)
    raise AssertionError("the server never finished the call")


def test_a_deadline_passing_during_the_behavior_is_recorded(channel: grpc.Channel) -> None:
    method = channel.unary_unary(f"/{SERVICE}/UnaryUnary", request_serializer=dumps,
                                 response_deserializer=loads)
    with capture() as cap:
        with pytest.raises(grpc.RpcError) as info:
            method({"op": "sleep", "seconds": 0.5}, timeout=0.1)
        record = _record_when_done(cap)
    assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert record.http is not None and record.http.status_code == "DEADLINE_EXCEEDED"
    assert (record.outcome, record.error_type) == ("error", "DEADLINE_EXCEEDED")


def test_a_client_cancelling_during_the_behavior_is_recorded(channel: grpc.Channel) -> None:
    method = channel.unary_unary(f"/{SERVICE}/UnaryUnary", request_serializer=dumps,
                                 response_deserializer=loads)
    with capture() as cap:
        future = method.future({"op": "sleep", "seconds": 0.5}, timeout=TIMEOUT)
        time.sleep(0.15)
        assert future.cancel()
        record = _record_when_done(cap)
    assert record.http is not None and record.http.status_code == "CANCELLED"
    assert record.outcome == "cancelled"
