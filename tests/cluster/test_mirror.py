"""A lot mirrored on a node that does not own it follows the owner's log exactly, on a real cluster."""

from __future__ import annotations

import uuid
from typing import Any

import msgpack
import pytest
from redis.asyncio.cluster import RedisCluster

from auction_engine.mirror import LotMirror, MirrorBroken
from auction_engine.stream import RedisLog, log_key
from bidding.commands import Bid, Command, Open
from bidding.log import apply_entry, create_lot, make_entry
from bidding.rules import Accepted, decide
from bidding.spec import LotSpec
from bidding.state import LotState
from bidding.views import public_view


@pytest.fixture
async def stream(redis_cluster: Any) -> Any:
    client = RedisCluster.from_url(redis_cluster.url)
    yield RedisLog(client)
    await client.aclose()


class Owner:
    """The writing side, as a lot actor appends: decide, make the entry, one fenced append."""

    def __init__(self, stream: RedisLog, spec: LotSpec, state: LotState, epoch: int) -> None:
        self.stream, self.spec, self.state, self.epoch = stream, spec, state, epoch

    @classmethod
    async def create(cls, stream: RedisLog) -> Owner:
        spec = LotSpec.from_dict({"lot": "L" + uuid.uuid4().hex[:8], "title": "Toyota Camry 2019", "start_price": 5_000_000,
                                  "duration_s": 600})
        spec, state, entry, raw = create_lot(spec, 1_000)
        public = msgpack.packb({"kind": "created", "at": 1_000, "state": public_view(spec, state, 1_000)})
        epoch = await stream.create(spec.lot, [(raw, entry.hash, public, b"", b"")])
        return cls(stream, spec, state, epoch)

    async def run(self, *commands: Command) -> None:
        expected, items = self.state.seq, []
        for cmd in commands:
            decision = decide(self.spec, self.state, cmd)
            assert isinstance(decision, Accepted)
            entry, raw = make_entry(self.state, cmd, decision.events)
            apply_entry(self.spec, self.state, entry)
            public = msgpack.packb({"kind": decision.events[-1].kind, "at": cmd.at,
                                    "state": public_view(self.spec, self.state, cmd.at)})
            items.append((raw, entry.hash, public, b"", b""))
        await self.stream.append(self.spec.lot, expected, self.epoch, items)


def _bid(at: int, bidder: str, amount: int) -> Bid:
    return Bid(at=at, bidder=bidder, paddle=bidder, id=f"{bidder}-{at}", amount=amount)


async def test_a_mirror_catches_up_entry_by_entry_and_ends_in_the_owners_state(stream: RedisLog) -> None:
    owner = await Owner.create(stream)
    mirror = await LotMirror.load(stream, owner.spec.lot)
    assert mirror is not None and mirror.seq == 1
    await owner.run(Open(at=2_000), _bid(3_000, "dealer-1", 5_000_000))
    await owner.run(_bid(4_000, "dealer-2", 5_200_000))
    assert [seq for seq, _ in await mirror.catch_up(upto=2)] == [2]  # the feed named seq 2: no further
    moved = await mirror.catch_up()
    assert [seq for seq, _ in moved] == [3, 4]
    assert msgpack.unpackb(moved[-1][1])["state"]["price"] == 5_200_000
    assert mirror.state.to_dict() == owner.state.to_dict()
    assert await mirror.catch_up(upto=4) == []  # an old announcement changes nothing


async def test_a_new_mirror_of_a_busy_lot_starts_from_the_log_as_it_is(stream: RedisLog) -> None:
    owner = await Owner.create(stream)
    await owner.run(Open(at=2_000), *[_bid(3_000 + i, f"dealer-{i % 3}", 5_000_000 + 100_000 * i) for i in range(20)])
    mirror = await LotMirror.load(stream, owner.spec.lot)
    assert mirror is not None and mirror.state.to_dict() == owner.state.to_dict()
    assert await LotMirror.load(stream, "L-no-such-lot") is None


async def test_an_entry_that_does_not_continue_the_chain_breaks_the_mirror_and_changes_nothing(stream: RedisLog) -> None:
    owner = await Owner.create(stream)
    mirror = await LotMirror.load(stream, owner.spec.lot)
    assert mirror is not None
    await owner.run(Open(at=2_000))
    await stream.redis.xadd(log_key(owner.spec.lot), {"e": b"forged", "h": b"x" * 32, "p": b""}, id="3-1")
    before = mirror.state.to_dict()
    with pytest.raises(MirrorBroken):
        await mirror.catch_up()
    assert mirror.state.to_dict() == before
