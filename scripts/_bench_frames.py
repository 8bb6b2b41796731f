"""A cheap feed reader for load-generator watchers: seqs by pattern, no JSON decode per frame.

Thousands of simulated watchers on the engine's own machine must not cost more than the engine: a
`json.loads` and a dict walk per frame (the old watchers) took ~1.5 cores to read ~200,000 frames/s
and lagged the generator's loop by half a second. A watcher only needs, per frame, whether it is an
event and its lot and seq (gaps, duplicates, delivery times); the state is wanted only for the last
event. So a `FeedWatcher` walks the WebSocket frame headers of each received chunk (one short Python
loop per frame), takes every event's lot and seq from the chunk with one compiled pattern (C, not
Python, per frame), and hands the rest (snapshots, errors, pings of other protocols) to a slow path
that decodes them. The pattern matches the engine's frame layout (`frames.event_frame`: type, lot,
seq first, in that order) wherever it sits in a payload, so the same reader counts a Socket.IO
packet (`42["event",{...}]`) or an Nchan message carrying the same event frame.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

from _bench_ws import frame

# An event frame's head as frames.event_frame lays it out (json.dumps keeps insertion order); the
# character after the digits proves the seq was not cut by the end of a read.
EVENT = re.compile(rb'"type":"event","lot":"([^"]*)","seq":(\d+)[,}]')
MARK = b'"type":"event"'
PING_1 = b"\x81\x012"  # an unmasked text frame holding "2": an Engine.IO ping
# The engine's keepalive ping (ws_protocol.py: 4 random bytes), found without walking frames: 0x04
# never appears raw in JSON text, and no header of a frame under 35,076 bytes holds 0x89 0x04. A
# pong for a false match would be an unsolicited pong, which RFC 6455 allows and the engine ignores.
ENGINE_PING = re.compile(rb"\x89\x04(.{4})", re.S)
ACK = re.compile(rb'"type":"ack","id":"([^"]*)"')
SEQ = re.compile(rb'"seq":(\d+)')

Events = list[tuple[bytes, bytes]]  # (lot, seq digits) per event frame, in arrival order
OnEvents = Callable[[Events, bytes, float], None]  # events, the last event's payload, receipt time
OnOther = Callable[[int, bytes, float], None]  # opcode, payload, receipt time


def seq_of(payload: bytes) -> int | None:
    """The first `"seq":N` of a JSON frame (the top-level one in every frame the engine sends)."""
    m = SEQ.search(payload)
    return int(m.group(1)) if m else None


def ack_id_of(payload: bytes) -> str | None:
    """The id of an `ack` frame, None for any other frame."""
    m = ACK.search(payload)
    return m.group(1).decode() if m else None


def scan(buf: bytes) -> tuple[Events, bytes, int]:
    """Every complete event head in `buf` without walking frames: (events, the bytes to carry into
    the next read, offset of the last complete event's JSON object or -1).

    Used once a feed is subscribed, when every frame that matters is an event: a read may end inside
    a frame, so what follows the last complete head is carried (a head cut by the read is matched
    next time; the complete one is not matched twice, as the carry starts one byte into it)."""
    events = EVENT.findall(buf)
    pos = buf.rfind(MARK)
    if pos < 0:
        return events, buf[-(len(MARK) - 1):], -1
    if EVENT.match(buf, pos):
        return events, buf[pos + 1:], pos - 1
    return events, buf[pos:], buf.rfind(MARK, 0, pos) - 1 if events else -1


Counted = tuple[int, int, int, bytes, int]
"""(complete event heads, first seq, last seq, the bytes to carry, offset of the last one's JSON or -1)."""


def count_scan(buf: bytes) -> Counted:
    """`scan` without a match per event: the complete event heads in `buf` are counted (`bytes.count`,
    memchr speed) and only the first and the last are matched for their seqs.

    At 700,000 frames/s a pattern match per event (`scan`) was most of a bulk reader's CPU. A feed
    of one lot whose seqs run first..last with exactly last - first + 1 heads had no gap and no
    duplicate unless one of each fell in the same read; the reader matches such a read in full
    (`scan`) whenever the count and the ends disagree, and every `FULL_EVERY`-th read regardless."""
    n = buf.count(MARK)
    last = buf.rfind(MARK)
    if last < 0:
        return 0, 0, 0, buf[-(len(MARK) - 1):], -1
    end = EVENT.match(buf, last)
    if end is not None:
        carry, start = buf[last + 1:], last - 1
    else:  # the last head is cut by the read: it is matched next time, whole
        carry, n = buf[last:], n - 1
        last = buf.rfind(MARK, 0, last)
        end = EVENT.match(buf, last) if last >= 0 else None
        start = last - 1 if end is not None else -1
    if n <= 0 or end is None:
        return 0, 0, 0, carry, -1
    first = EVENT.match(buf, buf.find(MARK))
    return n, int(first.group(2)) if first else 0, int(end.group(2)), carry, start


FULL_EVERY = 16


def close_at_end(buf: bytes | bytearray, end: int | None = None) -> bytes | None:
    """The payload of a server close frame that ends `buf[:end]` (a status code and its reason), or None.

    A counting read starts inside an event frame, so its frames cannot be walked from its start (a walk
    from a carry's start once read a stray byte as a close and counted a watcher as cut off). The close
    is the last frame a server sends (RFC 6455, 5.5.1), so it is looked for at the end only: a 0x88
    whose length byte covers exactly the rest, holding a status code a server may send. A 0x88 inside
    an event frame (a length of 136, a UTF-8 continuation byte) is followed by JSON text, never by
    such a code. The whole read is looked at, not the carry: a read with no event head carries only
    its last bytes, which would cut a close in two."""
    end = len(buf) if end is None else end
    low = max(0, end - 127)
    pos = buf.rfind(b"\x88", low, end)
    while pos >= 0:
        n = end - pos - 2
        if 2 <= n <= 125 and buf[pos + 1] == n:
            code = int.from_bytes(buf[pos + 2:pos + 4], "big")
            if 1000 <= code <= 1014 or 3000 <= code <= 4999:
                return bytes(buf[pos + 2:end])
        pos = buf.rfind(b"\x88", low, pos)
    return None


def header_size(payload: int) -> int:
    """The bytes of an unmasked frame's header (RFC 6455, 5.2) before a payload of this length."""
    return 2 if payload < 126 else 4 if payload < 65536 else 10


def last_event(buf: bytes | bytearray, end: int) -> tuple[int, int, int]:
    """The last complete event head in `buf[:end]`: (its seq, the offset of its `MARK`, where the
    carry into the next read starts); the seq is 0 and the offset -1 when there is none.

    What a delta feed's reader looks at per read instead of `count_scan`: one backward search from the
    end, one match, never a pass over the whole read (the feed's bytes are checked against the lot's
    tracker instead; see `_bench_feeds.Reader.placed`)."""
    pos = buf.rfind(MARK, 0, end)
    if pos < 0:
        return 0, -1, max(0, end - (len(MARK) - 1))
    m = EVENT.match(buf, pos, end)
    if m is not None:
        return int(m.group(2)), pos, pos + 1
    carry = pos  # the last head is cut by the read: matched next time, whole
    pos = buf.rfind(MARK, 0, pos)
    m = EVENT.match(buf, pos, end) if pos >= 0 else None
    return (int(m.group(2)), pos, carry) if m is not None else (0, -1, carry)


def split(buf: bytes, event_prefix: bytes) -> tuple[int, list[tuple[int, int, int]], int, int, int]:
    """Walk the complete unmasked frames at the start of `buf`.

    Returns (event frames, other frames as (opcode, start, end), bytes consumed, start and end of
    the last event frame's payload). An event frame is a text frame whose payload starts with
    `event_prefix`; anything else (control frames too) goes to the second list."""
    pos, size, events = 0, len(buf), 0
    others: list[tuple[int, int, int]] = []
    last_start = last_end = 0
    while size - pos >= 2:
        b0, n = buf[pos], buf[pos + 1] & 0x7F
        head = 2
        if n == 126:
            if size - pos < 4:
                break
            n = (buf[pos + 2] << 8) | buf[pos + 3]
            head = 4
        elif n == 127:
            if size - pos < 10:
                break
            n = int.from_bytes(buf[pos + 2:pos + 10], "big")
            head = 10
        start = pos + head
        end = start + n
        if end > size:
            break
        if b0 == 0x81 and buf.startswith(event_prefix, start):
            events += 1
            last_start, last_end = start, end
        else:
            others.append((b0 & 0x0F, start, end))
        pos = end
    return events, others, pos, last_start, last_end


class FeedWatcher(asyncio.Protocol):
    """One watcher connection: `on_events` once per received chunk with every event in it, in order;
    `on_other` per other frame (ping answered here too, close handled here)."""

    def __init__(self, handshake: bytes, on_events: OnEvents, on_other: OnOther,
                 event_prefix: bytes = b'{"type":"event"') -> None:
        self.handshake = handshake
        self.on_events = on_events
        self.on_other = on_other
        self.event_prefix = event_prefix
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        loop = asyncio.get_running_loop()
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int | None] = loop.create_future()
        self.close_code: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport is not an asyncio.Transport subclass, hence the cast.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.handshake)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if b" 101 " not in buf[: buf.find(b"\r\n")]:
                self.upgraded.set_exception(ConnectionError(buf[: buf.find(b"\r\n")].decode(errors="replace")))
                self._abort()
                return
            self.upgraded.set_result(None)
            buf = buf[end + 4:]
        now = time.perf_counter()
        n, others, used, last_start, last_end = split(buf, self.event_prefix)
        if n:
            events = EVENT.findall(buf, 0, used)
            self.on_events(events, buf[last_start:last_end], now)
        for opcode, start, end in others:
            payload = buf[start:end]
            if opcode == 9:
                self._write(frame(10, payload))
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._write(frame(8, payload[:2]))
                self._abort()
                return
            else:
                self.on_other(opcode, payload, now)
        self.buf = buf[used:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def send_text(self, text: str) -> None:
        self._write(frame(1, text.encode()))

    def send_binary(self, data: bytes) -> None:
        self._write(frame(2, data))

    def close(self) -> None:
        self._write(frame(8, (1000).to_bytes(2, "big")))
        self._abort()


def handshake(url: str, subprotocol: str | None) -> tuple[str, int, bytes]:
    """(host, port, the HTTP upgrade request) for a ws:// URL."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    key = base64.b64encode(os.urandom(16)).decode()
    offer = f"Sec-WebSocket-Protocol: {subprotocol}\r\n" if subprotocol else ""
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n")
    return host, port, request.encode()


async def open_feed(url: str, subprotocol: str | None, on_events: OnEvents, on_other: OnOther,
                    event_prefix: bytes = b'{"type":"event"', timeout: float = 60) -> FeedWatcher:
    """Connect to a ws:// URL and upgrade; the watcher's callbacks run from then on."""
    host, port, request = handshake(url, subprotocol)
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(
        loop.create_connection(lambda: FeedWatcher(request, on_events, on_other, event_prefix), host, port), timeout)
    await asyncio.wait_for(proto.upgraded, timeout)
    return proto
