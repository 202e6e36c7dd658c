"""A gRPC model server monitored by inferwatch, with no protoc step.

A small numpy model (logistic regression over 4 features) is served over
gRPC with JSON messages: ``/churn.Model/Predict`` (unary) and
``/churn.Model/PredictStream`` (one answer per row, streamed back). The
``InferenceInterceptor`` turns each RPC into one inference record; the
``@inferwatch.monitor`` predict inside the servicer fills in model name,
version, features and prediction on that same record.

Run it (inside the project's virtual environment, with inferwatch-grpc
installed: ``pip install -e integrations/grpc``)::

    python examples/grpc_server.py --demo     # serve, send 50 calls, print what was seen
    python examples/grpc_server.py --port 50051   # just serve until Ctrl-C
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import numpy as np
from inferwatch_grpc import InferenceInterceptor

import inferwatch

WEIGHTS = np.array([0.8, -1.2, 0.3, 2.0])
BIAS = -0.1


def dumps(message: Any) -> bytes:
    return json.dumps(message).encode()


def loads(data: bytes) -> Any:
    return json.loads(data)


@inferwatch.monitor(model="churn", version="3", features="x", confidence=lambda p: p)
def predict(x: np.ndarray) -> np.ndarray:
    """Churn probability per row."""
    probability: np.ndarray = 1.0 / (1.0 + np.exp(-(x @ WEIGHTS + BIAS)))
    return probability


def rows(request: dict[str, Any], context: grpc.ServicerContext) -> np.ndarray:
    x = np.asarray(request.get("rows"), dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != WEIGHTS.size:
        context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"rows must be a list of {WEIGHTS.size}-number lists"
        )
    return x


def predict_rpc(request: dict[str, Any], context: grpc.ServicerContext) -> dict[str, Any]:
    return {"churn_probability": predict(rows(request, context)).round(4).tolist()}


def predict_stream_rpc(
    request: dict[str, Any], context: grpc.ServicerContext
) -> Iterator[dict[str, Any]]:
    for i, probability in enumerate(predict(rows(request, context))):
        yield {"row": i, "churn_probability": round(float(probability), 4)}


def build_server(port: int) -> tuple[grpc.Server, int]:
    # model= and version= also name the calls no predict ran for (rejected requests).
    interceptor = InferenceInterceptor(model="churn", version="3")
    server = grpc.server(ThreadPoolExecutor(max_workers=4), interceptors=[interceptor])
    handler = grpc.method_handlers_generic_handler("churn.Model", {
        "Predict": grpc.unary_unary_rpc_method_handler(
            predict_rpc, request_deserializer=loads, response_serializer=dumps
        ),
        "PredictStream": grpc.unary_stream_rpc_method_handler(
            predict_stream_rpc, request_deserializer=loads, response_serializer=dumps
        ),
    })
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound


def demo(port: int) -> None:
    rng = np.random.default_rng(7)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        unary = channel.unary_unary(
            "/churn.Model/Predict", request_serializer=dumps, response_deserializer=loads
        )
        stream = channel.unary_stream(
            "/churn.Model/PredictStream", request_serializer=dumps, response_deserializer=loads
        )
        for i in range(50):
            batch = rng.normal(size=(1 + i % 4, WEIGHTS.size)).round(3).tolist()
            if i % 10 == 9:
                batch = [[1.0, 2.0]]  # a bad request: INVALID_ARGUMENT
            try:
                if i % 5 == 0:
                    list(stream({"rows": batch}, timeout=5))
                else:
                    unary({"rows": batch}, timeout=5, metadata=(("x-request-id", f"demo-{i}"),))
            except grpc.RpcError as exc:
                print(f"call {i}: {exc.code().name}: {exc.details()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--demo", action="store_true", help="send demo calls, report, exit")
    args = parser.parse_args()

    monitor = inferwatch.configure(
        service_name="churn-grpc", log_sink="none" if args.demo else "stdout"
    )
    server, port = build_server(args.port)
    print(f"serving churn.Model on 127.0.0.1:{port}")
    if not args.demo:
        server.wait_for_termination()
        return
    try:
        demo(port)
    finally:
        server.stop(grace=1).wait(5)
    print(json.dumps(monitor.summary()["models"], indent=2))
    for point in monitor.collect():
        if point.name == "rpc.server.call.duration":
            hist = point.value
            print(f"{point.name} {point.attributes}: count={hist.count}, "
                  f"mean={hist.sum / max(hist.count, 1) * 1e3:.2f} ms")
    monitor.shutdown()


if __name__ == "__main__":
    main()
