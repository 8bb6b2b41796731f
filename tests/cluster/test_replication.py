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
    master = RedisServer(tmp_path / "master", disabled=tuple(c for c in DISABLED_COMMANDS if c not in ("SYNC", "PSYNC")),
                         options=[("repl-diskless-sync-delay", "0")])  # a restarted replica resyncs at once
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
        patient = RedisLog(client, (master.url, 1, 10_000))  # for the appends not under test, on a busy machine
        epoch = await patient.create("S1", [ITEM])
        os.kill(replica.process.pid, signal.SIGSTOP)
        try:
            results = await asyncio.gather(log.append("S1", 1, epoch, [ITEM]), return_exceptions=True)
            assert isinstance(results[0], NotReplicated), "the master has it, one replica does not: not acknowledged"
        finally:
            os.kill(replica.process.pid, signal.SIGCONT)
        assert [r.seq for r in await log.read("S1")] == [1, 2], "the entry stays on the master for the bid's retry"
        assert await patient.append("S1", 2, epoch, [ITEM]) == 3, "once the replica is back, appends are acknowledged"
    finally:
        await client.aclose()


async def wait_calls(client: Any) -> int:
    return int((await client.info("commandstats")).get("cmdstat_wait", {}).get("calls", 0))


async def test_kill_9_of_the_replica_mid_burst_acknowledges_nothing_until_a_replica_holds_it_again(
        master_and_replica: tuple[RedisServer, RedisServer]) -> None:
    """50 lots append as fast as they can; the replica is killed with -9, then started again on its
    data dir. No append begun while it was dead is acknowledged, appends are acknowledged again once
    it is back, and every acknowledged entry is in the master's log."""
    master, replica = master_and_replica
    client: Any = Redis.from_url(master.url)
    log = RedisLog(client, (master.url, 1, 100))
    lots = [f"K{i}" for i in range(50)]
    patient = RedisLog(client, (master.url, 1, 10_000))
    epochs = {lot: await patient.create(lot, [ITEM]) for lot in lots}
    acked: list[tuple[str, int, float]] = []  # lot, seq, when the append began
    refused = 0
    dead: list[float] = []  # when the replica was killed, and when it was started again
    running = True

    async def bidder(lot: str) -> None:
        nonlocal refused
        while running:
            began = time.monotonic()
            try:
                seq = await log.append(lot, await log.last_seq(lot), epochs[lot], [ITEM])
            except NotReplicated:
                refused += 1
                continue
            acked.append((lot, seq, began))

    tasks = [asyncio.create_task(bidder(lot)) for lot in lots]
    try:
        await asyncio.sleep(1)
        assert replica.process is not None
        replica.process.kill()
        replica.process.wait()
        dead.append(time.monotonic())
        await asyncio.sleep(1)
        dead.append(time.monotonic())
        replica.start()
        deadline = time.monotonic() + 30  # after a full resync
        while not [a for a in acked if a[2] > dead[1]] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        running = False
        await asyncio.gather(*tasks)
    try:
        assert refused > 0, "appends were refused while the replica was dead"
        # (an append begun in the last 100 ms before the restart could, in principle, see its WAIT met by it)
        assert not [a for a in acked if dead[0] <= a[2] < dead[1] - 0.1], "nothing begun while it was dead was acknowledged"
        assert [a for a in acked if a[2] > dead[1]], "acknowledged again once it was back"
        held = {lot: {r.seq for r in await log.read(lot)} for lot in lots}
        assert all(seq in held[lot] for lot, seq, _ in acked), "every acknowledged entry is in the log"
    finally:
        await client.aclose()


def test_a_replica_that_just_synced_stops_cleanly_when_asked(master_and_replica: tuple[RedisServer, RedisServer]) -> None:
    """redis-server refuses a SIGTERM while it writes its initial AOF after a sync ("Writing initial
    AOF, can't exit") and forgets it was asked: `stop` asks again until it exits, rather than
    waiting out its deadline and killing it."""
    _, replica = master_and_replica
    process = replica.process
    assert process is not None
    replica.stop()
    assert process.returncode == 0, "stopped by its own shutdown, not by SIGKILL"
