"""Three real engine processes on a real Redis Cluster and one shared database.

Each node is `auction-engine serve --node-id ...` in its own process. Bids reach any node; the
node that holds a lot's lease writes it, the others forward to it and serve its watchers from
the log. Nodes are killed with SIGKILL and paused with SIGSTOP, and what survives is counted:
every acknowledged bid is in the lot's log, the log verifies, and the lot goes on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio.cluster import RedisCluster

from auction_engine.redis_cluster import LocalRedisCluster
from auction_engine.stream import Record, RedisLog
from bidding.log import decode_entry, verify
from tests.conftest import ROOT, EngineProcess
from tests.engine.wsclient import Peer

LEASE_MS = 1000
ESCROW_SECRET = "escrow-test-secret-fedcba9876543210-abcdef"


def database_url(tmp: Path) -> str:
    """PostgreSQL when the tests have one (a database of its own), else one SQLite file all nodes share."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite+aiosqlite:///{tmp / 'shared.db'}"
    import asyncpg

    name = f"cluster_{uuid.uuid4().hex[:10]}"
    plain = base.replace("postgresql+asyncpg://", "postgresql://")

    async def create() -> None:
        conn = await asyncpg.connect(plain)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return base.rsplit("/", 1)[0] + "/" + name


class Nodes:
    """The engine nodes of one test, by name."""

    def __init__(self, cluster: LocalRedisCluster, tmp: Path) -> None:
        self.cluster = cluster
        self.tmp = tmp
        self.db = database_url(tmp)
        self.nodes: dict[str, EngineProcess] = {}

    def start(self, name: str, **settings: str) -> EngineProcess:
        data = self.tmp / name
        data.mkdir(exist_ok=True)
        node = EngineProcess(data, self.cluster.url, env_extra={
            "NODE_ID": name, "REDIS_CLUSTER": "1", "DATABASE_URL": self.db, "ESCROW_SECRET": ESCROW_SECRET,
            "AUCTION_LEASE_MS": str(LEASE_MS), "AUCTION_OUTAGE_MIN_MS": "300", "AUCTION_BID_RATE": "1000",
            "AUCTION_BID_BURST": "1000", **settings,
        })
        self.nodes[name] = node.start(timeout=40)
        return node

    def stop_all(self) -> None:
        for node in self.nodes.values():
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGCONT)
                node.kill()


@pytest.fixture
def log_reader(redis_cluster: LocalRedisCluster) -> Iterator[LogReader]:
    yield LogReader(redis_cluster.url)


class LogReader:
    """Reads a lot's log straight from the cluster, in whatever event loop asks."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def read(self, lot: str) -> list[Record]:
        client = RedisCluster.from_url(self.url)
        try:
            return await RedisLog(client).read(lot)
        finally:
            await client.aclose()


def staff(node: EngineProcess) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {node.auctioneer_token}"}, timeout=15)


def bidder(node: EngineProcess, who: str) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {node.token('bidder', who, who)}"}, timeout=15)


def create_open(node: EngineProcess, lot: str, duration_s: int = 600) -> None:
    with staff(node) as http:
        reply = http.post("/api/lots", json={"lot": lot, "title": "Toyota Camry 2019", "start_price": 100_000,
                                             "increments": [[0, 1_000]], "duration_s": duration_s})
        assert reply.status_code == 201, reply.text
        reply = retried(lambda: http.post(f"/api/lots/{lot}/open"))
        assert reply.status_code == 200, reply.text


def retried(send: Callable[[], httpx.Response], timeout: float = 10.0) -> httpx.Response:
    """What a console does with 503 `unavailable` ("the lot moved to another node; retry"): while the
    nodes are still placing the lots, a lot created on one may move before its next command."""
    deadline = time.monotonic() + timeout
    while True:
        reply = send()
        if reply.status_code != 503 or "unavailable" not in reply.text or time.monotonic() > deadline:
            return reply
        time.sleep(0.1)


def owner(node: EngineProcess, lot: str) -> str | None:
    with staff(node) as http:
        reply = http.get(f"/api/lots/{lot}/owner")
        assert reply.status_code == 200, reply.text
        found: str | None = reply.json()["node"]
        return found


def wait_owner(node: EngineProcess, lot: str, not_this: str | None = None, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = owner(node, lot)
        if found is not None and found != not_this:
            return found
        time.sleep(0.05)
    raise AssertionError(f"lot {lot} has no owner other than {not_this} after {timeout}s")


async def read_log(reader: LogReader, lot: str) -> tuple[list[tuple[bytes, bytes]], list[Any]]:
    records = await reader.read(lot)
    raw = [(r.entry, r.hash) for r in records]
    return raw, [decode_entry(e, h).command for e, h in raw]


def place(http: httpx.Client, lot: str, bid_id: str, amount: int, deadline_s: float = 20.0) -> dict[str, Any]:
    """A bid answered for good: retried with the same id while the answer is `unavailable` (503)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            reply = http.post(f"/api/lots/{lot}/bids", json={"id": bid_id, "amount": amount})
            if reply.status_code != 503:
                body: dict[str, Any] = reply.json()
                return body
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"bid {bid_id} never answered"
        time.sleep(0.1)


