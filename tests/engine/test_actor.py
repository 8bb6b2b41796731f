"""LotActor (auction_engine/actor.py) in-process, against the real redis-server: a real RedisLog,
a real Hub, and Connections whose send functions append what they are handed to a list."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from auction_engine.actor import Book, LotActor, LotDeps, Work, bid_key, public_frame_bytes, staff_key
from auction_engine.answers import Ack, Answer, Applied, Refusal, Unwritten
from auction_engine.auth import Principal
from auction_engine.clock import Clock
from auction_engine.credit import CreditLedger
from auction_engine.fanout import Connection, Hub
from auction_engine.frames import JSON
from auction_engine.stream import RedisLog
from bidding.commands import Bid, Command, Hammer, Open, RetractLast
from bidding.log import create_lot, replay
from bidding.reasons import Reason
from bidding.spec import LotSpec

from .helpers import tap_pipelines

LOT = "L1"


@dataclass
class Wire:
    """A Connection's socket: every frame it is handed, decoded."""

    frames: list[dict[str, Any]] = field(default_factory=list)

    async def send_text(self, data: str) -> None:
        self.frames.append(json.loads(data))

    async def send_bytes(self, data: bytes) -> None:
        raise AssertionError("a JSON connection sends text")

    async def close(self, code: int) -> None:
        pass

    def abort(self) -> None:
        raise AssertionError("no frame is dropped here")

    async def send_many(self, frames: list[Any]) -> None:
        raise AssertionError("not batched")

    def write_now(self, frames: list[Any]) -> bool:
        raise AssertionError("not batched")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]


@dataclass
class Rig:
    actor: LotActor
    stream: RedisLog
    hub: Hub
    reloads: list[int] = field(default_factory=list)
    results: list[str | None] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def connect(self, principal: Principal) -> Wire:
        wire = Wire()
        conn = Connection(principal, JSON, wire)
        self.hub.add(conn)
        self.hub.watch(conn, LOT).release(0)  # watching live, no history in flight
        self.tasks.append(asyncio.create_task(conn.writer()))
        return wire

    def submit(self, command: Command, key: bytes = b"") -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()

        def reply(answer: Answer) -> None:
            if not future.done():
                future.set_result(answer)

        self.actor.submit(Work(command, reply, key))
        return future

    def bid(self, bidder: str, bid_id: str, amount: int | None = None, max: int | None = None) -> asyncio.Future[Answer]:
        command = Bid(at=self.actor.deps.clock.now_ms(), bidder=bidder, paddle=f"P{bidder}", id=bid_id, amount=amount, max=max)
        return self.submit(command, bid_key(bidder, bid_id))


@pytest.fixture
async def rig(redis_url: str) -> AsyncIterator[Rig]:
    redis = Redis.from_url(redis_url)
    stream = RedisLog(redis)
    clock = Clock()
    spec = LotSpec(lot=LOT, title="2018 Honda Accord", start_price=5000, duration_s=600, increments=((0, 100),))
    spec, state, entry, raw = create_lot(spec, clock.now_ms())
    epoch = await stream.create(LOT, [(raw, entry.hash, public_frame_bytes(spec, state, "created", entry.command.at), b"", b"")])
    hub = Hub()
    holder: list[Rig] = []

    async def reload(lot: str) -> Book:
        holder[0].reloads.append(1)
        new_epoch = await stream.claim(lot)
        spec, state = replay([(r.entry, r.hash) for r in await stream.read(lot)])
        return spec, state, new_epoch, await stream.acks(lot)

    deps = LotDeps(
        stream, CreditLedger(), hub, clock, reload,
        changed=lambda actor: None, result=lambda actor: holder[0].results.append(actor.state.result),
        head=lambda lot, seq, head_hash: None,
    )
    actor = LotActor(deps, spec, state, epoch, {})
    rig = Rig(actor, stream, hub)
    holder.append(rig)
    actor.start()
    assert isinstance(await rig.submit(Open(at=clock.now_ms())), Applied)
    yield rig
    await actor.stop()
    for task in rig.tasks:
        task.cancel()
    await redis.aclose()


def stage_count(stage: str) -> float:
    return REGISTRY.get_sample_value("auction_stage_seconds_count", {"stage": stage}) or 0.0


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_a_batch_of_bids_is_one_append_acked_in_seq_order_with_events_and_outbid_in_order(rig: Rig) -> None:
    watcher = rig.connect(Principal("watcher"))
    first = rig.connect(Principal("bidder", "A", "PA"))
    appended = stage_count("appended")
    futures = [rig.bid(bidder, f"{bidder}1", max=v) for bidder, v in (("A", 6000), ("B", 7000), ("C", 8000), ("D", 9000))]
    answers = [await f for f in futures]
    assert all(isinstance(a, Ack) for a in answers)
    seqs = [a.seq for a in answers if isinstance(a, Ack)]
    assert seqs == [3, 4, 5, 6]
    assert stage_count("appended") == appended + 1  # the four bids went to the stream in one append
    assert [r.seq for r in await rig.stream.read(LOT)] == [1, 2, 3, 4, 5, 6]
    await settle()
    assert [e["seq"] for e in watcher.of("event")] == [3, 4, 5, 6]
    assert [(f["seq"], f["price"]) for f in first.of("outbid")] == [(4, 6100)]
    for stage in ("queued", "decided", "answered"):
        assert stage_count(stage) > 0


async def test_a_fenced_append_answers_unavailable_and_the_actor_rebuilds_from_the_log(rig: Rig) -> None:
    assert isinstance(await rig.bid("A", "a1", amount=5000), Ack)
    await rig.stream.claim(LOT)  # another writer took the lot: this actor's epoch is fenced
    assert isinstance(await rig.bid("B", "b1", amount=5100), Unwritten)
    await settle()
    assert rig.reloads == [1]
    assert rig.actor.state.seq == 3  # the fenced bid is not in the rebuilt book
    retried = await rig.bid("B", "b1", amount=5100)
    assert isinstance(retried, Ack) and retried.seq == 4


