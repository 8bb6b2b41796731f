"""The WebSocket endpoint: one connection, many lots, both subprotocols.

The handler only parses, checks who is asking, stamps the server time and hands the
command to the lot; answers come back through the connection's bounded queue.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from . import me, metrics
from .actor import LotActor, Work
from .answers import Ack, Answer, Refusal
from .auth import Principal
from .bidder_lots import note_bid
from .browser import origin_allowed
from .cluster import Replica
from .corrections import staff_command
from .engine import Engine
from .errors import EngineError, NotFound, Unauthorized
from .fanout import Connection
from .frames import (
    FORBIDDEN_ORIGIN_CLOSE,
    JSON,
    SUBPROTOCOLS,
    UNAUTHORIZED_CLOSE,
    BidFrame,
    BuyNowFrame,
    ClientFrame,
    CommandFrame,
    Outgoing,
    Ping,
    Run,
    Subscribe,
    Unsubscribe,
    answer_frame,
    decode,
    error_frame,
    event_from_public,
    parse,
    pong_frame,
    snapshot_frame,
    welcome_frame,
)
from .ws_protocol import FRAMES_EXTENSION, FramesExtension, Receiver

logger = logging.getLogger(__name__)

TOKEN_SUBPROTOCOL = "auction.token."


def _token(websocket: WebSocket) -> str | None:
    """The bearer token: offered as a subprotocol `auction.token.<token>` (what browsers can send
    without putting it in the URL, where access logs and history keep it), an `Authorization`
    header, or `?token=` (kept for older clients)."""
    offered: list[str] = websocket.scope.get("subprotocols") or []
    for name in offered:
        if name.startswith(TOKEN_SUBPROTOCOL):
            return name[len(TOKEN_SUBPROTOCOL):]
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    token: str | None = websocket.query_params.get("token")
    return token


async def endpoint(websocket: WebSocket) -> None:
    engine: Engine = websocket.app.state.engine
    if not origin_allowed(websocket.headers, websocket.scope.get("scheme", "ws"), engine.config.allowed_origins):
        metrics.BAD_FRAMES.labels("forbidden_origin").inc()
        await websocket.close(FORBIDDEN_ORIGIN_CLOSE)  # before accept: the handshake gets HTTP 403
        return
    offered = websocket.scope.get("subprotocols") or []
    chosen = next((p for p in offered if p in SUBPROTOCOLS), None)
    await websocket.accept(subprotocol=chosen)
    subprotocol = chosen or JSON
    try:
        principal = engine.access.check(websocket.app.state.signer.read(_token(websocket)))
    except Unauthorized as exc:
        data = Outgoing(error_frame(exc.code, exc.message)).for_subprotocol(subprotocol)
        await (websocket.send_bytes(data) if isinstance(data, bytes) else websocket.send_text(data))
        await websocket.close(UNAUTHORIZED_CLOSE)
        return
    _forget_handshake(websocket)
    wire = Wire(websocket, subprotocol)
    batched = wire.extension is not None
    conn = Connection(principal, subprotocol, wire, engine.config.send_queue_limit, batched=batched)
    engine.hub.add(conn)
    metrics.CONNECTIONS.inc()
    conn.start()
    conn.send_frame(welcome_frame(principal.role, principal.bidder, principal.paddle, engine.clock.now_ms()))
    session = Session(engine, conn)
    wire.receive_now(session.handle_now)
    try:
        while not conn.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            raw = message.get("text")
            session.busy = True  # what arrives meanwhile waits in the queue, behind this
            try:
                await session.handle(raw if raw is not None else message.get("bytes") or b"")
            finally:
                session.busy = False
    except WebSocketDisconnect:
        pass
    except Exception:
        logger.exception("connection handler failed")
    finally:
        wire.receive_now(None)
        if conn.slow:
            metrics.SLOW_CONSUMERS.inc()
        engine.hub.remove(conn)
        conn.shutdown()
        metrics.CONNECTIONS.dec()
        try:
            await asyncio.wait_for(conn.stopped(), 3)
        except (TimeoutError, asyncio.CancelledError):
            conn.cancel()


def _forget_handshake(websocket: WebSocket) -> None:
    """Drop the handshake's headers once the origin and the token are checked.

    The scope lives as long as the connection; its headers (six from a script, a dozen and a cookie
    from a browser) were ~1 KiB of every idle watcher, and nothing reads them after the handshake.
    Cleared in place: Starlette's `Headers` shares the scope's list (docs/performance.md, idle soak)."""
    headers = websocket.scope.get("headers")
    if isinstance(headers, list):
        headers.clear()


def _frames_extension(websocket: WebSocket) -> FramesExtension | None:
    """The engine's own WebSocket layer (`ws_protocol.EngineWebSocket`, what `serve` runs) offers
    batched writes and abort in the scope's `extensions`; another ASGI server offers neither."""
    extensions = websocket.scope.get("extensions") or {}
    extension: FramesExtension | None = extensions.get(FRAMES_EXTENSION)
    return extension


