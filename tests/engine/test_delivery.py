"""Delivery: every watcher sees one gapless order, and a watcher that comes back with `since`
gets exactly what it missed, also from the log in Redis after a restart."""

from __future__ import annotations

import asyncio

from .helpers import api, new_lot
from .wsclient import MSGPACK, Peer


def seqs(peer: Peer, lot: str) -> list[int]:
    return [f["seq"] for f in peer.events(lot)]


async def test_twenty_watchers_see_one_gapless_order(engine):
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    watchers = [await Peer.open(engine.ws_url, subprotocol=MSGPACK if i % 2 else "auction.v1.json") for i in range(20)]
    for w in watchers:
        await w.send({"type": "subscribe", "lot": lot})
        await w.next(lambda f: f["type"] == "snapshot")
    bidders = [await Peer.open(engine.ws_url, engine.token("bidder", f"B{i}")) for i in range(4)]

    async def bid_many(i: int, peer: Peer) -> list[dict]:
        acks = []
        for n in range(15):
            await peer.send({"type": "bid", "lot": lot, "id": f"{i}-{n}", "max": 10_000 + 1000 * n + i * 10})
        for n in range(15):
            acks.append(await peer.ack(f"{i}-{n}"))
        return acks

    acks = [a for batch in await asyncio.gather(*(bid_many(i, p) for i, p in enumerate(bidders))) for a in batch]
    head = max(a["seq"] for a in acks if a["ok"])
    for w in watchers:
        await w.next(lambda f: f["type"] == "event" and f["seq"] == head)
    first = seqs(watchers[0], lot)
    assert first == list(range(first[0], head + 1))
    for w in watchers[1:]:
        assert seqs(w, lot) == first
        assert [e["state"]["price"] for e in w.events(lot)] == [e["state"]["price"] for e in watchers[0].events(lot)]


async def test_resume_with_since_is_gapless_without_duplicates(engine):
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    bidder = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    rival = await Peer.open(engine.ws_url, engine.token("bidder", "B"))
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot})
    snapshot = await watcher.next(lambda f: f["type"] == "snapshot")
    for n in range(5):
        await (bidder if n % 2 else rival).bid(lot, f"x{n}", amount=5000 + 100 * n)
    last = (await watcher.next(lambda f: f["type"] == "event" and f["seq"] == snapshot["seq"] + 5))["seq"]
    await watcher.close()

    for n in range(5, 12):
        await (bidder if n % 2 else rival).bid(lot, f"x{n}", amount=5000 + 100 * n)
    back = await Peer.open(engine.ws_url)
    await back.send({"type": "subscribe", "lot": lot, "since": last})
    await back.next(lambda f: f["type"] == "event" and f["seq"] == last + 7)
    assert (await rival.bid(lot, "x13", amount=6300))["ok"]
    await back.next(lambda f: f["type"] == "event" and f["seq"] == last + 8)
    assert seqs(back, lot) == list(range(last + 1, last + 9))
    assert not [f for f in back.frames if f["type"] == "snapshot"]


async def test_resume_after_a_restart_reads_the_log_from_redis(engine):
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    bidder = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    rival = await Peer.open(engine.ws_url, engine.token("bidder", "B"))
    for n in range(6):
        assert (await (bidder if n % 2 else rival).bid(lot, f"r{n}", amount=5000 + 100 * n))["ok"]
    engine.stop()
    engine.start()
    back = await Peer.open(engine.ws_url)
    await back.send({"type": "subscribe", "lot": lot, "since": 1})
    await back.next(lambda f: f["type"] == "event" and f["seq"] == 8)
    assert seqs(back, lot) == list(range(2, 9))
    assert [e["kind"] for e in back.events(lot)] == ["opened"] + ["bid"] * 6
    async with api(engine, "watcher") as client:
        public = (await client.get(f"/api/lots/{lot}/events", params={"since": 0})).json()
    assert [e["seq"] for e in public["events"]] == list(range(1, 9))
    assert all("command" not in e and "hash" not in e for e in public["events"])


async def test_a_subscribe_from_the_future_gets_a_snapshot(engine):
    lot = (await new_lot(engine))["lot"]
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": lot, "since": 999})
    snapshot = await watcher.next(lambda f: f["type"] == "snapshot")
    assert snapshot["seq"] == 2 and snapshot["state"]["status"] == "open"
    assert isinstance(snapshot["server_time"], int)
