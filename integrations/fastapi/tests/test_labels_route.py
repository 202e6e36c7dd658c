"""instrument_app(labels=True): POST /inferwatch/labels beside the status routes,
behind the token, joined to the predictions the app served."""

from __future__ import annotations

import asyncio
from typing import Any

import fastapi
import httpx
import inferwatch
import inferwatch.labels
import pytest
from inferwatch import ConfigurationError
from inferwatch.testing import capture

from inferwatch_fastapi import LABELS_PATH, STATUS_PATH, instrument_app

TOKEN = "labels-tok"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def request(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(main())


def make_app(monitor: inferwatch.Monitor) -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @inferwatch.monitor(model="fraud", version="2", monitor=monitor)
    def predict(x: float) -> float:
        return x  # the probability of the positive class

    @app.get("/predict")
    def route(x: float) -> dict[str, float]:
        return {"p": predict(x)}

    return app


def test_labels_posted_to_the_app_join_the_predictions_it_served() -> None:
    with capture() as cap:
        tracker = inferwatch.labels.track(cap.monitor, positive=1)
        app = instrument_app(make_app(cap.monitor), monitor=cap.monitor, status_routes=True,
                             status_token=TOKEN, labels=True)
        ids = []
        for i, x in enumerate((0.9, 0.2, 0.7)):
            answer = request(app, "GET", "/predict", params={"x": x},
                             headers={"x-request-id": f"req-{i}"})
            assert answer.status_code == 200
            ids.append(answer.headers["x-request-id"])
        assert ids == ["req-0", "req-1", "req-2"]
        body = {"labels": [{"inference_id": "req-0", "label": 1},
                           {"inference_id": "req-1", "label": 1},
                           {"inference_id": "req-2", "label": 0}],
                "outcomes": [{"inference_id": "req-0", "name": "chargeback", "value": 20.0}]}
        answer = request(app, "POST", LABELS_PATH, json=body, headers=AUTH)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"accepted": 3, "outcomes": 1}
        (row,) = tracker.quality()
        assert row["model"] == "fraud" and row["joined"] == 3
        assert row["windows"][0]["measures"]["accuracy"] == pytest.approx(1 / 3)
        assert tracker.outcomes()[0]["sum"] == 20.0
        # The labels route is neither monitored nor in the schema; the status routes stay.
        assert [r.http.route for r in cap.records if r.http is not None] == ["/predict"] * 3
        assert LABELS_PATH not in app.openapi()["paths"]
        doc = request(app, "GET", STATUS_PATH, headers=AUTH).json()
        assert doc["labels"]["trackers"][0]["received"]["organic"] == {"joined": 3}


def test_the_token_is_required_and_bad_requests_record_nothing() -> None:
    with capture() as cap:
        tracker = inferwatch.labels.track(cap.monitor, positive=1)
        app = instrument_app(make_app(cap.monitor), monitor=cap.monitor, status_routes=True,
                             status_token=TOKEN, labels=True)
        body = {"labels": [{"inference_id": "x", "label": 1}]}
        assert request(app, "POST", LABELS_PATH, json=body).status_code == 401
        wrong = {"authorization": "Bearer nope"}
        assert request(app, "POST", LABELS_PATH, json=body, headers=wrong).status_code == 401
        assert request(app, "GET", LABELS_PATH, headers=AUTH).status_code == 405
        answer = request(app, "POST", LABELS_PATH, content=b"label=1", headers={
            **AUTH, "content-type": "text/plain"})
        assert answer.status_code == 415
        answer = request(app, "POST", LABELS_PATH, headers=AUTH, json={"labels": [
            {"inference_id": "x", "label": 1}, {"inference_id": "y", "label": [1, 0]}]})
        assert answer.status_code == 422 and "labels[1]" in answer.text
        tracker.flush()
        assert tracker.counts() == {} and tracker.summary()["waiting"] == 0


def test_off_by_default_and_refused_without_the_token_or_the_status_routes() -> None:
    with capture() as cap:
        app = instrument_app(make_app(cap.monitor), monitor=cap.monitor, status_routes=True,
                             status_token=TOKEN)
        body = {"labels": [{"inference_id": "x", "label": 1}]}
        assert request(app, "POST", LABELS_PATH, json=body, headers=AUTH).status_code == 404
        assert request(app, "GET", STATUS_PATH, headers=AUTH).status_code == 200
        with pytest.raises(ConfigurationError, match="status_token"):
            instrument_app(make_app(cap.monitor), monitor=cap.monitor, status_routes=True,
                           labels=True)
        with pytest.raises(ConfigurationError, match="status_routes=True"):
            instrument_app(make_app(cap.monitor), monitor=cap.monitor, status_token=TOKEN,
                           labels=True)