class Wire:
    """The socket a Connection writes to: ASGI sends, counted in `auction_ws_frames_total{path="asgi"}`,
    and where the server offers the engine's extension, batched and direct writes (`path="batched"`)
    and abort. One slotted object per connection rather than six closures (~1 KiB of every idle
    watcher).

    The ASGI path costs one `send`, one framing and one socket write per frame per watcher; a hot lot
    sends the same frames to every watcher in bursts. The extension never negotiates
    permessage-deflate, so each frame's bytes are built once and shared (`Outgoing.wire`)."""

    __slots__ = ("websocket", "subprotocol", "extension")

    def __init__(self, websocket: WebSocket, subprotocol: str) -> None:
        self.websocket = websocket
        self.subprotocol = subprotocol
        self.extension = _frames_extension(websocket)

    async def send_text(self, data: str) -> None:
        _ASGI_FRAMES.inc()
        await self.websocket.send_text(data)

    async def send_bytes(self, data: bytes) -> None:
        _ASGI_FRAMES.inc()
        await self.websocket.send_bytes(data)

    async def close(self, code: int) -> None:
        await self.websocket.close(code)

    def abort(self) -> None:
        """Drop the TCP connection at once, unsent data and all. ASGI has no abort; without the
        engine's extension the server's ping timeout ends the connection later."""
        if self.extension is not None:
            self.extension["abort"]()

    def receive_now(self, receiver: Receiver | None) -> None:
        """Have each message handed to `receiver` as it is read (ws_protocol's `receive_now`);
        without the engine's extension every message comes through `receive`."""
        if self.extension is not None:
            self.extension["receive_now"](receiver)

    async def send_many(self, frames: list[Outgoing]) -> None:
        """Several frames in one transport write (only offered with the extension)."""
        assert self.extension is not None
        _BATCHED_FRAMES.inc(len(frames))
        await self.extension["write_frames"]([out.wire(self.subprotocol) for out in frames])

    def write_now(self, frames: list[Outgoing]) -> bool:
        """`send_many` without the wait, for a lot's feed writing to an idle watcher (lotfeed.py):
        False (nothing written) when the transport is paused or the connection is closing."""
        assert self.extension is not None
        wire = [frames.joined(self.subprotocol)] if isinstance(frames, Run) else [out.wire(self.subprotocol) for out in frames]
        if not self.extension["write_frames_now"](wire):
            return False
        _BATCHED_FRAMES.inc(len(frames))
        return True


# Looked up once: labels() + inc() is ~2.5 us, inc() ~0.65 us, per batch.
_ASGI_FRAMES = metrics.WS_FRAMES.labels("asgi")
_BATCHED_FRAMES = metrics.WS_FRAMES.labels("batched")


