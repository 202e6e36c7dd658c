"""Helpers for the ASGI tests: drive an app through httpx, capture every request."""

from __future__ import annotations

import asyncio
import threading
import time
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


class UvicornThread:
    """A real uvicorn serving ``app`` on a free loopback port, in a thread; ``stop()`` it."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                ws="none", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
