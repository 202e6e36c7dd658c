"""What an RPC is, and what a client can put into records, metrics and logs.

- An RPC that never reached a monitored predict (a method without one, a
  method the servicer does not implement) is an RPC, not an inference: it
  counts in the RPC metrics only.
- A record whose RPC has completed is never joined by a predict that runs
  later in a context copied from the RPC's.
- Ids from metadata are capped in length and charset; no metadata value
  reaches a metric attribute or a log line; invented method names cannot
  grow series.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

import demo_service
import inferwatch
import inferwatch_grpc._call as grpc_call
from demo_service import SERVICE, CatchAll, dumps, loads, sync_handler, sync_server
from inferwatch_grpc import InferenceInterceptor
from recording import Recorded, capture

pytestmark = pytest.mark.network

TIMEOUT = 10.0
EMAIL = "canary.person@example.org"
PHONE = "+44 20 7946 0958"


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    with sync_server(sync_handler(), CatchAll(), interceptors=[InferenceInterceptor()]) as channel:
        yield channel


def _unary(channel: grpc.Channel, request: Any, method: str = "UnaryUnary", **kw: Any) -> Any:
    call: Any = channel.unary_unary(f"/{SERVICE}/{method}", request_serializer=dumps,
                                    response_deserializer=loads)
    return call(request, timeout=TIMEOUT, **kw)


def _rpc_calls(cap: Recorded, **attributes: Any) -> int:
    hist = cap.value("rpc.server.call.duration", **attributes)
    return 0 if hist is None else int(hist.count)


def _predict_calls(cap: Recorded) -> int:
    return int(cap.value("inferwatch.predict.calls") or 0)


# -- an RPC is not always an inference -------------------------------------------


def test_an_rpc_without_a_monitored_predict_is_not_an_inference(channel: grpc.Channel) -> None:
    with capture() as cap:
        assert _unary(channel, {"x": [1]}) == {"echo": [1], "pad": ""}
        (record,) = cap.records
        inferences = cap.inferences
        rpc_calls = _rpc_calls(cap, rpc__response__status_code="OK")
        predict_calls = _predict_calls(cap)
    assert record.inference is False
    assert inferences == []  # kept out of drift
    assert (rpc_calls, predict_calls) == (1, 0)


def test_an_rpc_whose_predict_joined_is_one_inference(channel: grpc.Channel) -> None:
    with capture() as cap:
        assert _unary(channel, {"op": "monitored", "x": [1, 2]}) == {"score": 2.0}
        (record,) = cap.records
        inferences = cap.inferences
        rpc_calls = _rpc_calls(cap)
        predict_calls = _predict_calls(cap)
    assert record.inference is True
    assert inferences == [record]
    assert (rpc_calls, predict_calls) == (1, 1)


def test_an_unimplemented_method_is_an_rpc_not_an_inference(channel: grpc.Channel) -> None:
    with capture() as cap:
        with pytest.raises(grpc.RpcError) as info:
            _unary(channel, {"x": [1]}, method="Unimplemented")
        (record,) = cap.records
        rpc_calls = _rpc_calls(cap, rpc__response__status_code="UNIMPLEMENTED")
        predict_calls = _predict_calls(cap)
        inferences = cap.inferences
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert info.value.details() == "Method not implemented!"
    assert record.http is not None and record.http.status_code == "UNIMPLEMENTED"
    assert record.inference is False
    assert (rpc_calls, predict_calls, inferences) == (1, 0, [])


def _server(
    *handlers: grpc.GenericRpcHandler, workers: int = 2,
) -> contextlib.AbstractContextManager[grpc.Channel]:
    """A sync server of its own (the module's serves every method name), and a channel."""
    return sync_server(*handlers, interceptors=[InferenceInterceptor()], workers=workers)


def test_a_method_nothing_serves_is_an_rpc_named_other() -> None:
    # A stub calling a method the server lacks (an old client, a typo): gRPC answers
    # UNIMPLEMENTED itself; the call counts in the RPC metrics under _OTHER (the
    # name is the client's), and a probe path nothing serves stays unrecorded.
    with _server(sync_handler()) as channel, capture() as cap:
        for name in ("/nope.Service/Missing", f"/{EMAIL}/x", "/grpc.health.v1.Health/Check"):
            missing: Any = channel.unary_unary(name)
            with pytest.raises(grpc.RpcError) as info:
                missing(b"?", timeout=TIMEOUT, metadata=(("x-request-id", "u-1"),))
            assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
        records = cap.records
        calls = _rpc_calls(cap, rpc__method=grpc_call.OTHER_METHOD,
                           rpc__response__status_code="UNIMPLEMENTED",
                           error__type="UNIMPLEMENTED")
        predict_calls = _predict_calls(cap)
    assert len(records) == 2
    for record in records:
        assert record.http is not None
        assert (record.http.route, record.http.status_code) == (
            grpc_call.OTHER_METHOD, "UNIMPLEMENTED"
        )
        assert (record.inference, record.id, record.outcome) == (False, "u-1", "error")
        assert record.endpoint.model_name == grpc_call.OTHER_METHOD
    assert (calls, predict_calls) == (2, 0)


def test_a_predict_after_the_rpc_completed_never_joins_its_record(
    channel: grpc.Channel,
) -> None:
    later = demo_service.later = demo_service.Later()
    try:
        with capture() as cap:
            response = _unary(channel, {"op": "later", "x": [1, 2, 3]},
                              metadata=(("x-request-id", "rpc-1"),))
            (rpc_record,) = cap.records  # submitted: the RPC is complete
            assert rpc_record.closed is True
            later.go.set()
            assert later.done.wait(TIMEOUT)
            records = cap.records
    finally:
        demo_service.later = None
    assert response == {"echo": [1, 2, 3], "pad": ""}
    assert later.result == {"score": 3.0}
    assert len(records) == 2, records
    own = records[1]
    assert own is not rpc_record
    # The RPC's record is as it was when the RPC completed ...
    assert (rpc_record.endpoint.model_name, rpc_record.inference) == ("demo.Model", False)
    assert rpc_record.prediction is None and rpc_record.outcome == "ok"
    assert rpc_record.http is not None and rpc_record.http.status_code == "OK"
    # ... and the late predict is an inference of its own.
    assert (own.endpoint.model_name, own.prediction, own.http) == ("scorer", 3.0, None)


# -- what a client can put in ----------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    ["x" * 8000, "r" * 129, EMAIL, "id with spaces", "semi;colon", ""],
    ids=["8000-chars", "129-chars", "email", "spaces", "semicolon", "empty"],
)
def test_a_request_id_that_is_not_an_id_is_replaced_by_a_generated_one(
    channel: grpc.Channel, sent: str
) -> None:
    with capture() as cap:
        _unary(channel, {"x": []}, metadata=(("x-request-id", sent),))
        (record,) = cap.records
        (log,) = cap.logs
    assert len(record.id) == 32
    int(record.id, 16)  # a generated id
    assert log["inference.id"] == record.id
    if sent:
        assert sent not in json.dumps(log)


