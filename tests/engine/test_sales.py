"""Sales on a running engine (docs/rules.md "Sales", issue 14 item 4): lots end one after another,
and with group soft close a late bid on the first lot moves the later ones, which their watchers
see as `extended` events; each lot's log replays through `verify`."""

from __future__ import annotations

import asyncio
import time

from clients.client import AuctionClient

from ..schema_check import check_response
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
        same = await clerk.post("/api/sales", json={"id": "S-bad", "lots": names, "first_end_at": first_end,
                                                    "group_soft_close": True})
        assert (same.status_code, same.json()["error"]["field"]) == (400, "stagger_s")  # lots ending at one instant
        made = await clerk.post("/api/sales", json={"id": "S1", "lots": names, "first_end_at": first_end, "stagger_s": 10,
                                                    "group_soft_close": True})
        assert made.status_code == 201, made.text
        assert [lot["ends_at"] for lot in made.json()["lots"]] == [first_end, first_end + 10_000, first_end + 20_000]
        again = await clerk.post("/api/sales", json={"id": "S2", "lots": names[:1], "first_end_at": first_end})
        assert again.status_code == 409  # a lot ends in one sale
        unknown = await clerk.get("/api/sales/nope")
        assert unknown.status_code == 404
        for answer in (bad, made, again, unknown):
            check_response(answer)  # every answer fits the served /openapi.json
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
        read = await anyone.get("/api/sales/S1")
        check_response(read)
        sale = read.json()
    assert [lot["ends_at"] for lot in sale["lots"]] == [first_end + moved, first_end + 10_000 + moved,
                                                         first_end + 20_000 + moved]
    assert sale["group_soft_close"] is True
    for lot in names:
        result = await asyncio.to_thread(verify, engine, lot)
        assert result.returncode == 0, result.stdout + result.stderr
    for peer in (a, watcher):
        await peer.close()


async def test_a_budget_caps_a_proxy_refuses_past_it_and_withdraws_maxima_once_its_lots_are_won(engine):
    """docs/rules.md "Budgets", rows 1 to 3, 7 and 8 of the worked example, over the WebSocket."""
    names = [(await new_lot(engine, open_it=False, start_price=1000, increments=[[0, 100]], buy_now=20_000))["lot"]
             for _ in range(3)]
    async with api(engine) as clerk:
        made = await clerk.post("/api/sales", json={"id": "S-budget", "lots": names,
                                                    "first_end_at": int(time.time() * 1000) + 60_000, "stagger_s": 30})
        assert made.status_code == 201, made.text
        for lot in names:
            assert (await clerk.post(f"/api/lots/{lot}/open")).status_code == 200
    async with api(engine, "bidder", "A") as mine:
        bad = await mine.put("/api/sales/S-budget/budget", json={"max_total": -1})
        assert (bad.status_code, bad.json()["error"]["field"]) == (400, "max_total")
        set_ = await mine.put("/api/sales/S-budget/budget", json={"max_total": 10_000, "max_lots": 1})
        assert set_.status_code == 200 and set_.json() == {"sale": "S-budget", "bidder": "A", "max_total": 10_000,
                                                           "max_lots": 1, "committed": 0, "won": 0}
        missing = await mine.get("/api/sales/none/budget")
        assert missing.status_code == 404
    async with api(engine) as clerk:
        staff = await clerk.put("/api/sales/S-budget/budget", json={"max_lots": 1})
        assert staff.status_code == 403
    for answer in (bad, set_, missing, staff):
        check_response(answer)

    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": names[0]})
    await watcher.next(lambda f: f["type"] == "snapshot")
    assert (await a.bid(names[0], "a1", maximum=7000))["your_max"] == 7000
    capped = await a.bid(names[1], "a2", maximum=7000)
    assert (capped["ok"], capped["leading"], capped["your_max"]) == (True, True, 3000)  # 10000 - 7000 left
    refused = await a.bid(names[2], "a3", amount=4000)
    assert (refused["ok"], refused["reason"]) == (False, "budget")
    await a.send({"type": "buy_now", "lot": names[2], "id": "a3b"})
    assert (await a.ack("a3b"))["reason"] == "budget"  # a buy-now is exactly its price: past the budget
    async with api(engine, "bidder", "A") as mine:
        held = await mine.get("/api/sales/S-budget/budget")
        check_response(held)
        assert held.json()["committed"] == 10_000
    b = await Peer.open(engine.ws_url, engine.token("bidder", "B"))
    assert (await b.bid(names[0], "b1", maximum=9000))["leading"] is True  # A's 7000 no longer leads

    async with api(engine) as clerk:
        assert (await clerk.post(f"/api/lots/{names[1]}/close")).status_code == 200  # A wins its one lot
    withdrawn = await watcher.next(event("max_withdrawn"))
    assert withdrawn["lot"] == names[0] and withdrawn["state"]["leader"] != "A"
    for _ in range(50):  # the close's commitment reaches the budget just after its answer
        async with api(engine, "bidder", "A") as mine:
            held = (await mine.get("/api/sales/S-budget/budget")).json()
        if held["won"] == 1:
            break
        await asyncio.sleep(0.05)
    assert (held["won"], held["committed"]) == (1, 1000)
    late = await a.bid(names[2], "a4", maximum=2000)
    assert (late["ok"], late["reason"]) == (False, "budget")
    for lot in names:
        result = await asyncio.to_thread(verify, engine, lot)
        assert result.returncode == 0, result.stdout + result.stderr
    for peer in (a, b, watcher):
        await peer.close()
    await _a_counter_offer_past_the_budget_is_refused(engine)  # same engine: one start fewer


