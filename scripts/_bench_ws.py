"""A minimal WebSocket client for watchers: frames parsed in `data_received`, handed to a callback.

The `websockets` client costs tens of microseconds of Python per received message (reader task,
queue, async iteration); thousands of watchers on the same machine as the engine then measure the
generator rather than the engine. This one reads unfragmented server frames straight off the
transport (server frames are unmasked) and answers pings; it sends only small masked frames.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import struct
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

OnMessage = Callable[[str | bytes, float], None]


def _mask(data: bytes) -> bytes:
    # A load generator's mask need not be unpredictable (RFC 6455 asks that against proxy cache
    # poisoning, and there is no proxy here): `random`, not `os.urandom`, spares a syscall per frame.
    key = random.randbytes(4)
    n = len(data)
    pad = (key * (n // 4 + 1))[:n]
    return key + (int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")).to_bytes(n, "big") if n else key


def frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + _mask(payload)


class RawWatcher(asyncio.Protocol):
    def __init__(self, on_message: OnMessage, handshake: bytes) -> None:
        self.on_message = on_message
        self.handshake = handshake
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.text = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass, so no isinstance here).
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.handshake)

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None  # connection_made came first
        buf = self.buf + data if self.buf else data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            status = buf[: buf.find(b"\r\n")]
            if b" 101 " not in status:
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                transport.close()
                return
            self.upgraded.set_result(None)
            buf = buf[end + 4:]
        now = time.perf_counter()
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2:pos + 4], "big")
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2:pos + 10], "big")
                head = 10
            if size - pos < head + n:
                break
            payload = buf[pos + head:pos + head + n]
            pos += head + n
            opcode = b0 & 0x0F
            if opcode == 1:
                self.on_message(payload.decode(), now)
            elif opcode == 2:
                self.on_message(payload, now)
            elif opcode == 9:
                transport.write(frame(10, payload))
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                transport.write(frame(8, payload[:2]))
                transport.close()
                return
        self.buf = buf[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def send_text(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(1, text.encode()))

    def send_binary(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(2, data))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(8, struct.pack("!H", 1000)))
            self.transport.close()


async def open_watcher(url: str, subprotocol: str, on_message: OnMessage, timeout: float = 60) -> RawWatcher:
    """Connect to a ws:// URL and upgrade; `on_message(text_or_bytes, perf_counter_at_receipt)` per frame."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                 f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(loop.create_connection(lambda: RawWatcher(on_message, handshake), host, port), timeout)
    await asyncio.wait_for(proto.upgraded, timeout)
    return proto
