"""A small in-process stand-in for the engine's WebSocket side, enough to test the client's
reconnect, resume and retry logic without Redis. It follows PROTOCOL.md for the frames it knows
and has knobs to misbehave: drop every connection, swallow acks, skip or repeat a seq.
A stand-in, labelled as one: every frame it sends is built by auction_engine/frames.py, the one
definition of the server's frames, so it cannot drift from what the engine sends."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from auction_engine.answers import Ack
from auction_engine.frames import ack_frame, event_frame, pong_frame, snapshot_frame, welcome_frame
from bidding.state import OPEN
from clients.frames import JSON, MSGPACK, decode, encode


@dataclass
class FakeLot:
    lot: str
    price: int | None = None
    events: list[dict] = field(default_factory=list)

    def state(self) -> dict:
        return {"lot": self.lot, "status": OPEN, "price": self.price, "seq": len(self.events),
                "next_min": (self.price or 0) + 100}


@dataclass
class FakeEngine:
    url: str = ""
    clock_skew_ms: int = 0
    swallow_acks: int = 0
    lots: dict[str, FakeLot] = field(default_factory=dict)
    acks: dict[str, dict] = field(default_factory=dict)
    bids_placed: list[str] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    conns: dict[ServerConnection, set[str]] = field(default_factory=dict)
    connections: int = 0

    def lot(self, lot: str) -> FakeLot:
        return self.lots.setdefault(lot, FakeLot(lot))

    async def send(self, ws: ServerConnection, frame: dict) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode(frame, ws.subprotocol))

    async def append(self, lot: str, kind: str = "bid", price: int | None = None) -> dict:
        book = self.lot(lot)
        if price is not None:
            book.price = price
        seq, at = len(book.events) + 1, self.now()
        book.events.append({})
        event = book.events[-1] = event_frame(lot, seq, kind, at, book.state())
        for ws, lots in list(self.conns.items()):
            if lot in lots:
                await self.send(ws, event)
        return event

    def now(self) -> int:
        return time.time_ns() // 1_000_000 + self.clock_skew_ms

    async def drop_all(self) -> None:
        for ws in list(self.conns):
            await ws.close(1012, "restart")

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.conns[ws] = set()
        await self.send(ws, welcome_frame("bidder", "b1", "7", self.now()))
        try:
            async for message in ws:
                frame = decode(message)
                self.received.append(frame)
                await self.handle(ws, frame)
        except ConnectionClosed:
            pass
        finally:
            self.conns.pop(ws, None)

    async def handle(self, ws: ServerConnection, frame: dict) -> None:
        kind = frame["type"]
        if kind == "ping":
            await self.send(ws, pong_frame(frame["t"], self.now()))
        elif kind == "subscribe":
            book = self.lot(frame["lot"])
            self.conns[ws].add(book.lot)
            since = frame.get("since")
            if since is None:
                await self.send(ws, snapshot_frame(book.lot, book.state(), self.now()))
            else:
                for event in book.events[since:]:
                    await self.send(ws, event)
        elif kind == "unsubscribe":
            self.conns[ws].discard(frame["lot"])
        elif kind == "bid":
            ack = self.acks.get(frame["id"])
            if ack is None:
                amount = frame.get("amount") or frame.get("max")
                self.bids_placed.append(frame["id"])
                event = await self.append(frame["lot"], "bid", amount)
                ack = ack_frame(Ack(frame["lot"], frame["id"], event["seq"], True, amount))
                self.acks[frame["id"]] = ack
            if self.swallow_acks:
                self.swallow_acks -= 1
                await ws.close(1011, "lost before the ack")
                return
            await self.send(ws, ack)


@pytest.fixture
async def fake_engine():
    engine = FakeEngine()
    async with serve(engine.handler, "127.0.0.1", 0, subprotocols=[JSON, MSGPACK]) as server:
        port = server.sockets[0].getsockname()[1]
        engine.url = f"http://127.0.0.1:{port}"
        yield engine
