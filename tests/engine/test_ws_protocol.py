"""auction_engine/ws_protocol.py: the engine's own WebSocket layer under a real uvicorn, and proof
that `serve` writes watchers' frames through its batched path, not through ASGI `send`."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from auction_engine.frames import ws_frame
from auction_engine.redis_server import free_port
from auction_engine.ws_protocol import FRAMES_EXTENSION, RECEIVE_NOW_PER_READ, EngineWebSocket

from ..conftest import METRICS_AUTH
from .helpers import new_lot
from .wsclient import Peer, masked_text, raw_upgrade, read_raw_frame

Scope = dict[str, Any]


def frames_counted(metrics_text: str) -> dict[str, float]:
    """`auction_ws_frames_total` by path, from the engine's /metrics."""
    counted: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith("auction_ws_frames_total{"):
            labels, value = line.rsplit(" ", 1)
            counted[labels.split('path="')[1].split('"')[0]] = float(value)
    return counted


async def test_serve_sends_every_frame_to_a_watcher_through_the_batched_path(engine):
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url)
    await peer.send({"type": "subscribe", "lot": lot})
    await peer.next(lambda f: f["type"] == "snapshot")
    await peer.close()
    counted = frames_counted(httpx.get(f"{engine.url}/metrics", headers=METRICS_AUTH, timeout=10).text)
    assert counted.get("batched", 0) >= 2  # the welcome and the snapshot
    assert counted.get("asgi", 0) == 0


class Server:
    """A real uvicorn on loopback running `app` with `ws=EngineWebSocket`, as `serve` configures it."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, ws=EngineWebSocket, lifespan="off", log_level="warning", **config,
        ))
        self.url = f"ws://127.0.0.1:{self.port}/ws"

    async def __aenter__(self) -> Server:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)


@pytest.fixture
async def seen() -> AsyncIterator[list[Any]]:
    """What the test app saw: scopes and ASGI messages."""
    yield []


def echo_app(seen: list[Any], before: Any = None) -> Any:
    """Accepts with the first offered subprotocol, runs `before(scope, send)`, then echoes texts."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)
        assert (await receive())["type"] == "websocket.connect"
        offered = scope["subprotocols"]
        await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
        if before is not None:
            await before(scope, send)
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text") or ""})

    return app


async def test_prebuilt_frames_arrive_as_messages_in_one_write(seen):
    async def before(scope: Scope, send: Any) -> None:
        write = scope["extensions"][FRAMES_EXTENSION]["write_frames"]
        await write([ws_frame(b'{"n":1}', binary=False), ws_frame(b"\x81\xa1n\x02", binary=True), ws_frame(b"x" * 70000, False)])

    async with Server(echo_app(seen, before)) as server, connect(server.url, subprotocols=[Subprotocol("auction.v1.json")]) as ws:
        assert ws.subprotocol == "auction.v1.json"
        assert json.loads(await ws.recv()) == {"n": 1}
        assert await ws.recv() == b"\x81\xa1n\x02"
        assert await ws.recv() == "x" * 70000
        await ws.send("ping?")
        assert await ws.recv() == "ping?"
    assert seen[0]["type"] == "websocket"
    assert seen[0]["path"] == "/ws"
    assert seen[0]["subprotocols"] == ["auction.v1.json"]


def receiving_app(seen: list[Any], takes: Any) -> Any:
    """Installs a receiver that takes the messages `takes(text)` says it takes, except while the app
    handles one that came through `receive` (as ws.Session does), and echoes both kinds back,
    marked: 'now:' for the receiver's, 'queued:' for those that came through `receive`."""
    busy = [False]

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        write_now = scope["extensions"][FRAMES_EXTENSION]["write_frames_now"]

        def receiver(message: str | bytes) -> bool:
            assert isinstance(message, str)
            if busy[0] or not takes(message):
                return False
            write_now([ws_frame(f"now:{message}".encode(), binary=False)])
            return True

        scope["extensions"][FRAMES_EXTENSION]["receive_now"](receiver)
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "websocket.disconnect":
                return
            busy[0] = True
            await asyncio.sleep(0.05)  # a slow handler: what arrives meanwhile must wait behind it
            await send({"type": "websocket.send", "text": f"queued:{message['text']}"})
            busy[0] = False

    return app


async def test_a_receiver_takes_messages_as_they_are_read_and_a_declined_one_keeps_its_place(seen):
    async with Server(receiving_app(seen, lambda text: not text.startswith("slow"))) as server, \
            connect(server.url) as ws:
        await ws.send("a")
        assert await ws.recv() == "now:a"
        for text in ("slow-1", "b", "c"):  # b and c come while slow-1 is handled: they queue behind it
            await ws.send(text)
        assert [await ws.recv() for _ in range(3)] == ["queued:slow-1", "queued:b", "queued:c"]
        await ws.send("d")  # the queue is empty again: taken at once
        assert await ws.recv() == "now:d"
    assert [m.get("text") for m in seen if m["type"] == "websocket.receive"] == ["slow-1", "b", "c"]


async def test_messages_read_behind_a_declined_one_are_queued_behind_it(seen):
    """The layer's own rule, without the app's: once a message is queued, those after it in the
    same read are queued too, even those the receiver would take."""
    async with Server(receiving_app(seen, lambda text: text != "slow")) as server:
        reader, writer = await raw_upgrade(server.port)
        await asyncio.sleep(0.1)  # the app has installed its receiver
        writer.write(b"".join(masked_text(t) for t in (b"one", b"slow", b"two")))  # one read, three messages
        got = [await asyncio.wait_for(read_text(reader), 5) for _ in range(3)]
        writer.close()
    assert got == ["now:one", "queued:slow", "queued:two"]


