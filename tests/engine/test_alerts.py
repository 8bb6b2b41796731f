"""Ending-soon alerts pushed by the server on the bidder's own channel (issue 13 item 10,
`auction_engine/alerts.py`): to the lot's bidders and watchers only, once per lot while it stays
inside the window (an extension out of it and back in alerts again); parsed by the Python client as
typed frames."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from auction_engine.alerts import EndingSoonAlerts
from auction_engine.clock import Clock
from auction_engine.fanout import Hub
from auction_engine.frames import Outgoing, ending_soon_frame
from bidding.notices import ending_soon
from bidding.spec import LotSpec
from bidding.state import OPEN, LotState
from clients.client import AuctionClient, ClientError
from clients.frames import Me, Notice
from tests.schema_check import check_frame

from .helpers import api, new_lot


def test_who_is_told_a_lot_ends_soon() -> None:
    state = LotState()
    state.status, state.ends_at = OPEN, 100_000
    state.paddles = {"b1": "11", "floor:F1": "F1", "b2": "12"}
    assert [n.bidder for n in ending_soon(state, 40_000, 60_000, {"w1", "b1"})] == ["b1", "b2", "w1"]  # no floor paddle
    assert {n.ends_at for n in ending_soon(state, 40_000, 60_000)} == {100_000}
    assert ending_soon(state, 39_999, 60_000) == []  # not yet inside the window
    assert ending_soon(state, 100_000, 60_000) == []  # ended
    state.ends_at = None  # a live lot before fair warning has no end to warn of
    assert ending_soon(state, 40_000, 60_000, {"w1"}) == []


async def _notices(client: AuctionClient, timeout: float) -> list[Notice]:
    got: list[Notice] = []
    with pytest.raises(TimeoutError):
        while True:
            frame = await client.next_private(timeout)
            if isinstance(frame, Notice):
                got.append(frame)
    return got


async def test_bidders_and_watchers_are_told_once_and_not_again_when_an_extension_keeps_the_lot_inside_the_window(
        module_engine) -> None:
    engine = module_engine
    lot = (await new_lot(engine, open_it=False, duration_s=45, anti_snipe={"window_s": 50, "extend_s": 50}))["lot"]
    far = (await new_lot(engine, duration_s=600))["lot"]
    async with api(engine, "bidder", "alerted-a") as client:  # a pre-bid: a bidder of the lot at its open
        assert (await client.post(f"/api/lots/{lot}/bids", json={"max": 9000, "id": "a-1"})).json()["ok"]
        assert (await client.post(f"/api/lots/{far}/bids", json={"amount": 5000, "id": "a-2"})).json()["ok"]
    async with api(engine, "bidder", "alerted-w") as client:
        assert (await client.put(f"/api/me/watchlist/{lot}")).status_code == 200
    clients = {name: AuctionClient(engine.url, engine.token("bidder", name)) for name in
               ("alerted-a", "alerted-w", "alerted-b", "bystander")}
    try:
        for client in clients.values():
            await client.connect()
            assert isinstance(await client.subscribe_me(), Me)  # none of them watches the lot itself
        assert clients["alerted-w"].me is not None and clients["alerted-w"].me.watchlist == (lot,)
        async with api(engine) as staff:
            opened = (await staff.post(f"/api/lots/{lot}/open")).json()

        first = await clients["alerted-a"].next_private(5)
        assert first == Notice("ending_soon", lot, opened["ends_at"], "Toyota Camry 2.0 2019", first.server_time)
        assert (await clients["alerted-w"].next_private(5)).ends_at == opened["ends_at"]

        ack = await clients["alerted-b"].bid(lot, amount=opened["next_min"])  # inside the anti-snipe window: a new end
        assert ack.ok
        async with api(engine) as staff:
            extended = (await staff.get(f"/api/lots/{lot}")).json()["ends_at"]
        assert extended > opened["ends_at"]
        for name in ("alerted-a", "alerted-w"):  # still inside the window: the lot's feed has the new end
            assert await _notices(clients[name], 1.0) == [], name
        assert [n.ends_at for n in await _notices(clients["alerted-b"], 1.0)] == [extended]  # a new bidder: told
        assert await _notices(clients["bystander"], 0.5) == []  # neither bid nor watched; `far` ends later
        async with api(engine, "bidder", "bystander") as client:  # watching inside the window: told then
            assert (await client.put(f"/api/me/watchlist/{lot}")).status_code == 200
        assert [n.ends_at for n in await _notices(clients["bystander"], 1.0)] == [extended]
    finally:
        for client in clients.values():
            await client.close()


async def test_only_a_bidder_has_the_channel(module_engine) -> None:
    engine = module_engine
    async with AuctionClient(engine.url, engine.auctioneer_token) as staff:
        with pytest.raises(ClientError) as refused:
            await staff.subscribe_me(timeout=5)
    assert refused.value.code == "not_allowed"


def test_the_notice_frame_fits_the_asyncapi_document() -> None:
    check_frame(ending_soon_frame("L1", "Kia K5", 90_000, 30_000))



async def test_a_watch_kept_before_the_reverse_sets_alerts_once_its_bidder_connects(module_engine) -> None:
    engine = module_engine
    from redis.asyncio import Redis

    from auction_engine.bidder_lots import watch_key

    lot = (await new_lot(engine, open_it=False, duration_s=45))["lot"]
    engine.register("old-watcher", "old-watcher")
    redis = Redis.from_url(engine.redis_url)
    try:
        await redis.sadd(watch_key("old-watcher"), lot)  # as a watch was written before `auction:{L}:watchers`
    finally:
        await redis.aclose()
    async with AuctionClient(engine.url, engine.token("bidder", "old-watcher")) as client:
        assert (await client.subscribe_me()).watchlist == (lot,)
        async with api(engine) as staff:
            assert (await staff.post(f"/api/lots/{lot}/open")).status_code == 200
        assert [n.lot for n in await _notices(client, 2)] == [lot]


class _Told(Hub):
    """The hub, keeping what each bidder was told: of which lot, and of which end."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[tuple[str, str]] = []
        self.ends: list[tuple[str, int]] = []

    def to_bidder(self, bidder: str, out: Outgoing) -> None:
        self.told.append((bidder, out.frame["lot"]))
        self.ends.append((bidder, out.frame["ends_at"]))