async def test_an_append_that_landed_but_whose_reply_was_lost_still_reaches_every_watcher(rig: Rig) -> None:
    """The feed is gapless (docs/protocol.md): when a batch fails after Redis wrote it (the reply lost, or
    the fan-out raising, as a uvloop timer once made it), the rebuilt book holds the entry and the
    watchers get its event. Before, they never did, and every watcher of the hot lot saw a gap."""
    watcher = rig.connect(Principal("watcher"))
    assert isinstance(await rig.bid("A", "a1", amount=5000), Ack)
    lost: list[bool] = []

    def lose_once(got: list[Any]) -> list[Any]:
        if not lost:
            lost.append(True)
            raise ConnectionError("the reply was lost on its way back")
        return got

    tap_pipelines(rig.stream.redis, replies=lose_once)
    assert isinstance(await rig.bid("B", "b1", amount=5100), Unwritten)  # written, but nobody knows
    await settle()
    assert rig.reloads == [1] and rig.actor.state.seq == 4  # the rebuilt book holds it
    assert [e["seq"] for e in watcher.of("event")] == [3, 4]  # and the watchers had it
    retried = await rig.bid("B", "b1", amount=5100)
    assert isinstance(retried, Ack) and retried.seq == 4  # the retry is told what happened
    assert isinstance(await rig.bid("C", "c1", amount=5200), Ack)
    await settle()
    assert [e["seq"] for e in watcher.of("event")] == [3, 4, 5]


async def test_a_retried_id_gets_its_first_answer_in_the_same_batch_or_later(rig: Rig) -> None:
    same_batch = [rig.bid("A", "a1", amount=5000), rig.bid("A", "a1", amount=9000)]
    first, again = [await f for f in same_batch]
    assert isinstance(first, Ack) and first == again
    assert await rig.bid("A", "a1", amount=7000) == first
    refused = await rig.bid("B", "b1", amount=4000)
    assert isinstance(refused, Refusal) and refused.reason is Reason.TOO_LOW
    assert await rig.bid("B", "b1", amount=6000) == refused  # an id names one decision
    assert rig.actor.state.seq == 3


async def test_a_staff_command_resent_to_the_next_writer_gets_its_stored_answer_and_runs_once(rig: Rig) -> None:
    # A forwarded retract_last written by an owner that died before answering is sent again, with
    # the same key, to whoever writes the lot next: that writer reads the answer back from the log's
    # id index instead of taking off a second bid.
    for bidder, amount in (("A", 5000), ("B", 5100), ("C", 5200)):
        assert isinstance(await rig.bid(bidder, f"{bidder}1", amount=amount), Ack)
    key = staff_key()
    retract = RetractLast(at=rig.actor.deps.clock.now_ms(), reason="clerk keyed C's paddle by mistake")
    first = await rig.submit(retract, key)
    assert isinstance(first, Applied) and first.kind == "retracted"
    await rig.actor.stop()
    spec, state, epoch, acks = await rig.actor.deps.reload(LOT)
    rig.actor = LotActor(rig.actor.deps, spec, state, epoch, acks)  # the next writer, from the log alone
    rig.actor.start()
    again = await rig.submit(retract, key)
    assert again == first
    assert rig.actor.state.leader == "B" and rig.actor.state.price == 5100  # one bid taken off, not two
    assert [r.seq for r in await rig.stream.read(LOT)][-1] == first.seq
    assert staff_key() != key and not key[:1].isdigit()  # never a bid's key, which starts with a digit


async def test_credit_is_checked_before_the_rules_and_the_hammer_reports_the_result(rig: Rig) -> None:
    rig.actor.deps.credit.set_limit("A", 5500)
    refused = await rig.bid("A", "a1", amount=6000)
    assert isinstance(refused, Refusal) and refused.reason is Reason.CREDIT_LIMIT
    assert isinstance(await rig.bid("A", "a2", amount=5000), Ack)
    assert rig.actor.deps.credit.total("A") == 5000
    assert isinstance(await rig.submit(Hammer(at=rig.actor.deps.clock.now_ms())), Applied)
    assert rig.results == ["sold"]


async def test_the_next_append_leaves_before_the_last_batchs_events_are_written_to_watchers(rig: Rig) -> None:
    """A hot lot's flush to 1,000 watchers took tens of ms; run before the actor's next append was
    sent, it held the append back that long while Redis sat idle. The append now leaves first and the
    flush overlaps its fsync (lotfeed.append); a lot of three watchers too, as a sale's lots flushing in
    the same turn held back the append sent for all of them."""
    from tests.engine.test_fanout import Socket as FeedSocket

    order: list[str] = []

    class Watcher(FeedSocket):
        def write_now(self, frames: list[Any]) -> bool:
            if frames:
                order.append("write")
            return super().write_now(frames)

    for _ in range(3):
        conn = Connection(Principal("watcher"), JSON, Watcher(), batched=True)
        rig.hub.add(conn)
        rig.hub.watch(conn, LOT).release(0)
        rig.tasks.append(asyncio.create_task(conn.writer()))
    tap_pipelines(rig.stream.redis, sent=lambda: order.append("append"))
    first = rig.bid("A", "a1", amount=5000)
    while not order:  # the first bid's append is away: the second is a batch of its own
        await asyncio.sleep(0)
    second = rig.bid("B", "b1", amount=5100)
    assert isinstance(await first, Ack) and isinstance(await second, Ack)
    await settle()
    assert order[:3] == ["append", "append", "write"], order
