"""Counter-offers on a running engine (docs/rules.md "Counter-offers", issue 14 item 2): the
auctioneer counters over the WebSocket, only the high bidder hears of it and may answer (HTTP or
WebSocket), silence lapses on the lot's own timer, and the sale settles at the counter amount."""

from __future__ import annotations

import asyncio

from .helpers import EXAMPLE_LADDER, api, new_lot
from .test_corrections import event, settlement
from .test_recovery import verify
from .wsclient import Peer


async def pending_lot(engine, **spec) -> tuple[str, dict[str, Peer], Peer]:
    """A lot closed pending approval: A max 9000, then B 9500 leads, reserve 12000, closed by its timer."""
    lot = (await new_lot(engine, duration_s=2, increments=EXAMPLE_LADDER, reserve=12000, **spec))["lot"]
    bidders = {name: await Peer.open(engine.ws_url, engine.token("bidder", name)) for name in "AB"}
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot})
    assert (await bidders["A"].bid(lot, "a1", maximum=9000))["ok"]
    assert (await bidders["B"].bid(lot, "b1", amount=9500))["ok"]
    assert (await watcher.next(event("closed"), timeout=6))["state"]["result"] == "pending_approval"
    return lot, bidders, watcher


async def test_a_counter_is_told_to_the_high_bidder_alone_and_accepted_it_settles_at_the_counter(engine):
    lot, bidders, watcher = await pending_lot(engine)
    clerk = await Peer.open(engine.ws_url, engine.auctioneer_token)
    await clerk.send({"type": "command", "lot": lot, "id": "k1", "action": "counter", "amount": 9500})
    assert (await clerk.ack("k1")) == {"type": "ack", "id": "k1", "lot": lot, "ok": False, "reason": "too_low", "next_min": 9501}
    await clerk.send({"type": "command", "lot": lot, "id": "k2", "action": "counter", "amount": 11000})
    assert (await clerk.ack("k2"))["ok"]
    told = await bidders["B"].next(lambda f: f["type"] == "counter")
    public = await watcher.next(event("countered"))
    assert (told["amount"], told["expires_at"], told["seq"]) == (11000, public["at"] + 86_400_000, public["seq"])
    assert "counter" not in public["state"] and 11000 not in public["state"].values()
    async with api(engine, "bidder", "A") as a, api(engine, "bidder", "B") as b, api(engine, "watcher") as w:
        assert (await a.get(f"/api/lots/{lot}")).json()["counter"] is None
        assert (await b.get(f"/api/lots/{lot}")).json()["counter"]["amount"] == 11000
        assert "counter" not in (await w.get(f"/api/lots/{lot}")).json()
        assert (await a.post(f"/api/lots/{lot}/accept_counter")).status_code == 403
        accepted = await b.post(f"/api/lots/{lot}/accept_counter")
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["result"], accepted.json()["price"], accepted.json()["counter"]) == ("sold", 11000, None)
    assert (await watcher.next(event("counter_accepted")))["state"]["result"] == "sold"
    assert (await bidders["B"].next(lambda f: f["type"] == "won"))["price"] == 11000
    assert not [f for f in bidders["A"].frames if f["type"] == "counter"]
    record = await settlement(engine, lot)
    for _ in range(50):
        if record["result"] == "sold":
            break
        await asyncio.sleep(0.1)
        record = await settlement(engine, lot)
    assert (record["result"], record["winner"], record["hammer_price"]) == ("sold", "B", 11000)
    result = await asyncio.to_thread(verify, engine, lot)
    assert result.returncode == 0, result.stdout + result.stderr
    for peer in (clerk, watcher, *bidders.values()):
        await peer.close()


async def test_silence_is_decline_on_the_lots_own_timer_and_a_late_accept_is_refused(engine):
    lot, bidders, watcher = await pending_lot(engine, counter_window_s=1)
    async with api(engine) as client:
        countered = await client.post(f"/api/lots/{lot}/counter", json={"amount": 12000})
    assert countered.status_code == 200 and countered.json()["counter"]["amount"] == 12000
    lapsed = await watcher.next(event("counter_declined"), timeout=4)
    assert lapsed["state"]["result"] == "unsold"
    assert (await bidders["B"].next(lambda f: f["type"] == "lost"))["lot"] == lot
    await bidders["B"].send({"type": "command", "lot": lot, "id": "b9", "action": "accept_counter"})
    assert (await bidders["B"].ack("b9"))["reason"] == "not_allowed"
    async with api(engine) as client:
        history = (await client.get(f"/api/lots/{lot}/events")).json()["events"]
    lapse = history[-1]
    assert lapse["command"] == {"kind": "tick", "at": lapse["events"][0]["at"]}
    assert lapse["events"] == [{"kind": "counter_declined", "at": lapse["events"][0]["at"], "lapsed": True}]
    for peer in (watcher, *bidders.values()):
        await peer.close()
