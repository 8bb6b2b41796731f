"""The server's timers: anti-sniping moves the close, the close runs by itself, live lanes
close at the end of fair warning, and a scheduled lot opens on time."""

from __future__ import annotations

import asyncio
import time

from ..conftest import EngineProcess
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


async def _late_timer_scenario(engine: EngineProcess) -> dict:
    """Issue 17's first rows on a live lot (auto fair warning 1 s, fair warning 1 s): B bids just
    after fair warning fell due and A outbids; B bids again just after the close fell due; both
    times before a 300 ms late timer would have fired. Times are returned relative."""
    lot = (await new_lot(engine, open_it=False, mode="live", duration_s=None, fair_warning_s=1,
                         auto_fair_warning_s=1, increments=[[0, 100]]))["lot"]
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot})
    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    b = await Peer.open(engine.ws_url, engine.token("bidder", "B"))
    async with api(engine) as client:
        opened_at = (await client.post(f"/api/lots/{lot}/open")).json()["opened_at"]
    await asyncio.sleep((opened_at + 1050) / 1000 - time.time())
    seen_before_a = [e["kind"] for e in watcher.events(lot)]
    assert (await b.bid(lot, "b1", amount=5000))["ok"]
    assert (await a.bid(lot, "a1", amount=5100))["ok"]
    await watcher.next(lambda f: f["type"] == "event" and f["kind"] == "bid")
    bid = await watcher.next(lambda f: f["type"] == "event" and f["kind"] == "bid")
    assert bid["state"]["fair_warning"], "the bid came after fair warning fell due"
    ends_at = bid["state"]["ends_at"]
    await asyncio.sleep((ends_at + 100) / 1000 - time.time())
    seen_before_b = [e["kind"] for e in watcher.events(lot)]
    late = await b.bid(lot, "b2", amount=6000)
    closed = await watcher.next(lambda f: f["type"] == "event" and f["kind"] == "closed", timeout=5)
    won = await a.next(lambda f: f["type"] == "won")
    await asyncio.sleep(0.2)
    lost = [f for f in b.frames if f["type"] == "lost" and f["lot"] == lot]
    events = [e["kind"] for e in watcher.events(lot)]
    warned = next(e for e in watcher.events(lot) if e["kind"] == "fair_warning")
    for peer in (watcher, a, b):
        await peer.close()
    return {
        "events": events, "warned": warned["at"] - opened_at, "bid_extends_to": ends_at - bid["at"],
        "late_bid": late["reason"], "closed_at": closed["state"]["closed_at"] - ends_at,
        "closed_frame_at": closed["at"] - ends_at, "result": closed["state"]["result"],
        "won": won["price"], "lost": len(lost), "seen_before_a": seen_before_a, "seen_before_b": seen_before_b,
    }


async def test_a_timer_300_ms_late_changes_nothing_in_the_outcome(tmp_path, redis_url):
    results = {}
    for delay in (0, 300):
        engine = EngineProcess(tmp_path, redis_url, env_extra={"AUCTION_TIMER_DELAY_MS": str(delay)}).start()
        try:
            results[delay] = await _late_timer_scenario(engine)
        finally:
            engine.stop()
    on_time, late = results[0], results[300]
    # The late timer had fired neither the fair warning before the first bid nor the close before
    # B's late one: the bids caught them up, each at its own time.
    assert late["seen_before_a"] == ["opened"] and late["seen_before_b"] == ["opened", "fair_warning", "bid", "bid"]
    for seen in (on_time["seen_before_a"], on_time["seen_before_b"], late["seen_before_a"], late["seen_before_b"]):
        seen.clear()
    assert on_time == late
    assert on_time["events"] == ["opened", "fair_warning", "bid", "bid", "closed"] and on_time["warned"] == 1000
    assert on_time["bid_extends_to"] == 1000 and on_time["late_bid"] == "lot_closed"
    assert on_time["closed_at"] == on_time["closed_frame_at"] == 0
    assert on_time["result"] == "sold" and on_time["won"] == 5100 and on_time["lost"] == 1
