"""Who may do what: roles are enforced on every route and frame, and the bidder is whoever
the token says."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .helpers import api, new_lot
from .wsclient import Peer

AUCTIONEER_ONLY = [
    ("post", "/api/lots", {"title": "x", "start_price": 1, "duration_s": 60}),
    ("post", "/api/bidders", {"bidder": "Z", "paddle": "99"}),
    ("get", "/api/bidders", None),
    ("post", "/api/lots/{lot}/open", None),
    ("post", "/api/lots/{lot}/close", None),
    ("post", "/api/lots/{lot}/floor-bids", {"paddle": "F", "amount": 5000}),
]


@pytest.mark.parametrize("method, path, body", AUCTIONEER_ONLY)
async def test_auctioneer_routes_refuse_everyone_else(engine, method, path, body):
    lot = (await new_lot(engine, open_it=False))["lot"]
    path = path.format(lot=lot)
    for role, status in (("watcher", 401), ("bidder", 403), ("auditor", 403)):
        async with api(engine, role, "B1" if role == "bidder" else None) as client:
            response = await client.request(method, path, json=body)
        assert response.status_code == status, (role, response.text)
        assert response.json()["error"]["code"] in ("unauthorized", "not_allowed")
    async with api(engine) as client:
        assert (await client.get(f"/api/lots/{lot}")).json()["status"] == "scheduled"


async def test_a_forged_or_garbled_token_is_refused_not_downgraded(engine):
    lot = (await new_lot(engine))["lot"]
    forged = engine.token("auctioneer")[:-4] + "AAAA"
    async with api(engine, "watcher") as client:
        response = await client.get(f"/api/lots/{lot}", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    async with connect(f"{engine.ws_url}?token={forged}") as ws:
        assert json.loads(await ws.recv())["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4401


async def test_only_bidders_bid_and_the_bidder_comes_from_the_token(engine):
    lot = (await new_lot(engine))["lot"]
    watcher = await Peer.open(engine.ws_url)
    assert (await watcher.bid(lot, "w1", amount=5000))["reason"] == "not_allowed"
    auctioneer = await Peer.open(engine.ws_url, engine.auctioneer_token)
    assert (await auctioneer.bid(lot, "a1", amount=5000))["reason"] == "not_allowed"
    bidder = await Peer.open(engine.ws_url, engine.token("bidder", "B7", "707"))
    await bidder.send({"type": "bid", "lot": lot, "id": "b1", "amount": 5000, "bidder": "SOMEONE-ELSE", "paddle": "1"})
    assert (await bidder.ack("b1"))["ok"]
    async with api(engine, "auditor") as client:
        log = (await client.get(f"/api/lots/{lot}/events", params={"since": 2})).json()["events"]
    assert log[0]["command"]["bidder"] == "B7" and log[0]["command"]["paddle"] == "707"
    assert log[0]["state"]["leader"] == "707"


async def test_the_full_log_and_settlements_are_for_auditors_and_auctioneers(engine):
    lot = (await new_lot(engine))["lot"]
    for role, full in (("watcher", False), ("bidder", False), ("auditor", True), ("auctioneer", True)):
        async with api(engine, role, "B1" if role == "bidder" else None) as client:
            events = (await client.get(f"/api/lots/{lot}/events")).json()["events"]
            assert ("command" in events[0]) is full, role
            settlements = await client.get("/api/settlements")
            assert settlements.status_code == (200 if full else 401 if role == "watcher" else 403), role


async def test_the_reserve_is_shown_to_the_auctioneer_alone(engine):
    lot = (await new_lot(engine, reserve=123400))["lot"]
    for role in ("watcher", "bidder", "auditor"):
        async with api(engine, role, "B1" if role == "bidder" else None) as client:
            state = (await client.get(f"/api/lots/{lot}")).json()
            listing = (await client.get("/api/lots")).json()["lots"]
        assert "reserve" not in state and "123400" not in str(state) and "123400" not in str(listing), role
    async with api(engine) as client:
        assert (await client.get(f"/api/lots/{lot}")).json()["reserve"] == 123400
