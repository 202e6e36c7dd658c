"""Helpers for the ASGI tests: drive an app through httpx, capture every request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import httpx

from inferwatch.testing import Capture as Captured

# ``capture()`` records every request, those that never reached a model too.
Recorded = Captured


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test")


async def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with client(app) as c:
        return await c.request(method, path, **kwargs)
