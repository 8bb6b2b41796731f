"""Which lots a bidder has bid on (`bidder_lots.py`), in Redis under the bidder's own hash tag: noted
after the ack, never for a floor bidder or a bid without one, read back sorted. On the real
redis-server of tests/conftest.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from auction_engine.bidder_lots import lots_key, members, note_bid, watch_key


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def noted(redis: aioredis.Redis, bidder: str, count: int) -> list[str]:
    for _ in range(100):
        lots = await members(redis, lots_key(bidder))
        if len(lots) >= count:
            return lots
        await asyncio.sleep(0.01)
    return await members(redis, lots_key(bidder))


def test_a_bidders_lots_and_watchlist_share_the_bidders_hash_tag() -> None:
    assert lots_key("B1") == "auction:{bidder:B1}:lots" and watch_key("B1") == "auction:{bidder:B1}:watch"


async def test_a_bid_is_noted_once_per_lot_and_read_back_sorted(redis: aioredis.Redis) -> None:
    bidder = "B" + uuid.uuid4().hex[:8]
    for lot in ("L3", "L1", "L3", "L2"):
        note_bid(redis, bidder, lot)
    assert await noted(redis, bidder, 3) == ["L1", "L2", "L3"]


async def test_a_floor_bid_or_one_without_a_bidder_notes_nothing(redis: aioredis.Redis) -> None:
    floor = "floor:" + uuid.uuid4().hex[:8]
    note_bid(redis, floor, "L1")
    note_bid(redis, None, "L1")
    note_bid(redis, "", "L1")
    marker = "B" + uuid.uuid4().hex[:8]
    note_bid(redis, marker, "L9")  # written after the others would have been
    assert await noted(redis, marker, 1) == ["L9"]
    assert await members(redis, lots_key(floor)) == [] and await members(redis, lots_key("")) == []