@pytest.mark.parametrize("sent", ["line\nbreak", "caf\u00e9", "tab\t", "\x00", b"bytes"])
def test_values_grpc_would_not_send_are_not_ids_either(sent: Any) -> None:
    # What a non-Python client or a -bin key could hand the servicer.
    assert grpc_call.valid_id(sent) is None
    assert grpc_call.valid_id("ok-" + "a" * 125) == "ok-" + "a" * 125


@pytest.mark.parametrize("sent", ["r" * 128, "2f1c-ab:x/y+z=_.", "0" * 32])
def test_a_valid_request_id_is_kept(channel: grpc.Channel, sent: str) -> None:
    with capture() as cap:
        _unary(channel, {"x": []}, metadata=(("x-request-id", sent),))
        (record,) = cap.records
    assert record.id == sent


def test_metadata_values_reach_no_metric_attribute_and_no_log(channel: grpc.Channel) -> None:
    metadata = (
        ("x-request-id", EMAIL),
        ("x-user-email", EMAIL),
        ("x-user-phone", PHONE),
        ("authorization", f"Bearer {EMAIL}"),
        ("user-agent-extra", PHONE),
    )
    with capture() as cap:
        _unary(channel, {"x": [1]}, metadata=metadata)
        _unary(channel, {"op": "monitored", "x": [1]}, metadata=metadata)
        assert len(cap.records) == 2
        points = cap.metrics()
        logs = cap.logs
    assert points and len(logs) == 2
    for canary in (EMAIL, PHONE, "canary"):
        for point in points:
            for key, value in point.attributes.items():
                assert canary not in str(key) and canary not in str(value), point
        assert canary not in json.dumps(logs, default=str)


