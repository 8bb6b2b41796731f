"""A bidder's own side (issue 13, items 9-11): their lots with where they stand, their
settlements, their watchlist and the `me` channel; each bidder reads only their own."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from .helpers import api, new_lot


async def _bid(engine, bidder: str, lot: str, amount: int, bid_id: str) -> None:
    async with api(engine, "bidder", bidder) as client:
        reply = await client.post(f"/api/lots/{lot}/bids", json={"amount": amount, "id": bid_id})
    assert reply.status_code == 200 and reply.json()["ok"], reply.text


async def _settled(engine, lot: str) -> None:
    async with api(engine) as client:
        for _ in range(100):
            if any(r["lot"] == lot for r in (await client.get("/api/settlements")).json()["settlements"]):
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"no settlement for {lot}")


async def test_my_lots_and_settlements_are_the_token_bidders_own(module_engine):
    engine = module_engine
    won = (await new_lot(engine))["lot"]
    other = (await new_lot(engine))["lot"]
    await _bid(engine, "M1", won, 5000, "m1-a")
    await _bid(engine, "M2", won, 15_000, "m2-a")
    await _bid(engine, "M1", won, 25_000, "m1-b")
    await _bid(engine, "M2", other, 5000, "m2-b")
    async with api(engine) as client:
        assert (await client.post(f"/api/lots/{won}/close")).status_code == 200
    await _settled(engine, won)

    async with api(engine, "bidder", "M1") as client:
        mine = {item["lot"]: item for item in (await client.get("/api/me/lots")).json()["lots"]}
        settlements = (await client.get("/api/me/settlements")).json()["settlements"]
    assert set(mine) == {won}
    assert mine[won]["standing"] == "won" and mine[won]["your_max"] == 25_000
    owed = mine[won]["settlement"]
    assert owed["hammer_price"] == 25_000 and owed["total_due"] == 25_000 + owed["premium"] and owed["payment_due_at"]
    assert [s["lot"] for s in settlements] == [won] and settlements[0]["winner"] == "M1"

    async with api(engine, "bidder", "M2") as client:
        mine = {item["lot"]: item for item in (await client.get("/api/me/lots")).json()["lots"]}
        assert (await client.get("/api/me/settlements")).json()["settlements"] == []
        assert (await client.get("/api/me/lots", params={"bidder": "M1"})).json()["lots"] == list(mine.values())
    assert {lot: item["standing"] for lot, item in mine.items()} == {won: "lost", other: "leading"}
    assert mine[won]["settlement"] is None and "maxima" not in mine[won]

    for role, status in (("watcher", 401), ("auctioneer", 403), ("auditor", 403)):
        async with api(engine, role) as client:
            for path in ("/api/me/lots", "/api/me/settlements", "/api/me/watchlist"):
                assert (await client.get(path)).status_code == status, (role, path)


async def test_a_watchlist_is_kept_per_bidder_and_names_only_real_lots(module_engine):
    engine = module_engine
    lot = (await new_lot(engine))["lot"]
    async with api(engine, "bidder", "W1") as client:
        assert (await client.put(f"/api/me/watchlist/{lot}")).json() == {"lots": [lot]}
        assert (await client.put(f"/api/me/watchlist/{lot}")).json() == {"lots": [lot]}  # idempotent
        missing = await client.put("/api/me/watchlist/NO-SUCH-LOT")
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "lot"
        assert (await client.get("/api/me/watchlist")).json() == {"lots": [lot]}
    async with api(engine, "bidder", "W2") as client:
        assert (await client.get("/api/me/watchlist")).json() == {"lots": []}
    async with api(engine, "bidder", "W1") as client:
        assert (await client.delete(f"/api/me/watchlist/{lot}")).json() == {"lots": []}


async def test_the_premium_quote_is_the_ledgers(module_engine):
    engine = module_engine
    async with api(engine, "watcher") as client:
        quote = (await client.get("/api/premium", params={"price": 10_000_000})).json()
        assert (await client.get("/api/premium")).status_code == 400
        assert (await client.get("/api/premium", params={"price": "-5"})).status_code == 400
    # DEFAULT_CNY: 5% of the first 5,000,000 fen, 3% of the next 5,000,000, plus the 500-yuan band fee
    assert quote == {"price": 10_000_000, "premium": 250_000 + 150_000 + 50_000, "total_due": 10_450_000}


async def test_subscribing_to_me_answers_the_bidders_lots_and_refuses_others(module_engine):
    engine = module_engine
    lot = (await new_lot(engine))["lot"]
    await _bid(engine, "C1", lot, 5000, "c1-a")
    async with connect(engine.ws_url, subprotocols=["auction.v1.json", f"auction.token.{engine.token('bidder', 'C1')}"]) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "subscribe", "lot": "me"}))
        frame = json.loads(await ws.recv())
        assert frame["type"] == "me" and [(x["lot"], x["standing"]) for x in frame["lots"]] == [(lot, "leading")]
        assert frame["watchlist"] == []
    async with connect(engine.ws_url, subprotocols=["auction.v1.json"]) as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send(json.dumps({"type": "subscribe", "lot": "me"}))
        assert json.loads(await ws.recv())["code"] == "not_allowed"
    async with api(engine) as client:
        reply = await client.post("/api/lots", json={"lot": "me", "title": "x", "start_price": 1, "duration_s": 60})
    assert reply.status_code == 422 and reply.json()["error"]["field"] == "lot"
