"""Which lots a bidder has bid on (`bidder_lots.py`), in Redis under the bidder's own hash tag: noted
after the ack, never for a floor bidder or a bid without one, read back sorted. On the real
redis-server of tests/conftest.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

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
    """A real client that counts the writes (pipelines) it is asked for."""

    writes = 0

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        type(self).writes += 1
        return super().pipeline(transaction, shard_hint)


async def connections_named(redis: aioredis.Redis, name: str) -> int:
    return sum(1 for client in await redis.client_list() if client.get("name") == name)


async def test_acks_that_arrive_together_are_noted_in_one_write_on_one_connection(redis_url: str, redis: aioredis.Redis) -> None:
    """A sale's first second: 200 bidders' first acks (and a bidder's fifty acks for one lot) in one
    turn are one pipelined write on one connection, not an SADD each on a connection opened for it."""
    name = "notes-" + uuid.uuid4().hex[:8]
    client = CountedRedis.from_url(redis_url, client_name=name)
    CountedRedis.writes = 0
    bidders = ["B" + uuid.uuid4().hex[:8] for _ in range(200)]
    try:
        for _ in range(50):
            note_bid(client, bidders[0], "L1")
        for bidder in bidders:
            note_bid(client, bidder, "L2")
        assert await noted(redis, bidders[-1], 1) == ["L2"]
        assert await members(redis, lots_key(bidders[0])) == ["L1", "L2"]
        assert all([await members(redis, lots_key(b)) == ["L2"] for b in bidders[1:]])
        assert CountedRedis.writes == 1
        assert await connections_named(redis, name) == 1
    finally:
        await client.aclose()


async def test_a_write_that_failed_is_tried_again_at_the_next_ack(redis: aioredis.Redis) -> None:
    """A lost write leaves the lot out of "My auctions" only until the bidder's next ack."""
    down = CountedRedis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))  # nothing listens on port 1
    CountedRedis.writes = 0
    bidder = "B" + uuid.uuid4().hex[:8]
    try:
        note_bid(down, bidder, "L1")
        for _ in range(500):
            await asyncio.sleep(0.01)
            note_bid(down, bidder, "L1")
            if CountedRedis.writes >= 2:
                break
        assert CountedRedis.writes >= 2  # refused, forgotten, written again
    finally:
        await down.aclose()
    assert await members(redis, lots_key(bidder)) == []
