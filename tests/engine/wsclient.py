"""A bare WebSocket test peer that records every frame it receives, for either subprotocol."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.schema_check import check_frame

JSON = "auction.v1.json"
MSGPACK = "auction.v1.msgpack"


class Peer:
    def __init__(self, conn: ClientConnection, subprotocol: str) -> None:
        self.conn = conn
        self.subprotocol = subprotocol
        self.frames: list[dict[str, Any]] = []
        self.raw: list[str | bytes] = []
        self._cursor = 0
        self._reader = asyncio.create_task(self._read())
        self._new = asyncio.Event()
        self.closed_code: int | None = None
        self.schema_errors: list[str] = []

    @classmethod
    async def open(cls, ws_url: str, token: str | None = None, subprotocol: str = JSON, **kwargs: Any) -> Peer:
        url = f"{ws_url}?token={token}" if token else ws_url
        conn = await connect(url, subprotocols=[Subprotocol(subprotocol)], max_size=2**20, **kwargs)
        peer = cls(conn, subprotocol)
        await peer.next(lambda f: f["type"] == "welcome")
        return peer

    async def _read(self) -> None:
        try:
            async for message in self.conn:
                self.raw.append(message)
                frame = msgpack.unpackb(message, raw=False) if isinstance(message, bytes) else json.loads(message)
                try:
                    check_frame(frame)  # every frame a test receives fits /asyncapi.json
                except AssertionError as exc:
                    self.schema_errors.append(str(exc))
                self.frames.append(frame)
                self._new.set()
        except Exception:
            pass
        finally:
            self.closed_code = self.conn.close_code
            self._new.set()

    async def send(self, frame: dict[str, Any]) -> None:
        if self.subprotocol == MSGPACK:
            await self.conn.send(msgpack.packb(frame))
        else:
            await self.conn.send(json.dumps(frame))

    async def send_raw(self, data: str | bytes) -> None:
        await self.conn.send(data)

    async def next(self, pred: Callable[[dict[str, Any]], bool] = lambda f: True, timeout: float = 5.0) -> dict[str, Any]:
        """The first frame not yet consumed that matches; frames before it stay consumed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            assert not self.schema_errors, self.schema_errors[0]
            while self._cursor < len(self.frames):
                frame = self.frames[self._cursor]
                self._cursor += 1
                if pred(frame):
                    return frame
            if self._reader.done():
                raise ConnectionError(f"closed ({self.closed_code}) before a matching frame")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame in {timeout}s; last frames: {self.frames[-5:]}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), remaining)

    async def ack(self, bid_id: str, timeout: float = 5.0) -> dict[str, Any]:
        return await self.next(lambda f: f["type"] == "ack" and f.get("id") == bid_id, timeout)

    async def bid(self, lot: str, bid_id: str, *, amount: int | None = None, maximum: int | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "bid", "lot": lot, "id": bid_id}
        if amount is not None:
            frame["amount"] = amount
        if maximum is not None:
            frame["max"] = maximum
        await self.send(frame)
        return await self.ack(bid_id)

    def events(self, lot: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "event" and f["lot"] == lot]

    async def close(self) -> None:
        await self.conn.close()
        self._reader.cancel()
        assert not self.schema_errors, self.schema_errors[0]


async def raw_upgrade(port: int, path: str = "/ws") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket handshake on a plain socket to 127.0.0.1, so the test decides whether pings get
    answers and what each TCP write carries."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    return reader, writer


async def read_raw_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One server frame off a `raw_upgrade` socket (unmasked, unfragmented): opcode and payload."""
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(n)


def masked_text(payload: bytes) -> bytes:
    """One client text frame by hand (RFC 6455: masked), for tests that decide what each TCP write
    carries."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
