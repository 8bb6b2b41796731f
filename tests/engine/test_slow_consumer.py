"""A watcher that stops reading is told `slow_consumer` and cut off; the others keep pace."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import pytest

from ..conftest import METRICS_AUTH, EngineProcess
from .helpers import api, new_lot
from .wsclient import Peer


@pytest.fixture
def tight_engine(tmp_path, redis_url):
    proc = EngineProcess(tmp_path, redis_url, env_extra={"AUCTION_SEND_QUEUE_LIMIT": "16", "AUCTION_SO_SNDBUF": "16384"}).start()
    yield proc
    proc.stop()


def stalled_watcher(port: int, lot: str) -> socket.socket:
    """A real WebSocket client that subscribes and then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101")
    payload = f'{{"type":"subscribe","lot":"{lot}"}}'.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


async def scrape(engine, name: str) -> float:
    async with api(engine, "watcher") as client:
        text = (await client.get("/metrics", headers=METRICS_AUTH)).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith((name + " ", name + "{")))


async def test_a_stalled_watcher_is_cut_off_and_the_rest_keep_pace(tight_engine):
    engine = tight_engine
    lot = (await new_lot(engine, increments=[[0, 100]]))["lot"]
    stalled = stalled_watcher(engine.port, lot)
    healthy = await Peer.open(engine.ws_url)
    await healthy.send({"type": "subscribe", "lot": lot})
    await healthy.next(lambda f: f["type"] == "snapshot")
    await asyncio.sleep(0.2)
    connections_before = await scrape(engine, "auction_connections")

    async with api(engine) as client:
        for n in range(500):
            floor_bid = {"paddle": f"F{n % 2}", "amount": 5000 + 100 * n}
            ack = (await client.post(f"/api/lots/{lot}/floor-bids", json=floor_bid)).json()
            assert ack["ok"], ack
    head = ack["seq"]
    await healthy.next(lambda f: f["type"] == "event" and f["seq"] == head, timeout=10)
    assert [f["seq"] for f in healthy.events(lot)] == list(range(3, head + 1))

    for _ in range(100):  # the stalled one gets a grace period to take the error frame
        if await scrape(engine, "auction_slow_consumers_total") >= 1:
            break
        await asyncio.sleep(0.1)
    assert await scrape(engine, "auction_slow_consumers_total") == 1
    assert await scrape(engine, "auction_connections") == connections_before - 1
    assert healthy.closed_code is None
    stalled.close()
