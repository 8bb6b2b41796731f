"""One bidder's limit holds across lots owned by different nodes: the shared ledger on a real cluster."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from auction_engine.bidder_ledger import BidderLedger
from auction_engine.redis_cluster import LocalRedisCluster


@pytest.fixture
async def two_nodes(redis_cluster: LocalRedisCluster) -> Any:
    """Two clients, as two engine nodes would hold: nothing shared but the cluster."""
    a, b = RedisCluster.from_url(redis_cluster.url), RedisCluster.from_url(redis_cluster.url)
    yield BidderLedger(a, rate=20, burst=40), BidderLedger(b, rate=20, burst=40)
    await a.aclose()
    await b.aclose()


def _bidder() -> str:
    return "dealer-" + uuid.uuid4().hex[:8]


async def test_a_reservation_within_the_limit_stands_and_one_past_it_is_refused(two_nodes: Any) -> None:
    node_a, node_b = two_nodes
    bidder = _bidder()
    await node_a.set_limit(bidder, 10_000_000)
    assert await node_a.reserve(bidder, "L1", 6_000_000)
    assert not await node_b.reserve(bidder, "L2", 4_000_001)
    assert await node_b.reserve(bidder, "L2", 4_000_000)
    assert await node_a.total(bidder) == 10_000_000
    assert await node_a.reserve(bidder, "L1", 5_000_000)  # raising or lowering a lot's own stake counts once
    await node_b.set(bidder, "L2", 0)  # outbid on L2: released
    assert await node_a.total(bidder) == 5_000_000


async def test_a_bidder_with_no_limit_may_stand_any_amount(two_nodes: Any) -> None:
    node_a, _ = two_nodes
    bidder = _bidder()
    assert await node_a.reserve(bidder, "L1", 10**15)
    await node_a.set_limit(bidder, 10)
    assert not await node_a.reserve(bidder, "L2", 1)


async def test_two_nodes_bidding_at_the_same_moment_never_spend_one_limit_twice(two_nodes: Any) -> None:
    node_a, node_b = two_nodes
    rng = random.Random(7)
    for _trial in range(200):
        bidder = _bidder()
        limit = rng.randrange(1, 100) * 100_000
        await node_a.set_limit(bidder, limit)
        a_amount, b_amount = rng.randrange(1, 100) * 100_000, rng.randrange(1, 100) * 100_000
        stood = await asyncio.gather(node_a.reserve(bidder, "LA", a_amount), node_b.reserve(bidder, "LB", b_amount))
        total = await node_a.total(bidder)
        assert total <= limit
        assert total == a_amount * stood[0] + b_amount * stood[1]
        if a_amount + b_amount <= limit:
            assert all(stood)


async def test_the_bid_rate_is_one_bucket_across_nodes(two_nodes: Any) -> None:
    node_a, node_b = two_nodes
    bidder = _bidder()
    now = 1_000_000
    answers = [await (node_a if i % 2 else node_b).allow_bid(bidder, now) for i in range(60)]
    assert answers.count(True) == 40  # one burst shared by both nodes, not 40 each
    assert await node_a.allow_bid(bidder, now + 100)  # 20/s: two tokens back after 100 ms
    assert await node_b.allow_bid(bidder, now + 100)
    assert not await node_a.allow_bid(bidder, now + 100)
