"""Delivery: every watcher sees one gapless order, and a watcher that comes back with `since`
gets exactly what it missed, also from the log in Redis after a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import EngineProcess
from .helpers import api, new_lot
from .wsclient import MSGPACK, Peer, masked_text, raw_upgrade, read_raw_frame


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


@pytest.fixture
def unlimited(tmp_path: Path, redis_url: str) -> Iterator[EngineProcess]:
    """An engine whose bidders are not rate limited: a history longer than the ring, made quickly."""
    proc = EngineProcess(tmp_path, redis_url, env_extra={"AUCTION_BID_RATE": "100000", "AUCTION_BID_BURST": "100000"})
    yield proc.start()
    proc.stop()


async def test_frames_sent_behind_a_subscribe_are_answered_after_its_history(unlimited):
    """A subscribe with `since` reads the lot's history; the bids the same connection sends right
    behind it wait for it, so the client hears its answers in its own order: once in the same TCP
    write as the subscribe, once in a write of their own while the history (older than the lot's
    ring, so read from the log) is on its way."""
    engine = unlimited
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    first = await Peer.open(engine.ws_url, engine.token("bidder", "B1"))
    for n in range(400):
        await first.send({"type": "bid", "lot": lot, "id": f"early-{n}", "max": 10_000 + 1000 * n})
    last_early = (await first.ack("early-399", timeout=20))["seq"]
    for together in (True, False):
        reader, writer = await raw_connection(engine.ws_url, engine.token("bidder", f"B2{together}"))
        bids = [{"type": "bid", "lot": lot, "id": f"late-{together}-{n}", "max": 10_000_000 * (2 + together) + n}
                for n in range(3)]
        subscribe = masked_text(json.dumps({"type": "subscribe", "lot": lot, "since": 0}).encode())
        behind = b"".join(masked_text(json.dumps(b).encode()) for b in bids)
        if together:
            writer.write(subscribe + behind)
        else:
            writer.write(subscribe)
            await writer.drain()
            await asyncio.sleep(0.0005)  # in the engine's next read, while the subscribe awaits the log
            writer.write(behind)
        heard: list[tuple[str, Any]] = []
        while sum(kind == "ack" for kind, _ in heard) < 3:
            frame = await asyncio.wait_for(read_frame(reader), 10)
            if frame["type"] in ("event", "ack"):
                heard.append((frame["type"], frame["seq"] if frame["type"] == "event" else frame["id"]))
        writer.close()
        await writer.wait_closed()
        first_ack = next(i for i, (kind, _) in enumerate(heard) if kind == "ack")
        assert [seq for _, seq in heard[:first_ack]][:last_early] == list(range(1, last_early + 1))
        assert [x for kind, x in heard if kind == "ack"] == [b["id"] for b in bids]


async def raw_connection(ws_url: str, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket by hand, past its welcome: the test decides what each TCP write carries."""
    reader, writer = await raw_upgrade(int(ws_url.removeprefix("ws://").split("/")[0].split(":")[1]),
                                       f"/ws?token={token}")
    assert (await read_frame(reader))["type"] == "welcome"
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    """One server text frame, decoded."""
    opcode, payload = await read_raw_frame(reader)
    assert opcode == 0x1
    frame: dict[str, Any] = json.loads(payload)
    return frame