class Session:
    """What one connection may do, frame by frame.

    A frame is handled as it is read (`handle_now`), except a subscribe, which awaits the lot and
    its history: it goes through the endpoint's loop (`handle`), and while it is handled (`busy`)
    every frame after it waits its turn there, so a connection's frames are answered in order."""

    __slots__ = ("engine", "conn", "principal", "busy")

    def __init__(self, engine: Engine, conn: Connection) -> None:
        self.engine = engine
        self.conn = conn
        self.principal: Principal = conn.principal
        self.busy = False

    def error(self, code: str, message: str, **extra: Any) -> None:
        metrics.BAD_FRAMES.labels(code).inc()
        self.conn.send_frame(error_frame(code, message, **extra))

    def handle_now(self, raw: str | bytes) -> bool:
        """Handle a frame as it is read (True), or leave it to `handle` (False): a subscribe, or
        any frame while one is handled."""
        if self.busy:
            return False
        if self.conn.closed:
            return True  # the endpoint's loop has stopped reading: nothing more is answered
        frame = self._parse(raw)
        if isinstance(frame, Subscribe):
            return False  # parsed again by `handle`: a subscribe is rare, and parsing has no effects
        if frame is not None:
            self._dispatch(frame)
        return True

    async def handle(self, raw: str | bytes) -> None:
        frame = self._parse(raw)
        if isinstance(frame, Subscribe):
            await self.subscribe(frame)
        elif frame is not None:
            self._dispatch(frame)

    def _parse(self, raw: str | bytes) -> ClientFrame | None:
        """The frame, or None once the error frame has told the client what was wrong."""
        try:
            return parse(decode(raw, self.conn.subprotocol))
        except EngineError as exc:
            self.error(exc.code, exc.message, **({"field": exc.field} if exc.field else {}))
            return None

    def _dispatch(self, frame: ClientFrame) -> None:
        """Every frame but a subscribe: none of them waits for anything."""
        if isinstance(frame, BidFrame):
            self.bid(frame)
        elif isinstance(frame, BuyNowFrame):
            self.buy_now(frame)
        elif isinstance(frame, Unsubscribe):
            self.engine.hub.unwatch(self.conn, frame.lot)
        elif isinstance(frame, Ping):
            self.conn.send_frame(pong_frame(frame.t, self.engine.clock.now_ms()))
        elif isinstance(frame, CommandFrame):
            staff_command(self.engine, self.principal, frame, self.answer, self.error)

    def bid(self, frame: BidFrame) -> None:
        self._submit(frame.lot, self.engine.admit_bid(self.principal, frame.lot, frame.id, frame.amount, frame.max))

    def buy_now(self, frame: BuyNowFrame) -> None:
        self._submit(frame.lot, self.engine.admit_bid(self.principal, frame.lot, frame.id, buy_now=True))

    def _submit(self, lot: str, admitted: Work | Refusal) -> None:
        if isinstance(admitted, Refusal):
            self.answer(admitted)
            return
        admitted.reply = self.answer
        self.engine.submit(lot, admitted)

    def answer(self, answer: Answer) -> None:
        self.conn.send_frame(answer_frame(answer))
        if isinstance(answer, Ack):
            note_bid(self.engine.redis, self.principal.bidder, answer.lot)

    async def subscribe(self, frame: Subscribe) -> None:
        if frame.lot == me.ME:
            if self.principal.bidder is None:
                self.error("not_allowed", "`me` is a bidder's own channel: connect with a bidder token", lot=me.ME)
                return
            self.conn.send_frame(await me.me_snapshot(self.engine, self.principal.bidder))
            return
        try:
            actor = await self.engine.actor(frame.lot)
        except NotFound:
            self.error("unknown_lot", f"no lot {frame.lot!r}", lot=frame.lot)
            return
        await subscribe(self.engine, self.conn, actor, frame.since, frame.conflate_ms, frame.delta)


async def subscribe(engine: Engine, conn: Connection, actor: LotActor | Replica, since: int | None,
                    conflate_ms: int | None = None, delta: bool = False) -> None:
    """Watch a lot: the events after `since`, gapless, then live; or a snapshot. With
    `conflate_ms`, live means the latest event at most once per that many ms; with `delta`, each
    live event after the first carries only what changed (lotfeed.py)."""
    lot = actor.lot
    sub = engine.hub.watch(conn, lot, conflate_ms, delta)  # held: live events are kept, not sent, until released
    upto = actor.published_seq
    sent = since or 0
    if since is None or since > upto:
        now = engine.clock.now_ms()
        state = actor.view_for(conn.principal.role, conn.principal.bidder, now)
        conn.send_frame(snapshot_frame(lot, state, now))
        sent = state["seq"]
    else:
        for seq, out in await history(engine, actor, since, upto):
            sent = seq
            conn.send(out)
    if conn.subs.get(lot) is sub:  # not unsubscribed (or subscribed again) meanwhile
        sub.release(sent)


async def history(engine: Engine, actor: LotActor | Replica, since: int, upto: int) -> list[tuple[int, Outgoing]]:
    ring = actor.ring
    if ring and ring[0][0] <= since + 1:
        recent = [(seq, public) for seq, public in ring if since < seq <= upto]
    else:
        recent = [(r.seq, r.public) for r in await engine.stream.read(actor.lot, since, upto)]
    return [(seq, event_from_public(actor.lot, seq, public)) for seq, public in recent]
