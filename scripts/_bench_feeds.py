"""Bulk watchers: many WebSocket feeds read by one process in timed sweeps, not per readiness.

Why not asyncio: at 200 events/s a watcher gets one frame every 5 ms, and the server writes it as
soon as it has it, so an event-driven reader pays a wake-up, a recv and a Python callback per frame:
200,000 of them per second for 1,000 watchers, more than a core on its own. A reader that sweeps its
sockets every `period` seconds (epoll, level-triggered, then `recv` on each ready one) gets every
frame that arrived meanwhile in one read, and walks them with `_bench_frames.split` and one pattern
match per chunk. The price is that a bulk watcher's receipt time is late by up to `period`; so bulk
watchers measure counts, seqs, gaps and the final state, and delivery latency is measured by a few
event-driven watchers elsewhere (loadtest's workers keep some).

One feed speaks one of three dialects (`Dialect`): the engine's own protocol (also the bare
`websockets` baseline's), Nchan's (a plain WebSocket subscriber; every message is an event frame),
and Socket.IO's (Engine.IO v4 packets over a WebSocket: `0` open, `40` connect, `2` ping, `42[...]`).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import os
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from _bench_frames import (
    ENGINE_PING,
    EVENT,
    FULL_EVERY,
    MARK,
    PING_1,
    SEQ,
    close_at_end,
    count_scan,
    header_size,
    last_event,
    scan,
    split,
)
from _bench_ws import frame

PRUNE_OVER = 65536  # a lot's tracker heads kept before the ones no feed needs are forgotten (`Reader.prune`)


@dataclass(frozen=True)
class Dialect:
    """How a feed of one server subscribes and what its event frames start with."""

    name: str
    path: str  # URL path, `{lot}` filled in
    subprotocol: str | None
    event_prefix: bytes


ENGINE = Dialect("engine", "/ws", "auction.v1.json", b'{"type":"event"')
NCHAN = Dialect("nchan", "/sub/{lot}", None, b'{"type":"event"')
SOCKETIO = Dialect("socketio", "/socket.io/?EIO=4&transport=websocket", None, b'42["event",{"type":"event"')
DIALECTS = {d.name: d for d in (ENGINE, NCHAN, SOCKETIO)}


@dataclass
class ReaderSpec:
    """One reader process: `watchers` feeds of `lots` (watcher i watches lots[i % len]) at `base`."""

    index: int
    base: str  # ws://host:port
    dialect: str
    lots: list[str]
    watchers: int
    duration: float  # seconds of measuring after `go`
    period: float = 0.02  # sweep interval while measuring
    max_period: float = 0.0  # above `period`: the interval stretches up to this while reads are sparse (`Pace`)
    settle: float = 0.0  # after `stop`: read on until no data came for 0.5 s, at most this long
    conflate_ms: int = 0  # engine feeds subscribe conflated: seqs skip, only order is checked
    delta: bool = False  # engine feeds subscribe to deltas; one feed per lot decodes them all (`Feed.state`)
    connect_batch: int = 64
    rcvbuf: int = 0  # each feed's receive buffer (SO_RCVBUF), 0 for the kernel's: small, a watcher falls behind sooner


@dataclass
class Feed:
    sock: socket.socket
    lot: bytes
    buf: bytes = b""
    last: int = 0
    ready: bool = False
    closed: bool = False
    frames: int = 0
    gaps: int = 0
    dups: int = 0
    reads: int = 0
    state: dict[str, Any] | None = None  # a delta feed's tracker: the state rebuilt from every frame
    # The byte check of a delta feed against its lot's tracker (`Reader.placed`): the stream offset of the
    # carry's first byte, the bytes of frames that are not events before it, and the event heads read but
    # not yet checked (seq, offset counting event bytes only), oldest first.
    consumed: int = 0
    skipped: int = 0
    pending: collections.deque[tuple[int, int]] = field(default_factory=collections.deque)
    first: int = 0  # the seq of the feed's first event: it came whole, so no base at it
    base: tuple[int, int] | None = None  # (seq, offset) every later head is measured from
    why: str = ""  # why the feed closed: the close frame's code and reason, or none came


@dataclass
class LotTally:
    highest: int = 0
    payload: bytes = b""
    frames: int = 0
    # From the lot's tracker (delta feeds): each event head's offset in its stream, counting event frames'
    # bytes only, and the first seq it saw (that frame came whole; the feeds' frames after their first are
    # byte for byte the tracker's, made once per event by the engine: lotfeed.py).
    heads: dict[int, int] = field(default_factory=dict)
    first: int = 0
    pruned: int = 0  # the heads below this seq are forgotten


@dataclass
class Reader:
    spec: ReaderSpec
    dialect: Dialect = field(init=False)
    feeds: dict[int, Feed] = field(default_factory=dict)
    lots: dict[bytes, LotTally] = field(default_factory=dict)
    counting: bool = False
    bytes_read: int = 0
    fast: bool = False  # once every feed is subscribed: `scan`, no frame walk (see `_bench_frames.scan`)

    def __post_init__(self) -> None:
        # One receive buffer for every read, copied out at the read's size: `sock.recv(1 << 20)` allocates a
        # megabyte per call, fresh pages the kernel faults in as it copies, which was two thirds of a bulk
        # reader's CPU at a hot lot (0.20 of its 0.30 cores in the kernel; 0.05 with this).
        self.into = bytearray(1 << 20)
        self.view = memoryview(self.into)
        self.dialect = DIALECTS[self.spec.dialect]

    # -- connecting --

    def connect_all(self, poller: select.epoll) -> None:
        """Open, upgrade and subscribe every feed, `connect_batch` at a time (the upgrade is blocking)."""
        parts = urlsplit(self.spec.base)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        lots = self.spec.lots
        for start in range(0, self.spec.watchers, self.spec.connect_batch):
            batch: list[tuple[socket.socket, str]] = []
            for i in range(start, min(self.spec.watchers, start + self.spec.connect_batch)):
                lot = lots[(self.spec.index * 7919 + i) % len(lots)]
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                if self.spec.rcvbuf:  # before connect, so the window the kernel offers stays that small
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.spec.rcvbuf)
                sock.settimeout(120)
                sock.connect((host, port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(self._upgrade(host, port, lot))
                batch.append((sock, lot))
            for sock, lot in batch:
                rest = self._read_head(sock)
                sock.setblocking(False)
                feed = Feed(sock, lot.encode())
                if self.spec.delta and feed.lot not in self.lots:
                    feed.state = {}  # the lot's first feed here checks every delta against the state it holds
                self.feeds[sock.fileno()] = feed
                self.lots.setdefault(feed.lot, LotTally())
                poller.register(sock.fileno(), select.EPOLLIN)
                if self.dialect is ENGINE:
                    subscribe: dict[str, Any] = {"type": "subscribe", "lot": lot}
                    if self.spec.conflate_ms:
                        subscribe["conflate_ms"] = self.spec.conflate_ms
                    if self.spec.delta:
                        subscribe["delta"] = True
                    self._send(feed, json.dumps(subscribe).encode())
                elif self.dialect is NCHAN:
                    feed.ready = True
                if rest:
                    self.received(feed, rest, time.perf_counter())

    def _upgrade(self, host: str, port: int, lot: str) -> bytes:
        key = base64.b64encode(os.urandom(16)).decode()
        offer = f"Sec-WebSocket-Protocol: {self.dialect.subprotocol}\r\n" if self.dialect.subprotocol else ""
        return (f"GET {self.dialect.path.format(lot=lot)} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n").encode()

    @staticmethod
    def _read_head(sock: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the upgrade")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        return rest

    @staticmethod
    def _send(feed: Feed, payload: bytes, opcode: int = 1) -> None:
        with contextlib.suppress(OSError):
            feed.sock.send(frame(opcode, payload))

    # -- reading --

    def sweep(self, poller: select.epoll, timeout: float) -> int:
        """Read every feed with data waiting; returns how many were read."""
        ready = poller.poll(timeout)
        now = time.perf_counter()
        for fd, _ in ready:
            feed = self.feeds[fd]
            carry = len(feed.buf)  # the part of a frame the last read cut, read on into: one copy, not two
            if carry:
                if carry * 2 > len(self.into):  # a frame of half a megabyte or more: room to read on
                    self.into = bytearray(carry * 4)
                    self.view = memoryview(self.into)
                self.into[:carry] = feed.buf
            try:
                n = feed.sock.recv_into(self.view[carry:])
            except BlockingIOError:
                continue
            except OSError:
                n = 0
            if not n:
                self.drop(poller, fd, feed)
                continue
            self.bytes_read += n
            feed.buf = b""
            if self.fast and self.spec.delta and feed.state is None:
                self.placed(feed, self.into, carry + n)  # read where it lies: no copy of the read
            else:
                self.received(feed, bytes(self.view[:carry + n]), now)
        return len(ready)

    def lagging(self) -> bool:
        """A feed still open behind the others: one the engine cut off as a slow consumer closes within its
        close timeout (10 s, ws_protocol.CLOSE_TIMEOUT_S) when the reader does not answer its close; one
        that stays open and behind is what the consistency check is for."""
        lows: dict[bytes, int] = {}
        highs: dict[bytes, int] = {}
        for f in self.feeds.values():
            if not f.closed:
                lows[f.lot] = min(lows.get(f.lot, f.last), f.last)
                highs[f.lot] = max(highs.get(f.lot, f.last), f.last)
        return any(lows[lot] < highs[lot] for lot in lows)

    def drop(self, poller: select.epoll, fd: int, feed: Feed) -> None:
        if not feed.closed:
            feed.why = feed.why or "closed without a close frame"
        feed.closed = True
        poller.unregister(fd)
        feed.sock.close()

    def received(self, feed: Feed, data: bytes, now: float) -> None:
        buf = feed.buf + data if feed.buf else data
        if feed.state is not None:
            self.tracked(feed, buf)
            return
        if self.fast:
            feed.reads += 1
            n, first, last, carry, start = count_scan(buf)
            expected = feed.last + 1 if feed.last else first
            if (n and first == expected and last - first + 1 == n and feed.reads % FULL_EVERY
                    and not self.spec.conflate_ms):
                feed.buf = carry
                self.counted(feed, n, last, buf, start)
            else:  # something to look at seq by seq (or the sampled full check): one match per event
                events, feed.buf, start = scan(buf)
                if events:
                    self.events(feed, events, buf, start)
            # A close frame (the engine cut this watcher off as a slow consumer) is no event, which the
            # counting above never reads: found here, or the feed would look open, and stuck, until the
            # engine's close timeout (10 s) ended the connection, after the readers had reported.
            closing = close_at_end(buf)
            if closing is not None:
                self.other(feed, 8, closing)
            # Unanswered pings close the connection. `buf`, not `data`: a ping cut by the last read is in
            # the carry; one found twice gets two answers, which both servers ignore.
            if self.dialect is SOCKETIO and PING_1 in buf:
                self._send(feed, b"3")
            elif b"\x89" in buf:
                for payload in ENGINE_PING.findall(buf):
                    self._send(feed, payload, 10)
            return
        n, others, used, last_start, last_end = split(buf, self.dialect.event_prefix)
        if n:
            self.events(feed, EVENT.findall(buf, 0, used), buf, buf.rfind(MARK, last_start, last_end) - 1)
        for opcode, start, end in others:
            self.other(feed, opcode, buf[start:end])
        feed.buf = buf[used:]

    def tracked(self, feed: Feed, buf: bytes) -> None:
        """A delta feed's tracker: every frame decoded, each delta laid over the state it holds,
        which must be at the delta's `prev` (else a gap), so the final state is checked as a full
        feed's is. One feed per lot and process: its cost is one decode per event, not per watcher.
        Each event head's offset is kept (`LotTally.heads`) for the lot's other feeds' byte check."""
        _, frames, used, _, _ = split(buf, b"\x00")  # no payload starts with NUL: every frame listed
        feed.buf = buf[used:]
        tally = self.lots[feed.lot]
        for opcode, start, end in frames:
            payload = buf[start:end]
            if opcode != 1 or not payload.startswith(MARK, 1):
                feed.skipped += header_size(end - start) + end - start
                self.other(feed, opcode, payload)
                if feed.ready and not feed.state and payload.startswith(b'{"type":"snapshot"'):
                    feed.state = json.loads(payload)["state"]
                continue
            event, state = json.loads(payload), feed.state
            assert state is not None
            seq = event["seq"]
            if seq <= feed.last:
                feed.dups += 1
                feed.skipped += header_size(end - start) + end - start  # the feeds measured by it never had it
                continue
            tally.heads[seq] = feed.consumed + start + 1 - feed.skipped
            tally.first = tally.first or seq
            if "changed" in event:
                if event["prev"] != state.get("seq"):
                    feed.gaps += 1
                feed.state = {**state, **event["changed"]}
            else:
                if feed.last and seq != feed.last + 1:
                    feed.gaps += 1
                feed.state = event["state"]
            feed.last = seq
            if self.counting:
                feed.frames += 1
            tally.highest = max(tally.highest, seq)
        feed.consumed += used
        if len(tally.heads) > PRUNE_OVER:
            self.prune(feed.lot)

    def placed(self, feed: Feed, buf: bytearray, end: int) -> None:
        """A delta feed's read while counting: once the feed has a base, only its last event head is
        matched (`last_event`), no pass over the read. Every event frame after a feed's first is the same
        bytes for every delta watcher of the lot (made once per event: lotfeed.py), so the bytes from
        the base head to a later one must be exactly those between the same two seqs on the lot's
        tracker, which decodes every frame. A missing, repeated, cut or foreign frame between two heads
        changes that count: a gap. The engine's keepalive pings are the one other frame expected between
        events; they are found by their bytes (`ENGINE_PING`) and left out of the count. Until the base
        (a head after the feed's first event, which came whole, and after the tracker's first), every
        event of a read is matched and checked seq by seq, as `scan` does. Exact like `count_scan` at a
        fraction of its cost: at a hot lot the count was a third of a bulk reader's CPU
        (docs/performance.md, "Round eighteen")."""
        seq, head, carry = last_event(buf, end)
        later = 0  # the bytes of pings after the head (the carry may start at a cut head after it)
        if buf.find(b"\x89", 0, carry) >= 0:
            for m in ENGINE_PING.finditer(buf, 0, end):
                if m.end() > carry:  # after the carry's start, or cut by it (no head in the read): whole next time
                    carry = min(carry, m.start())
                    break
                if m.start() < head:
                    feed.skipped += m.end() - m.start()
                else:
                    later += m.end() - m.start()
                self._send(feed, m.group(1), 10)
        at = feed.consumed + head - feed.skipped
        feed.skipped += later
        if head >= 0:
            if feed.base is not None:
                if seq > feed.last:
                    if self.counting:
                        feed.frames += seq - feed.last
                    feed.last = seq
                    feed.pending.append((seq, at))
                    self.check(feed)
                else:
                    feed.dups += 1
            else:
                self.events(feed, EVENT.findall(buf, 0, end), bytes(buf[head - 1:end]), 0)
                first = self.lots[feed.lot].first
                if feed.last == seq and feed.first < seq and first and first < seq:
                    feed.base = (seq, at)
        feed.consumed += carry
        feed.buf = bytes(buf[carry:end])
        closing = close_at_end(buf, end)  # the engine's close (a slow consumer cut off): after the last event
        if closing is not None:
            self.other(feed, 8, closing)

    def check(self, feed: Feed) -> None:
        """Each pending head the tracker has reached, measured from the feed's base (`placed`), which then
        moves up to it: each read's bytes are checked on their own, a fault is counted once, and the
        tracker's older heads can go (`prune`)."""
        heads, pending, base = self.lots[feed.lot].heads, feed.pending, feed.base
        while base is not None and pending and pending[0][0] in heads:
            seq, at = pending.popleft()
            if at - base[1] != heads[seq] - heads.get(base[0], -1 << 62):
                feed.gaps += 1
            feed.base = base = (seq, at)

    def prune(self, lot: bytes) -> None:
        """Forget the tracker's heads below every open feed's base: a run of an hour at a hot lot would
        otherwise keep millions of them."""
        tally = self.lots[lot]
        # A feed with no base yet takes one at a head it reads from now on, at or above its last seq.
        low = min((f.base[0] if f.base else f.last for f in self.feeds.values()
                   if f.lot == lot and f.state is None and (f.pending or not f.closed)), default=tally.highest)
        for seq in range(tally.pruned, low):
            tally.heads.pop(seq, None)
        tally.pruned = max(tally.pruned, low)

    def counted(self, feed: Feed, n: int, last: int, buf: bytes, start: int) -> None:
        """`n` contiguous events ending at seq `last` (`count_scan` checked the ends)."""
        feed.last = last
        if self.counting:
            feed.frames += n
        tally = self.lots[feed.lot]
        if last > tally.highest:
            tally.highest = last
            tally.payload = buf[start:]

    def events(self, feed: Feed, events: list[tuple[bytes, bytes]], buf: bytes, start: int) -> None:
        """Gap and duplicate checks per chunk: contiguous seqs need only the first and the last."""
        if not events:
            return
        first, last = int(events[0][1]), int(events[-1][1])
        feed.first = feed.first or first
        expected = feed.last + 1 if feed.last else first
        if first == expected and last - first + 1 == len(events) and not self.spec.conflate_ms:
            feed.last = last  # a feed watches one lot: every event here is of feed.lot
        else:
            self._one_by_one(feed, events, gaps=not self.spec.conflate_ms)
        if self.counting:
            feed.frames += len(events)
        tally = self.lots[feed.lot]
        if feed.last > tally.highest:
            tally.highest = feed.last
            tally.payload = buf[start:]  # the last event's JSON object and whatever follows it

    @staticmethod
    def _one_by_one(feed: Feed, events: list[tuple[bytes, bytes]], gaps: bool = True) -> None:
        """Seq by seq: a seq at or below the last is a duplicate; a skipped one a gap (unless conflated)."""
        for _, digits in events:
            seq = int(digits)
            if seq <= feed.last:
                feed.dups += 1
                continue
            if gaps and feed.last and seq != feed.last + 1:
                feed.gaps += 1
            feed.last = seq

    def other(self, feed: Feed, opcode: int, payload: bytes) -> None:
        if opcode == 9:
            self._send(feed, payload, 10)
        elif opcode == 8:
            feed.closed = True
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            feed.why = f"{code} {payload[2:].decode(errors='replace')}".strip()
        elif self.dialect is SOCKETIO:
            self._socketio(feed, payload)
        elif payload.startswith(b'{"type":"snapshot"'):
            m = SEQ.search(payload)
            feed.last = int(m.group(1)) if m else 0
            feed.ready = True

    def _socketio(self, feed: Feed, payload: bytes) -> None:
        if payload == b"2":  # Engine.IO ping: answer pong or the server closes the connection
            self._send(feed, b"3")
        elif payload.startswith(b"0{"):  # Engine.IO open: connect to the default namespace
            self._send(feed, b"40")
        elif payload.startswith(b"40"):  # namespace connected: join the lot's room
            self._send(feed, b'42["subscribe",%s]' % json.dumps(feed.lot.decode()).encode())
        elif payload.startswith(b'42["snapshot"'):
            m = SEQ.search(payload)
            feed.last = int(m.group(1)) if m else 0
            feed.ready = True

    # -- the report --

    def result(self, cpu: tuple[float, float], window: float, sweeps: list[float]) -> dict[str, Any]:
        """Per lot: watchers, gaps, duplicates, frames, closed feeds, last seqs, the final state and
        event; the process's CPU over the window (user + system, and system alone: the kernel's
        receive path per TCP segment is most of a bulk reader's cost)."""
        per_lot: dict[str, dict[str, Any]] = {}
        for feed in self.feeds.values():
            self.check(feed)
            # A head its lot's tracker never reached cannot be vouched for: counted as a gap, not let pass.
            feed.gaps += len(feed.pending)
            feed.pending.clear()
            agg = per_lot.setdefault(feed.lot.decode(), {"watchers": 0, "gaps": 0, "dups": 0, "frames": 0, "closed": 0,
                                                         "why": collections.Counter(),
                                                         "lasts": collections.Counter(), "final": None})
            agg["watchers"] += 1
            agg["gaps"] += feed.gaps
            agg["dups"] += feed.dups
            agg["frames"] += feed.frames
            agg["closed"] += feed.closed
            if feed.closed:
                agg["why"][feed.why] += 1
            if not feed.closed:  # one cut off (a slow consumer) stops where it was cut: counted as closed
                agg["lasts"][feed.last] += 1
        for lot, agg in per_lot.items():
            agg["lasts"] = {str(k): v for k, v in agg["lasts"].items()}
            tally = self.lots[lot.encode()]
            tracker = next((f for f in self.feeds.values() if f.lot == lot.encode() and f.state is not None), None)
            event = final_event(tally.payload) if tally.payload and tracker is None else None
            if event is not None:
                agg["final"], agg["event"] = event["state"], event
            elif tracker is not None and tracker.state:
                agg["final"] = tracker.state
        sweeps.sort()
        return {"index": self.spec.index, "cpu": cpu[0], "cpu_system": cpu[1], "window_s": window, "lots": per_lot,
                "frames": sum(f.frames for f in self.feeds.values()),
                "sweep_p99_ms": sweeps[int(len(sweeps) * 0.99)] * 1000 if sweeps else 0.0,
                "sweep_max_ms": sweeps[-1] * 1000 if sweeps else 0.0}


