"""Which lots a bidder has bid on (`bidder_lots.py`), in Redis under the bidder's own hash tag: noted
after the ack, never for a floor bidder or a bid without one, read back sorted. On the real
redis-server of tests/conftest.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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


class CountedRedis(aioredis.Redis):
    """A real client that counts the SADDs it is asked for."""

    sadds = 0

    async def sadd(self, name: str, *values: object) -> int:  # type: ignore[override]
        type(self).sadds += 1
        return await super().sadd(name, *values)  # type: ignore[arg-type]


async def test_a_bidders_acks_that_arrive_together_write_once(redis_url: str) -> None:
    """A sale's first second: fifty acks for one bidder and lot before the first write returns
    are one SADD, not fifty (each would take a pooled connection opened for it)."""
    client = CountedRedis.from_url(redis_url)
    CountedRedis.sadds = 0
    bidder = "B" + uuid.uuid4().hex[:8]
    try:
        for _ in range(50):
            note_bid(client, bidder, "L1")
        assert await noted(client, bidder, 1) == ["L1"]
        assert CountedRedis.sadds == 1
    finally:
        await client.aclose()


async def test_a_write_that_failed_is_tried_again_at_the_next_ack(redis_url: str, redis: aioredis.Redis) -> None:
    """A lost write leaves the lot out of "My auctions" only until the bidder's next ack."""
    down = CountedRedis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))  # nothing listens on port 1
    CountedRedis.sadds = 0
    bidder = "B" + uuid.uuid4().hex[:8]
    try:
        note_bid(down, bidder, "L1")
        for _ in range(500):
            await asyncio.sleep(0.01)
            note_bid(down, bidder, "L1")
            if CountedRedis.sadds >= 2:
                break
        assert CountedRedis.sadds >= 2  # refused, forgotten, written again
    finally:
        await down.aclose()
    assert await members(redis, lots_key(bidder)) == []