class _Lot:
    def __init__(self, lot: str, ends_at: int, paddles: dict[str, str]) -> None:
        self.lot = lot
        self.spec = LotSpec(lot=lot, title=lot, start_price=1_000, duration_s=600, increments=((0, 100),))
        self.state = LotState()
        self.state.status, self.state.ends_at, self.state.seq, self.state.paddles = OPEN, ends_at, 1, paddles


async def test_a_pass_lists_the_bidders_of_a_lot_again_only_once_it_changed(redis_url: str, monkeypatch) -> None:
    """A sale day's 500 lots sit inside the window together: listing every lot's bidders and watchers
    on every pass (twice a second) was about a tenth of the engine's time. A lot unchanged since a pass
    that left no one to tell is skipped; a new bidder on it is still told."""
    import auction_engine.alerts as alerts

    listed: list[str] = []

    def counted(state: LotState, now: int, window_ms: int, watchers: frozenset[str] | set[str] = frozenset()) -> list[Any]:
        listed.append(state.paddles and next(iter(state.paddles)))
        return ending_soon(state, now, window_ms, watchers)

    monkeypatch.setattr(alerts, "ending_soon", counted)
    clock = Clock()
    ends_at = clock.now_ms() + 30_000
    lots = [_Lot(f"Q{i}", ends_at, {f"b{i}": str(i)}) for i in range(50)]
    hub = _Told()
    redis = Redis.from_url(redis_url)
    try:
        scan = EndingSoonAlerts(redis, hub, clock, lambda: lots, 60_000)
        await scan.scan()
        assert sorted(hub.told) == sorted((f"b{i}", f"Q{i}") for i in range(50))
        await scan.scan()  # the pass that finds no one left to tell
        listed.clear()
        await scan.scan()
        assert listed == []  # unchanged: not listed again

        lots[7].state.paddles = {**lots[7].state.paddles, "late": "99"}  # a new bidder's accepted bid
        lots[7].state.seq += 1
        await scan.scan()
        assert hub.told[50:] == [("late", "Q7")]
        assert listed == ["b7"]  # that lot alone, once
        await scan.scan()  # the pass that finds no one left to tell on it
        listed.clear()
        await scan.scan()
        assert listed == []
    finally:
        await redis.aclose()


