"""Clerk corrections on a running engine (docs/rules.md "Clerk corrections", issue 14 item 3):
retract_last, asking and reopen over the WebSocket `command` frame and over HTTP; watchers see
each as an event of its own kind; a reopened lot's unsent settlement is voided; `verify` replays it."""

from __future__ import annotations

import asyncio

from .helpers import EXAMPLE_LADDER, api, new_lot
from .test_recovery import verify
from .wsclient import Peer


async def settlement(engine, lot: str) -> dict:
    """The lot's settlement record, once written (the engine writes it just after the close)."""
    for _ in range(50):
        async with api(engine) as client:
            records = [s for s in (await client.get("/api/settlements")).json()["settlements"] if s["lot"] == lot]
        if records:
            return records[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no settlement for {lot}")


def event(kind: str):
    return lambda f: f["type"] == "event" and f["kind"] == kind


async def test_the_worked_example_over_the_websocket_with_a_reopen_and_a_replayable_log(engine):
    lot = (await new_lot(engine, mode="live", duration_s=None, increments=EXAMPLE_LADDER, reserve=12000))["lot"]
    clerk = await Peer.open(engine.ws_url, engine.auctioneer_token)
    bidders = {name: await Peer.open(engine.ws_url, engine.token("bidder", name)) for name in "ABC"}
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot})
    await watcher.next(lambda f: f["type"] == "snapshot")

    async def command(ident: str, action: str, **fields) -> dict:
        await clerk.send({"type": "command", "lot": lot, "id": ident, "action": action, **fields})
        return await clerk.ack(ident)

    assert (await bidders["A"].bid(lot, "a1", maximum=9000))["ok"]
    assert (await bidders["B"].bid(lot, "b1", amount=6000))["ok"]
    assert (await bidders["C"].bid(lot, "c1", maximum=15000))["ok"]
    assert (await watcher.next(lambda f: event("bid")(f) and f["state"]["price"] == 12000))["state"]["leader"] == "C"

    retracted = await command("k1", "retract_last", reason="phone bid misheard")
    assert retracted["ok"] and retracted["leading"] is False
    seen = await watcher.next(event("retracted"))
    assert (seen["state"]["price"], seen["state"]["leader"], seen["state"]["next_min"], seen["state"]["bids"]) == (
        6100, "A", 6200, 2)
    assert seen["state"]["correction"] == {"kind": "retracted", "at": seen["at"], "reason": "phone bid misheard"}

    assert (await command("k2", "asking", amount=6150)) == {
        "type": "ack", "id": "k2", "lot": lot, "ok": False, "reason": "too_low", "next_min": 6200}
    assert (await command("k3", "asking", amount=9500))["ok"]
    assert (await watcher.next(event("asking")))["state"]["next_min"] == 9500
    assert (await bidders["B"].bid(lot, "b2", amount=9000))["reason"] == "too_low"
    assert (await bidders["B"].bid(lot, "b3", maximum=11000))["ok"]
    assert (await watcher.next(lambda f: event("bid")(f) and f["state"]["leader"] == "B"))["state"]["price"] == 9500

    assert (await command("k4", "close"))["ok"]
    assert (await watcher.next(event("closed")))["state"]["result"] == "pending_approval"
    assert (await settlement(engine, lot))["result"] == "pending_approval"
    assert (await command("k5", "reopen"))["ok"]
    reopened = await watcher.next(event("reopened"))
    assert (reopened["state"]["status"], reopened["state"]["result"], reopened["state"]["leader"]) == ("open", None, "B")
    async with api(engine) as client:
        settled = (await client.get("/api/settlements")).json()["settlements"]
    assert all(s["lot"] != lot for s in settled), "a reopened lot's settlement is voided"

    assert (await bidders["A"].bid(lot, "a2", maximum=20000))["ok"]
    assert (await command("k6", "close"))["ok"]
    assert (await watcher.next(event("closed")))["state"]["result"] == "sold"
    assert (await bidders["A"].next(lambda f: f["type"] == "won"))["price"] == 12000
    record = await settlement(engine, lot)
    assert (record["result"], record["winner"], record["hammer_price"]) == ("sold", "A", 12000)
    assert not (engine.data_dir / "escrow.jsonl").exists() or lot not in (engine.data_dir / "escrow.jsonl").read_text(), (
        "the hand-off waits out the reopen window")

    result = await asyncio.to_thread(verify, engine, lot)
    assert result.returncode == 0, result.stdout + result.stderr
    for peer in (clerk, watcher, *bidders.values()):
        await peer.close()


async def test_corrections_over_http_and_who_may_send_them(engine):
    lot = (await new_lot(engine, mode="live", duration_s=None, increments=EXAMPLE_LADDER))["lot"]
    async with api(engine, "bidder", "A") as bidder:
        assert (await bidder.post(f"/api/lots/{lot}/bids", json={"id": "a1", "amount": 6000})).status_code == 200
        assert (await bidder.post(f"/api/lots/{lot}/retract_last", json={"reason": "mine"})).status_code == 403
    async with api(engine) as client:
        bad = await client.post(f"/api/lots/{lot}/retract_last", json={})
        assert (bad.status_code, bad.json()["error"]["field"]) == (400, "reason")
        extra = await client.post(f"/api/lots/{lot}/asking", json={"amount": 9000, "reserve": 1})
        assert (extra.status_code, extra.json()["error"]["field"]) == (400, "reserve")
        assert (await client.post(f"/api/lots/{lot}/asking", json={"amount": "9000"})).status_code == 422
        asked = await client.post(f"/api/lots/{lot}/asking", json={"amount": 9000})
        assert asked.status_code == 200 and asked.json()["next_min"] == 9000
        taken_back = await client.post(f"/api/lots/{lot}/retract_last", json={"reason": "test bid"})
        assert taken_back.status_code == 200
        assert (taken_back.json()["price"], taken_back.json()["leader"], taken_back.json()["bids"]) == (None, None, 0)
        nothing = await client.post(f"/api/lots/{lot}/retract_last", json={"reason": "again"})
        assert (nothing.status_code, nothing.json()["error"]["code"]) == (403, "not_allowed")
        assert (await client.post(f"/api/lots/{lot}/reopen")).status_code == 403  # not closed
        assert (await client.post(f"/api/lots/{lot}/close")).status_code == 200
        assert (await client.post(f"/api/lots/{lot}/reopen")).json()["status"] == "open"
        history = (await client.get(f"/api/lots/{lot}/events")).json()["events"]
    kinds = [e["kind"] for e in history]
    assert kinds[kinds.index("bid"):] == ["bid", "asking", "retracted", "closed", "reopened"]
    async with api(engine, "watcher") as watcher:
        public = (await watcher.get(f"/api/lots/{lot}/events")).json()["events"]
    assert [e["kind"] for e in public] == kinds and all("command" not in e for e in public)

    outsider = await Peer.open(engine.ws_url, engine.token("bidder", "B"))
    await outsider.send({"type": "command", "lot": lot, "id": "x1", "action": "close"})
    assert (await outsider.ack("x1"))["reason"] == "not_allowed"
    await outsider.close()
