"""No acknowledged bid is lost when the engine and its redis-server die together (kill -9),
and a retried bid id gets its first answer again, before and after the crash."""

from __future__ import annotations

import asyncio
import os
import signal

from websockets.exceptions import ConnectionClosed

from .helpers import api, new_lot
from .wsclient import MSGPACK, Peer


def kill_embedded_redis(data_dir) -> None:
    pid = int((data_dir / "redis" / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)


async def test_kill_9_of_engine_and_redis_loses_no_acknowledged_bid(embedded_engine, tmp_path):
    engine = embedded_engine
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    peers = [await Peer.open(engine.ws_url, engine.token("bidder", f"B{i}"), MSGPACK) for i in range(5)]
    acked: list[dict] = []

    async def bidder(i: int, peer: Peer) -> None:
        n = 0
        while True:
            bid_id = f"{i}-{n}"
            try:
                await peer.send({"type": "bid", "lot": lot, "id": bid_id, "max": 6000 + n * 500 + i})
                ack = await peer.ack(bid_id, timeout=2)
            except (TimeoutError, ConnectionError, ConnectionClosed):
                return  # the engine is gone
            if ack["ok"]:
                acked.append({**ack, "bidder": f"B{i}"})
            n += 1

    tasks = [asyncio.create_task(bidder(i, p)) for i, p in enumerate(peers)]
    await asyncio.sleep(1.5)
    engine.kill()
    kill_embedded_redis(engine.data_dir)
    await asyncio.gather(*tasks)
    assert len(acked) > 20

    engine.start()  # replaces the dead redis-server, replays its AOF
    async with api(engine, "auditor") as client:
        log = (await client.get(f"/api/lots/{lot}/events", params={"since": 0, "limit": 10000})).json()["events"]
    logged = {(e["command"]["bidder"], e["command"]["id"]): e["seq"] for e in log if e["command"]["kind"] == "bid"}
    for ack in acked:
        assert logged.get((ack["bidder"], ack["id"])) == ack["seq"], ack
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))

    # a retry of an acknowledged id after the crash gets the same ack and places nothing
    retried = acked[len(acked) // 2]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", retried["bidder"]))
    again = await peer.bid(lot, retried["id"], maximum=10**9)
    assert {k: again[k] for k in ("ok", "seq", "id")} == {"ok": True, "seq": retried["seq"], "id": retried["id"]}
    async with api(engine, "auditor") as client:
        after = (await client.get(f"/api/lots/{lot}/events", params={"since": 0, "limit": 10000})).json()["events"]
    assert len(after) == len(log)


async def test_a_retried_bid_id_returns_the_first_ack(engine):
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    first = await peer.bid(lot, "same", maximum=50000)
    second = await peer.bid(lot, "same", maximum=90000)
    assert first == second and first["ok"] and first["your_max"] == 50000
    async with api(engine, "bidder", "A") as client:
        over_http = (await client.post(f"/api/lots/{lot}/bids", json={"id": "same", "max": 70000})).json()
    assert over_http == first
    engine.stop()
    engine.start()
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    assert await peer.bid(lot, "same", maximum=123456) == first
    async with api(engine, "watcher") as client:
        state = (await client.get(f"/api/lots/{lot}")).json()
    assert state["bids"] == 1 and state["seq"] == first["seq"]
    # another bidder's same id is a different bid
    other = await (await Peer.open(engine.ws_url, engine.token("bidder", "B"))).bid(lot, "same", amount=15000)
    assert other["ok"] and other["seq"] == first["seq"] + 1
