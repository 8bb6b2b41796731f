"""Placement, hand-over, takeover and forwarding between nodes, on a real Redis Cluster.

The nodes run in this process, each with its own cluster client; the engine behind each is a
stand-in host that records which lots it was given (labelled as one: the engine's own part is
tested with real engine processes). A "crash" stops a node's loops without releasing anything,
as kill -9 would leave its leases to expire.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from auction_engine.node import Node
from auction_engine.ownership import Lease
from auction_engine.placement import preferred

LEASE_MS = 600


class StandInHost:
    """Records own/disown and answers forwarded commands with its node's name."""

    def __init__(self, name: str, lots: list[str]) -> None:
        self.name = name
        self.lots = lots
        self.owned: dict[str, int] = {}
        self.gaps: list[int | None] = []

    async def own(self, lease: Lease) -> None:
        self.owned[lease.lot] = lease.epoch
        self.gaps.append(lease.gap_ms)

    async def disown(self, lot: str, graceful: bool) -> None:
        self.owned.pop(lot, None)

    async def run_here(self, lot: str, body: dict[str, Any]) -> dict[str, Any]:
        assert lot in self.owned
        return {"ok": True, "node": self.name, "echo": body["n"]}

    async def placeable_lots(self) -> list[str]:
        return self.lots


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
async def cluster_nodes(redis_cluster: Any) -> Any:
    lots = [f"L{uuid.uuid4().hex[:6]}-{i}" for i in range(30)]
    clients, nodes, hosts = [], [], []
    prefix = uuid.uuid4().hex[:6]
    for i in range(3):
        client = RedisCluster.from_url(redis_cluster.url)
        host = StandInHost(f"{prefix}-n{i}", lots)
        clients.append(client)
        hosts.append(host)
        nodes.append(Node(client, host.name, f"http://127.0.0.1:{9000 + i}", host, now_ms, lease_ms=LEASE_MS))
    await clients[0].delete("auction:nodes", "auction:node-urls")
    yield lots, nodes, hosts
    for node in nodes:
        if not node._stopping:
            await node.stop()
    for client in clients:
        await client.aclose()


async def settle(hosts: list[StandInHost], lots: list[str], seconds: float = 5.0) -> None:
    """Until every lot has exactly one owner among the hosts, the one rendezvous hashing prefers."""
    names = [h.name for h in hosts]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        owners = [[h.name for h in hosts if lot in h.owned] for lot in lots]
        if all(o == [preferred(lot, names)] for lot, o in zip(lots, owners, strict=True)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"owners per lot: {[sum(lot in h.owned for h in hosts) for lot in lots]}")


async def start_all(nodes: list[Node]) -> None:
    for node in nodes:
        await node.start()


async def crash(node: Node) -> None:
    """As kill -9 leaves it: loops stop, leases are neither renewed nor released."""
    node._stopping = True
    for task in node._tasks:
        task.cancel()
    await asyncio.gather(*node._tasks, return_exceptions=True)
    await node.mailbox.stop()


async def test_three_nodes_share_the_lots_and_each_lot_has_one_writer(cluster_nodes: Any) -> None:
    lots, nodes, hosts = cluster_nodes
    await start_all(nodes)
    await settle(hosts, lots)
    assert all(len(h.owned) >= 4 for h in hosts), [len(h.owned) for h in hosts]


async def test_a_node_that_shuts_down_hands_its_lots_over_within_a_second(cluster_nodes: Any) -> None:
    lots, nodes, hosts = cluster_nodes
    await start_all(nodes)
    await settle(hosts, lots)
    leaving = hosts[1]
    moved = list(leaving.owned)
    started = time.monotonic()
    await nodes[1].stop()
    await settle([hosts[0], hosts[2]], lots, seconds=3)
    assert time.monotonic() - started < 1.5
    assert not leaving.owned and moved


