"""`--min-replicas`: an append is acknowledged only once that many replicas hold it (Redis WAIT on
the append's own connection), against a real Redis Cluster and a real standalone redis-server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from auction_engine.redis_cluster import LocalRedisCluster
from auction_engine.replication import NotReplicated, node_url
from auction_engine.stream import RedisLog

ITEM = (b"entry", b"hash", b"public", b"", b"")


def test_a_node_url_keeps_the_password_and_names_the_other_node() -> None:
    assert node_url("redis://:s3cret@127.0.0.1:7000/0", "127.0.0.1", 7005) == "redis://:s3cret@127.0.0.1:7005/0"
    assert node_url("redis://127.0.0.1:7000", "10.0.0.2", 7001) == "redis://10.0.0.2:7001"


async def test_an_append_on_the_cluster_waits_for_its_replica_and_is_acknowledged(redis_cluster: LocalRedisCluster) -> None:
    client = RedisCluster.from_url(redis_cluster.url)
    try:
        await client.initialize()
        log = RedisLog(client, (redis_cluster.url, 1, 2000))
        lot = f"P{uuid.uuid4().hex[:8]}"
        epoch = await log.create(lot, [ITEM])
        assert await log.append(lot, 1, epoch, [ITEM]) == 2
        assert [r.seq for r in await log.read(lot)] == [1, 2]
        assert log.replicated is not None
        await log.replicated.close()
    finally:
        await client.aclose()


async def test_without_the_replicas_asked_for_an_append_is_not_acknowledged_but_its_retry_finds_it(redis_url: str) -> None:
    """A standalone redis-server has no replica: WAIT 1 gets 0. The entry is on the master (the
    retry of its bid id would get the stored answer), but the writer is told it is not safe."""
    client: Any = Redis.from_url(redis_url)
    try:
        log = RedisLog(client, (redis_url, 1, 50))
        with pytest.raises(NotReplicated):
            await log.create("P1", [ITEM])
        assert [r.seq for r in await log.read("P1")] == [1]
        plain = RedisLog(client)
        assert plain.replicated is None  # 0 replicas asked: acknowledged once the master has it
    finally:
        await client.aclose()
