"""A small numpy model behind FastAPI, monitored by inferwatch.

Run it (needs ``pip install inferwatch-fastapi uvicorn``)::

    uvicorn examples.fastapi_server:app --port 8000

then::

    curl -s localhost:8000/models/churn/predict -H 'content-type: application/json' \\
         -d '{"user_id": "u-1", "features": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}'
    curl -s localhost:8000/inferwatch/status

Every request gets one inference record: the middleware supplies the HTTP
side (route template, status, sizes, time to first byte, the ``x-request-id``
echoed back) and the ``@inferwatch.monitor`` predict the model side
(features, prediction, confidence). Records are logged as JSON lines (to
stdout by default; ``INFERWATCH_LOG_SINK=file INFERWATCH_LOG_FILE=...`` for a
file) and SLIs are exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is
set. ``EXAMPLE_LOG_DIR=/some/dir`` writes one log file per process
(``inferwatch-<pid>.jsonl``), which suits ``uvicorn --workers N``.

Requests that never reach the model (a 422 from validation, a 404) count in
the HTTP metrics only. When uvicorn stops (SIGTERM, in each worker) the
middleware flushes records, logs and a final metric export during the
lifespan shutdown, so a rolling deploy loses nothing it had kept.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException
from inferwatch_fastapi import instrument_app
from pydantic import BaseModel

import inferwatch

N_FEATURES = 8


def _configure() -> inferwatch.Monitor:
    log_dir = os.environ.get("EXAMPLE_LOG_DIR")
    if log_dir:  # one file per worker process, so workers never interleave lines
        return inferwatch.configure(
            service_name="churn-api", log_sink="file",
            log_file=os.path.join(log_dir, f"inferwatch-{os.getpid()}.jsonl"),
            sample_rate=1.0, feature_sample_rate=1.0,
            # INFERWATCH_FLUSH_INTERVAL_MS sets it (tests shorten and lengthen it).
            flush_interval_ms=float(os.environ.get("INFERWATCH_FLUSH_INTERVAL_MS", "50")),
        )
    return inferwatch.configure(service_name="churn-api")


monitor = _configure()


class ChurnModel:
    """Logistic regression with fixed weights: enough model to watch."""

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        self.weights = rng.normal(size=N_FEATURES)
        self.bias = -0.2

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))


model = ChurnModel()


@inferwatch.monitor(model="churn", version="1", features="x",
                    confidence=lambda p: float(max(p, 1.0 - p)))
def predict(x: np.ndarray) -> float:
    return float(model.predict_proba(x))


class PredictRequest(BaseModel):
    user_id: str
    features: list[float]


app = FastAPI(title="churn-api")
instrument_app(app, status_routes=True, model="churn-api")


@app.post("/models/{name}/predict")
def predict_route(name: str, request: PredictRequest) -> dict[str, Any]:
    if name != "churn":
        raise HTTPException(status_code=404, detail=f"no model named {name!r}")
    if len(request.features) != N_FEATURES:
        raise HTTPException(status_code=422, detail=f"expected {N_FEATURES} features")
    probability = predict(np.asarray(request.features, dtype=np.float64))
    return {"model": name, "churn_probability": probability, "pid": os.getpid()}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