def test_bids_on_any_node_reach_the_lots_writer_and_every_node_serves_the_log(nodes: Nodes, log_reader: LogReader) -> None:
    a, b, c = nodes.start("n1"), nodes.start("n2"), nodes.start("n3")
    lots = [f"X{uuid.uuid4().hex[:6]}" for _ in range(6)]
    for lot in lots:
        create_open(a, lot)
    owners = {lot: wait_owner(b, lot) for lot in lots}
    time.sleep(1.5)  # the preferred nodes take their lots over from the creating node
    owners = {lot: wait_owner(b, lot) for lot in lots}
    assert len(set(owners.values())) >= 2, f"six lots all placed on one node: {owners}"

    accepted: dict[str, list[str]] = {lot: [] for lot in lots}
    clients = [bidder(node, f"d{i}") for i, node in enumerate((a, b, c))]
    for round_ in range(5):
        for i, http in enumerate(clients):
            for lot in lots:
                bid_id = f"r{round_}-{i}"
                answer = place(http, lot, bid_id, 101_000 + (round_ * 3 + i) * 1_000)
                assert answer["type"] == "ack", answer
                if answer["ok"]:
                    accepted[lot].append(bid_id)
    for http in clients:
        http.close()

    async def check() -> None:
        for lot in lots:
            raw, commands = await read_log(log_reader, lot)
            assert verify(raw).ok
            logged = [getattr(cmd, "id", None) for cmd in commands if cmd.kind == "bid"]
            assert logged == accepted[lot]  # every acknowledged bid, once, in the order acknowledged
            assert len(accepted[lot]) == 15

    asyncio.run(check())
    for node in (a, b, c):  # every node serves the same lot, from its actor or its replica
        views = {node.url: httpx.get(f"{node.url}/api/lots/{lots[0]}", timeout=10).json() for node in (a, b, c)}
        assert len({(v["seq"], v["price"]) for v in views.values()}) == 1, views
    verified = subprocess.run(
        [sys.executable, "-m", "auction_engine.cli", "verify", lots[0], "--url", c.url, "--token",
         c.token("auditor")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and verified.stdout.startswith("OK"), verified.stdout + verified.stderr


async def test_a_watcher_on_a_node_that_does_not_write_the_lot_sees_every_event_in_order(nodes: Nodes) -> None:
    a, b = nodes.start("n1"), nodes.start("n2")
    lot = f"W{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(create_open, a, lot)
    await asyncio.sleep(1.5)
    writer = await asyncio.to_thread(wait_owner, a, lot)
    other = b if writer == "n1" else a
    watcher = await Peer.open(other.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot})
    snapshot = await watcher.next(lambda f: f["type"] == "snapshot")
    start = snapshot["state"]["seq"]
    pair = [await asyncio.to_thread(bidder, node, f"w{n}") for n, node in enumerate((a, b))]
    for i in range(20):
        answer = await asyncio.to_thread(place, pair[i % 2], lot, f"w{i}", 101_000 + i * 1_000)
        assert answer["ok"], answer
    seqs = []
    while len(seqs) < 20:
        event = await watcher.next(lambda f: f["type"] == "event", timeout=5)
        seqs.append(event["seq"])
    assert seqs == list(range(start + 1, start + 21))
    await watcher.close()
    for http in pair:
        http.close()


def test_kill_9_of_a_lots_writer_in_a_burst_loses_no_acknowledged_bid(nodes: Nodes, log_reader: LogReader) -> None:
    a, b, _ = nodes.start("n1"), nodes.start("n2"), nodes.start("n3")
    lot = f"K{uuid.uuid4().hex[:6]}"
    create_open(a, lot)
    time.sleep(1.5)
    victim = wait_owner(b, lot)
    survivors = [n for name, n in nodes.nodes.items() if name != victim]
    pair = [bidder(survivors[0], "k1"), bidder(survivors[1], "k2")]
    survivor = survivors[0]
    acked: list[str] = []
    killed_at = None
    for i in range(60):
        if i == 20:
            nodes.nodes[victim].process.kill()  # type: ignore[union-attr]
            killed_at = time.monotonic()
        answer = place(pair[i % 2], lot, f"k{i}", 101_000 + i * 1_000)
        assert answer["type"] == "ack", answer
        if answer["ok"]:
            acked.append(f"k{i}")
        if i == 20:
            took = time.monotonic() - killed_at  # type: ignore[operator]
    for http in pair:
        http.close()
    new_owner = wait_owner(survivor, lot, not_this=victim)
    assert new_owner != victim
    assert took < LEASE_MS / 1000 + 4, f"the first bid after the kill took {took:.1f}s"

    async def check() -> None:
        raw, commands = await read_log(log_reader, lot)
        assert verify(raw).ok
        logged = [cmd.id for cmd in commands if cmd.kind == "bid"]
        assert logged == acked and len(acked) == 60
        outages = [cmd for cmd in commands if cmd.kind == "outage"]
        assert len(outages) == 1 and outages[0].outage_ms >= 300  # the lot got its writerless time back

    asyncio.run(check())


def test_a_paused_writer_is_fenced_when_it_wakes(nodes: Nodes, log_reader: LogReader) -> None:
    """SIGSTOP the lot's writer past its lease: another node takes the lot with a newer epoch. A bid
    the paused node took in before it froze is decided by it when it wakes, against the old epoch:
    the append is refused (fenced), the node lets the lot go, and the bid is answered by the writer
    of the lot then, once. Placement may give the lot back to the woken node later: with a new epoch."""
    a, b = nodes.start("n1"), nodes.start("n2")
    lot = f"S{uuid.uuid4().hex[:6]}"
    create_open(a, lot)
    time.sleep(1.5)
    paused_name = wait_owner(a, lot)
    paused = nodes.nodes[paused_name]
    other = b if paused_name == "n1" else a
    with staff(other) as http:
        paused_epoch = http.get(f"/api/lots/{lot}/owner").json()["epoch"]
    http, rival, zombie = bidder(other, "s1"), bidder(other, "s9"), bidder(paused, "s5")
    assert place(http, lot, "s0", 101_000)["ok"]
    paused.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
    late: dict[str, Any] = {}
    sent_to_paused = threading.Thread(target=lambda: late.update(place(zombie, lot, "s2", 110_000)))
    try:
        sent_to_paused.start()  # its socket buffers hold it until the node wakes
        assert place(rival, lot, "s1", 102_000)["ok"]  # answered by the node that took the lot over
        with staff(other) as staff_http:
            now = staff_http.get(f"/api/lots/{lot}/owner").json()
        assert now["node"] != paused_name and now["epoch"] > paused_epoch
    finally:
        paused.process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
    sent_to_paused.join(30)
    assert late.get("ok") is True, late
    assert place(http, lot, "s3", 120_000)["ok"]
    for client in (http, rival, zombie):
        client.close()

    async def check() -> None:
        raw, commands = await read_log(log_reader, lot)
        assert verify(raw).ok
        assert [cmd.id for cmd in commands if cmd.kind == "bid"] == ["s0", "s1", "s2", "s3"]

    asyncio.run(check())


def test_kill_9_of_the_redis_master_of_a_lots_slot_loses_no_acknowledged_bid(
    nodes: Nodes, log_reader: LogReader, redis_cluster: LocalRedisCluster,
) -> None:
    """With --min-replicas 1 an ack waits until a replica holds the entry (Redis WAIT), so the
    replica promoted after its master's kill -9 has every acknowledged bid."""
    a, b = nodes.start("n1", AUCTION_MIN_REPLICAS="1"), nodes.start("n2", AUCTION_MIN_REPLICAS="1")
    lot = f"R{uuid.uuid4().hex[:6]}"
    create_open(a, lot)
    master = redis_cluster.master_of(f"auction:{{{lot}}}:log")
    pair = [bidder(a, "r1"), bidder(b, "r2")]
    acked: list[str] = []
    refused: list[tuple[int, str, float]] = []  # which bid, why and when after the kill: what a failure needs told
    killed_at = 0.0
    try:
        for i in range(40):
            if i == 15:
                redis_cluster.kill(master)
                killed_at = time.monotonic()
            answer = place(pair[i % 2], lot, f"r{i}", 101_000 + i * 1_000, deadline_s=30)
            assert answer["type"] == "ack", answer
            if answer["ok"]:
                acked.append(f"r{i}")
            else:
                refused.append((i, f"{answer.get('reason')} next_min={answer.get('next_min')}",
                                round(time.monotonic() - killed_at, 2) if killed_at else 0.0))
    finally:
        for http in pair:
            http.close()
        redis_cluster.restart(master)  # it rejoins as a replica of the node promoted in its place
        redis_cluster.wait_healthy()

    async def check() -> None:
        raw, commands = await read_log(log_reader, lot)
        assert verify(raw).ok
        assert [cmd.id for cmd in commands if cmd.kind == "bid"] == acked
        assert len(acked) == 40, f"refused (bid, reason, s after the kill): {refused}"

    asyncio.run(check())


def test_a_rolling_restart_under_load_loses_no_acknowledged_bid_and_owes_no_time(nodes: Nodes, log_reader: LogReader) -> None:
    """Every node in turn stops (SIGTERM: it hands its lots over first) and starts again while
    bidders bid on three lots through whichever node answers. Graceful hand-overs are not outages."""
    names = ["n1", "n2", "n3"]
    for name in names:
        nodes.start(name)
    first = nodes.nodes["n1"]
    lots = [f"Q{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for lot in lots:
        create_open(first, lot)
    for who in ("q1", "q2"):
        first.register(who, who)
    time.sleep(1.5)
    tokens = {who: first.token("bidder", who, who) for who in ("q1", "q2")}
    stop = threading.Event()
    acked: dict[str, list[tuple[str, float]]] = {lot: [] for lot in lots}
    failures: list[str] = []

    def bid_on(lot: str) -> None:
        i, turn = 0, 0
        while not stop.is_set():
            who = ("q1", "q2")[i % 2]
            bid_id, amount = f"{lot}-{i}", 101_000 + i * 1_000
            deadline = time.monotonic() + 20
            while True:
                node = nodes.nodes[names[turn % 3]]
                turn += 1
                try:
                    reply = httpx.post(f"{node.url}/api/lots/{lot}/bids", json={"id": bid_id, "amount": amount},
                                       headers={"Authorization": f"Bearer {tokens[who]}"}, timeout=10)
                    if reply.status_code != 503:
                        body = reply.json()
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    failures.append(f"{bid_id} never answered")
                    return
                time.sleep(0.05)
            if body.get("ok"):
                acked[lot].append((bid_id, time.monotonic()))
            elif body.get("type") != "ack":
                failures.append(f"{bid_id}: {body}")
                return
            i += 1

    threads = [threading.Thread(target=bid_on, args=(lot,)) for lot in lots]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        for name in names:
            nodes.nodes[name].stop()
            time.sleep(0.5)
            nodes.start(name)
            time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not failures, failures[:3]

    async def check() -> None:
        for lot in lots:
            raw, commands = await read_log(log_reader, lot)
            assert verify(raw).ok
            assert [cmd.id for cmd in commands if cmd.kind == "bid"] == [bid_id for bid_id, _ in acked[lot]]
            assert not [cmd for cmd in commands if cmd.kind == "outage"]  # hand-overs, not outages
            times = [at for _, at in acked[lot]]
            assert len(times) > 20
            assert max(b - a for a, b in zip(times, times[1:], strict=False)) < 5.0  # never long without a writer

    asyncio.run(check())


def test_a_bidders_rate_limit_is_one_bucket_whichever_nodes_it_bids_through(nodes: Nodes) -> None:
    """Burst 4 at 1 bid/s: eight quick bids, alternately through two nodes (each node alone would
    let four through), are four accepted decisions at most, plus what one second refills."""
    slow = {"AUCTION_BID_RATE": "1", "AUCTION_BID_BURST": "4"}
    a, b = nodes.start("n1", **slow), nodes.start("n2", **slow)
    lot = f"T{uuid.uuid4().hex[:6]}"
    create_open(a, lot)
    via = [bidder(a, "t1"), bidder(b, "t1")]
    started = time.monotonic()
    answers = [place(via[i % 2], lot, f"t{i}", 200_000 + i * 1_000) for i in range(8)]
    elapsed = time.monotonic() - started
    for http in via:
        http.close()
    limited = [answer for answer in answers if answer.get("reason") == "rate_limited"]
    decided = [answer for answer in answers if answer.get("reason") != "rate_limited"]
    assert len(decided) <= 4 + int(elapsed) + 1, (elapsed, answers)
    assert len(limited) >= 8 - (4 + int(elapsed) + 1)