class Pace:
    """The sweep interval: `period`, stretched up to `max_period` while each read brings little.

    Why: a bulk reader's cost is per read, not per frame (a `recv` and a Python walk per ready feed
    per sweep). At a hot lot's 2,000 events/s a 20 ms sweep reads ~40 frames a feed; at 200 events/s
    it reads 4, and 950 feeds swept 50 times a second cost two readers 0.9 cores for 140,000 frames/s,
    more than at 2 million. Reads under `SPARSE` bytes a feed stretch the interval, reads over `DENSE`
    shrink it back (a loopback socket's receive buffer, 128 KiB at first and growing, holds a read of
    `DENSE` twice over). The watchers that time delivery are loadtest's precise ones, never these.
    At 4 and 16 KiB, the first bounds, a 270 bids/s lot's feeds settled near 35 ms and the readers
    took 0.36-0.38 cores for ~180,000 frames/s (docs/performance.md, "Round fourteen")."""

    SPARSE, DENSE = 16384, 65536

    def __init__(self, period: float, max_period: float) -> None:
        self.low, self.high = period, max(period, max_period)
        self.period = period

    def after(self, read: int, feeds: int) -> float:
        if feeds and self.high > self.low:
            per_feed = read / feeds
            if per_feed < self.SPARSE:
                self.period = min(self.high, self.period * 1.25)
            elif per_feed > self.DENSE:
                self.period = max(self.low, self.period / 1.5)
        return self.period


