"""`--min-replicas`: an append is acknowledged only once that many replicas hold it (Redis WAIT on
the append's own connection), against a real Redis Cluster, a real standalone redis-server and a
real master with its real replica (where a turn's appends share one pipeline and one WAIT)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from auction_engine.redis_cluster import LocalRedisCluster
from auction_engine.redis_server import DISABLED_COMMANDS, RedisServer
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


@pytest.fixture
def master_and_replica(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    """A real redis-server and its real replica, as `--min-replicas 1` on one master runs."""
    master = RedisServer(tmp_path / "master", disabled=tuple(c for c in DISABLED_COMMANDS if c not in ("SYNC", "PSYNC")))
    master.start()
    replica = RedisServer(tmp_path / "replica",
                          options=[("replicaof", f"127.0.0.1 {master.port}"), ("masterauth", master.password)])
    replica.start()
    client = SyncRedis.from_url(master.url)
    deadline = time.monotonic() + 20
    while client.info("replication").get("slave0", {}).get("state") != "online":
        assert time.monotonic() < deadline, "the replica never came online"
        time.sleep(0.05)
    client.close()
    yield master, replica
    replica.stop()
    master.stop()


async def test_appends_of_many_lots_in_one_turn_share_one_wait_and_are_on_the_replica_when_acknowledged(
        master_and_replica: tuple[RedisServer, RedisServer]) -> None:
    master, replica = master_and_replica
    client: Any = Redis.from_url(master.url)
    on_replica: Any = Redis.from_url(replica.url)
    try:
        log = RedisLog(client, (master.url, 1, 2000))
        lots = [f"R{i}" for i in range(20)]
        epochs = [await log.create(lot, [ITEM]) for lot in lots]
        waits = await wait_calls(client)
        seqs = await asyncio.gather(*(log.append(lot, 1, epoch, [ITEM]) for lot, epoch in zip(lots, epochs, strict=True)))
        assert seqs == [2] * len(lots)
        assert await wait_calls(client) == waits + 1, "one WAIT for the whole turn's appends"
        for lot in lots:  # acknowledged means the replica holds it, read from the replica itself
            assert [r.seq for r in await RedisLog(on_replica).read(lot)] == [1, 2]
    finally:
        await client.aclose()
        await on_replica.aclose()


async def test_a_stopped_replica_leaves_appends_unacknowledged_and_the_retry_finds_them_once_it_resumes(
        master_and_replica: tuple[RedisServer, RedisServer]) -> None:
    master, replica = master_and_replica
    assert replica.process is not None
    client: Any = Redis.from_url(master.url)
    try:
        log = RedisLog(client, (master.url, 1, 100))
        epoch = await log.create("S1", [ITEM])
        os.kill(replica.process.pid, signal.SIGSTOP)
        try:
            results = await asyncio.gather(log.append("S1", 1, epoch, [ITEM]), return_exceptions=True)
            assert isinstance(results[0], NotReplicated), "the master has it, one replica does not: not acknowledged"
        finally:
            os.kill(replica.process.pid, signal.SIGCONT)
        assert [r.seq for r in await log.read("S1")] == [1, 2], "the entry stays on the master for the bid's retry"
        patient = RedisLog(client, (master.url, 1, 10_000))  # the woken replica may take longer than 100 ms
        assert await patient.append("S1", 2, epoch, [ITEM]) == 3, "once the replica is back, appends are acknowledged"
    finally:
        await client.aclose()


async def wait_calls(client: Any) -> int:
    return int((await client.info("commandstats")).get("cmdstat_wait", {}).get("calls", 0))
