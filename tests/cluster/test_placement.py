"""Where a lot lives (`placement.py`): rendezvous hashing over the live nodes, and the heartbeats
that say which nodes live, on a real standalone Redis and a real Redis Cluster."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from auction_engine.placement import Membership, preferred, weight


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


async def test_live_nodes_are_those_with_a_recent_heartbeat(redis: Any) -> None:
    await redis.delete("auction:nodes", "auction:node-urls")
    a = Membership(redis, "node-a", "http://127.0.0.1:8001", ttl_ms=3000)
    b = Membership(redis, "node-b", "http://127.0.0.1:8002", ttl_ms=3000)
    await a.beat(10_000)
    await b.beat(6_000)
    live = await a.live(10_500)
    assert [(n.node, n.url) for n in live] == [("node-a", "http://127.0.0.1:8001")]
    await b.beat(10_400)
    assert [n.node for n in await a.live(10_500)] == ["node-a", "node-b"]
    await b.leave()
    assert [n.node for n in await a.live(10_500)] == ["node-a"]


def test_rendezvous_spreads_lots_evenly_and_moves_only_a_leaving_nodes_lots() -> None:
    nodes = ["n1", "n2", "n3"]
    lots = [f"L{i}" for i in range(3000)]
    placed = {lot: preferred(lot, nodes) for lot in lots}
    counts = {n: sum(1 for p in placed.values() if p == n) for n in nodes}
    assert all(900 <= c <= 1100 for c in counts.values()), counts
    after = {lot: preferred(lot, ["n1", "n3"]) for lot in lots}
    moved = [lot for lot in lots if after[lot] != placed[lot]]
    assert moved and all(placed[lot] == "n2" for lot in moved)
    joined = {lot: preferred(lot, [*nodes, "n4"]) for lot in lots}
    assert all(joined[lot] in (placed[lot], "n4") for lot in lots)
    assert preferred("L1", []) is None


def test_the_preferred_node_does_not_depend_on_the_order_the_nodes_are_listed_in() -> None:
    nodes = ["n1", "n2", "n3", "n4"]
    for lot in (f"L{i}" for i in range(200)):
        assert preferred(lot, nodes) == preferred(lot, reversed(nodes)) == max(nodes, key=lambda n: weight(n, lot))
