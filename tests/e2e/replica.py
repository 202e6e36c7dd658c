"""One replica of a monitored model server, for the end-to-end tests.

::

    python tests/e2e/replica.py --port 8001 --metrics-port 9001 --profile churn.iwprofile

``POST /predict`` with ``{"features": [...], "fail": false}`` runs a
``@inferwatch.monitor`` predict (``fail`` makes it raise, answered 500);
``GET /summary`` is the monitor's own summary as JSON. Metrics are served in
Prometheus format on ``--metrics-port`` through OTel's Prometheus exporter
with ``inferwatch.otel.instrument_reader``, as a user with their own
MeterProvider would do it. Everything listens on 127.0.0.1; the process exits
on SIGTERM or after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import start_http_server

import inferwatch
import inferwatch.drift
from inferwatch.otel import instrument_reader

WEIGHTS = np.array([0.8, -0.5, 0.3, 0.1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--instance", default="replica")
    parser.add_argument("--drift-window", default="count:200")
    parser.add_argument("--lifetime", type=float, default=300.0)
    args = parser.parse_args()

    resource = Resource.create({"service.name": "churn-api",
                                "service.instance.id": args.instance})
    reader = instrument_reader(PrometheusMetricReader())
    provider = MeterProvider(metric_readers=[reader], resource=resource)
    monitor = inferwatch.configure(service_name="churn-api", meter_provider=provider,
                                   log_sink="none", flush_interval_ms=50)
    inferwatch.drift.watch(args.profile, monitor, window=args.drift_window)

    @inferwatch.monitor(model="churn", version="1", features="x",
                        confidence=lambda p: float(max(p, 1.0 - p)))
    def predict(x: np.ndarray, fail: bool) -> float:
        if fail:
            raise RuntimeError("injected failure")
        return float(1.0 / (1.0 + np.exp(-(x @ WEIGHTS))))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["content-length"])))
            try:
                value = predict(np.asarray(request["features"], dtype=np.float64),
                                bool(request.get("fail")))
            except RuntimeError as exc:
                self._reply(500, {"error": str(exc)})
                return
            self._reply(200, {"churn_probability": value})

        def do_GET(self) -> None:
            if self.path == "/summary":
                monitor.flush(5.0)
                self._reply(200, monitor.summary())
            else:
                self._reply(200, {"status": "ok"})

        def log_message(self, format: str, *args: Any) -> None:
            pass  # no access log

    start_http_server(args.metrics_port, addr="127.0.0.1")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    stop.wait(args.lifetime)
    server.shutdown()
    monitor.shutdown()
    provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
