"""Ending-soon alerts pushed by the server on the bidder's own channel (issue 13 item 10,
`auction_engine/alerts.py`): to the lot's bidders and watchers only, once per lot and `ends_at`,
again after an extension; parsed by the Python client as typed frames."""

from __future__ import annotations

import pytest

from auction_engine.frames import ending_soon_frame
from bidding.notices import ending_soon
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


async def test_bidders_and_watchers_are_told_once_per_end_and_again_after_an_extension(module_engine) -> None:
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
        for name in ("alerted-a", "alerted-w", "alerted-b"):
            told = await _notices(clients[name], 1.0)
            assert [n.ends_at for n in told] == [extended], name  # once per end: the first is not repeated
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
