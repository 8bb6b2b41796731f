"""Shared steps of the engine tests: create lots and talk HTTP as a given role."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import httpx
from redis.asyncio import Redis

EXAMPLE_LADDER = [[0, 100], [10000, 500], [100000, 1000]]
_ids = itertools.count(1)


def api(engine: Any, role: str = "auctioneer", bidder: str | None = None) -> httpx.AsyncClient:
    headers = {} if role == "watcher" else {"Authorization": f"Bearer {engine.token(role, bidder)}"}
    return httpx.AsyncClient(base_url=engine.url, headers=headers, timeout=10)


async def new_lot(engine: Any, open_it: bool = True, **spec: Any) -> dict[str, Any]:
    body = {"lot": f"T{next(_ids)}", "title": "Toyota Camry 2.0 2019", "start_price": 5000, "duration_s": 600, **spec}
    async with api(engine) as client:
        created = await client.post("/api/lots", json=body)
        assert created.status_code == 201, created.text
        if open_it and body.get("starts_at") is None:
            opened = await client.post(f"/api/lots/{body['lot']}/open")
            assert opened.status_code == 200, opened.text
            return opened.json()
        return created.json()


async def flushed() -> None:
    """Until a lot's published frames are on its idle watchers' sockets: the turn after the next
    (`lotfeed.LotFeed.append`)."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def tap_pipelines(redis: Redis, sent: Callable[[], None] = lambda: None,
                  replies: Callable[[list[Any]], list[Any]] = lambda got: got) -> None:
    """Every pipeline `redis` makes from now on calls `sent()` as it is sent and hands its replies
    through `replies` (a test may garble them): what the append pipeline (tickpipe.py) sends, and when."""
    pipeline = redis.pipeline

    def tapped(transaction: bool = True, shard_hint: str | None = None) -> Any:
        pipe = pipeline(transaction, shard_hint)
        execute = pipe.execute

        async def execute_tapped(raise_on_error: bool = True) -> list[Any]:
            sent()
            return replies(await execute(raise_on_error=raise_on_error))

        pipe.execute = execute_tapped  # type: ignore[method-assign]
        return pipe

    redis.pipeline = tapped  # type: ignore[method-assign]
