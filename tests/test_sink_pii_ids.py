"""A caller's request id listed as PII never reaches a log line raw (through ASGI)."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
from typing import Any

import pytest

import inferwatch
from inferwatch import Monitor
from inferwatch.asgi import InferenceMiddleware
from inferwatch.logsinks import StreamSink

httpx = pytest.importorskip("httpx")

CANARY = "user-8675309.alice"  # an id the middleware accepts ([A-Za-z0-9._:/+=-])
KEY = "hex:" + secrets.token_hex(32)


def app_for(monitor: Monitor) -> Any:
    @inferwatch.monitor(model="iris", monitor=monitor)
    def predict(x: list[float]) -> int:
        return 1

    async def app(scope: Any, receive: Any, send: Any) -> None:
        predict([1.0])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return InferenceMiddleware(app, monitor=monitor)


@pytest.mark.parametrize("field", ["x-request-id", "inference.id"])
def test_request_id_listed_as_pii_is_pseudonymised_in_the_log(field: str) -> None:
    out = io.StringIO()
    monitor = Monitor(log_sink=StreamSink(out), metrics_exporter="none", sample_rate=1.0,
                      pii_fields=[field], pii_key=KEY)
    try:
        app = app_for(monitor)

        async def call() -> Any:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.get("/predict", headers={"x-request-id": "req-" + CANARY})

        response = asyncio.run(call())
        assert response.status_code == 200
        assert monitor.flush(5.0)
    finally:
        monitor.shutdown(2.0)
    text = out.getvalue()
    (event,) = [json.loads(line) for line in text.splitlines()]
    assert CANARY not in text
    assert event["inference.id"].startswith("k1:")
