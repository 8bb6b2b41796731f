"""A real Redis Cluster (3 masters + 3 replicas, redis-server 7 from PATH) on free loopback ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster

from auction_engine.redis_cluster import LocalRedisCluster
from tests.cluster.test_engine_nodes import Nodes


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    cluster = LocalRedisCluster(Path(tmp_path_factory.mktemp("cluster")), fsync="everysec").start()
    yield cluster
    cluster.stop()


@pytest.fixture
async def cluster_client(redis_cluster: LocalRedisCluster) -> AsyncIterator[RedisCluster]:
    client = RedisCluster.from_url(redis_cluster.url)
    yield client
    await client.aclose()


@pytest.fixture
def nodes(redis_cluster: LocalRedisCluster, tmp_path: Path) -> Iterator[Nodes]:
    """Engine nodes (`serve --node-id`, started as each test asks) on the session's Redis Cluster, emptied first."""

    async def flush() -> None:
        client = RedisCluster.from_url(redis_cluster.url)
        await client.flushall(target_nodes=RedisCluster.PRIMARIES)
        await client.aclose()

    asyncio.run(flush())
    group = Nodes(redis_cluster, tmp_path)
    yield group
    group.stop_all()