async def test_a_crashed_nodes_lots_are_taken_over_after_its_lease_with_a_new_epoch(cluster_nodes: Any) -> None:
    lots, nodes, hosts = cluster_nodes
    await start_all(nodes)
    await settle(hosts, lots)
    orphaned = dict(hosts[2].owned)
    await crash(nodes[2])
    hosts[2].owned.clear()
    started = time.monotonic()
    await settle(hosts[:2], lots, seconds=LEASE_MS / 1000 + 4)
    took = time.monotonic() - started
    assert took < LEASE_MS / 1000 + 2
    for lot, epoch in orphaned.items():
        new_epoch = hosts[0].owned.get(lot) or hosts[1].owned.get(lot)
        assert new_epoch == epoch + 1
    assert any(gap is not None and gap >= LEASE_MS / 2 for gap in hosts[0].gaps + hosts[1].gaps)


async def test_a_command_reaches_the_owner_from_any_node_and_follows_a_takeover(cluster_nodes: Any) -> None:
    lots, nodes, hosts = cluster_nodes
    await start_all(nodes)
    await settle(hosts, lots)
    lot = next(lot for lot in lots if lot in hosts[1].owned)
    answer = await nodes[0].forward(lot, {"n": 1}, timeout=3)
    assert answer == {"ok": True, "node": hosts[1].name, "echo": 1}
    await crash(nodes[1])
    hosts[1].owned.clear()
    answer = await nodes[0].forward(lot, {"n": 2}, timeout=LEASE_MS / 1000 + 5)
    assert answer is not None and answer["node"] in (hosts[0].name, hosts[2].name) and answer["echo"] == 2


class GatedHost(StandInHost):
    """A host whose lots take a while to start and stop, as an engine's do (loading the book,
    draining the actor): `own` waits for `loaded`, `disown` stops answering at once and then
    waits for `stopped`. Meanwhile the node holds the lease but nothing here can answer."""

    def __init__(self, name: str, lots: list[str]) -> None:
        super().__init__(name, lots)
        self.loaded = asyncio.Event()
        self.stopped = asyncio.Event()
        self.taking: list[str] = []
        self.giving: list[str] = []

    async def own(self, lease: Lease) -> None:
        self.taking.append(lease.lot)
        await self.loaded.wait()
        await super().own(lease)

    async def disown(self, lot: str, graceful: bool) -> None:
        await super().disown(lot, graceful)
        self.giving.append(lot)
        await self.stopped.wait()


async def until(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_command_for_a_lot_being_taken_waits_for_its_writer_instead_of_failing(cluster_nodes: Any) -> None:
    lots, nodes, hosts = cluster_nodes
    gated = GatedHost(hosts[0].name, lots)
    nodes[0].host = hosts[0] = gated
    starting = asyncio.create_task(nodes[0].start())
    try:
        await until(lambda: gated.taking)
        lot = gated.taking[0]  # its lease is held, its writer is not up yet
        await nodes[1].start()
        here = asyncio.create_task(nodes[0].forward(lot, {"n": 1}, timeout=5))
        there = asyncio.create_task(nodes[1].forward(lot, {"n": 2}, timeout=5))
        await asyncio.sleep(0.3)
        assert not here.done() and not there.done()
    finally:
        gated.loaded.set()
        gated.stopped.set()
    assert await here == {"ok": True, "node": gated.name, "echo": 1}
    assert await there == {"ok": True, "node": gated.name, "echo": 2}
    await starting


async def test_a_command_for_a_lot_being_handed_over_reaches_the_next_writer(cluster_nodes: Any) -> None:
    lots, nodes, hosts = cluster_nodes
    gated = GatedHost(hosts[0].name, lots)
    gated.loaded.set()
    gated.stopped.set()  # lots move freely until every lot is placed
    nodes[0].host = hosts[0] = gated
    try:
        await start_all(nodes)
        await settle(hosts, lots)
        gated.stopped.clear()
        gated.giving.clear()
        leaving = asyncio.create_task(nodes[0].stop())
        await until(lambda: gated.giving)
        lot = gated.giving[0]  # still leased here, no longer answered here
        sent = asyncio.create_task(nodes[2].forward(lot, {"n": 3}, timeout=5))
        await asyncio.sleep(0.3)
        assert not sent.done()
    finally:
        gated.stopped.set()
    answer = await sent
    assert answer is not None and answer["node"] in (hosts[1].name, hosts[2].name) and answer["echo"] == 3
    await leaving
