"""The scale-out credit stage of LotActor (auction_engine/actor.py): two actors, as two nodes would
hold them, each with its own in-memory CreditLedger, sharing only the BidderLedger on the real
redis-server. Neither actor sees the other's lot, yet one limit holds across both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from auction_engine.actor import Book, LotActor, LotDeps, Work, bid_key, public_frame_bytes
from auction_engine.answers import Ack, Answer, Applied, Refusal
from auction_engine.bidder_ledger import BidderLedger
from auction_engine.clock import Clock
from auction_engine.credit import CreditLedger
from auction_engine.fanout import Hub
from auction_engine.stream import RedisLog
from bidding.commands import Bid, BuyNow, Command, Open
from bidding.log import create_lot
from bidding.reasons import Reason
from bidding.spec import LotSpec

LIMIT = 10_000


@dataclass
class Node:
    """One lot's actor on a node of its own."""

    actor: LotActor

    async def call(self, command: Command, key: bytes = b"") -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.actor.submit(Work(command, future.set_result, key))
        answer = await future
        assert await self.actor.idle(5)  # the exposure is written back before the next batch
        return answer

    async def bid(self, bidder: str, bid_id: str, amount: int | None = None, max: int | None = None) -> Answer:
        at = self.actor.deps.clock.now_ms()
        return await self.call(Bid(at=at, bidder=bidder, paddle=f"P{bidder}", id=bid_id, amount=amount, max=max),
                               bid_key(bidder, bid_id))


@pytest.fixture
async def ledger(redis_url: str) -> AsyncIterator[BidderLedger]:
    redis = Redis.from_url(redis_url)
    yield BidderLedger(redis, rate=100, burst=100)
    await redis.aclose()


async def start(ledger: BidderLedger, lot: str, buy_now: int | None = None) -> Node:
    stream, clock = RedisLog(ledger.redis), Clock()
    spec = LotSpec(lot=lot, title="2018 Honda Accord", start_price=5000, duration_s=600, increments=((0, 100),),
                   buy_now=buy_now)
    spec, state, entry, raw = create_lot(spec, clock.now_ms())
    epoch = await stream.create(lot, [(raw, entry.hash, public_frame_bytes(spec, state, "created", entry.command.at), b"", b"")])
    credit = CreditLedger()
    credit.set_limit("A", LIMIT)  # every node knows the limit; only the shared ledger knows the other lot

    async def reload(lot: str) -> Book:
        raise AssertionError("no append fails here")

    async def expose(lot: str, changes: dict[str, int]) -> None:
        await asyncio.gather(*(ledger.set(bidder, lot, amount) for bidder, amount in changes.items()))

    deps = LotDeps(stream, credit, Hub(), clock, reload, changed=lambda actor: None, result=lambda actor: None,
                   head=lambda lot, seq, head_hash: None, reserve=ledger.reserve, expose=expose)
    node = Node(LotActor(deps, spec, state, epoch, {}))
    node.actor.start()
    assert isinstance(await node.call(Open(at=clock.now_ms())), Applied)
    return node


async def test_one_limit_holds_across_two_actors_that_share_only_the_ledger(ledger: BidderLedger) -> None:
    await ledger.set_limit("A", LIMIT)
    one, two = await start(ledger, "C1"), await start(ledger, "C2")
    try:
        assert isinstance(await one.bid("A", "a1", max=6000), Ack)
        refused = await two.bid("A", "a2", amount=5000)
        assert isinstance(refused, Refusal) and refused.reason is Reason.CREDIT_LIMIT
        assert refused.next_min == 5000  # the same refusal `_precheck` gives
        assert await ledger.total("A") == 6000  # the refused reservation stood nothing
        leading = await one.bid("A", "a3", amount=5100)
        assert isinstance(leading, Refusal) and leading.reason is Reason.ALREADY_LEADING
        assert await ledger.total("A") == 6000  # reserved at the standing maximum, set back after
        too_low = await one.bid("C", "c1", amount=1000)  # C is unknown here: reserved, then released
        assert isinstance(too_low, Refusal) and too_low.reason is Reason.TOO_LOW
        assert await ledger.total("C") == 0
        assert isinstance(await one.bid("B", "b1", max=7000), Ack)  # A is outbid on C1: released
        assert await ledger.total("A") == 0 and await ledger.total("B") == 7000
        assert isinstance(await two.bid("A", "a4", amount=5000), Ack)
        assert await ledger.total("A") == 5000
        assert isinstance(await two.bid("A", "a4", amount=5000), Ack)  # a retry reserves nothing
    finally:
        await one.actor.stop()
        await two.actor.stop()


async def test_a_buy_now_past_the_limit_is_refused_and_a_bidder_unknown_here_is_checked_by_the_ledger(
    ledger: BidderLedger,
) -> None:
    await ledger.set_limit("A", LIMIT)
    await ledger.set_limit("N", 4000)  # registered on another node; this one has not heard yet
    one, two = await start(ledger, "C1"), await start(ledger, "C2", buy_now=8000)
    try:
        assert isinstance(await one.bid("A", "a1", amount=5000), Ack)
        at = two.actor.deps.clock.now_ms()
        refused = await two.call(BuyNow(at=at, bidder="A", paddle="PA", id="bn"), bid_key("A", "bn"))
        assert isinstance(refused, Refusal) and refused.reason is Reason.CREDIT_LIMIT and refused.next_min is None
        unknown = await two.bid("N", "n1", amount=5000)
        assert isinstance(unknown, Refusal) and unknown.reason is Reason.CREDIT_LIMIT
        assert two.actor.state.leader is None and await ledger.total("N") == 0
    finally:
        await one.actor.stop()
        await two.actor.stop()
