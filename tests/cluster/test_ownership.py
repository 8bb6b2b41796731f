"""Lot leases and fencing, on a real standalone Redis and a real Redis Cluster."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from auction_engine.ownership import Holder, Lease, Ownership
from auction_engine.stream import Fenced, RedisLog


def _lot() -> str:
    return "L" + uuid.uuid4().hex[:8]


@pytest.fixture(params=["standalone", "cluster"])
async def redis(request: pytest.FixtureRequest) -> Any:
    if request.param == "standalone":
        client = Redis.from_url(request.getfixturevalue("redis_url"))
        yield client
        await client.aclose()
    else:
        cluster = RedisCluster.from_url(request.getfixturevalue("redis_cluster").url)
        yield cluster
        await cluster.aclose()


async def test_the_first_node_takes_a_free_lot_and_the_second_is_told_who_holds_it(redis: Any) -> None:
    lot = _lot()
    a, b = Ownership(redis, "node-a", 2000, "i1"), Ownership(redis, "node-b", 2000, "i1")
    lease = await a.acquire(lot, 1000)
    assert isinstance(lease, Lease) and lease.taken and lease.epoch == 1 and lease.gap_ms is None
    assert await b.acquire(lot, 1001) == Holder("node-a", 1, "i1")
    again = await a.acquire(lot, 1002)
    assert isinstance(again, Lease) and not again.taken and again.epoch == 1


async def test_an_expired_lease_is_taken_with_a_higher_epoch_and_the_old_writer_is_fenced(redis: Any) -> None:
    lot = _lot()
    log = RedisLog(redis)
    a, b = Ownership(redis, "node-a", 200), Ownership(redis, "node-b", 200)
    first = await a.acquire(lot, 10_000)
    assert isinstance(first, Lease)
    await log.append(lot, 0, first.epoch, [(b"e1", b"h1", b"p1", b"", b"")])
    await asyncio.sleep(0.35)
    second = await b.acquire(lot, 10_400)
    assert isinstance(second, Lease) and second.taken and second.epoch == first.epoch + 1
    assert second.gap_ms == 400  # since node-a's last mark: what outage fairness gives back
    with pytest.raises(Fenced):
        await log.append(lot, 1, first.epoch, [(b"e2", b"h2", b"p2", b"", b"")])
    assert await a.renew(first, 10_500) is False
    assert await log.append(lot, 1, second.epoch, [(b"e2", b"h2", b"p2", b"", b"")]) == 2


async def test_a_released_lot_is_taken_at_once_by_the_next_node(redis: Any) -> None:
    lot = _lot()
    a, b = Ownership(redis, "node-a", 60_000, "i1"), Ownership(redis, "node-b", 60_000, "i1")
    first = await a.acquire(lot, 5000)
    assert isinstance(first, Lease)
    assert await a.release(first, 5100) is True
    second = await b.acquire(lot, 5105)
    # A hand-over, not an outage: the taker owes the lot no time back (gap_ms None).
    assert isinstance(second, Lease) and second.taken and second.epoch == 2 and second.gap_ms is None
    assert await a.release(first, 5200) is False  # a stale release does not free the new owner's lease
    assert await a.holder(lot) == Holder("node-b", 2, "i1")


async def test_a_restarted_node_takes_its_own_lots_back_at_once_with_a_new_epoch(redis: Any) -> None:
    lot = _lot()
    log = RedisLog(redis)
    before = Ownership(redis, "node-a", 60_000, "first")
    lease = await before.acquire(lot, 1000)
    assert isinstance(lease, Lease)
    await log.append(lot, 0, lease.epoch, [(b"e1", b"h1", b"p1", b"", b"")])
    after = Ownership(redis, "node-a", 60_000, "second")
    again = await after.acquire(lot, 1500)
    assert isinstance(again, Lease) and again.taken and again.epoch == lease.epoch + 1
    with pytest.raises(Fenced):  # were the first incarnation still alive, it could not append
        await log.append(lot, 1, lease.epoch, [(b"e2", b"h2", b"p2", b"", b"")])
    assert await Ownership(redis, "node-b", 60_000).acquire(lot, 1600) == Holder("node-a", 2, "second")


async def test_renewal_keeps_the_lease_past_its_first_expiry(redis: Any) -> None:
    lot = _lot()
    a, b = Ownership(redis, "node-a", 300, "i1"), Ownership(redis, "node-b", 300, "i1")
    lease = await a.acquire(lot, 0)
    assert isinstance(lease, Lease)
    for t in range(4):
        await asyncio.sleep(0.15)
        assert await a.renew(lease, 150 * (t + 1))
    assert await b.acquire(lot, 700) == Holder("node-a", 1, "i1")