async def test_after_a_kill_9_the_later_lot_has_moved_exactly_once(engine):
    """The writer sends `extend_by` after its append; killed around then, the restarted engine sends
    the running total again when it wakes the lot (`Engine.wake`): the later lot ends up moved once,
    whether the first send got there or not."""
    names = [(await new_lot(engine, open_it=False, anti_snipe=SNIPE))["lot"] for _ in range(2)]
    first_end = int(time.time() * 1000) + 30_000
    async with api(engine) as clerk:
        made = await clerk.post("/api/sales", json={"id": "S-kill", "lots": names, "first_end_at": first_end,
                                                    "stagger_s": 20, "group_soft_close": True})
        assert made.status_code == 201, made.text
        for lot in names:
            assert (await clerk.post(f"/api/lots/{lot}/open")).status_code == 200
    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    assert (await a.bid(names[0], "a1", amount=5000))["ok"]
    await a.close()
    engine.kill()
    engine.start()
    async with api(engine, "watcher") as anyone:
        for _ in range(100):
            lots = (await anyone.get("/api/sales/S-kill")).json()["lots"]
            if lots[1]["ends_at"] != first_end + 20_000:
                break
            await asyncio.sleep(0.05)
        history = (await anyone.get(f"/api/lots/{names[1]}/events")).json()["events"]
    assert lots[1]["ends_at"] - lots[0]["ends_at"] == 20_000 and lots[0]["ends_at"] > first_end
    assert [item["kind"] for item in history].count("extended") == 1


async def _a_counter_offer_past_the_budget_is_refused(engine) -> None:
    """docs/rules.md "Budgets": accepting a counter-offer commits the counter amount, so the budget
    counts it like a bid."""
    lot = (await new_lot(engine, open_it=False, start_price=1000, increments=[[0, 100]], reserve=5000))["lot"]
    async with AuctionClient(engine.url, engine.auctioneer_token) as admin:  # the Python client's sale calls
        made = await admin.create_sale("S-counter", [lot], await admin.time() + 60_000)
        assert [row["lot"] for row in made["lots"]] == [lot] and (await admin.sale("S-counter"))["stagger_s"] == 0
        await admin.action(lot, "open")
    async with AuctionClient(engine.url, engine.token("bidder", "C")) as bidder_c:
        assert (await bidder_c.set_budget("S-counter", max_total=3000))["max_total"] == 3000
        assert (await bidder_c.budget("S-counter"))["committed"] == 0
    async with api(engine, "bidder", "C") as mine:
        assert (await mine.post(f"/api/lots/{lot}/bids", json={"id": "a1", "amount": 2000})).json()["ok"]
    async with api(engine) as clerk:
        assert (await clerk.post(f"/api/lots/{lot}/close")).json()["result"] == "pending_approval"
        assert (await clerk.post(f"/api/lots/{lot}/counter", json={"amount": 4000})).status_code == 200
    async with api(engine, "bidder", "C") as mine:
        taken = await mine.post(f"/api/lots/{lot}/accept_counter")
        assert (taken.status_code, taken.json()["error"]["code"]) == (409, "budget")  # 4000 > 3000
        assert (await mine.post(f"/api/lots/{lot}/decline_counter")).status_code == 200
