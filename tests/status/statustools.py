"""Shared by the status page tests: a reference profile, traffic and drift."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import numpy as np

import inferwatch
import inferwatch.drift as drift
from inferwatch import Monitor

FEATURES = ("age", "income", "tenure", "plan")
#: Strings that must never reach the page or the JSON: a new category value, an
#: unknown feature name, a request field.
CANARIES = ("alice@example.com", "secret_field_xyz", "4111-1111-1111-1111")


def make_profile(n: int = 4000, seed: int = 1) -> drift.ReferenceProfile:
    rng = np.random.default_rng(seed)
    train = {
        "age": rng.normal(40, 10, n).tolist(),
        "income": rng.lognormal(10, 1, n).tolist(),
        "tenure": rng.exponential(20, n).tolist(),
        "plan": rng.choice(["basic", "plus", "pro"], n).tolist(),
    }
    prediction = np.clip((np.asarray(train["age"]) - 20) / 80, 0.0, 1.0)
    return drift.build_profile(train, categorical=["plan"], prediction=prediction,
                               model_name="churn")


def row(rng: np.random.Generator, *, shifted: bool = False) -> dict[str, Any]:
    """One request's features; ``shifted`` moves age and brings a new plan (a canary)."""
    return {
        "age": float(rng.normal(58 if shifted else 40, 10)),
        "income": float(rng.lognormal(10, 1)),
        "tenure": float(rng.exponential(20)),
        "plan": str(rng.choice(["basic", "plus", CANARIES[0]] if shifted
                               else ["basic", "plus", "pro"])),
    }


def predictor(monitor: Monitor, *, version: str = "4", fail_every: int = 0) -> Any:
    calls = {"n": 0}

    @inferwatch.monitor(model="churn", version=version, features="x", monitor=monitor)
    def predict(x: dict[str, Any]) -> float:
        calls["n"] += 1
        if fail_every and calls["n"] % fail_every == 0:
            raise ValueError("model failed")
        return min(1.0, max(0.0, (x["age"] - 20) / 80))

    return predict


def serve_rows(predict: Any, n: int, *, shifted: bool = False, seed: int = 3,
               extra: dict[str, Any] | None = None) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        features = row(rng, shifted=shifted)
        if extra:
            features.update(extra)
        with contextlib.suppress(ValueError):
            predict(features)


def watch(profile: drift.ReferenceProfile, monitor: Monitor,
          window: str = "count:500") -> drift.DriftMonitor:
    return drift.watch(profile, monitor, window=window)


def request(app: Any, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.request(method, path, **kwargs)

    return asyncio.run(main())