def final_event(payload: bytes) -> dict[str, Any] | None:
    """The last event seen: `payload` starts with its JSON object (decoded once, at the end)."""
    try:
        event, _ = json.JSONDecoder().raw_decode(payload.decode(errors="replace"))
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("state"), dict) else None


def reader_main(spec: ReaderSpec, out: Any, go: Any, stop: Any, lows: Any) -> None:
    """A reader process: connect, say ready, sweep; publish the lowest watcher seq into `lows[index]`
    (drivers pace by it); measure CPU over `duration` after `go`; after `stop`, report."""
    try:
        from loadtest import raise_nofile

        raise_nofile()
        reader = Reader(spec)
        poller = select.epoll()
        reader.connect_all(poller)
        deadline = time.monotonic() + 120
        while not all(f.ready or f.closed for f in reader.feeds.values()) and time.monotonic() < deadline:
            reader.sweep(poller, 0.01)
        out.put(("ready", spec.index))
        while not go.is_set():
            reader.sweep(poller, 0.005)
        reader.counting = reader.fast = True
        sweeps: list[float] = []
        t0, times0 = time.perf_counter(), os.times()
        cpu: tuple[float, float] | None = None
        window = 0.0

        def used() -> tuple[float, float]:
            now = os.times()
            spent = now.user - times0.user + now.system - times0.system
            return spent / max(window, 1e-9), (now.system - times0.system) / max(window, 1e-9)

        pace = Pace(spec.period, spec.max_period)
        while not stop.is_set():
            started, before = time.perf_counter(), reader.bytes_read
            ready = reader.sweep(poller, 0)
            ended = time.perf_counter()
            sweeps.append(ended - started)
            live = [f.last for f in reader.feeds.values() if not f.closed]
            lows[spec.index] = min(live) if live else 0
            if cpu is None and ended - t0 >= spec.duration:
                window = ended - t0
                cpu = used()
                reader.counting = False
            time.sleep(max(0.0, pace.after(reader.bytes_read - before, ready) - (time.perf_counter() - started)))
        if cpu is None:
            window = time.perf_counter() - t0
            cpu = used()
        deadline, quiet_since = time.perf_counter() + spec.settle, time.perf_counter()
        while time.perf_counter() < deadline and (time.perf_counter() - quiet_since < 0.5 or reader.lagging()):
            if reader.sweep(poller, 0.05):
                quiet_since = time.perf_counter()
        out.put(("done", spec.index, reader.result(cpu, window, sweeps)))
        for fd, feed in list(reader.feeds.items()):
            if not feed.closed:
                reader.drop(poller, fd, feed)
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        out.put(("failed", spec.index, f"{type(exc).__name__}: {exc}"))
