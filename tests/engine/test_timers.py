"""The server's timers: anti-sniping moves the close, the close runs by itself, live lanes
close at the end of fair warning, and a scheduled lot opens on time."""

from __future__ import annotations

import asyncio
import time

from .helpers import api, new_lot
from .wsclient import Peer


async def test_a_late_bid_extends_the_close_and_the_timer_closes_the_lot(engine):
    lot = await new_lot(engine, duration_s=2, anti_snipe={"window_s": 2, "extend_s": 2, "max_extensions": None})
    first_end = lot["ends_at"]
    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    b = await Peer.open(engine.ws_url, engine.token("bidder", "B"))
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot["lot"]})
    await asyncio.sleep(0.5)
    assert (await a.bid(lot["lot"], "a1", amount=5000))["ok"]
    extended = await watcher.next(lambda f: f["type"] == "event" and f["kind"] == "bid")
    assert extended["state"]["extensions"] == 1
    assert extended["state"]["ends_at"] == extended["at"] + 2000 > first_end
    assert (await b.bid(lot["lot"], "b1", amount=15000))["ok"]
    second = await watcher.next(lambda f: f["type"] == "event" and f["kind"] == "bid")
    assert second["state"]["ends_at"] >= extended["state"]["ends_at"]

    closed = await watcher.next(lambda f: f["type"] == "event" and f["kind"] == "closed", timeout=6)
    assert closed["state"]["status"] == "closed" and closed["state"]["result"] == "sold"
    assert closed["state"]["closed_at"] == second["state"]["ends_at"]
    assert (await b.next(lambda f: f["type"] == "won"))["price"] == 15000
    assert (await a.next(lambda f: f["type"] == "lost"))["lot"] == lot["lot"]
    late = await a.bid(lot["lot"], "a2", amount=9000)
    assert late == {"type": "ack", "id": "a2", "lot": lot["lot"], "ok": False, "reason": "lot_closed"}


async def test_a_live_lot_closes_when_fair_warning_runs_out(engine):
    lot = await new_lot(engine, mode="live", duration_s=None, fair_warning_s=1)
    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    await a.send({"type": "subscribe", "lot": lot["lot"]})
    assert (await a.bid(lot["lot"], "a1", amount=5000))["ok"]
    async with api(engine) as client:
        warned = (await client.post(f"/api/lots/{lot['lot']}/fair_warning")).json()
    assert warned["fair_warning"] is True and warned["ends_at"] is not None
    closed = await a.next(lambda f: f["type"] == "event" and f["kind"] == "closed", timeout=4)
    assert closed["state"]["result"] == "sold"
    assert (await a.next(lambda f: f["type"] == "won"))["price"] == 5000


async def test_auto_fair_warning_closes_a_quiet_live_lot(engine):
    lot = await new_lot(engine, mode="live", duration_s=None, fair_warning_s=1, auto_fair_warning_s=1)
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot["lot"]})
    kinds = []
    while "closed" not in kinds:
        kinds.append((await watcher.next(lambda f: f["type"] == "event", timeout=5))["kind"])
    assert kinds == ["fair_warning", "closed"]


async def test_a_scheduled_lot_opens_at_starts_at(engine):
    starts_at = int(time.time() * 1000) + 800
    lot = await new_lot(engine, starts_at=starts_at, duration_s=60)
    assert lot["status"] == "scheduled"
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot["lot"]})
    opened = await watcher.next(lambda f: f["type"] == "event" and f["kind"] == "opened", timeout=5)
    assert opened["at"] >= starts_at
    assert opened["state"]["ends_at"] == opened["state"]["opened_at"] + 60_000
