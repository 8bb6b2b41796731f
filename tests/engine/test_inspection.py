"""Inspection versions on a running engine (docs/rules.md "Inspection versions", issue 14 item 6):
the auctioneer publishes a newer report, watchers are told, a maximum on the older one stops
answering until its bidder reconfirms over the WebSocket; `verify` replays it."""

from __future__ import annotations

import asyncio

from .helpers import EXAMPLE_LADDER, api, new_lot
from .test_corrections import event
from .test_recovery import verify
from .wsclient import Peer


async def test_a_newer_report_suspends_older_maxima_until_a_reconfirm(engine):
    lot = (await new_lot(engine, increments=EXAMPLE_LADDER,
                         vehicle={"make": "BYD", "inspection": {"grade": "4", "version": 1}}))["lot"]
    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    b = await Peer.open(engine.ws_url, engine.token("bidder", "B"))
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot})
    await watcher.next(lambda f: f["type"] == "snapshot")
    assert (await a.bid(lot, "a1", maximum=9000))["ok"]
    assert (await b.bid(lot, "b1", amount=6000))["ok"]

    async with api(engine) as clerk:
        stale = await clerk.post(f"/api/lots/{lot}/inspection", json={"version": 1})
        assert (stale.status_code, stale.json()["error"]["code"]) == (403, "not_allowed")
        published = await clerk.post(f"/api/lots/{lot}/inspection", json={"version": 2, "report_url": "https://r.example/2"})
        assert published.status_code == 200 and published.json()["seen"] == {"A": 1, "B": 1}
    told = await watcher.next(event("inspection"))
    assert told["state"]["inspection_version"] == 2
    async with api(engine, "bidder", "A") as mine:
        assert (await mine.get(f"/api/lots/{lot}")).json()["suspended"] is True

    taken = await b.bid(lot, "b2", amount=6500)
    assert (taken["ok"], taken["leading"], taken["price"]) == (True, True, 6500)  # A's 9000 counts as 6100
    await a.send({"type": "command", "lot": lot, "id": "r1", "action": "reconfirm"})
    assert (await a.ack("r1"))["ok"]
    back = await watcher.next(lambda f: event("bid")(f) and f["state"]["leader"] == "A")
    assert back["state"]["price"] == 6600
    async with api(engine, "bidder", "A") as mine:
        view = (await mine.get(f"/api/lots/{lot}")).json()
    assert (view["suspended"], view["leading"], view["your_max"]) == (False, True, 9000)
    await b.send({"type": "command", "lot": lot, "id": "r2", "action": "reconfirm"})
    assert (await b.ack("r2"))["reason"] == "not_allowed"  # B's 6500 was placed on version 2
    await a.send({"type": "command", "lot": lot, "id": "r3", "action": "reconfirm"})
    assert (await a.ack("r3"))["reason"] == "not_allowed"  # nothing suspended any more

    result = await asyncio.to_thread(verify, engine, lot)
    assert result.returncode == 0, result.stdout + result.stderr
    for peer in (a, b, watcher):
        await peer.close()


async def test_the_settlement_names_the_report_version_the_winning_bid_saw(engine):
    lot = (await new_lot(engine, increments=EXAMPLE_LADDER,
                         vehicle={"make": "BYD", "inspection": {"grade": "4", "version": 1}}))["lot"]
    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    assert (await a.bid(lot, "a1", maximum=9000))["ok"]
    async with api(engine) as clerk:
        assert (await clerk.post(f"/api/lots/{lot}/inspection", json={"version": 2})).status_code == 200
        assert (await clerk.post(f"/api/lots/{lot}/close")).status_code == 200
        for _ in range(100):  # the record is written just after the close
            rows = [s for s in (await clerk.get("/api/settlements")).json()["settlements"] if s["lot"] == lot]
            if rows:
                break
            await asyncio.sleep(0.05)
    assert (rows[0]["result"], rows[0]["winner"], rows[0]["report_version"]) == ("sold", "A", 1)  # A never reconfirmed
    result = await asyncio.to_thread(verify, engine, lot)
    assert result.returncode == 0 and "the winning bid saw report version 1" in result.stdout, result.stdout
    await a.close()
