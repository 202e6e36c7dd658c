"""Aggregation of records into SLI series: grouping, transports, predictions of every shape."""

from __future__ import annotations

import numpy as np

from inferwatch._aggregate import OTHER, Aggregates
from inferwatch._record import Endpoint, HttpInfo, InferenceRecord

EP = Endpoint("m", "m", "1")


def _record(outcome: str = "ok", **fields: object) -> InferenceRecord:
    record = InferenceRecord(EP, 1, 0, 0, None, 0, 0)
    record.outcome = outcome
    record.duration_ns = 1_000_000
    for key, value in fields.items():
        setattr(record, key, value)
    return record


def _points(agg: Aggregates, name: str) -> list[tuple[dict[str, object], object]]:
    return [(p.attributes, p.value) for p in agg.points() if p.name == name]


def test_transport_attributes_follow_semantic_conventions() -> None:
    grpc_ok = HttpInfo("grpc", route="/pkg.Model/Predict")
    grpc_ok.status_code = "OK"
    grpc_err = HttpInfo("grpc", route="/pkg.Model/Predict")
    grpc_err.status_code = "UNKNOWN"
    http_err = HttpInfo("http", "POST", "/predict")
    http_err.status_code = 500
    agg = Aggregates(max_attribute_values=10, max_classes=10)
    agg.ingest([
        _record(http=grpc_ok),
        _record("error", http=grpc_err, error_type="Boom"),
        _record("error", http=http_err, error_type="500"),
    ])
    rpc = {tuple(sorted(a.items())): v.count for a, v in _points(agg, "rpc.server.call.duration")}
    assert rpc == {
        (("rpc.method", "pkg.Model/Predict"), ("rpc.response.status_code", "OK"),
         ("rpc.system.name", "grpc")): 1,
        (("error.type", "Boom"), ("rpc.method", "pkg.Model/Predict"),
         ("rpc.response.status_code", "UNKNOWN"), ("rpc.system.name", "grpc")): 1,
    }
    (attrs, _), = _points(agg, "inferwatch.http.server.request.duration")
    assert attrs == {"error.type": "500", "http.request.method": "POST",
                     "http.response.status_code": 500, "http.route": "/predict"}


def test_predictions_of_every_shape() -> None:
    agg = Aggregates(max_attribute_values=10, max_classes=3)
    agg.ingest([
        _record(prediction=0.25, confidence=0.9),
        _record(prediction=np.array([0.5, 0.75]), confidence=np.array([0.6, 0.7])),
        _record(prediction="cat"),
        _record(prediction=np.array([[0.1, 0.9], [0.8, 0.2]])),  # per-class scores
        _record(prediction="dog"),
        _record(prediction="bird"),  # past max_classes
        _record(prediction={"not": "supported"}),
    ])
    classes = {a["inferwatch.prediction.class"]: v for a, v in
               _points(agg, "inferwatch.prediction.classes")}
    assert classes == {"cat": 1, "0": 1, "1": 1, OTHER: 2}  # dog and bird past max_classes
    (_, values), = _points(agg, "inferwatch.prediction.value")
    assert values.count == 3 and values.sum == 1.5
    (_, confidence), = _points(agg, "inferwatch.prediction.confidence")
    # 0.9, 0.6, 0.7 given; 0.9 and 0.8 derived from the per-class scores
    assert confidence.count == 5
    assert abs(confidence.sum - 3.9) < 1e-9
    assert agg.unsupported_predictions == 1


def test_non_finite_values_are_not_binned() -> None:
    agg = Aggregates(max_attribute_values=10, max_classes=10)
    agg.ingest([_record(prediction=float("nan")), _record(prediction=float("inf")),
                _record(prediction=1.0)])
    (_, values), = _points(agg, "inferwatch.prediction.value")
    assert values.count == 1


def test_attribute_values_are_capped() -> None:
    agg = Aggregates(max_attribute_values=3, max_classes=10)
    agg.ingest([_record(attributes={"variant": f"v{i}"}) for i in range(10)])
    variants = sorted(str(a["variant"]) for a, _ in _points(agg, "inferwatch.predict.calls"))
    assert variants == [OTHER, "v0", "v1", "v2"]
    assert sum(v for _, v in _points(agg, "inferwatch.predict.calls")) == 10  # type: ignore[misc]


def test_a_record_with_unreadable_attributes_does_not_poison_its_batch() -> None:
    agg = Aggregates(max_attribute_values=10, max_classes=10)
    agg.ingest([_record(), _record(attributes="not a mapping"), _record()])
    assert sum(v for _, v in _points(agg, "inferwatch.predict.calls")) == 3  # type: ignore[misc]
    assert agg.bad_attributes == 1
