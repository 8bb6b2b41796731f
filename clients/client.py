"""Asyncio client for wire protocol v1: one WebSocket for lots and bids, httpx for the HTTP API.

What it guarantees to its caller, across dropped connections:
- per lot, the Snapshot/Event stream it hands out is gapless and without duplicates: on reconnect it
  re-subscribes with `since` = the last seq it holds, drops seq <= held, and on a gap re-subscribes
  without `since` to start again from a fresh snapshot;
- a bid is sent again with the SAME id after a reconnect until its ack arrives; the server answers
  a repeated id with the first ack, so a bid is never placed twice nor silently lost.

Money is an int in minor units everywhere; a float is refused before it leaves the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .clock import ClockSample, ClockSync, sample, wall_ms
from .frames import (
    JSON,
    REFUSAL_REASONS,
    STATIC_KEYS,
    SUBPROTOCOLS,
    TOKEN_SUBPROTOCOL,
    Ack,
    BadFrame,
    Counter,
    Error,
    Event,
    Lost,
    LotFrame,
    LotState,
    Me,
    Notice,
    Outbid,
    Pong,
    PrivateFrame,
    Snapshot,
    UnknownFrame,
    Welcome,
    Won,
    encode,
    parse_ack,
    parse_frame,
    with_static,
)

log = logging.getLogger("auction.client")

ACTIONS = frozenset({"open", "pause", "resume", "fair_warning", "close", "withdraw", "approve",
                     "reject"})
_END = object()
ME = "me"  # the `subscribe` target of a bidder's own channel (docs/protocol.md)
# A reconnect cannot mend these: the token is bad, expired, unknown or suspended.
FATAL_CODES = frozenset({"unauthorized", "forbidden", "subprotocol", "unknown_bidder", "suspended"})


class ClientError(Exception):
    """An error with a protocol `code`: from the server's `{"error": ...}`, an `error` frame, or
    raised locally (`timeout`, `closed`, `not_connected`, `bad_amount`, `subprotocol`, ...)."""

    def __init__(self, code: str, message: str = "", field: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.field = field
        self.status = status


class AckTimeout(ClientError):
    """No ack in time. The bid may or may not have been placed: retry with the same id to know."""

    def __init__(self, id: str, timeout: float) -> None:
        super().__init__("timeout", f"no ack for {id!r} within {timeout}s")
        self.id = id


@dataclass(slots=True)
class _Watch:
    """What the client holds of one subscribed lot."""

    lot: str
    seq: int | None
    keep_frames: bool
    state: LotState | None = None
    conflate_ms: int | None = None  # a conflated feed: seqs rise with gaps, each event the latest state
    delta: bool = False  # a delta feed: events after the first carry only the changed fields
    resyncing: bool = False
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    snapshot_waiters: list[asyncio.Future] = field(default_factory=list)

    def update(self, seq: int, state: LotState) -> None:
        self.seq = seq
        self.state = with_static(state, self.state)
        self.changed.set()
        self.changed = asyncio.Event()


@dataclass
class Stats:
    reconnects: int = 0
    duplicates_dropped: int = 0
    gaps: int = 0
    bad_frames: int = 0
    resent_bids: int = 0


def _check_money(value: Any, name: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ClientError("bad_amount", f"{name} must be a positive integer in minor units, "
                                        f"got {value!r}", field=name)
    return value


def _reject_floats(value: Any, path: str = "") -> None:
    """Nothing in a lot spec is fractional; a float there is a money bug waiting to happen."""
    if isinstance(value, float):
        raise ClientError("bad_amount", f"{path or 'value'} is a float; use integer minor units",
                          field=path or None)
    if isinstance(value, Mapping):
        for k, v in value.items():
            _reject_floats(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _reject_floats(v, f"{path}[{i}]")


def _items(body: Any, *keys: str) -> tuple[list, str | None]:
    """A list answer, or a page `{<key>: [...], next_cursor?}`: both shapes are accepted because
    PROTOCOL.md fixes the contents, not the envelope."""
    if isinstance(body, list):
        return body, None
    if isinstance(body, Mapping):
        for key in keys:
            if isinstance(body.get(key), list):
                cursor = body.get("next_cursor", body.get("cursor"))
                return body[key], cursor if isinstance(cursor, str) and cursor else None
    raise ClientError("bad_response", f"expected a list or a page of {keys}, got {body!r:.200}")


class AuctionClient:
    """`async with AuctionClient(url, token) as c: await c.subscribe("L1"); await c.bid(...)`.

    HTTP helpers work without `connect()`; `close()` releases both transports.
    """

    def __init__(self, base_url: str, token: str | None = None, subprotocol: str = JSON, *,
                 ack_timeout: float = 10.0, reconnect: bool = True, max_backoff: float = 5.0,
                 open_timeout: float = 10.0) -> None:
        if subprotocol not in SUBPROTOCOLS:
            raise ValueError(f"subprotocol must be one of {SUBPROTOCOLS}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.subprotocol = subprotocol
        self.ack_timeout = ack_timeout
        self.reconnect = reconnect
        self.max_backoff = max_backoff
        self.open_timeout = open_timeout
        self.clock = ClockSync()
        self.stats = Stats()
        self.welcome: Welcome | None = None
        self.errors: asyncio.Queue[Error] = asyncio.Queue()
        self._private: asyncio.Queue = asyncio.Queue()
        self._watches: dict[str, _Watch] = {}
        self.me: Me | None = None
        """The latest answer on the bidder's own channel (`subscribe_me`), refreshed on reconnect."""
        self._me_waiters: list[asyncio.Future] = []
        self._me_wanted = False
        self._pending: dict[str, tuple[dict, asyncio.Future]] = {}
        self._pings: dict[int, tuple[int, asyncio.Future]] = {}
        self._last_ping_t = 0
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._reader: asyncio.Task | None = None
        self._closing = False
        self._fatal: ClientError | None = None
        self._http: httpx.AsyncClient | None = None
        self._ids = itertools.count(1)
        self._id_prefix = uuid.uuid4().hex[:12]

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> AuctionClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def connect(self, sync_clock: int = 3) -> Welcome:
        """Open the WebSocket, read `welcome`, then estimate the clock from `sync_clock` pings."""
        await self._open()
        self._reader = asyncio.create_task(self._run(), name="auction-client-reader")
        if sync_clock:
            await self.sync_clock(sync_clock)
        assert self.welcome is not None
        return self.welcome

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._shutdown(ClientError("closed", "client closed"))
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def abort(self) -> None:
        """Drop the connection as a network failure would: the client reconnects and resumes.
        For tests and failure drills."""
        if self._ws is not None:
            await self._ws.close(1001, "client abort")

    def _ws_url(self) -> str:
        scheme, netloc, path, _, _ = urlsplit(self.base_url)
        return urlunsplit(("wss" if scheme == "https" else "ws", netloc, f"{path}/ws", "", ""))

    def _subprotocols(self) -> list[str]:
        """The wire subprotocol, and the token as `auction.token.<token>` (never in the URL)."""
        return [self.subprotocol, f"{TOKEN_SUBPROTOCOL}{self.token}"] if self.token else [self.subprotocol]

    async def _open(self) -> None:
        try:
            ws = await ws_connect(self._ws_url(), subprotocols=self._subprotocols(), proxy=None,
                                  open_timeout=self.open_timeout, max_size=2 ** 20)
        except InvalidStatus as exc:
            status = exc.response.status_code
            code = {401: "unauthorized", 403: "forbidden"}.get(status, f"http_{status}")
            raise ClientError(code, f"WebSocket refused with HTTP {status}", status=status) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise ClientError("network", f"cannot open {self.base_url}/ws: {exc!r}") from exc
        if ws.subprotocol != self.subprotocol:
            await ws.close()
            raise ClientError("subprotocol", f"asked {self.subprotocol!r}, server chose "
                                             f"{ws.subprotocol!r}")
        try:
            first = parse_frame(await asyncio.wait_for(ws.recv(), self.open_timeout))
        except (BadFrame, TimeoutError, ConnectionClosed) as exc:
            await ws.close()
            raise ClientError("no_welcome", f"no welcome frame: {exc!r}") from exc
        if not isinstance(first, Welcome):
            await ws.close()
            if isinstance(first, Error):
                raise ClientError(first.code, first.message)
            raise ClientError("no_welcome", f"first frame was {first!r}")
        self.welcome = first
        self.clock.add_coarse(first.server_time, wall_ms())
        self._ws = ws
        self._connected.set()

    async def _run(self) -> None:
        """Read frames; when the connection drops, reconnect with backoff and resume."""
        while True:
            ws = self._ws
            assert ws is not None
            try:
                async for message in ws:
                    self._dispatch(message)
            except ConnectionClosed:
                pass
            self._connected.clear()
            self._fail_pings(ClientError("connection_lost", "connection lost"))
            if self._closing:
                return
            if not self.reconnect:
                self._shutdown(ClientError("connection_lost", "connection lost"))
                return
            log.info("connection lost (%s); reconnecting", ws.close_reason or ws.close_code)
            if not await self._reopen():
                return
            await self._resume()

    async def _reopen(self) -> bool:
        for attempt in itertools.count():
            delay = min(self.max_backoff, 0.05 * 2 ** min(attempt, 10)) * random.uniform(0.5, 1)
            await asyncio.sleep(delay)
            try:
                await self._open()
            except ClientError as exc:
                if exc.code in FATAL_CODES:
                    self._fatal = exc
                    self._shutdown(exc)
                    return False
                log.debug("reconnect attempt %d failed: %s", attempt + 1, exc)
            except ConnectionClosed as exc:
                log.debug("reconnect attempt %d failed: %r", attempt + 1, exc)
            else:
                self.stats.reconnects += 1
                return True
        return False

    async def _resume(self) -> None:
        if self._me_wanted:
            await self._send(self._subscribe_frame(ME, None))
        for watch in list(self._watches.values()):
            watch.resyncing = watch.seq is None
            await self._send(self._subscribe_frame(watch.lot, watch.seq, watch.conflate_ms, watch.delta))
        for frame, fut in list(self._pending.values()):
            if not fut.done():
                self.stats.resent_bids += 1
                await self._send(frame)

    def _shutdown(self, exc: ClientError) -> None:
        """Fail everything still waiting and end every iterator."""
        self._connected.clear()
        for _, fut in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()
        self._fail_pings(exc)
        self._fail_me(exc)
        for watch in self._watches.values():
            for waiter in watch.snapshot_waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            watch.queue.put_nowait(_END)
            watch.changed.set()
        self._private.put_nowait(_END)

    def _fail_pings(self, exc: ClientError) -> None:
        for _, fut in self._pings.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pings.clear()

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, frame: Mapping[str, Any]) -> bool:
        """Send if connected; False means it will be (re)sent by `_resume` where that applies."""
        ws = self._ws
        if ws is None or not self._connected.is_set():
            return False
        try:
            await ws.send(encode(frame, self.subprotocol))
        except ConnectionClosed:
            return False
        return True

    async def send_raw(self, frame: Mapping[str, Any]) -> None:
        """Send any frame as is (tests of the server's validation)."""
        if not await self._send(frame):
            raise ClientError("not_connected", "not connected")

    def new_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    # -- lots --------------------------------------------------------------------------------

    @staticmethod
    def _subscribe_frame(lot: str, since: int | None, conflate_ms: int | None = None, delta: bool = False) -> dict:
        frame: dict[str, Any] = {"type": "subscribe", "lot": lot}
        if since is not None:
            frame["since"] = since
        if conflate_ms is not None:
            frame["conflate_ms"] = conflate_ms
        if delta:
            frame["delta"] = True
        return frame

    async def subscribe(self, lot: str, since: int | None = None, *, keep_frames: bool = True,
                        timeout: float | None = None, conflate_ms: int | None = None,
                        delta: bool = False) -> Snapshot | None:
        """Watch a lot. Without `since`, waits for and returns the snapshot; with it, returns at
        once and the events after `since` arrive in `frames(lot)`. `keep_frames=False` keeps only
        the latest state (`state(lot)`, `wait_state`), for bidders that never read the stream.
        `conflate_ms` (50 to 60,000): at most one event per that many ms, carrying the latest state;
        its seqs rise with gaps, which are not resynced (docs/protocol.md, "Conflated feeds").
        `delta`: the engine sends each event after the first as the fields that changed (a third of
        the bytes); the client lays them over the state it holds, so `frames(lot)` and `state(lot)`
        still give whole states (docs/protocol.md, "Delta feeds")."""
        watch = _Watch(lot=lot, seq=since, keep_frames=keep_frames, conflate_ms=conflate_ms, delta=delta)
        self._watches[lot] = watch
        if since is not None:
            await self._send(self._subscribe_frame(lot, since, conflate_ms, delta))
            return None
        waiter = asyncio.get_running_loop().create_future()
        watch.snapshot_waiters.append(waiter)
        await self._send(self._subscribe_frame(lot, None, conflate_ms, delta))
        timeout = self.ack_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise ClientError("timeout", f"no snapshot of {lot!r} within {timeout}s") from None

    async def unsubscribe(self, lot: str) -> None:
        watch = self._watches.pop(lot, None)
        if watch is not None:
            watch.queue.put_nowait(_END)
        await self._send({"type": "unsubscribe", "lot": lot})

    def state(self, lot: str) -> LotState | None:
        watch = self._watches.get(lot)
        return watch.state if watch else None

    def seq(self, lot: str) -> int | None:
        watch = self._watches.get(lot)
        return watch.seq if watch else None

    async def frames(self, lot: str) -> AsyncIterator[LotFrame]:
        """The lot's Snapshot/Event frames in order; ends on unsubscribe or close."""
        watch = self._watches.get(lot)
        if watch is None:
            raise ClientError("not_subscribed", f"subscribe to {lot!r} first")
        while (frame := await watch.queue.get()) is not _END:
            yield frame

    async def next_frame(self, lot: str, timeout: float = 5.0) -> LotFrame:
        watch = self._watches.get(lot)
        if watch is None:
            raise ClientError("not_subscribed", f"subscribe to {lot!r} first")
        frame = await asyncio.wait_for(watch.queue.get(), timeout)
        if frame is _END:
            raise ClientError("closed", "stream ended")
        return frame

    async def wait_state(self, lot: str, predicate: Callable[[LotState], bool],
                         timeout: float = 10.0) -> LotState:
        """Wait until the lot's latest state satisfies `predicate` (checked now, then on change)."""
        watch = self._watches.get(lot)
        if watch is None:
            raise ClientError("not_subscribed", f"subscribe to {lot!r} first")

        async def until() -> LotState:
            while True:
                current = self._watches.get(lot)
                if current is None or self._fatal or (self._closing and not self.connected):
                    raise ClientError("closed", "stream ended")
                if current.state is not None and predicate(current.state):
                    return current.state
                await current.changed.wait()

        return await asyncio.wait_for(until(), timeout)

    async def subscribe_me(self, timeout: float | None = None) -> Me:
        """Open the bidder's own channel: returns its `Me` (the bidder's lots with their standing,
        and the watchlist). Private frames (`Outbid`, `Won`, `Lost`, `Counter`, and the ending-soon
        `Notice`, which comes only to a bidder) arrive in `private()`. Re-opened on reconnect."""
        self._me_wanted = True
        waiter = asyncio.get_running_loop().create_future()
        self._me_waiters.append(waiter)
        await self._send(self._subscribe_frame(ME, None))
        timeout = self.ack_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise ClientError("timeout", f"no answer on the bidder's channel within {timeout}s") from None

    async def private(self) -> AsyncIterator[PrivateFrame]:
        """This bidder's outbid / won / lost / counter frames and ending-soon notices, for every lot."""
        while (frame := await self._private.get()) is not _END:
            yield frame

    async def next_private(self, timeout: float = 5.0) -> PrivateFrame:
        frame = await asyncio.wait_for(self._private.get(), timeout)
        if frame is _END:
            raise ClientError("closed", "stream ended")
        return frame

    # -- bids --------------------------------------------------------------------------------

    async def bid(self, lot: str, amount: int | None = None, max: int | None = None,
                  id: str | None = None, timeout: float | None = None) -> Ack:
        """A straight bid (`amount`) or a proxy maximum (`max`). Returns the ack, accepted or
        refused (`ack.ok`, `ack.reason`); raises AckTimeout if none comes in time."""
        if (amount is None) == (max is None):
            raise ClientError("bad_amount", "give exactly one of amount and max")
        key = "amount" if amount is not None else "max"
        value = _check_money(amount if amount is not None else max, key)
        frame = {"type": "bid", "lot": lot, key: value, "id": id or self.new_id()}
        return await self._request(frame, timeout)

    async def buy_now(self, lot: str, id: str | None = None,
                      timeout: float | None = None) -> Ack:
        return await self._request({"type": "buy_now", "lot": lot, "id": id or self.new_id()},
                                   timeout)

    async def _request(self, frame: dict, timeout: float | None) -> Ack:
        if self._fatal:
            raise self._fatal
        if self._closing:
            raise ClientError("closed", "client closed")
        id = frame["id"]
        if id in self._pending:
            fut = self._pending[id][1]
        else:
            fut = asyncio.get_running_loop().create_future()
            self._pending[id] = (frame, fut)
            await self._send(frame)
        timeout = self.ack_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            self._pending.pop(id, None)
            raise AckTimeout(id, timeout) from None

    # -- clock -------------------------------------------------------------------------------

    async def ping(self, timeout: float = 5.0) -> ClockSample:
        """One round trip; adds the sample to the clock estimate and returns it."""
        t = self._last_ping_t = max(wall_ms(), self._last_ping_t + 1)
        fut = asyncio.get_running_loop().create_future()
        self._pings[t] = (wall_ms(), fut)
        if not await self._send({"type": "ping", "t": t}):
            self._pings.pop(t, None)
            raise ClientError("not_connected", "not connected")
        try:
            pong, received = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise ClientError("timeout", f"no pong within {timeout}s") from None
        finally:
            sent, _ = self._pings.pop(t, (0, None))
        return self.clock.add(sample(sent, pong.server_time, received))

    async def sync_clock(self, samples: int = 5) -> ClockSample:
        """Several pings; returns the best (lowest round trip) sample the clock now uses."""
        for _ in range(samples):
            await self.ping()
        best = self.clock.best
        assert best is not None
        return best

    @property
    def offset(self) -> int:
        """Server clock minus local clock, in ms."""
        return self.clock.offset

    def server_now(self) -> int:
        return self.clock.server_now()

    # -- receiving ---------------------------------------------------------------------------

    def _dispatch(self, message: str | bytes) -> None:
        try:
            frame = parse_frame(message)
        except UnknownFrame as exc:
            log.debug("ignoring %s", exc)
            return
        except BadFrame as exc:
            self.stats.bad_frames += 1
            log.warning("bad frame from server: %s", exc)
            return
        handler = self._handlers.get(type(frame))
        if handler is not None:
            handler(self, frame)

    def _on_snapshot(self, frame: Snapshot) -> None:
        """A snapshot only ever answers our subscribe, so it is always the new base, even one
        older than what we held (the engine would then have lost events: log it, follow it)."""
        if not self.clock.best:
            self.clock.add_coarse(frame.server_time, wall_ms())
        watch = self._watches.get(frame.lot)
        if watch is None:
            return
        if watch.seq is not None and frame.seq < watch.seq:
            log.warning("snapshot of %s at seq %d, behind the %d held", frame.lot, frame.seq,
                        watch.seq)
        watch.resyncing = False
        watch.update(frame.seq, frame.state)
        if watch.keep_frames:
            watch.queue.put_nowait(frame)
        for waiter in watch.snapshot_waiters:
            if not waiter.done():
                waiter.set_result(frame)
        watch.snapshot_waiters.clear()

    def _on_event(self, frame: Event) -> None:
        watch = self._watches.get(frame.lot)
        if watch is None or watch.resyncing or watch.seq is None:
            return
        if frame.seq <= watch.seq:
            self.stats.duplicates_dropped += 1
            return
        based = frame.changed is None or (frame.prev == watch.seq and watch.state is not None)
        if (frame.seq != watch.seq + 1 and watch.conflate_ms is None) or not based:
            self.stats.gaps += 1
            log.warning("gap on %s: held %d, got %d; resyncing from a snapshot",
                        frame.lot, watch.seq, frame.seq)
            watch.resyncing = True
            asyncio.get_running_loop().create_task(self._resync(frame.lot))
            return
        if frame.changed is not None:  # the event's whole state, as the full feed would carry it
            assert watch.state is not None
            held = {k: v for k, v in watch.state.items() if k not in STATIC_KEYS}
            frame = dataclasses.replace(frame, state={**held, **frame.changed})
        watch.update(frame.seq, frame.state)
        if watch.keep_frames:
            watch.queue.put_nowait(frame)

    async def _resync(self, lot: str) -> None:
        watch = self._watches.get(lot)
        await self._send({"type": "unsubscribe", "lot": lot})
        await self._send(self._subscribe_frame(lot, None, watch.conflate_ms if watch else None,
                                               watch.delta if watch else False))

    def _on_ack(self, frame: Ack) -> None:
        pending = self._pending.pop(frame.id, None)
        if pending is not None and not pending[1].done():
            pending[1].set_result(frame)

    def _on_private(self, frame: PrivateFrame) -> None:
        self._private.put_nowait(frame)

    def _on_me(self, frame: Me) -> None:
        self.me = frame
        for waiter in self._me_waiters:
            if not waiter.done():
                waiter.set_result(frame)
        self._me_waiters.clear()

    def _fail_me(self, exc: ClientError) -> None:
        for waiter in self._me_waiters:
            if not waiter.done():
                waiter.set_exception(exc)
        self._me_waiters.clear()

    def _on_pong(self, frame: Pong) -> None:
        received = wall_ms()
        entry = self._pings.get(frame.t)
        if entry is not None and not entry[1].done():
            entry[1].set_result((frame, received))

    def _on_error(self, frame: Error) -> None:
        log.warning("server error frame: %s %s", frame.code, frame.message)
        exc = ClientError(frame.code, frame.message)
        pending = self._pending.pop(str(frame.extra.get("id")), None)
        if pending is not None and not pending[1].done():
            pending[1].set_exception(exc)
        if frame.extra.get("lot") == ME:  # the channel is a bidder's: `not_allowed` for anyone else
            self._me_wanted = False
            self._fail_me(exc)
        watch = self._watches.get(str(frame.extra.get("lot")))
        if watch is not None:
            for waiter in watch.snapshot_waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            watch.snapshot_waiters.clear()
        self.errors.put_nowait(frame)

    _handlers: dict[type, Callable[[AuctionClient, Any], None]] = {
        Snapshot: _on_snapshot, Event: _on_event, Ack: _on_ack, Outbid: _on_private,
        Won: _on_private, Lost: _on_private, Counter: _on_private, Notice: _on_private, Me: _on_me,
        Pong: _on_pong, Error: _on_error,
    }

    # -- HTTP --------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                           timeout=10.0, trust_env=False)
        return self._http

    async def _fetch(self, method: str, path: str, *, json: Any = None,
                     params: Mapping[str, Any] | None = None) -> tuple[httpx.Response, Any]:
        try:
            response = await self.http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise ClientError("network", f"{method} {path}: {exc!r}") from exc
        try:
            return response, response.json()
        except ValueError:
            return response, None

    async def _call(self, method: str, path: str, *, json: Any = None,
                    params: Mapping[str, Any] | None = None) -> Any:
        response, body = await self._fetch(method, path, json=json, params=params)
        if response.is_success:
            return body
        raise self._error(response, body)

    @staticmethod
    def _error(response: httpx.Response, body: Any) -> ClientError:
        error = body.get("error") if isinstance(body, Mapping) else None
        if isinstance(error, Mapping):
            return ClientError(str(error.get("code")), str(error.get("message", "")),
                               error.get("field"), response.status_code)
        return ClientError(f"http_{response.status_code}", response.text[:200],
                           status=response.status_code)

    async def time(self) -> int:
        return (await self._call("GET", "/api/time"))["server_time"]

    async def register_bidder(self, bidder: str, paddle: str,
                              credit_limit: int | None = None) -> dict:
        """Auctioneer: returns `{bidder, paddle, token}`."""
        body: dict[str, Any] = {"bidder": bidder, "paddle": paddle}
        if credit_limit is not None:
            body["credit_limit"] = _check_money(credit_limit, "credit_limit", minimum=0)
        return await self._call("POST", "/api/bidders", json=body)

    async def bidders(self) -> list[dict]:
        """Auctioneer: `{bidder, paddle, credit_limit, exposure, suspended}` each; never tokens."""
        return _items(await self._call("GET", "/api/bidders"), "bidders", "items")[0]

    async def mint_token(self, bidder: str, ttl_s: int | None = None) -> dict:
        """Auctioneer: a new token for a registered bidder, `{bidder, paddle, token, ttl_s}`
        (409 `conflict` while the bidder is suspended)."""
        body = {"ttl_s": ttl_s} if ttl_s is not None else {}
        return await self._call("POST", f"/api/bidders/{quote(bidder, safe='')}/tokens", json=body)

    async def suspend(self, bidder: str) -> dict:
        """Auctioneer: refuse the bidder's tokens and close its sockets (`suspended`, 4401)."""
        return await self._call("POST", f"/api/bidders/{quote(bidder, safe='')}/suspend")

    async def reinstate(self, bidder: str) -> dict:
        """Auctioneer: lift a suspension; the bidder needs a newly minted token."""
        return await self._call("POST", f"/api/bidders/{quote(bidder, safe='')}/reinstate")

    async def create_lot(self, spec: Mapping[str, Any]) -> dict:
        _reject_floats(spec)
        return await self._call("POST", "/api/lots", json=dict(spec))

    async def lot(self, lot: str) -> dict:
        return await self._call("GET", f"/api/lots/{quote(lot, safe='')}")

    async def create_sale(self, sale: str, lots: list[str], first_end_at: int, stagger_s: int = 0,
                          group_soft_close: bool = False) -> dict:
        """Auctioneer: lots that end one after another, `stagger_s` apart from `first_end_at` (server
        ms); with group soft close a lot's anti-sniping extension moves every later lot (docs/rules.md
        "Sales"). Returns the sale as `sale()` does."""
        body = {"id": sale, "lots": list(lots), "first_end_at": first_end_at, "stagger_s": stagger_s,
                "group_soft_close": group_soft_close}
        return await self._call("POST", "/api/sales", json=body)

    async def sale(self, sale: str) -> dict:
        """`{sale, lots: [{lot, ends_at, status, result, extensions}], first_end_at, stagger_s, ...}`."""
        return await self._call("GET", f"/api/sales/{quote(sale, safe='')}")

    async def set_budget(self, sale: str, max_total: int | None = None, max_lots: int | None = None) -> dict:
        """Bidder: their own budget for the sale (docs/rules.md "Budgets"); returns `budget()`'s answer."""
        body: dict[str, Any] = {}
        if max_total is not None:
            body["max_total"] = _check_money(max_total, "max_total", minimum=0)
        if max_lots is not None:
            body["max_lots"] = max_lots
        return await self._call("PUT", f"/api/sales/{quote(sale, safe='')}/budget", json=body)

    async def budget(self, sale: str) -> dict:
        """Bidder: `{sale, bidder, max_total, max_lots, committed, won}`."""
        return await self._call("GET", f"/api/sales/{quote(sale, safe='')}/budget")

    async def lots_page(self, **filters: Any) -> tuple[list[dict], str | None]:
        """One page of public states and the cursor of the next (None at the end)."""
        params = {k: v for k, v in filters.items() if v is not None}
        return _items(await self._call("GET", "/api/lots", params=params), "lots", "items")

    async def lots(self, **filters: Any) -> list[dict]:
        """Every lot matching the filters (`status`, `make`, `year_min`, `year_max`, `price_max`,
        `q`), following the cursor through all pages."""
        result: list[dict] = []
        seen: set[str] = set()
        cursor = filters.pop("cursor", None)
        while True:
            page, cursor = await self.lots_page(**filters, cursor=cursor)
            result.extend(page)
            if cursor is None or cursor in seen or not page:
                return result
            seen.add(cursor)

    async def action(self, lot: str, name: str) -> dict:
        if name not in ACTIONS:
            raise ClientError("bad_action", f"{name!r} is not one of {sorted(ACTIONS)}")
        return await self._call("POST", f"/api/lots/{quote(lot, safe='')}/{name}")

    async def floor_bid(self, lot: str, amount: int, paddle: str) -> Ack:
        """Auctioneer: a straight bid for a floor paddle. A refusal comes back as a refused Ack,
        whether the server answers it as an ack or as an HTTP error with a RULES.md reason."""
        body = {"amount": _check_money(amount, "amount"), "paddle": paddle}
        return await self._http_ack(f"/api/lots/{quote(lot, safe='')}/floor-bids", body, lot, "")

    async def http_bid(self, lot: str, amount: int | None = None, max: int | None = None,
                       id: str | None = None) -> Ack:
        """Bidder: the HTTP twin of `bid`, for clients without a WebSocket."""
        if (amount is None) == (max is None):
            raise ClientError("bad_amount", "give exactly one of amount and max")
        key = "amount" if amount is not None else "max"
        id = id or self.new_id()
        body = {key: _check_money(amount if amount is not None else max, key), "id": id}
        return await self._http_ack(f"/api/lots/{quote(lot, safe='')}/bids", body, lot, id)

    async def _http_ack(self, path: str, body: dict, lot: str, id: str) -> Ack:
        """A refusal is an error status whose body is the refused ack (or, for a refusal decided
        before the lot, an `{"error": ...}` with a RULES.md reason as its code)."""
        response, answer = await self._fetch("POST", path, json=body)
        if isinstance(answer, Mapping) and "ok" in answer:
            return parse_ack(answer, lot=lot, id=id)
        exc = self._error(response, answer)
        if exc.code in REFUSAL_REASONS:
            return Ack(id=id, lot=lot, ok=False, reason=exc.code)
        raise exc

    async def events(self, lot: str, since: int = 0) -> list[dict]:
        """The lot's log after `since` (public, or the full log for auditor/auctioneer)."""
        body = await self._call("GET", f"/api/lots/{quote(lot, safe='')}/events",
                                params={"since": since})
        return _items(body, "events", "entries", "items")[0]

    async def settlements(self) -> list[dict]:
        return _items(await self._call("GET", "/api/settlements"),
                      "settlements", "items")[0]
