"""Sales on a running engine (docs/rules.md "Sales", issue 14 item 4): lots end one after another,
and with group soft close a late bid on the first lot moves the later ones, which their watchers
see as `extended` events; each lot's log replays through `verify`."""

from __future__ import annotations

import asyncio
import time

from .helpers import EXAMPLE_LADDER, api, new_lot
from .test_corrections import event
from .test_recovery import verify
from .wsclient import Peer

SNIPE = {"window_s": 60, "extend_s": 60}


async def test_a_late_bid_on_the_first_lot_moves_every_later_lot_of_a_group_sale(engine):
    names = [(await new_lot(engine, open_it=False, increments=EXAMPLE_LADDER, anti_snipe=SNIPE))["lot"] for _ in range(3)]
    first_end = int(time.time() * 1000) + 20_000
    async with api(engine) as clerk:
        bad = await clerk.post("/api/sales", json={"id": "S-bad", "lots": names, "first_end_at": 5, "stagger_s": 10})
        assert (bad.status_code, bad.json()["error"]["field"]) == (400, "first_end_at")
        made = await clerk.post("/api/sales", json={"id": "S1", "lots": names, "first_end_at": first_end, "stagger_s": 10,
                                                    "group_soft_close": True})
        assert made.status_code == 201, made.text
        assert [lot["ends_at"] for lot in made.json()["lots"]] == [first_end, first_end + 10_000, first_end + 20_000]
        again = await clerk.post("/api/sales", json={"id": "S2", "lots": names[:1], "first_end_at": first_end})
        assert again.status_code == 409  # a lot ends in one sale
        for lot in names:
            assert (await clerk.post(f"/api/lots/{lot}/open")).status_code == 200

    watcher = await Peer.open(engine.ws_url)
    for lot in names[1:]:
        await watcher.send({"type": "subscribe", "lot": lot})
        snap = await watcher.next(lambda f, lot=lot: f["type"] == "snapshot" and f["lot"] == lot)
        assert snap["state"]["sale"] == "S1"
    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    ack = await a.bid(names[0], "a1", amount=5000)  # well inside the 60 s window: the first lot moves
    assert ack["ok"]
    async with api(engine, "watcher") as anyone:
        first = (await anyone.get(f"/api/lots/{names[0]}")).json()
    moved = first["ends_at"] - first_end
    assert first["extensions"] == 1 and moved > 0
    told = {f["lot"]: f["state"] for f in [await watcher.next(event("extended")) for _ in names[1:]]}
    for offset, lot in ((10_000, names[1]), (20_000, names[2])):  # the two lots are told in either order
        assert told[lot]["ends_at"] == first_end + offset + moved  # order and gaps kept
        assert told[lot]["extensions"] == 0  # a group move is no anti-snipe of its own
    async with api(engine, "watcher") as anyone:
        sale = (await anyone.get("/api/sales/S1")).json()
    assert [lot["ends_at"] for lot in sale["lots"]] == [first_end + moved, first_end + 10_000 + moved,
                                                         first_end + 20_000 + moved]
    assert sale["group_soft_close"] is True
    for lot in names:
        result = await asyncio.to_thread(verify, engine, lot)
        assert result.returncode == 0, result.stdout + result.stderr
    for peer in (a, watcher):
        await peer.close()
