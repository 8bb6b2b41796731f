"""Load test against a running engine: bidders, watchers, honest latency figures.

    python scripts/loadtest.py --url http://127.0.0.1:8000 --auth-secret S --create \\
        --lots 10 --bidders 200 --watchers 1000 --duration 30

N bidders (increment, proxy and last-second sniper strategies) and M watchers over K lots,
spread over `--procs` generator processes (asyncio in each, one socket per simulated user).
Reported: accepted/refused bids per second, ack latency (send -> ack), delivery latency (a bid's
send -> each watcher's receipt of the event with the ack's seq; measured for bids sent from the
watcher's own process), frames per second, errors, and a consistency check: every watcher saw
gapless seqs per lot and ends on the engine's `GET /api/lots/{lot}` state.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import gc
import json
import multiprocessing as mp
import os
import queue
import random
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import msgpack
from hdrh.histogram import HdrHistogram

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_feeds import ReaderSpec, reader_main  # noqa: E402
from _bench_frames import FeedWatcher, OnOther, open_feed  # noqa: E402
from _bench_ws import RawWatcher, open_watcher  # noqa: E402

JSON = "auction.v1.json"
MSGPACK = "auction.v1.msgpack"
HIST_MAX_US = 120_000_000
SLOW_ACK_S = 0.05  # acks slower than this are also counted by the second they were sent in
STRATEGIES = ("increment", "proxy", "sniper", "escalate")
COMPACT = json.JSONEncoder(separators=(",", ":"))  # one encoder, not one per `json.dumps` call
ESCAPE = json.encoder.encode_basestring_ascii  # a str as a JSON string literal, quotes included (C)
FINAL_KEYS = ("seq", "status", "result", "price", "leader", "bids", "ends_at", "extensions")


@dataclass
class Options:
    url: str = "http://127.0.0.1:8000"
    urls: list[str] = field(default_factory=list)  # engine nodes: generator process i connects to urls[i % n]
    token: str | None = None
    auth_secret: str | None = None
    lots: int = 10
    lot_ids: list[str] = field(default_factory=list)
    bidders: int = 100
    watchers: int = 200
    duration: float = 20.0
    subprotocol: str = "json"
    create: bool = False
    procs: int = 1
    rate: float = 0.0
    mix: str = "increment=5,proxy=4,sniper=1"
    lots_per_bidder: int = 3
    lots_per_watcher: int = 1
    readers: int = 2  # bulk-reader processes for watchers beyond `precise` per generator process (0: none)
    precise: int = 25  # event-driven watchers per generator process: they measure delivery latency
    conflate_ms: int = 0  # watchers subscribe with conflate_ms (docs/protocol.md): skipped seqs are no gap
    delta: bool = False  # bulk watchers subscribe to deltas (docs/protocol.md); the precise ones stay whole
    open_loop: bool = False  # with `rate`: a bidder does not wait for its ack before its next bid
    lot_duration: float | None = None
    anti_snipe: str | None = None
    snipe_window: float = 3.0
    window: int = 0
    step: int = 100
    prefix: str = ""
    connect_concurrency: int = 64
    settle: float = 15.0
    hold: float = 0.0
    quiet: bool = False
    json_out: str | None = None
    epoch_us: int = 0


def raise_nofile() -> int:
    """10k sockets need more descriptors than the usual soft limit of 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def new_hist() -> HdrHistogram:
    return HdrHistogram(1, HIST_MAX_US, 3)


def hist_of(by_us: collections.Counter[int]) -> HdrHistogram:
    """A histogram of times counted by microsecond (`record_value` per sample is ~3 us of Python)."""
    h = new_hist()
    for us, count in by_us.items():
        h.record_value(max(1, us), count)
    return h


def encode_hist(h: HdrHistogram) -> str | None:
    """A histogram as text for a report (None when empty); `merge_hist` reads it back."""
    return base64.b64encode(h.encode()).decode() if h.get_total_count() else None


def hist_summary(h: HdrHistogram) -> dict[str, float | int]:
    """Milliseconds, from a histogram in microseconds."""
    if h.get_total_count() == 0:
        return {"count": 0}
    return {
        "count": h.get_total_count(),
        "p50_ms": h.get_value_at_percentile(50) / 1000,
        "p90_ms": h.get_value_at_percentile(90) / 1000,
        "p99_ms": h.get_value_at_percentile(99) / 1000,
        "p999_ms": h.get_value_at_percentile(99.9) / 1000,
        "max_ms": h.get_max_value() / 1000,
    }


