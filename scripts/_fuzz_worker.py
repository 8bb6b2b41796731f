"""One fuzz worker process of scripts/fuzz.py: many pipelined WebSockets, an HTTP fuzzer and
valid bidders, on one event loop. Returns counts, acknowledged bids and anything suspicious.

Flow control: a fuzz connection sends a batch of mutated frames, then a ping whose `t` is in a
band the mutator never draws; it sends the next batch once the pong of the one before is back,
so at most two batches are in flight and the engine is never flooded past its queues.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import _fuzz_mutate as mut
import httpx
import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

JSON, MSGPACK = "auction.v1.json", "auction.v1.msgpack"
SYNC_T = -(2**52)  # sync pings count down from here; the mutator's pings are non-negative
BATCH = 48
MAX_WAIT_S = 20.0  # a pong or an ack later than this is a finding, not a hang


@dataclass
class Plan:
    """What the parent set up: the engine, the lots, the tokens and the hidden values to watch for."""

    url: str
    clean_lots: list[str]
    fuzz_lots: list[str]
    auctioneer: str
    valid_bidders: dict[str, str]  # bidder -> token
    fuzz_bidders: dict[str, str]
    hidden: list[int]
    frames: int
    bodies: int
    connections: int
    seed: int
    worker: int
    deadline_s: float


@dataclass
class Tally:
    """What one worker saw; merged by the parent."""

    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    acks: list[tuple[str, int, str, str]] = field(default_factory=list)  # lot, seq, bid id, bidder
    leaks: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    oddities: list[str] = field(default_factory=list)

    def note(self, bucket: list[str], text: str) -> None:
        if len(bucket) < 20:
            bucket.append(text[:400])


class LeakScan:
    """Every hidden value as the bytes it would take in JSON (decimal) and in msgpack (uint64):
    a substring search first, a decode to confirm."""

    def __init__(self, hidden: list[int]) -> None:
        self.hidden = set(hidden)
        self.needles = [str(v).encode() for v in hidden] + [msgpack.packb(v) for v in hidden]

    def found(self, raw: bytes) -> bool:
        return any(n in raw for n in self.needles) and self._confirm(raw)

    def _confirm(self, raw: bytes) -> bool:
        try:
            data = msgpack.unpackb(raw, raw=False, strict_map_key=False)
        except Exception:  # noqa: BLE001 - not msgpack: JSON or text
            try:
                data = json.loads(raw)
            except ValueError:
                return True  # a hidden value's digits in a body we cannot parse: report it
        return self._holds(data)

    def _holds(self, data: Any) -> bool:
        if type(data) is int:
            return data in self.hidden
        if isinstance(data, str):
            return any(str(v) in data for v in self.hidden)
        if isinstance(data, dict):
            return any(self._holds(k) or self._holds(v) for k, v in data.items())
        if isinstance(data, list):
            return any(self._holds(v) for v in data)
        return False


def load(raw: str | bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False) if isinstance(raw, bytes) else json.loads(raw)


def classify(frame: Any) -> str:
    """`ws <type> <code or reason>`: the answer code counted in the summary."""
    if not isinstance(frame, dict):
        return "ws non-map"
    kind = frame.get("type")
    if kind == "ack":
        return "ws ack ok" if frame.get("ok") else f"ws ack {frame.get('reason')}"
    if kind == "error":
        return f"ws error {frame.get('code')}"
    return f"ws {kind}"


class Worker:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed * 1000 + plan.worker)
        self.tally = Tally()
        self.scan = LeakScan(plan.hidden)
        self.ws_url = plan.url.replace("http", "ws", 1) + "/ws"
        self.sent = 0
        self.done = False
        self.started = time.monotonic()
        # Fuzz bidders bid only on fuzz lots: a valid 10^15 there jumps the price to the reserve (as the
        # rules say) and would stop the valid bidders. Watchers' bids are refused anywhere.
        self.bidder_targets = plan.fuzz_lots + ["NOPE-1", "x", "CLEAN-00", "FUZZ-9999"]
        self.watcher_targets = plan.clean_lots + self.bidder_targets

    def over(self) -> bool:
        return self.done or time.monotonic() - self.started > self.plan.deadline_s

    def received(self, raw: str | bytes, scanned: bool) -> Any:
        """Count one server frame, check it for hidden values, return it decoded."""
        data = raw.encode() if isinstance(raw, str) else raw
        self.tally.counts["ws frames received"] += 1
        if scanned and self.scan.found(data):
            self.tally.note(self.tally.leaks, f"ws: {data[:300]!r}")
        try:
            frame = load(raw)
        except ValueError as exc:
            self.tally.note(self.tally.oddities, f"undecodable server frame {exc}: {data[:200]!r}")
            return None
        self.tally.counts[classify(frame)] += 1
        if isinstance(frame, dict) and frame.get("type") == "ack" and frame.get("ok"):
            self.tally.acks.append((str(frame.get("lot")), int(frame.get("seq", -1)), str(frame.get("id")), ""))
        return frame

    # -- fuzz connections --------------------------------------------------------------------------

    def _open_args(self) -> tuple[str, list[str], str, str | None]:
        """URL, offered subprotocols, the wire one and the bidder: token as `?token=`, as a subprotocol
        or none; now and then a broken token, no subprotocol, or an unknown one."""
        binary = self.rng.random() < 0.5
        proto = MSGPACK if binary else JSON
        offered = [proto]
        roll = self.rng.random()
        if roll < 0.03:
            offered = [] if self.rng.random() < 0.5 else ["auction.v2.cbor"]
            proto = JSON
        bidder, token = (None, None)
        if self.rng.random() < 0.5:
            bidder, token = self.rng.choice(list(self.plan.fuzz_bidders.items()))
        if self.rng.random() < 0.02:
            token = self.rng.choice(("x.y.z", "", (token or "a.b.c")[:-3] + "AAA", "Bearer", "\u00e9"))
            bidder = None
        url = self.ws_url
        if token is not None:
            if self.rng.random() < 0.5:
                url += "?" + httpx.QueryParams({"token": token}).__str__()
            elif token.isascii() and token and all(c.isalnum() or c in "-._~" for c in token):
                offered = offered + [f"auction.token.{token}"]
            else:
                url += "?" + httpx.QueryParams({"token": token}).__str__()
        return url, offered, proto, bidder

    async def fuzz_connection(self, index: int) -> None:
        """Reconnect until the worker's frame quota is sent: closes are expected (bad UTF-8, 64 KiB)."""
        while not self.over():
            url, offered, proto, bidder = self._open_args()
            try:
                async with connect(url, subprotocols=offered or None, max_size=2**22, open_timeout=15,  # type: ignore[arg-type]
                                   ping_interval=None, compression=None) as ws:
                    self.tally.counts["ws connections"] += 1
                    targets = self.bidder_targets if bidder else self.watcher_targets
                    await self._pump(ws, proto == MSGPACK or ws.subprotocol == MSGPACK, index, targets)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else "none"
                self.tally.counts[f"ws close {code}"] += 1
            except InvalidStatus as exc:
                self.tally.counts[f"ws handshake {exc.response.status_code}"] += 1
            except (OSError, TimeoutError) as exc:
                self.tally.counts["ws connect failed"] += 1
                self.tally.note(self.tally.oddities, f"connect failed: {exc!r}")
                await asyncio.sleep(0.2)

    async def _pump(self, ws: ClientConnection, binary: bool, index: int, targets: list[str]) -> None:
        pongs: dict[int, asyncio.Event] = {}
        reader = asyncio.create_task(self._read(ws, pongs))
        try:
            batch = 0
            while not self.over() and not reader.done():
                pongs[batch] = asyncio.Event()
                for _ in range(BATCH):
                    raw, as_binary = mut.ws_frame(self.rng, targets, f"{self.plan.worker}-{index}-{self.sent}", binary)
                    await ws.send(raw, text=not as_binary)
                    self.sent += 1
                    self.tally.counts["ws frames sent (mutated)"] += 1
                    if self.sent >= self.plan.frames:
                        self.done = True
                sync = {"type": "ping", "t": SYNC_T - batch}
                await ws.send(msgpack.packb(sync) if binary else json.dumps(sync), text=not binary)
                if batch > 0:
                    await self._wait_pong(pongs, batch - 1, reader)
                batch += 1
        finally:
            if not reader.done():
                reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _wait_pong(self, pongs: dict[int, asyncio.Event], batch: int, reader: asyncio.Task[None]) -> None:
        waiter = asyncio.create_task(pongs[batch].wait())
        done, _ = await asyncio.wait({waiter, reader}, timeout=MAX_WAIT_S, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not done:
            self.tally.counts["ws pong late"] += 1
            self.tally.note(self.tally.oddities, f"no pong for batch {batch} in {MAX_WAIT_S}s")
        pongs.pop(batch, None)
        if reader.done():
            reader.result()  # re-raises ConnectionClosed for the caller to count

    async def _read(self, ws: ClientConnection, pongs: dict[int, asyncio.Event]) -> None:
        async for raw in ws:
            frame = self.received(raw, scanned=True)
            if (isinstance(frame, dict) and frame.get("type") == "pong"
                    and isinstance(frame.get("t"), int) and frame["t"] <= SYNC_T):
                event = pongs.get(SYNC_T - frame["t"])
                if event is not None:
                    event.set()

    # -- valid bidders -----------------------------------------------------------------------------

    async def valid_bidder(self, bidder: str, token: str) -> None:
        """Straight bids at next_min on the clean lots, each awaited; now and then a retry of the
        same id, which must answer the same seq."""
        binary = self.rng.random() < 0.5
        proto = MSGPACK if binary else JSON
        next_min: dict[str, int] = {}
        acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        async with connect(self.ws_url, subprotocols=[proto, f"auction.token.{token}"], ping_interval=None,  # type: ignore[list-item]
                           compression=None, max_size=2**22) as ws:
            reader = asyncio.create_task(self._read_valid(ws, next_min, acks))
            for lot in self.plan.clean_lots:
                await ws.send(self._pack({"type": "subscribe", "lot": lot}, binary), text=not binary)
            n = 0
            while not self.over():
                lot = self.rng.choice(self.plan.clean_lots)
                if lot not in next_min:
                    await asyncio.sleep(0.05)
                    continue
                bid_id = f"v{self.plan.worker}-{bidder}-{n}"
                n += 1
                first = await self._bid(ws, binary, acks, {"type": "bid", "lot": lot, "amount": next_min[lot], "id": bid_id})
                if first is not None and first.get("ok") and self.rng.random() < 0.05:
                    retry = {"type": "bid", "lot": lot, "amount": next_min[lot] + 7, "id": bid_id}
                    again = await self._bid(ws, binary, acks, retry)
                    if again is not None and again.get("seq") != first.get("seq"):
                        self.tally.note(self.tally.oddities, f"retried id {bid_id} answered {again} after {first}")
                        self.tally.counts["idempotency mismatch"] += 1
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    @staticmethod
    def _pack(frame: dict[str, Any], binary: bool) -> bytes | str:
        return msgpack.packb(frame) if binary else json.dumps(frame)

    async def _bid(self, ws: ClientConnection, binary: bool, acks: dict[str, asyncio.Future[dict[str, Any]]],
                   frame: dict[str, Any]) -> dict[str, Any] | None:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        acks[frame["id"]] = future
        await ws.send(self._pack(frame, binary), text=not binary)
        self.tally.counts["ws valid bids sent"] += 1
        try:
            return await asyncio.wait_for(future, MAX_WAIT_S)
        except TimeoutError:
            self.tally.counts["valid bid unanswered"] += 1
            self.tally.note(self.tally.oddities, f"no ack for {frame}")
            return None
        finally:
            acks.pop(frame["id"], None)

    async def _read_valid(self, ws: ClientConnection, next_min: dict[str, int],
                          acks: dict[str, asyncio.Future[dict[str, Any]]]) -> None:
        async for raw in ws:
            frame = self.received(raw, scanned=True)
            if not isinstance(frame, dict):
                continue
            state = frame.get("state")
            if isinstance(state, dict) and isinstance(state.get("next_min"), int):
                next_min[str(frame.get("lot"))] = state["next_min"]
            if frame.get("type") == "ack":
                if isinstance(frame.get("next_min"), int):
                    next_min[str(frame.get("lot"))] = frame["next_min"]
                future = acks.get(str(frame.get("id")))
                if future is not None and not future.done():
                    future.set_result(frame)


async def run_async(plan: Plan) -> Tally:
    import _fuzz_http

    worker = Worker(plan)
    tasks = [asyncio.create_task(worker.fuzz_connection(i)) for i in range(plan.connections)]
    tasks += [asyncio.create_task(worker.valid_bidder(b, t)) for b, t in plan.valid_bidders.items()]
    tasks += [asyncio.create_task(_fuzz_http.HttpFuzz(worker).run(i)) for i in range(4)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            worker.tally.note(worker.tally.oddities, f"task failed: {result!r}")
            worker.tally.counts["worker task failed"] += 1
    worker.tally.counts["elapsed ms"] = int((time.monotonic() - worker.started) * 1000)
    return worker.tally


def run(plan: Plan) -> Tally:
    """The process entry point (multiprocessing): uvloop when installed."""
    try:
        import uvloop

        return uvloop.run(run_async(plan))
    except ImportError:
        return asyncio.run(run_async(plan))