async def test_a_sale_entering_the_window_all_at_once_is_told_in_pieces_not_in_one_burst(redis_url: str) -> None:
    """500 lots entering the window together alert every bidder in one pass. In one pipeline that held
    the engine's loop 50-76 ms at a time (the acks of every other lot behind it): the claims go in
    round trips of at most `PER_ROUND_TRIP` bidders, a crowded lot's split over several, and everyone
    is told once."""
    from auction_engine.alerts import PER_ROUND_TRIP

    from .helpers import tap_pipelines

    clock = Clock()
    later = clock.now_ms() + 90_000
    lots = [_Lot(f"P{i}", later, {f"b{i}": str(i), f"c{i}": str(1000 + i)}) for i in range(300)]
    crowded = _Lot("CROWD", later, {f"w{i}": str(5000 + i) for i in range(PER_ROUND_TRIP + 100)})
    lots.append(crowded)
    hub = _Told()
    redis = Redis.from_url(redis_url)
    claimed: list[int] = []

    def counted(replies: list[Any]) -> list[Any]:
        claimed.append(sum(1 for r in replies if type(r) is int))  # SADD answers 0 or 1, PEXPIRE and SET True
        return replies

    try:
        scan = EndingSoonAlerts(redis, hub, clock, lambda: lots, 60_000)
        await scan.scan()  # outside the window: nothing
        assert hub.told == []
        tap_pipelines(redis, replies=counted)
        for lot in lots:  # all inside together
            lot.state.ends_at = clock.now_ms() + 30_000
            lot.state.seq += 1
        await scan.scan()
        everyone = 300 * 2 + PER_ROUND_TRIP + 100
        assert sorted(hub.told) == sorted([(b, lot.lot) for lot in lots for b in lot.state.paddles])
        assert len(hub.told) == everyone
        claims = [n for n in claimed if n]
        assert max(claims) <= PER_ROUND_TRIP
        assert len(claims) == -(-everyone // PER_ROUND_TRIP)  # full pieces but the last
    finally:
        await redis.aclose()


async def test_an_extension_inside_the_window_tells_no_one_again_and_one_out_of_it_tells_everyone_on_return(
        redis_url: str) -> None:
    """In a sale's anti-sniping storms the lots were extended every few seconds and each extension
    told every bidder and watcher again: 15 claims and frames a time, the sale-day ack p99 34-37 ms
    against 17-20 without (docs/performance.md "Round twelve"). A bidder is told once while the lot
    stays inside the window, an extension landing while the claims are in flight included; a lot
    extended out of the window tells everyone again when it comes back in, and a second node (or a
    restarted engine) reading the same episode from Redis tells no one twice."""
    from .helpers import tap_pipelines

    clock = Clock()
    first = clock.now_ms() + 30_000
    lot = _Lot("EXT", first, {"b1": "1", "b2": "2"})
    hub = _Told()
    redis = Redis.from_url(redis_url)
    scan = EndingSoonAlerts(redis, hub, clock, lambda: [lot], 60_000)
    try:
        await scan.scan()  # b1 and b2 told of `first`
        lot.state.paddles = {**lot.state.paddles, "b3": "3"}  # a new bidder, who bids just as the lot is extended
        lot.state.seq += 1

        def extended() -> None:
            if lot.state.ends_at == first:  # the first pipeline sent after this point only
                lot.state.ends_at = first + 5_000
                lot.state.seq += 1

        tap_pipelines(redis, sent=extended)
        await scan.scan()  # claims b3; the extension (still inside the window) lands before the answer
        await scan.scan()
        await scan.scan()
        assert hub.ends == [("b1", first), ("b2", first), ("b3", first)]

        other = EndingSoonAlerts(redis, _Told(), clock, lambda: [lot], 60_000)  # the lot's next owner
        await other.scan()
        await other.scan()
        assert other.hub.ends == []  # type: ignore[attr-defined]

        lot.state.ends_at = clock.now_ms() + 90_000  # extended out of the window
        lot.state.seq += 1
        await scan.scan()
        assert len(hub.ends) == 3
        back = lot.state.ends_at = clock.now_ms() + 40_000  # and inside it again
        lot.state.seq += 1
        await scan.scan()
        await scan.scan()
        assert hub.ends[3:] == [("b1", back), ("b2", back), ("b3", back)]
    finally:
        await redis.aclose()