def test_invented_method_names_cannot_grow_series(
    channel: grpc.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grpc_call, "MAX_METHODS", 3)
    # A fresh interceptor: the module's server has seen methods already.
    names = [f"/evil.S{i}/M" for i in range(6)] + ["/not a method/x", f"/{EMAIL}/M"]
    with _server(CatchAll()) as own, capture() as cap:
        for name in names:
            call: Any = own.unary_unary(name)
            assert call(b"ping", timeout=TIMEOUT) == b"ping"
        records = cap.records
        methods = {p.attributes["rpc.method"] for p in cap.metrics("rpc.server.call.duration")}
        models = {p.attributes.get("model.name") for p in cap.metrics()} - {None}
    assert len(records) == len(names)
    assert methods == {"evil.S0/M", "evil.S1/M", "evil.S2/M", grpc_call.OTHER_METHOD}
    assert [r.http.route for r in records if r.http is not None][3:] == [
        grpc_call.OTHER_METHOD
    ] * (len(names) - 3)
    assert models <= {"evil.S0", "evil.S1", "evil.S2", grpc_call.OTHER_METHOD}


def test_a_failure_of_ours_is_counted_and_the_rpc_goes_on(
    channel: grpc.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, method: str) -> Any:
        raise RuntimeError("inferwatch bug")

    monkeypatch.setattr(grpc_call.Settings, "resolve", broken)
    with capture() as cap:
        assert _unary(channel, {"x": [7]}) == {"echo": [7], "pad": ""}
        records = cap.records
        errors = cap.value("inferwatch.self.errors", inferwatch__component="grpc_interceptor")
    assert records == []  # unrecorded, not broken
    assert errors == 1


def _probe_handler() -> grpc.GenericRpcHandler:
    """An excluded method reporting whether a record is current where it runs."""

    def check(request: bytes, context: Any) -> bytes:
        return b"leak" if inferwatch.current_record() is not None else b"none"

    return grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}
    )


def test_a_predict_inside_a_response_stream_joins_and_nothing_leaks() -> None:
    # One worker thread: the stream and the probe after it run on the same thread.
    with _server(sync_handler(), _probe_handler(), workers=1) as own, capture() as cap:
        stream: Any = own.unary_stream(f"/{SERVICE}/UnaryStream", request_serializer=dumps,
                                       response_deserializer=loads)
        responses = list(stream({"op": "monitored", "x": [1, 2], "n": 3}, timeout=TIMEOUT,
                                metadata=(("x-request-id", "s-1"),)))
        probe: Any = own.unary_unary("/grpc.health.v1.Health/Check")
        assert probe(b"?", timeout=TIMEOUT) == b"none"
        records = cap.records
    assert [r["score"] for r in responses] == [2.0, 2.0, 2.0]
    (rpc,) = [r for r in records if r.http is not None]
    # The first predict filled in the RPC's record; the later ones are the same
    # inference's further calls, under its id.
    assert (rpc.endpoint.model_name, rpc.inference, rpc.prediction) == ("scorer", True, 2.0)
    assert {r.id for r in records} == {"s-1"}
    assert len(records) == 3


def test_the_integration_imports_only_public_core_modules() -> None:
    # The core's private modules may change in any release; inferwatch.transport
    # is the interface this package is pinned to.
    import ast
    from pathlib import Path

    package = Path(grpc_call.__file__).parent
    private = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            private += [f"{path.name}: {n}" for n in names
                        if n.startswith("inferwatch.") and n.split(".")[1].startswith("_")]
    assert private == []
