"""The local Redis Cluster (`redis_cluster.py`) the tests and `cluster-demo` run: real redis-server
processes, every slot served by a live master, keys spread over all of them, and nothing that
listens without the password."""

from __future__ import annotations

import uuid

import pytest
import redis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from auction_engine.redis_cluster import LocalRedisCluster, cluster_port


def test_every_key_is_served_by_one_of_the_live_masters_and_all_masters_serve_some(
        redis_cluster: LocalRedisCluster) -> None:
    masters = redis_cluster.master_ports()
    assert len(masters) == redis_cluster.masters
    owners = {redis_cluster.master_of(f"auction:{{lot:L{i}}}:stream") for i in range(24)}
    assert owners == set(masters)


def test_no_node_answers_a_client_without_the_password(redis_cluster: LocalRedisCluster) -> None:
    live = [n for n in redis_cluster.nodes if n.alive]
    assert len(live) >= redis_cluster.masters
    once = Retry(NoBackoff(), 0)  # a refused password is final: no reconnecting with backoff (3.6 s a node)
    for node in live:
        with redis.Redis(host="127.0.0.1", port=node.port, retry=once) as client, pytest.raises(redis.AuthenticationError):
            client.ping()


async def test_what_a_cluster_client_writes_through_one_node_is_read_back_through_another(
        redis_cluster: LocalRedisCluster) -> None:
    key = f"test:{{lot:{uuid.uuid4().hex}}}"
    live = [f"redis://:{redis_cluster.password}@{n.address}/0" for n in redis_cluster.nodes if n.alive]
    first = RedisCluster.from_url(live[0])
    other = RedisCluster.from_url(live[-1])
    try:
        await first.xadd(key, {"bid": "100"})
        assert [fields for _id, fields in await other.xrange(key) or []] == [{b"bid": b"100"}]
    finally:
        await first.delete(key)
        await first.aclose()
        await other.aclose()


def test_a_nodes_port_leaves_room_for_its_cluster_bus_port() -> None:
    taken = {cluster_port(set()) for _ in range(5)}
    port = cluster_port(taken)
    assert port not in taken and port + 10_000 not in taken and port + 10_000 < 65_536
