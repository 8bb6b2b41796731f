"""Recovery and audit: lots come back from snapshot + tail, a lot whose end passed while the
engine was down closes as of its end, a leftover redis-server is replaced, and `verify`
passes on an honest log and names the entry where a byte was changed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
import redis

from auction_engine.stream import log_key

from ..conftest import METRICS_AUTH, ROOT, SECRET, EngineProcess
from .helpers import api, new_lot
from .wsclient import Peer


def verify(engine, lot: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auction_engine.cli", "verify", lot, "--url", engine.url],
        cwd=ROOT, env={**os.environ, "AUTH_SECRET": SECRET}, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def snapshotting_engine(tmp_path, redis_url):
    proc = EngineProcess(tmp_path, redis_url, env_extra={"AUCTION_SNAPSHOT_EVERY": "5"}).start()
    yield proc
    proc.stop()


async def test_a_lot_comes_back_from_snapshot_and_tail_with_the_same_state(snapshotting_engine):
    engine = snapshotting_engine
    lot = (await new_lot(engine, increments=[[0, 100]], reserve=7000))["lot"]
    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    b = await Peer.open(engine.ws_url, engine.token("bidder", "B"))
    for n in range(13):
        assert (await (a if n % 2 else b).bid(lot, f"s{n}", maximum=5000 + 300 * n))["ok"]
    async with api(engine) as client:
        before = (await client.get(f"/api/lots/{lot}")).json()
    assert redis.Redis.from_url(engine.redis_url).exists(f"auction:{{{lot}}}:snap")
    engine.kill()
    engine.start()
    async with api(engine) as client:
        after = (await client.get(f"/api/lots/{lot}")).json()
    assert after == before
    assert (await (await Peer.open(engine.ws_url, engine.token("bidder", "B"))).bid(lot, "s99", maximum=20000))["ok"]


async def test_a_lot_whose_end_passed_while_down_closes_as_of_its_end(engine):
    lot = await new_lot(engine, duration_s=2)
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    assert (await peer.bid(lot["lot"], "a1", amount=5000))["ok"]
    engine.stop()
    time.sleep(max(0.0, (lot["ends_at"] / 1000) - time.time()) + 0.5)
    engine.start()
    async with api(engine) as client:
        for _ in range(50):
            state = (await client.get(f"/api/lots/{lot['lot']}")).json()
            if state["status"] == "closed":
                break
            await asyncio.sleep(0.1)
    assert (state["status"], state["result"], state["closed_at"]) == ("closed", "sold", lot["ends_at"])


async def test_a_leftover_redis_server_from_a_crash_is_replaced(embedded_engine):
    engine = embedded_engine
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    ack = await peer.bid(lot, "a1", amount=5000)
    old_redis = int((engine.data_dir / "redis" / "redis.pid").read_text())
    engine.kill()  # the engine dies; its redis-server child lives on
    assert os.path.exists(f"/proc/{old_redis}")
    engine.start()
    new_redis = int((engine.data_dir / "redis" / "redis.pid").read_text())
    assert new_redis != old_redis and not os.path.exists(f"/proc/{old_redis}")
    async with api(engine) as client:
        assert (await client.get(f"/api/lots/{lot}")).json()["seq"] == ack["seq"]
    engine.stop()
    for _ in range(50):
        if not os.path.exists(f"/proc/{new_redis}"):
            break
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{new_redis}"), "redis-server must stop with the engine"


async def test_verify_passes_on_an_honest_log_and_names_a_changed_entry(engine):
    lot = (await new_lot(engine, increments=[[0, 100]], reserve=6000))["lot"]
    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    b = await Peer.open(engine.ws_url, engine.token("bidder", "B"))
    for n in range(6):
        assert (await (a if n % 2 else b).bid(lot, f"v{n}", maximum=5000 + 500 * n))["ok"]
    async with api(engine) as client:
        await client.post(f"/api/lots/{lot}/close")
    honest = verify(engine, lot)
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "OK" in honest.stdout

    client = redis.Redis.from_url(engine.redis_url)
    entries = client.xrange(log_key(lot))
    client.delete(log_key(lot))
    for stream_id, fields in entries:  # a stream cannot be edited in place: write it again, one byte changed
        if stream_id == b"5-1":
            tampered = bytearray(fields[b"e"])
            tampered[-3] ^= 0x01
            fields[b"e"] = bytes(tampered)
        client.xadd(log_key(lot), fields, id=stream_id)
    caught = verify(engine, lot)
    assert caught.returncode == 1 and "entry 5" in caught.stdout, caught.stdout + caught.stderr


async def test_healthz_and_metrics(engine):
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    await peer.bid(lot, "m1", amount=5000)
    await peer.bid(lot, "m2", amount=1)
    async with api(engine, "watcher") as client:
        assert (await client.get("/healthz")).json() == {"ok": True, "redis": True, "database": True, "quarantined": {}}
        text = (await client.get("/metrics", headers=METRICS_AUTH)).text
    assert "auction_bids_accepted_total 1.0" in text
    assert 'auction_bids_refused_total{reason="already_leading"} 1.0' in text
    assert "auction_append_seconds_count" in text and "auction_open_lots 1.0" in text
    assert "auction_connections 1.0" in text


async def test_settled_lots_stay_on_disk_until_asked_for_and_keep_their_credit(engine):
    async with api(engine) as client:
        dealer_record = {"bidder": "D9", "paddle": "909", "credit_limit": 6_000_000}
        token = (await client.post("/api/bidders", json=dealer_record)).json()["token"]
    sold, still_open = (await new_lot(engine))["lot"], (await new_lot(engine))["lot"]
    dealer = await Peer.open(engine.ws_url, token)
    assert (await dealer.bid(sold, "d1", amount=5_000_000))["ok"]
    async with api(engine) as client:
        assert (await client.post(f"/api/lots/{sold}/close")).json()["result"] == "sold"
    client = redis.Redis.from_url(engine.redis_url)
    for _ in range(50):
        if client.sismember("auction:settled", sold):
            break
        await asyncio.sleep(0.1)
    assert client.sismember("auction:settled", sold) and not client.sismember("auction:settled", still_open)
    engine.stop()
    engine.start()

    async def in_memory() -> float:
        async with api(engine, "watcher") as http:
            text = (await http.get("/metrics", headers=METRICS_AUTH)).text
        return float(next(line.split()[-1] for line in text.splitlines() if line.startswith("auction_lots_in_memory ")))

    assert await in_memory() == 1
    dealer = await Peer.open(engine.ws_url, token)
    assert (await dealer.bid(sold, "d2", amount=9_000_000))["reason"] == "lot_closed"
    over = await dealer.bid(still_open, "d3", amount=2_000_000)
    assert over["reason"] == "credit_limit"  # the won, unpaid lot still counts though it is not loaded
    watcher = await Peer.open(engine.ws_url)
    await watcher.send({"type": "subscribe", "lot": sold})
    snapshot = await watcher.next(lambda f: f["type"] == "snapshot")
    assert (snapshot["state"]["status"], snapshot["state"]["result"], snapshot["state"]["price"]) == ("closed", "sold", 5_000_000)
    assert await in_memory() == 2
    async with api(engine, "auditor") as http:
        assert len((await http.get(f"/api/lots/{sold}/events")).json()["events"]) == 4
    assert verify(engine, sold).returncode == 0
