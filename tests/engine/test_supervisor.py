"""Supervision of the engine's Redis (`supervisor.py`): the data dir and the files the engine
creates are private; a kill -9 of the embedded redis-server is answered `unavailable`, then it is
restarted with every acknowledged bid; a hung one gives 503 and `unavailable`, then recovers.
Each through a real engine with its embedded server."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import EngineProcess
from .helpers import api, new_lot
from .wsclient import Peer


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_serve_keeps_the_data_dir_and_the_files_it_creates_private(embedded_engine: EngineProcess) -> None:
    engine = embedded_engine
    async with api(engine) as client:
        assert (await client.post("/api/bidders", json={"bidder": "A", "paddle": "1"})).status_code == 201
    lot = (await new_lot(engine, duration_s=1))["lot"]
    async with api(engine, "bidder", "A") as client:
        assert (await client.post(f"/api/lots/{lot}/bids", json={"id": "b1", "amount": 5000})).status_code == 200
    data = engine.data_dir
    for _ in range(100):  # sold when its second is up; the escrow hand-off lands in escrow.jsonl
        if (data / "escrow.jsonl").exists():
            break
        await asyncio.sleep(0.1)
    assert mode(data) == 0o700
    assert mode(data / "redis") == 0o700
    private = [data / "auction.db", data / "escrow.jsonl", data / "redis-password", *(data / "redis").rglob("*")]
    assert any(p.name.endswith(".aof") for p in private) and (data / "escrow.jsonl").exists()
    for path in private:
        if path.is_file():
            assert mode(path) & 0o077 == 0, f"{path} is {oct(mode(path))}"


def _redis_pid(engine: EngineProcess) -> int:
    return int((engine.data_dir / "redis" / "redis.pid").read_text())


async def _answer(peer: Peer, bid_id: str, lot: str, amount: int) -> dict:
    await peer.send({"type": "bid", "lot": lot, "id": bid_id, "amount": amount})
    return await peer.next(lambda f: (f["type"] == "ack" and f.get("id") == bid_id) or f["type"] == "error", timeout=3)


async def _wait_healthy(engine: EngineProcess, timeout: float = 20) -> float:
    started = time.monotonic()
    async with api(engine, "watcher") as client:
        while time.monotonic() - started < timeout:
            try:
                if (await client.get("/healthz", timeout=2)).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the engine did not become healthy again")


@pytest.fixture
def slow_restart_engine(tmp_path: Path):
    """The embedded default, restarting a dead redis-server after 2 s: long enough to bid meanwhile."""
    proc = EngineProcess(tmp_path, None, env_extra={"AUCTION_REDIS_RESTART_S": "2"}).start()
    yield proc
    proc.stop()


async def test_kill_9_of_the_embedded_redis_is_answered_unavailable_then_restarted_losing_no_acknowledged_bid(
    slow_restart_engine: EngineProcess,
) -> None:
    engine = slow_restart_engine
    async with api(engine) as client:
        for bidder, paddle in (("A", "1"), ("B", "2")):
            assert (await client.post("/api/bidders", json={"bidder": bidder, "paddle": paddle})).status_code == 201
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    a = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    b = await Peer.open(engine.ws_url, engine.token("bidder", "B"))
    acked = []
    for n in range(6):
        answer = await _answer(a if n % 2 else b, f"k{n}", lot, 5000 + 100 * n)
        assert answer["ok"], answer
        acked.append(answer["seq"])

    os.kill(_redis_pid(engine), signal.SIGKILL)
    started = time.monotonic()
    answers = [await _answer(b, f"down{n}", lot, 9000 + n) for n in range(3)]
    assert all(f["type"] == "error" and f["code"] == "unavailable" for f in answers), answers
    assert time.monotonic() - started < 3

    await _wait_healthy(engine)
    answer = await _answer(b, "after", lot, 9900)
    if answer["type"] == "error":  # the lot may still be reloading (every 0.5 s): the retry is answered
        await asyncio.sleep(1)
        answer = await _answer(b, "after", lot, 9900)
    assert answer["ok"], answer
    async with api(engine) as client:
        events = (await client.get(f"/api/lots/{lot}/events", params={"limit": 100})).json()["events"]
    assert set(acked) <= {e["seq"] for e in events}


async def test_a_hung_redis_gives_503_from_healthz_and_unavailable_to_bids_then_recovers(embedded_engine: EngineProcess) -> None:
    engine = embedded_engine
    async with api(engine) as client:
        assert (await client.post("/api/bidders", json={"bidder": "A", "paddle": "1"})).status_code == 201
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    pid = _redis_pid(engine)
    os.kill(pid, signal.SIGSTOP)  # hung, not dead: the supervisor cannot see it, /healthz and the bids must
    try:
        async with api(engine, "watcher") as client:
            response = await client.get("/healthz", timeout=5)
        assert response.status_code == 503
        assert response.json()["redis"] is False
        started = time.monotonic()
        await peer.send({"type": "bid", "lot": lot, "id": "hung", "amount": 5000})
        answer = await peer.next(lambda f: f["type"] in ("ack", "error"), timeout=10)
        assert answer["type"] == "error" and answer["code"] == "unavailable"
        assert time.monotonic() - started < 6  # 2 s socket timeout, twice at most
    finally:
        os.kill(pid, signal.SIGCONT)
    await _wait_healthy(engine, 5)
    await asyncio.sleep(1)  # the lot reloads from the log every 0.5 s until it can
    answer = await _answer(peer, "hung", lot, 5000)
    assert answer["ok"], answer
