"""auction_engine/stream.py against the real redis-server: the fenced append of a lot's stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from auction_engine.stream import Fenced, LotExists, RedisLog, SeqMismatch
from bidding import Accepted, Bid, BidPlaced, LotSpec, Open, Opened, decide
from bidding.log import apply_entry, create_lot, decode_entry, make_entry, replay
from bidding.state import LotState

SPEC = LotSpec(lot="L17", title="Volvo V70", start_price=1_000, duration_s=600, increments=((0, 100),))


@pytest.fixture
async def log(redis_url: str) -> AsyncIterator[RedisLog]:
    redis = Redis.from_url(redis_url)
    yield RedisLog(redis)
    await redis.aclose()


class Writer:
    """One writer of the lot: the rules decide, each entry is appended as the engine appends it."""

    def __init__(self, log: RedisLog, state: LotState, epoch: int) -> None:
        self.log, self.state, self.epoch = log, state, epoch

    def next(self, cmd: Open | Bid, ack: bytes = b"") -> tuple[bytes, bytes, bytes, bytes, bytes]:
        decision = decide(SPEC, self.state, cmd)
        assert isinstance(decision, Accepted), decision
        entry, raw = make_entry(self.state, cmd, decision.events)
        apply_entry(SPEC, self.state, entry)
        bid_key = cmd.id.encode() if isinstance(cmd, Bid) else b""
        return raw, entry.hash, b"public %d" % entry.seq, bid_key, ack

    async def append(self, *items: tuple[bytes, bytes, bytes, bytes, bytes], expected: int | None = None) -> int:
        seq = self.state.seq - len(items) if expected is None else expected
        return await self.log.append(SPEC.lot, seq, self.epoch, list(items))


async def new_lot(log: RedisLog) -> Writer:
    _spec, state, entry, raw = create_lot(SPEC, at=1_000)
    epoch = await log.create(SPEC.lot, [(raw, entry.hash, b"public 1", b"", b"")])
    return Writer(log, state, epoch)


def bid(bidder: str, at: int, amount: int) -> Bid:
    return Bid(at=at, bidder=bidder, paddle=bidder.upper(), id=f"{bidder}-{at}", max=amount)


async def test_a_created_lot_is_listed_and_replays_from_its_stream(log: RedisLog) -> None:
    writer = await new_lot(log)
    assert await writer.append(writer.next(Open(at=2_000)), writer.next(bid("ana", 3_000, 5_000))) == 3
    records = await log.read(SPEC.lot)
    assert [r.seq for r in records] == [1, 2, 3]
    assert [r.public for r in records] == [b"public 1", b"public 2", b"public 3"]
    spec, state = replay((r.entry, r.hash) for r in records)
    assert (spec, state) == (SPEC, writer.state)
    assert await log.lot_ids() == [SPEC.lot]
    assert await log.last_seq(SPEC.lot) == 3


async def test_creating_a_lot_twice_is_refused_lot_exists(log: RedisLog) -> None:
    await new_lot(log)
    with pytest.raises(LotExists):
        await new_lot(log)
    assert [r.seq for r in await log.read(SPEC.lot)] == [1]


async def test_a_writer_with_a_stale_epoch_is_fenced_and_appends_nothing(log: RedisLog) -> None:
    old = await new_lot(log)
    new_epoch = await log.claim(SPEC.lot)  # another node takes the lot
    assert new_epoch == old.epoch + 1
    item = old.next(Open(at=2_000))
    with pytest.raises(Fenced):
        await old.append(item)
    assert [r.seq for r in await log.read(SPEC.lot)] == [1]
    new = Writer(log, old.state, new_epoch)
    assert await new.append(item) == 2


async def test_an_append_that_expects_another_seq_is_refused_seq_mismatch(log: RedisLog) -> None:
    writer = await new_lot(log)
    await writer.append(writer.next(Open(at=2_000)))
    item = writer.next(bid("ana", 3_000, 5_000))
    for expected in (1, 3):
        with pytest.raises(SeqMismatch):
            await writer.append(item, expected=expected)
    assert await log.last_seq(SPEC.lot) == 2
    assert await writer.append(item, expected=2) == 3


async def test_a_batch_is_all_or_nothing(log: RedisLog) -> None:
    writer = await new_lot(log)
    batch = [writer.next(Open(at=2_000)), writer.next(bid("ana", 3_000, 5_000))]
    await log.claim(SPEC.lot)
    with pytest.raises(Fenced):
        await writer.append(*batch)
    assert await log.acks(SPEC.lot) == {}
    assert [r.seq for r in await log.read(SPEC.lot)] == [1]


async def test_read_ranges_are_after_exclusive_upto_inclusive_and_counted(log: RedisLog) -> None:
    writer = await new_lot(log)
    items = [writer.next(Open(at=2_000))]
    items += [writer.next(bid(b, 3_000 + i, 5_000 + 1_000 * i)) for i, b in enumerate(("ana", "ben", "cy", "dee"))]
    await writer.append(*items)
    seqs = [[r.seq for r in await log.read(SPEC.lot, **kw)] for kw in (
        {}, {"after": 2}, {"after": 2, "upto": 4}, {"upto": 3}, {"after": 1, "count": 2}, {"after": 6},
    )]
    assert seqs == [[1, 2, 3, 4, 5, 6], [3, 4, 5, 6], [3, 4], [1, 2, 3], [2, 3], []]
    last = await log.last_records([SPEC.lot, "nowhere"])
    assert last["nowhere"] is None
    assert last[SPEC.lot] is not None and last[SPEC.lot].seq == 6


async def test_each_ack_is_stored_with_its_entry_under_the_bid_id(log: RedisLog) -> None:
    writer = await new_lot(log)
    opened = writer.next(Open(at=2_000))
    first = writer.next(bid("ana", 3_000, 5_000), ack=b"ack ana")
    second = writer.next(bid("ben", 4_000, 7_000), ack=b"ack ben")
    await writer.append(opened, first, expected=1)
    assert await log.acks(SPEC.lot) == {b"ana-3000": b"ack ana"}
    await writer.append(second, expected=3)
    assert await log.acks(SPEC.lot) == {b"ana-3000": b"ack ana", b"ben-4000": b"ack ben"}
    events = [e for r in await log.read(SPEC.lot) for e in decode_entry(r.entry, r.hash).events]
    assert [type(e) for e in events[1:]] == [Opened, BidPlaced, BidPlaced]


async def test_snapshots_and_settled_lots_are_kept_beside_the_stream(log: RedisLog) -> None:
    await new_lot(log)
    assert await log.load_snapshot(SPEC.lot) is None
    await log.save_snapshot(SPEC.lot, b"snapshot at 1")
    assert await log.load_snapshot(SPEC.lot) == b"snapshot at 1"
    await log.mark_settled(SPEC.lot)
    assert await log.settled_ids() == {SPEC.lot}