def parse_mix(mix: str) -> list[str]:
    weights: list[str] = []
    for part in mix.split(","):
        name, _, count = part.partition("=")
        name = name.strip()
        if name not in STRATEGIES:
            raise SystemExit(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
        weights += [name] * int(count or 1)
    return weights


def bid_text(lot: str, bid_id: str, key: str, amount: int) -> str:
    """A bid frame's JSON, laid out by hand: a third of what `JSONEncoder.encode` of the dict costs, which
    was a tenth of a bidder process's CPU at a hot lot. The strings are JSON-escaped all the same."""
    return f'{{"type":"bid","lot":{ESCAPE(lot)},"id":{ESCAPE(bid_id)},"{key}":{int(amount)}}}'


def ws_url(url: str) -> str:
    return ("wss://" if url.startswith("https") else "ws://") + url.split("://", 1)[1].rstrip("/") + "/ws"


# -- one generator process -----------------------------------------------------------------


@dataclass(slots=True)
class LotView:
    """What this process knows of a lot, from any frame it saw (a bidder in the room sees as much)."""

    next_min: int
    step: int
    price: int | None = None
    ends_at: int | None = None
    status: str = "open"
    acked_seq: int = 0


class Watched:
    """One watcher's record of one lot: the consistency check's raw material."""

    __slots__ = ("first", "last", "gaps", "dups", "frames", "final")

    def __init__(self) -> None:
        self.first: int | None = None
        self.last = 0
        self.gaps = 0
        self.dups = 0
        self.frames = 0
        self.final: dict[str, Any] | None = None

    def saw(self, seq: int, conflated: bool) -> bool:
        """Count an event frame of seq `seq`; False for a duplicate or an older one (nothing else to do
        with it). A conflated feed skips seqs by design, so only a full feed counts gaps."""
        self.frames += 1
        if seq <= self.last:
            self.dups += 1
            return False
        if self.last and seq != self.last + 1 and not conflated:
            self.gaps += 1
        if self.first is None:
            self.first = seq
        self.last = seq
        return True


class Worker:
    def __init__(self, opts: Options, index: int, tokens: list[tuple[str, str, str]], watchers: int,
                 out: Any, go: Any, offset_ms: float) -> None:
        self.o = opts
        self.index = index
        self.tokens = tokens  # (bidder, strategy, token) for this process's bidders
        self.n_watchers = watchers
        self.out = out
        self.go = go
        self.offset_ms = offset_ms
        self.msgpack = opts.subprotocol == "msgpack"
        self.proto = MSGPACK if self.msgpack else JSON
        self.ws = ws_url(opts.urls[index % len(opts.urls)] if opts.urls else opts.url)
        self.views = {lot: LotView(next_min=0, step=opts.step) for lot in opts.lot_ids}
        # Ack times by microsecond too (the same ~3 us of `record_value` per ack, at 2,000 acks/s a process).
        self.ack_us: collections.Counter[int] = collections.Counter()
        # Delivery times counted by microsecond, into a histogram at the end: `HdrHistogram.record_value` is
        # ~3 us of Python, and a hot lot's precise watchers take 100,000 receipts a second.
        self.delivery_us: collections.Counter[int] = collections.Counter()
        self.lag_hist = new_hist()
        # Acks slower than SLOW_ACK_S by the whole second (CLOCK_MONOTONIC, the same in every process
        # of the machine) they were sent in: count and worst, to tell a steady tail from a burst.
        self.slow_acks: dict[int, list[float]] = {}
        self.sent_at: dict[str, dict[int, float]] = {lot: {} for lot in opts.lot_ids}
        self.early: dict[str, dict[int, list[float]]] = {lot: {} for lot in opts.lot_ids}
        self.counts: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.watched: list[dict[str, Watched]] = []
        self.latest: dict[str, tuple[int, dict[str, Any]]] = {}  # lot -> the newest state this process decoded
        self.lot_names = {lot.encode(): lot for lot in opts.lot_ids}
        self.bidding = False
        self.running = True
        self.t0 = 0.0
        self.t1 = 0.0
        self._sem = asyncio.Semaphore(opts.connect_concurrency)
        self.paused: set[str] = set()

    # -- plumbing --

    def encode(self, frame: dict[str, Any]) -> str | bytes:
        return msgpack.packb(frame) if self.msgpack else COMPACT.encode(frame)

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        return msgpack.unpackb(raw, raw=False) if isinstance(raw, bytes) else json.loads(raw)

    async def open_bidder(self, token: str, on_frame: OnOther) -> FeedWatcher:
        """A bidder's socket: the same frame reader as the precise watchers (`_bench_frames`), every frame
        handed to `on_frame`. The `websockets` client cost ~30 us of Python per bid sent and per ack read,
        which at a hot lot's 3,600 commands/s was a third of the generator (docs/performance.md)."""
        offer = f"{self.proto}, auction.token.{token}"  # never ?token= in the URL
        for attempt in range(20):
            async with self._sem:
                try:
                    return await open_feed(self.ws, offer, lambda events, last, now: None, on_frame)
                except (OSError, TimeoutError, Exception) as exc:  # noqa: BLE001 - counted and retried
                    self.errors[f"connect:{type(exc).__name__}"] += 1
            await asyncio.sleep(0.2 * (attempt + 1))
        raise ConnectionError("could not connect")

    def server_now(self) -> float:
        return time.time() * 1000 + self.offset_ms

    def note_state(self, lot: str, state: dict[str, Any]) -> None:
        v = self.views.get(lot)
        if v is None:
            return
        nm = state.get("next_min")
        if nm is not None:
            v.next_min = max(v.next_min, nm)
        if state.get("price") is not None:
            v.price = state["price"]
        v.ends_at = state.get("ends_at")
        v.status = state.get("status", v.status)

    # -- watchers --

    async def watcher(self, i: int, lots: list[str]) -> None:
        seen = {lot: Watched() for lot in lots}
        self.watched.append(seen)
        handle = self.watcher_frame
        while self.running:
            ws: RawWatcher | FeedWatcher | None = None
            for attempt in range(20):
                try:
                    async with self._sem:
                        if self.msgpack:
                            ws = await open_watcher(self.ws, self.proto, lambda raw, now: handle(seen, raw, now))
                        else:
                            ws = await open_feed(self.ws, self.proto, lambda events, last, now: self.watcher_events(
                                seen, events, last, now), lambda opcode, payload, now: handle(
                                seen, payload.decode() if opcode == 1 else payload, now))
                    break
                except Exception as exc:  # noqa: BLE001 - counted and retried
                    self.errors[f"connect:{type(exc).__name__}"] += 1
                    await asyncio.sleep(0.2 * (attempt + 1))
            if ws is None:
                self.errors["watcher_connect_failed"] += 1
                return
            self.counts["watchers_connected"] += 1
            try:
                for lot in lots:
                    frame: dict[str, Any] = {"type": "subscribe", "lot": lot}
                    if self.o.conflate_ms:
                        frame["conflate_ms"] = self.o.conflate_ms
                    if seen[lot].last:
                        frame["since"] = seen[lot].last
                    data = self.encode(frame)
                    ws.send_binary(data) if isinstance(data, bytes) else ws.send_text(data)
                code = await ws.closed
                if self.running:
                    self.errors[f"watcher_closed:{code}"] += 1
            except asyncio.CancelledError:
                ws.close()
                raise
            finally:
                self.counts["watchers_connected"] -= 1
            if self.running:
                self.counts["watcher_reconnects"] += 1
                await asyncio.sleep(0.1)

    def watcher_events(self, seen: dict[str, Watched], events: list[tuple[bytes, bytes]], last: bytes, now: float) -> None:
        """A chunk's event frames (JSON), seqs found without decoding them (`_bench_frames`); the last one
        is decoded only if no watcher of this process has seen its seq yet (the bidders' view of the lot)."""
        self.counts["watcher_frames"] += len(events)
        for lot_bytes, digits in events:
            lot, seq = self.lot_names.get(lot_bytes) or lot_bytes.decode(), int(digits)
            if not seen[lot].saw(seq, bool(self.o.conflate_ms)):
                continue
            t = self.sent_at[lot].get(seq)
            if t is not None:
                self.delivery_us[int((now - t) * 1e6)] += 1
            elif seq > self.views[lot].acked_seq - 64:
                self.early[lot].setdefault(seq, []).append(now)
        lot = self.lot_names.get(events[-1][0]) or events[-1][0].decode()
        seq = int(events[-1][1])
        if seq > self.latest.get(lot, (0, {}))[0]:
            state = json.loads(last)["state"]
            self.latest[lot] = (seq, state)
            v = self.views[lot]
            if state.get("next_min") is not None and state["next_min"] > v.next_min:
                v.next_min = state["next_min"]
            v.ends_at = state.get("ends_at")
            v.status = state["status"]

    def watcher_frame(self, seen: dict[str, Watched], raw: str | bytes, now: float) -> None:
        f = self.decode(raw)
        kind = f.get("type")
        self.counts["watcher_frames"] += 1
        if kind == "event":
            lot, seq = f["lot"], f["seq"]
            w = seen[lot]
            if not w.saw(seq, bool(self.o.conflate_ms)):
                return
            state = w.final = f["state"]
            if seq > self.latest.get(lot, (0, {}))[0]:
                self.latest[lot] = (seq, state)
            v = self.views[lot]
            if state.get("next_min") is not None and state["next_min"] > v.next_min:
                v.next_min = state["next_min"]
            v.ends_at = state.get("ends_at")
            v.status = state["status"]
            t = self.sent_at[lot].get(seq)
            if t is not None:
                self.delivery_us[int((now - t) * 1e6)] += 1
            elif seq > v.acked_seq - 64:
                self.early[lot].setdefault(seq, []).append(now)
        elif kind == "snapshot":
            lot = f["lot"]
            w = seen[lot]
            w.last = f["seq"]
            w.final = f["state"]
            if w.last > self.latest.get(lot, (0, {}))[0]:
                self.latest[lot] = (w.last, f["state"])
            self.note_state(lot, f["state"])
        elif kind == "error":
            self.errors[f"watcher_error:{f.get('code')}"] += 1

    # -- bidders --

    async def bidder(self, bidder: str, strategy: str, token: str, lots: list[str]) -> None:
        pending: dict[str, tuple[float, str, asyncio.Future[None] | None]] = {}
        leading: set[str] = set()
        try:
            ws = await self.open_bidder(token, lambda opcode, payload, now: self.bidder_frame(
                pending, leading, opcode, payload, now))
        except ConnectionError:
            self.errors["bidder_connect_failed"] += 1
            return
        self.counts["bidders_connected"] += 1
        rng = random.Random(f"{self.index}:{bidder}")
        per_bidder_rate = self.o.rate / max(1, self.o.bidders) if self.o.rate else 0.0
        open_loop = self.o.open_loop and per_bidder_rate > 0
        n = 0
        try:
            while not self.bidding and self.running:
                await asyncio.sleep(0.05)
            next_at = time.perf_counter()
            while self.bidding:
                if per_bidder_rate:
                    next_at += rng.expovariate(per_bidder_rate)
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if not self.bidding:
                        break
                lot = rng.choice(lots)
                v = self.views[lot]
                if v.status == "closed" or lot in self.paused:
                    await asyncio.sleep(0.05)
                    continue
                if strategy == "sniper":
                    if v.ends_at is None:
                        await asyncio.sleep(0.1)
                        continue
                    remaining = (v.ends_at - self.server_now()) / 1000
                    if remaining > self.o.snipe_window:
                        await asyncio.sleep(min(0.25, remaining - self.o.snipe_window))
                        continue
                if lot in leading and strategy != "proxy":
                    await asyncio.sleep(0.01)
                    continue
                n += 1
                bid_id = f"{bidder}-{n}"
                floor = max(v.next_min, 1)
                if strategy == "proxy":
                    key, value = "max", floor + v.step * rng.randint(0, 200)
                elif strategy == "escalate":  # above every maximum before it: accepted unless overtaken in flight
                    key, value = "max", max(floor, 1_000_000 + (time.time_ns() // 1000 - self.o.epoch_us) * v.step)
                else:
                    key, value = "amount", floor
                if ws.closed.done():
                    self.errors[f"bidder_closed:{ws.close_code}"] += 1
                    break
                # The open loop waits for no ack: no future (and no `get_running_loop`, a getpid each).
                fut = None if open_loop else asyncio.get_running_loop().create_future()
                pending[bid_id] = (time.perf_counter(), lot, fut)
                self.counts["sent"] += 1
                if self.msgpack:
                    ws.send_binary(msgpack.packb({"type": "bid", "lot": lot, "id": bid_id, key: value}))
                else:
                    ws.send_text(bid_text(lot, bid_id, key, value))
                if open_loop:
                    continue  # the next bid goes at its own time; the reader matches the ack by id
                assert fut is not None
                try:
                    await asyncio.wait_for(fut, 15)
                except TimeoutError:
                    pending.pop(bid_id, None)
                    self.errors["ack_timeout"] += 1
        finally:
            self.counts["bidders_connected"] -= 1
            await asyncio.sleep(0)
            while not self.bidding_done.is_set():
                await asyncio.sleep(0.1)
            ws.close()

    def bidder_frame(self, pending: dict[str, tuple[float, str, asyncio.Future[None] | None]], leading: set[str],
                     opcode: int, payload: bytes, now: float) -> None:
        """One frame to a bidder (an ack, an outbid, an error), as it is read."""
        counts = self.counts
        if opcode not in (1, 2):
            return
        f = self.decode(payload if opcode == 2 else payload.decode())
        kind = f.get("type")
        counts["bidder_frames"] += 1
        if kind == "ack":
            ack_id = f.get("id")
            entry = pending.pop(ack_id, None) if isinstance(ack_id, str) else None
            if entry is None:
                return
            t, lot, fut = entry
            self.ack_us[int((now - t) * 1e6)] += 1
            if now - t > SLOW_ACK_S:
                slot = self.slow_acks.setdefault(int(t), [0, 0.0])
                slot[0] += 1
                slot[1] = max(slot[1], now - t)
            v = self.views[lot]
            if f.get("ok"):
                counts["accepted"] += 1
                seq = f["seq"]
                self.sent_at[lot][seq] = t
                if seq > v.acked_seq:
                    v.acked_seq = seq
                waiting = self.early[lot].pop(seq, None)
                if waiting:
                    for r in waiting:
                        self.delivery_us[int((r - t) * 1e6)] += 1
                if f.get("leading"):
                    leading.add(lot)
                else:
                    leading.discard(lot)
                if f.get("price") is not None and f["price"] + v.step > v.next_min:
                    v.next_min = f["price"] + v.step
            else:
                reason = f.get("reason", "?")
                counts["refused"] += 1
                counts[f"refused:{reason}"] += 1
                if f.get("next_min") is not None and f["next_min"] > v.next_min:
                    v.next_min = f["next_min"]
                if reason == "lot_closed":
                    v.status = "closed"
                elif reason == "already_leading":
                    leading.add(lot)
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif kind == "outbid":
            leading.discard(f["lot"])
            outbid_view = self.views.get(f["lot"])
            if outbid_view is not None and f.get("next_min") is not None and f["next_min"] > outbid_view.next_min:
                outbid_view.next_min = f["next_min"]
        elif kind == "error":
            self.errors[f"bidder_error:{f.get('code')}"] += 1
            if f.get("code") == "unavailable":  # every bid in flight on this socket is answered by it
                for _, _, fut in pending.values():
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                pending.clear()

    # -- the run --

    async def housekeeping(self) -> None:
        """Forget send times and early receipts nobody will match; pace bidders to watchers (--window)."""
        while self.running:
            await asyncio.sleep(0.01 if self.o.window else 1.0)
            if self.o.window:
                lows: dict[str, int] = {}
                for seen in self.watched:
                    for lot, w in seen.items():
                        if lot not in lows or w.last < lows[lot]:
                            lows[lot] = w.last
                self.paused = {lot for lot, low in lows.items() if self.views[lot].acked_seq - low > self.o.window}
            now = time.perf_counter()
            if now - getattr(self, "_last_gc", 0.0) < 1.0:
                continue
            self._last_gc = now
            for lot in self.opts_lots:
                sent = self.sent_at[lot]
                if len(sent) > 50_000:
                    cut = sorted(sent)[-25_000]
                    self.sent_at[lot] = {s: t for s, t in sent.items() if s >= cut}
                early = self.early[lot]
                for seq in [s for s, ts in early.items() if now - ts[0] > 5.0]:
                    del early[seq]

    async def lag(self) -> None:
        """This process's own event-loop lag: latency it adds to every figure it measures."""
        while self.running:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            if self.bidding:
                self.lag_hist.record_value(max(1, int((time.perf_counter() - t - 0.01) * 1e6)))

    async def report(self) -> None:
        while self.running:
            self.out.put(("stats", self.index, dict(self.counts), dict(self.errors), time.perf_counter()))
            await asyncio.sleep(0.5)

    def watcher_lots(self, i: int) -> list[str]:
        lots = self.o.lot_ids
        k = min(self.o.lots_per_watcher, len(lots))
        start = (i * k) % len(lots)
        return [lots[(start + j) % len(lots)] for j in range(k)]

    def bidder_lots(self, rng: random.Random) -> list[str]:
        lots = self.o.lot_ids
        return rng.sample(lots, min(self.o.lots_per_bidder, len(lots)))

    async def run(self) -> dict[str, Any]:
        self.opts_lots = list(self.o.lot_ids)
        self.bidding_done = asyncio.Event()
        house = asyncio.create_task(self.housekeeping())
        reporter = asyncio.create_task(self.report())
        lagger = asyncio.create_task(self.lag())
        base = self.index * 1_000_003
        watchers = [asyncio.create_task(self.watcher(i, self.watcher_lots(base + i))) for i in range(self.n_watchers)]
        rng = random.Random(self.index)
        bidders = [asyncio.create_task(self.bidder(b, s, t, self.bidder_lots(rng))) for b, s, t in self.tokens]
        deadline = time.perf_counter() + 300
        while (self.counts["watchers_connected"] < self.n_watchers or self.counts["bidders_connected"] < len(self.tokens)) \
                and time.perf_counter() < deadline and not all(t.done() for t in watchers + bidders):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the subscribe answers
        self.out.put(("ready", self.index))
        # What is alive now (sockets, protocols, tasks) lives for the whole run: out of the collector's sight,
        # and young collections ten times rarer. They were 8% of a bidder process's CPU at a hot lot, most of
        # it walking these (docs/performance.md, "Round eighteen"). The generator's own cost, not the engine's.
        gc.collect()
        gc.freeze()
        gc.set_threshold(7000, 10, 10)
        while not self.go.is_set():
            await asyncio.sleep(0.02)
        self.t0 = time.perf_counter()
        cpu0 = time.process_time()
        self.bidding = True
        await asyncio.sleep(self.o.duration)
        self.bidding = False
        self.t1 = time.perf_counter()
        self.cpu = time.process_time() - cpu0
        # the last bids' acks, then the last events reach every watcher
        drain_until = time.perf_counter() + self.o.settle
        while time.perf_counter() < drain_until and self._outstanding():
            await asyncio.sleep(0.05)
        await self.settle_watchers(drain_until)
        await asyncio.sleep(self.o.hold)
        self.bidding_done.set()
        self.running = False
        await asyncio.gather(*bidders, return_exceptions=True)
        for t in watchers:
            t.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        house.cancel()
        reporter.cancel()
        lagger.cancel()
        return self.result()

    def _outstanding(self) -> bool:
        return self.counts["sent"] > self.counts["accepted"] + self.counts["refused"] + self.errors["ack_timeout"]

    async def settle_watchers(self, until: float) -> None:
        """Wait until every watcher of a lot holds the highest seq any of them holds, and nothing moves."""
        quiet_since, last_frames = time.perf_counter(), -1
        while time.perf_counter() < until:
            highs: dict[str, int] = {}
            for seen in self.watched:
                for lot, w in seen.items():
                    highs[lot] = max(highs.get(lot, 0), w.last)
            behind = any(w.last < highs[lot] for seen in self.watched for lot, w in seen.items())
            frames = self.counts["watcher_frames"]
            if frames != last_frames:
                quiet_since, last_frames = time.perf_counter(), frames
            if not behind and time.perf_counter() - quiet_since > 0.5:
                return
            await asyncio.sleep(0.05)

    def result(self) -> dict[str, Any]:
        per_lot: dict[str, dict[str, Any]] = {}
        for seen in self.watched:
            for lot, w in seen.items():
                agg = per_lot.setdefault(
                    lot, {"watchers": 0, "gaps": 0, "dups": 0, "lasts": collections.Counter(), "final": None})
                agg["watchers"] += 1
                agg["gaps"] += w.gaps
                agg["dups"] += w.dups
                agg["lasts"][w.last] += 1
        for lot, (_, state) in self.latest.items():
            if lot in per_lot:
                per_lot[lot]["final"] = {k: state.get(k) for k in FINAL_KEYS}
        for agg in per_lot.values():
            agg["lasts"] = {str(k): v for k, v in agg["lasts"].items()}
        return {
            "index": self.index,
            "window_s": self.t1 - self.t0,
            "counts": dict(self.counts),
            "errors": dict(self.errors),
            "ack_hist": encode_hist(hist_of(self.ack_us)),
            "slow_acks": {str(k): v for k, v in self.slow_acks.items() if self.t0 <= k + 1 and (not self.t1 or k <= self.t1)},
            "started": self.t0,
            "cpu": self.cpu / max(1e-9, self.t1 - self.t0),
            "lag_hist": encode_hist(self.lag_hist),
            "delivery_hist": encode_hist(hist_of(self.delivery_us)),
            "lots": per_lot,
        }


def _worker_main(opts: Options, index: int, tokens: list[tuple[str, str, str]], watchers: int, out: Any, go: Any,
                 offset_ms: float) -> None:
    raise_nofile()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        result = asyncio.run(Worker(opts, index, tokens, watchers, out, go, offset_ms).run())
    except BaseException as exc:  # noqa: BLE001 - the parent reports it
        out.put(("failed", index, f"{type(exc).__name__}: {exc}"))
        raise
    out.put(("done", index, result))


# -- the parent: set-up, progress, the merged report ---------------------------------------------


def setup(o: Options, http: httpx.Client) -> None:
    """Create the lots (--create; opened when every generator is connected), or take the ones named."""
    if o.create:
        run_id = o.prefix or f"LT{int(time.time()) % 100000}{random.randint(0, 99):02d}"
        o.lot_ids = [f"{run_id}-{i}" for i in range(o.lots)]
        duration = int(o.lot_duration if o.lot_duration else o.duration + 600)
        for lot in o.lot_ids:
            spec: dict[str, Any] = {"lot": lot, "title": f"Load-test car {lot}", "currency": "EUR", "start_price": 100_000,
                                    "increments": [[0, o.step]], "duration_s": duration}
            if o.anti_snipe:
                window, extend, most = (o.anti_snipe.split(",") + ["", ""])[:3]
                spec["anti_snipe"] = {"window_s": int(window), "extend_s": int(extend),
                                      "max_extensions": int(most) if most else None}
            r = http.post("/api/lots", json=spec)
            r.raise_for_status()
    elif not o.lot_ids:
        body = http.get("/api/lots", params={"status": "open", "limit": o.lots}).json()
        o.lot_ids = [s["lot"] for s in body.get("lots", body if isinstance(body, list) else [])][: o.lots]
        if not o.lot_ids:
            raise SystemExit("no open lots; pass --create")


def bidder_tokens(o: Options, http: httpx.Client) -> list[tuple[str, str, str]]:
    """Register every bidder (the engine refuses tokens for bidders it does not know); one left
    from an earlier run with the same prefix (409) gets a freshly minted token instead."""
    strategies = parse_mix(o.mix)
    run_id = o.prefix or o.lot_ids[0].split("-")[0]
    out = []
    for i in range(o.bidders):
        bidder, paddle = f"{run_id}-b{i}", f"{run_id}-p{i}"
        r = http.post("/api/bidders", json={"bidder": bidder, "paddle": paddle})
        if r.status_code == 409:
            r = http.post(f"/api/bidders/{bidder}/tokens")
        r.raise_for_status()
        out.append((bidder, strategies[i % len(strategies)], r.json()["token"]))
    return out


def merge_hist(encoded: list[str | None]) -> HdrHistogram:
    h = new_hist()
    for e in encoded:
        if e:
            h.add(HdrHistogram.decode(base64.b64decode(e)))
    return h


def run(o: Options, progress: Any = None, on_phase: Any = None) -> dict[str, Any]:
    """Run the load test; returns the report (also what --json writes)."""
    raise_nofile()
    headers = {}
    if o.auth_secret and not o.token:
        from auction_engine.auth import TokenSigner

        o.token = TokenSigner(o.auth_secret).issue("auctioneer")
    if o.token:
        headers["Authorization"] = f"Bearer {o.token}"
    http = httpx.Client(base_url=o.url, headers=headers, timeout=30)
    setup(o, http)
    if not o.create:
        for lot in o.lot_ids[:1]:
            state = http.get(f"/api/lots/{lot}").json()
            if state.get("next_min") and state.get("price"):
                o.step = max(1, state["next_min"] - state["price"])
    tokens = bidder_tokens(o, http)
    t_local = time.time() * 1000
    offset = http.get("/api/time").json()["server_time"] - t_local
    o.epoch_us = time.time_ns() // 1000
    ctx = mp.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    procs = []
    n = max(1, o.procs)
    in_workers = o.watchers
    if o.readers and o.subprotocol == "json" and o.lots_per_watcher == 1:
        in_workers = min(o.watchers, o.precise * n)
    bulk = Readers(o, ctx, go, o.watchers - in_workers, offset)
    for i in range(n):
        share = tokens[i::n]
        watchers = in_workers // n + (1 if i < in_workers % n else 0)
        p = ctx.Process(target=_worker_main, args=(o, i, share, watchers, out, go, offset), daemon=True)
        p.start()
        procs.append(p)
    ready: set[int] = set()
    results: dict[int, dict[str, Any]] = {}
    failed: dict[int, str] = {}
    stats: dict[int, tuple[dict[str, int], dict[str, int], float]] = {}
    started = None
    live = progress(o) if progress else None
    try:
        while len(results) + len(failed) < n:
            try:
                msg = out.get(timeout=0.25)
            except queue.Empty:
                msg = None
                if any(not p.is_alive() and p.exitcode not in (0, None) for p in procs) and out.empty():
                    for i, p in enumerate(procs):
                        if not p.is_alive() and p.exitcode and i not in results:
                            failed.setdefault(i, f"exit code {p.exitcode}")
            if msg is not None:
                if msg[0] == "ready":
                    ready.add(msg[1])
                    if len(ready) == n:
                        bulk.wait_ready()
                        if o.create:  # opened only now, so lot durations count from the start of bidding
                            for lot in o.lot_ids:
                                http.post(f"/api/lots/{lot}/open").raise_for_status()
                        started = time.perf_counter()
                        go.set()
                        if on_phase:
                            on_phase("start")
                elif msg[0] == "stats":
                    stats[msg[1]] = (msg[2], msg[3], msg[4])
                elif msg[0] == "done":
                    results[msg[1]] = msg[2]
                elif msg[0] == "failed":
                    failed[msg[1]] = msg[2]
            if live is not None:
                live.update(stats, started, len(ready), n)
        if on_phase:
            on_phase("stop")
        readers = bulk.finish()
    finally:
        bulk.stop()
        if live is not None:
            live.stop()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    report = merge(o, list(results.values()), failed, http, readers)
    http.close()
    return report


class Readers:
    """Bulk watchers (`_bench_feeds.py`) in `o.readers` processes of their own: they count frames and
    check seqs and the final state, at a fraction of an event-driven watcher's cost; the workers keep
    `o.precise` event-driven watchers each, which measure delivery latency."""

    def __init__(self, o: Options, ctx: Any, go: Any, watchers: int, offset_ms: float) -> None:
        self.out, self.stop_event = ctx.Queue(), ctx.Event()
        self.procs: list[Any] = []
        k = min(o.readers, watchers) if watchers else 0
        lows = ctx.Array("q", max(1, k), lock=False)
        base = ws_url(o.urls[0] if o.urls else o.url).removesuffix("/ws")
        for i in range(k):
            spec = ReaderSpec(i, base, "engine", o.lot_ids, watchers // k + (1 if i < watchers % k else 0), o.duration,
                              settle=o.settle, conflate_ms=o.conflate_ms, delta=o.delta, max_period=0.1)
            p = ctx.Process(target=reader_main, args=(spec, self.out, go, self.stop_event, lows), daemon=True)
            p.start()
            self.procs.append(p)

    def wait_ready(self) -> None:
        for _ in self.procs:
            msg = self.out.get(timeout=300)
            if msg[0] != "ready":
                raise RuntimeError(f"bulk reader {msg[1]} failed: {msg[2]}")

    def finish(self) -> list[dict[str, Any]]:
        """After the workers: the readers read on until quiet, then report."""
        self.stop_event.set()
        results = []
        for _ in self.procs:
            msg = self.out.get(timeout=120)
            if msg[0] != "done":
                raise RuntimeError(f"bulk reader {msg[1]} failed: {msg[2]}")
            results.append(msg[2])
        return results

    def stop(self) -> None:
        self.stop_event.set()
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()


def merge(o: Options, results: list[dict[str, Any]], failed: dict[int, str], http: httpx.Client,
          readers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    counts: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    for r in results:
        counts.update(r["counts"])
        errors.update(r["errors"])
    readers = readers or []
    dropped_why: collections.Counter[str] = collections.Counter()  # a dropped watcher's close code and reason
    for b in readers:
        counts["watcher_frames"] += b["frames"]
        counts["watchers_dropped"] += sum(agg["closed"] for agg in b["lots"].values())
        for agg in b["lots"].values():
            dropped_why.update(agg.get("why", {}))
    window = max((r["window_s"] for r in results), default=o.duration) or o.duration
    ack = merge_hist([r["ack_hist"] for r in results])
    t0 = min((r.get("started") or 0.0 for r in results), default=0.0)
    slow: dict[int, list[float]] = {}
    for r in results:
        for second, (n, worst) in r.get("slow_acks", {}).items():
            slot = slow.setdefault(int(int(second) - t0), [0, 0.0])
            slot[0] += n
            slot[1] = max(slot[1], worst)
    delivery = merge_hist([r["delivery_hist"] for r in results])
    problems: list[str] = [f"generator process {i} failed: {why}" for i, why in failed.items()]
    lots: dict[str, dict[str, Any]] = {}
    for r in [*results, *readers]:
        for lot, agg in r["lots"].items():
            m = lots.setdefault(lot, {"watchers": 0, "gaps": 0, "dups": 0, "lasts": collections.Counter(), "final": None})
            m["watchers"] += agg["watchers"]
            m["gaps"] += agg["gaps"]
            m["dups"] += agg["dups"]
            m["lasts"].update({int(k): v for k, v in agg["lasts"].items()})
            if agg["final"] and (m["final"] is None or agg["final"]["seq"] >= m["final"]["seq"]):
                m["final"] = agg["final"]
    checked = 0
    engine_bids = 0
    for lot in o.lot_ids:
        engine = http.get(f"/api/lots/{lot}").json()
        engine_bids += engine["bids"]
        seen = lots.get(lot)
        if seen is None:
            if o.create and not o.watchers:
                checked += 1  # no watchers: checked below against the acks instead
            continue
        checked += 1
        if seen["gaps"] or seen["dups"]:
            problems.append(f"{lot}: {seen['gaps']} gaps, {seen['dups']} duplicates seen by watchers")
        if set(seen["lasts"]) != {engine["seq"]}:
            problems.append(f"{lot}: watchers' last seqs {dict(seen['lasts'])} but the engine is at seq {engine['seq']}")
        final = seen["final"]
        if final is not None:
            for k in ("seq", "status", "result", "price", "leader", "bids", "ends_at", "extensions"):
                if final.get(k) != engine.get(k):
                    problems.append(f"{lot}: watchers' final {k}={final.get(k)!r}, engine {engine.get(k)!r}")
    if o.create and engine_bids != counts["accepted"]:
        # the lots are ours alone: every accepted ack is one bid the engine counts, and no more
        problems.append(f"the engine counts {engine_bids} bids on these lots; the bidders were acked {counts['accepted']}")
    lasts = [engine_seq for m in lots.values() for engine_seq in m["lasts"]]
    frames = counts["watcher_frames"]
    report = {
        "options": {k: v for k, v in asdict(o).items() if k not in ("token", "auth_secret", "lot_ids")},
        "lots": len(o.lot_ids),
        "window_s": round(window, 3),
        "sent": counts["sent"],
        "accepted": counts["accepted"],
        "refused": counts["refused"],
        "refused_by_reason": {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("refused:")},
        "accepted_per_s": round(counts["accepted"] / window, 1),
        "refused_per_s": round(counts["refused"] / window, 1),
        "ack": hist_summary(ack),
        "slow_acks_by_second": {k: [n, round(worst * 1000, 1)] for k, (n, worst) in sorted(slow.items())},
        "delivery": hist_summary(delivery),
        "generator_cpu": [round(r.get("cpu", 0), 2) for r in results] + [round(b["cpu"], 2) for b in readers],
        "generator_cpu_total": round(sum(r.get("cpu", 0) for r in results) + sum(b["cpu"] for b in readers), 2),
        "bulk_watchers": sum(agg["watchers"] for b in readers for agg in b["lots"].values()),
        "reader_sweep_p99_ms": max((b["sweep_p99_ms"] for b in readers), default=0.0),
        "watchers_dropped": counts["watchers_dropped"],
        "watchers_dropped_why": dict(dropped_why),
        "generator_loop_lag": hist_summary(merge_hist([r.get("lag_hist") for r in results])),
        "watcher_frames": frames,
        "frames_per_s": round(frames / window, 1),
        "bidder_frames": counts["bidder_frames"],
        "watcher_reconnects": counts["watcher_reconnects"],
        "errors": dict(errors),
        "consistency": {"ok": not problems and checked == len(o.lot_ids), "lots_checked": checked,
                        "events_max_seq": max(lasts, default=0), "problems": problems[:50]},
        "_ack_hist": ack,
        "_delivery_hist": delivery,
    }
    return report


class Progress:
    """A live table of the merged per-process counters."""

    def __init__(self, o: Options) -> None:
        from rich.live import Live

        self.o = o
        self.live = Live(refresh_per_second=4, transient=False)
        self.live.start()
        self.prev: tuple[float, int, int] | None = None

    def update(self, stats: dict[int, tuple[dict[str, int], dict[str, int], float]], started: float | None,
               ready: int, n: int) -> None:
        from rich.table import Table

        counts: collections.Counter[str] = collections.Counter()
        errors: collections.Counter[str] = collections.Counter()
        for c, e, _ in stats.values():
            counts.update(c)
            errors.update(e)
        now = time.perf_counter()
        acc, frames = counts["accepted"], counts["watcher_frames"]
        rate_acc = rate_frames = 0.0
        if self.prev and now - self.prev[0] >= 0.5:
            dt = now - self.prev[0]
            rate_acc, rate_frames = (acc - self.prev[1]) / dt, (frames - self.prev[2]) / dt
            self.prev = (now, acc, frames)
            self._rates = (rate_acc, rate_frames)
        elif not self.prev:
            self.prev = (now, acc, frames)
        rate_acc, rate_frames = getattr(self, "_rates", (0.0, 0.0))
        t = Table(title=f"loadtest {self.o.url}  ({ready}/{n} generator processes ready)")
        for col in ("elapsed", "bidders", "watchers", "sent", "accepted", "refused", "acc/s", "frames/s", "errors"):
            t.add_column(col, justify="right")
        t.add_row(f"{now - started:.1f}s" if started else "connecting", str(counts["bidders_connected"]),
                  str(counts["watchers_connected"]), str(counts["sent"]), str(acc), str(counts["refused"]),
                  f"{rate_acc:,.0f}", f"{rate_frames:,.0f}", str(sum(errors.values())))
        self.live.update(t)

    def stop(self) -> None:
        self.live.stop()


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"loadtest: {report['lots']} lots, {report['window_s']:.1f}s of bidding")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("accepted bids/s", f"{report['accepted_per_s']:,.1f} ({report['accepted']} bids)")
    t.add_row("refused bids/s", f"{report['refused_per_s']:,.1f} {report['refused_by_reason']}")
    for name in ("ack", "delivery"):
        h = report[name]
        if h.get("count"):
            t.add_row(f"{name} latency ms", f"p50 {h['p50_ms']:.2f}  p90 {h['p90_ms']:.2f}  p99 {h['p99_ms']:.2f}  "
                                             f"max {h['max_ms']:.2f}  (n={h['count']})")
    t.add_row("watcher frames/s", f"{report['frames_per_s']:,.0f}")
    lag = report["generator_loop_lag"]
    if lag.get("count"):
        t.add_row("generator CPU, loop lag", f"{report['generator_cpu']} of a core per process; "
                                             f"lag p50 {lag['p50_ms']:.1f} p99 {lag['p99_ms']:.1f} max {lag['max_ms']:.1f} ms")
    t.add_row("watcher reconnects", str(report["watcher_reconnects"]))
    t.add_row("errors", json.dumps(report["errors"]) if report["errors"] else "none")
    c = report["consistency"]
    t.add_row("consistency", "OK" if c["ok"] else "FAILED: " + "; ".join(c["problems"][:5]))
    Console().print(t)


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if not k.startswith("_")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--token", help="an auctioneer token (or use --auth-secret)")
    p.add_argument("--auth-secret", default=os.environ.get("AUTH_SECRET"), help="sign tokens locally (default: $AUTH_SECRET)")
    p.add_argument("--lots", type=int, default=10)
    p.add_argument("--lot", action="append", dest="lot_ids", default=[], help="use this open lot (repeatable)")
    p.add_argument("--bidders", type=int, default=100)
    p.add_argument("--watchers", type=int, default=200)
    p.add_argument("--duration", type=float, default=20.0, help="seconds of bidding")
    p.add_argument("--subprotocol", choices=["json", "msgpack"], default="json")
    p.add_argument("--create", action="store_true", help="create and open the lots")
    p.add_argument("--procs", type=int, default=1, help="generator processes")
    p.add_argument("--rate", type=float, default=0.0,
                   help="total bids/s target (open loop per bidder); 0 = each bidder bids as soon as its last bid is acked")
    p.add_argument("--mix", default=Options.mix,
                   help="strategy weights, e.g. increment=5,proxy=4,sniper=1; `escalate` (a proxy maximum "
                        "above all before it: nearly always accepted) measures the commit path")
    p.add_argument("--lots-per-bidder", type=int, default=3)
    p.add_argument("--lots-per-watcher", type=int, default=1)
    p.add_argument("--readers", type=int, default=Options.readers,
                   help="processes of bulk watchers (timed sweeps, no per-frame decode) for the watchers beyond "
                        "--precise per generator process; 0 keeps every watcher event-driven in the generator processes")
    p.add_argument("--open-loop", action="store_true",
                   help="with --rate: bidders send at their own times, not waiting for the last ack (the offered rate holds "
                        "whatever the latency)")
    p.add_argument("--conflate-ms", type=int, default=0,
                   help="watchers subscribe with conflate_ms N (at most one event per N ms per lot, the latest)")
    p.add_argument("--delta", action="store_true",
                   help="bulk watchers subscribe with delta: each event after the first carries only the changed fields "
                        "(one watcher per lot and reader process rebuilds and checks the state); the --precise ones stay whole")
    p.add_argument("--precise", type=int, default=Options.precise,
                   help="event-driven watchers per generator process (these measure delivery latency)")
    p.add_argument("--lot-duration", type=float, help="with --create: duration_s of the lots (default: the run + 600)")
    p.add_argument("--anti-snipe", help="with --create: window_s,extend_s[,max_extensions]")
    p.add_argument("--snipe-window", type=float, default=3.0, help="snipers bid in the last N seconds")
    p.add_argument("--window", type=int, default=0,
                   help="pause a lot's bidders while a watcher of it is more than N events behind")
    p.add_argument("--settle", type=float, default=15.0, help="seconds to wait for the last acks and events")
    p.add_argument("--hold", type=float, default=0.0, help="keep the connections open N seconds after the run")
    p.add_argument("--prefix", default="", help="lot and bidder id prefix")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", dest="json_out", help="write the report here")
    args = p.parse_args(argv)
    o = Options(**{k: v for k, v in vars(args).items()})
    report = run(o, None if o.quiet or not sys.stdout.isatty() else Progress)
    print_report(report)
    if o.json_out:
        with open(o.json_out, "w") as fh:
            json.dump(public_report(report), fh, indent=2)
    return 0 if report["consistency"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
