"""Pre-bids on a running engine (docs/rules.md "Pre-bids", issue 14 item 1): proxy maxima sent
over the WebSocket before a lot opens, only their number public, credit held from the moment they
are accepted, placed in order when the schedule opens the lot; `verify` replays it."""

from __future__ import annotations

import asyncio
import time

from .helpers import EXAMPLE_LADDER, api, new_lot
from .test_corrections import event
from .test_recovery import verify
from .wsclient import Peer


async def test_pre_bids_count_publicly_hold_credit_and_place_in_order_at_the_open(engine):
    engine.register("D", "404", credit_limit=8000)
    starts_at = int(time.time() * 1000) + 2500
    lot = (await new_lot(engine, starts_at=starts_at, increments=EXAMPLE_LADDER, reserve=12000))["lot"]
    bidders = {name: await Peer.open(engine.ws_url, engine.token("bidder", name)) for name in "ABC"}
    bidders["D"] = await Peer.open(engine.ws_url, engine.token("bidder", "D", "404"))
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot})
    await watcher.next(lambda f: f["type"] == "snapshot")

    first = await bidders["A"].bid(lot, "a1", maximum=9000)
    assert (first["ok"], first["leading"], first["price"], first["your_max"]) == (True, False, None, 9000)
    assert (await bidders["B"].bid(lot, "b1", amount=6000))["reason"] == "lot_not_open"
    assert (await bidders["B"].bid(lot, "b2", maximum=9000))["ok"]
    assert (await bidders["C"].bid(lot, "c1", maximum=15000))["ok"]
    assert (await bidders["D"].bid(lot, "d1", maximum=9000))["reason"] == "credit_limit"
    assert (await bidders["D"].bid(lot, "d2", maximum=5000))["ok"]
    seen = await watcher.next(lambda f: event("pre_bid")(f) and f["state"]["pre_bids"] == 4)
    assert (seen["state"]["price"], seen["state"]["leader"], seen["state"]["bids"]) == (None, None, 0)
    async with api(engine, "watcher") as w, api(engine, "bidder", "C") as c, api(engine) as clerk:
        public = (await w.get(f"/api/lots/{lot}")).json()
        assert public["pre_bids"] == 4 and 15000 not in public.values()
        assert (await c.get(f"/api/lots/{lot}")).json()["your_max"] == 15000
        exposure = {b["bidder"]: b["exposure"] for b in (await clerk.get("/api/bidders")).json()["bidders"]}
    assert exposure["D"] == 5000

    opened = await watcher.next(lambda f: f["type"] == "event" and f["state"]["status"] == "open", timeout=6)
    state = opened["state"]
    assert (state["leader"], state["price"], state["next_min"], state["bids"], state["pre_bids"]) == ("C", 12000, 12500, 3, 0)
    async with api(engine) as clerk:
        history = (await clerk.get(f"/api/lots/{lot}/events")).json()["events"]
        exposure = {b["bidder"]: b["exposure"] for b in (await clerk.get("/api/bidders")).json()["bidders"]}
    assert exposure["D"] == 0, "a pre-bid passed at the open holds nothing"
    opening = history[-1]
    assert opening["command"]["kind"] == "tick" and opening["command"]["at"] == starts_at
    assert [e["kind"] for e in opening["events"]] == ["opened", "bid", "bid", "bid"]
    result = await asyncio.to_thread(verify, engine, lot)
    assert result.returncode == 0, result.stdout + result.stderr
    for peer in (watcher, *bidders.values()):
        await peer.close()