async def test_a_burst_in_one_read_is_taken_up_to_a_bound_and_the_rest_queued_in_order(seen):
    """One read of many messages is not handled in one go (it would hold every other connection's
    answers behind it): the receiver takes the first `RECEIVE_NOW_PER_READ`, the rest wait their turn."""
    async with Server(receiving_app(seen, lambda text: True)) as server:
        reader, writer = await raw_upgrade(server.port)
        await asyncio.sleep(0.1)  # the app has installed its receiver
        burst = RECEIVE_NOW_PER_READ + 4
        writer.write(b"".join(masked_text(str(i).encode()) for i in range(burst)))
        got = [await asyncio.wait_for(read_text(reader), 5) for _ in range(burst)]
        writer.close()
    assert got == [f"now:{i}" for i in range(RECEIVE_NOW_PER_READ)] + [
        f"queued:{i}" for i in range(RECEIVE_NOW_PER_READ, burst)]


async def read_text(reader: asyncio.StreamReader) -> str:
    head = await reader.readexactly(2)
    assert head[0] == 0x81 and head[1] < 126
    return (await reader.readexactly(head[1])).decode()


async def test_a_receiver_that_raises_closes_1011_and_the_app_is_told(seen):
    def takes(text: str) -> bool:
        raise RuntimeError("boom")

    async with Server(receiving_app(seen, takes)) as server, connect(server.url) as ws:
        await ws.send("x")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1011
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
    assert seen == [{"type": "websocket.disconnect", "code": 1011, "reason": ""}]


async def test_a_close_before_accept_is_an_http_403():
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 4403})

    async with Server(app) as server:
        with pytest.raises(InvalidStatus) as refused:
            await connect(server.url)
    assert refused.value.response.status_code == 403


async def test_the_peers_close_reaches_the_app_with_its_code(seen):
    async with Server(echo_app(seen)) as server:
        async with connect(server.url) as ws:
            await ws.close(4000, "bye")
        for _ in range(100):
            if seen and seen[-1]["type"] == "websocket.disconnect":
                break
            await asyncio.sleep(0.01)
    assert seen[-1] == {"type": "websocket.disconnect", "code": 4000, "reason": "bye"}


async def test_the_apps_close_code_reaches_the_peer():
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4401, "reason": "unauthorized"})

    async with Server(app) as server, connect(server.url) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4401


async def test_a_message_over_ws_max_size_closes_1009(seen):
    async with Server(echo_app(seen), ws_max_size=1024) as server, connect(server.url) as ws:
        await ws.send("y" * 2000)
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1009


async def test_abort_drops_the_tcp_connection_and_later_writes_fail():
    outcome: list[str] = []

    async def before(scope: Scope, send: Any) -> None:
        extension = scope["extensions"][FRAMES_EXTENSION]
        extension["abort"]()
        await asyncio.sleep(0.05)
        try:
            await extension["write_frames"]([ws_frame(b"late", False)])
        except ConnectionResetError:
            outcome.append("refused")

    async with Server(echo_app([], before)) as server, connect(server.url) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1006  # no close frame: the connection was cut
    assert outcome == ["refused"]


async def test_server_shutdown_closes_open_connections_1012(seen):
    server = Server(echo_app(seen))
    async with server:
        ws = await connect(server.url)
        server.server.should_exit = True
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1012


async def test_a_text_frame_that_is_not_utf8_closes_1007(seen):
    async with Server(echo_app(seen)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        mask = os.urandom(4)
        payload = b"\xff\xfe"
        writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        head = await asyncio.wait_for(reader.readexactly(4), 5)
        writer.close()
    assert head[0] == 0x88  # a close frame
    assert int.from_bytes(head[2:4], "big") == 1007


def masked(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_a_peer_that_never_answers_pings_is_closed_1011_after_the_ping_timeout(seen):
    async with Server(echo_app(seen), ws_ping_interval=0.3, ws_ping_timeout=0.4) as server:
        reader, writer = await raw_upgrade(server.port)
        loop = asyncio.get_running_loop()
        started = loop.time()
        opcode, _ = await asyncio.wait_for(read_raw_frame(reader), 3)
        pinged = loop.time()
        assert opcode == 0x9
        opcode, payload = await asyncio.wait_for(read_raw_frame(reader), 3)  # no pong sent
        closed = loop.time()
        writer.close()
    assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1011
    assert 0.3 <= pinged - started < 3  # never early; the upper bounds only catch a ping that never came
    assert 0.4 <= closed - pinged < 3
    assert seen[-1]["type"] == "websocket.disconnect" and seen[-1]["code"] == 1011


async def test_a_peer_that_answers_pings_stays_open_and_keeps_being_pinged(seen):
    async with Server(echo_app(seen), ws_ping_interval=0.2, ws_ping_timeout=0.3) as server:
        reader, writer = await raw_upgrade(server.port)
        pings = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.5
        while loop.time() < deadline:
            opcode, payload = await asyncio.wait_for(read_raw_frame(reader), 2)
            assert opcode == 0x9, (opcode, payload)
            pings += 1
            writer.write(masked(0xA, payload))  # the pong
        writer.write(masked(0x1, b"still here"))
        while (frame := await asyncio.wait_for(read_raw_frame(reader), 2))[0] == 0x9:
            writer.write(masked(0xA, frame[1]))
        writer.close()
    assert frame == (0x1, b"still here")  # echoed: the connection stayed open
    assert 3 <= pings <= 8  # every 0.2 s and never more often, over 1.5 s
