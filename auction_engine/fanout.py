"""Fan-out to WebSocket connections: each connection's private frames in a bounded queue, each
lot's public frames in one buffer shared by its watchers (lotfeed.py).

The lot actor hands a frame to the hub and moves on: publishing is one append to the lot's
feed, never an await on a socket. A connection whose backlog (private frames plus its position
behind each lot's head) passes its bound is told `slow_consumer` and dropped, so one stuck
watcher never delays the lot.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Iterator
from typing import Any, Protocol

from .auth import Principal
from .frames import SLOW_CONSUMER_CLOSE, Outgoing, slow_consumer_frame
from .lotfeed import LotFeed, Subscription, tick

logger = logging.getLogger(__name__)

# Frames handed to the socket in one write by the writer: one syscall instead of one per frame,
# while a stalled watcher's backlog still shows as its position, where the bound can see it.
WRITE_BATCH = 64
_LAST = 1 << 62  # a tick no frame reaches: "everything the feed holds"


class Private:
    """A connection's private frames, (tick, frame), first in first out: a list and a read index,
    because an empty `collections.deque` is ~760 bytes and most connections have nothing queued."""

    __slots__ = ("items", "head")

    def __init__(self) -> None:
        self.items: list[tuple[int, Outgoing]] = []
        self.head = 0

    def __len__(self) -> int:
        return len(self.items) - self.head

    def __iter__(self) -> Iterator[tuple[int, Outgoing]]:
        return iter(self.items[self.head:])

    def append(self, item: tuple[int, Outgoing]) -> None:
        self.items.append(item)

    def first(self) -> tuple[int, Outgoing]:
        return self.items[self.head]

    def popleft(self) -> None:
        self.head += 1
        if self.head == len(self.items):
            self.clear()

    def clear(self) -> None:
        self.items = []
        self.head = 0


class Socket(Protocol):
    """What a `Connection` writes to (ws.Wire). `send_many` and `write_now` are used only when the
    connection is `batched`: the engine's own WebSocket layer offers them, a plain ASGI server not."""

    async def send_text(self, data: str) -> None: ...
    async def send_bytes(self, data: bytes) -> None: ...
    async def close(self, code: int) -> None: ...
    def abort(self) -> None: ...
    async def send_many(self, frames: list[Outgoing]) -> None: ...
    def write_now(self, frames: list[Outgoing]) -> bool: ...


class Connection:
    """One WebSocket's outbound side; `send` never blocks."""

    # Slots, and the socket held as one object rather than six bound methods: an idle watcher is
    # mostly this object and its socket (the instance dict was ~1 KiB, the methods ~0.4 KiB).
    __slots__ = ("principal", "subprotocol", "limit", "queue", "subs", "closed", "slow", "_idle", "_woken", "_waiter",
                 "_socket", "_batched", "_grace_s", "ended", "close_code", "_drain_due", "_lazy", "_task")

    def __init__(
        self,
        principal: Principal,
        subprotocol: str,
        socket: Socket,
        limit: int = 1024,
        grace_s: float = 1.0,
        batched: bool = False,
    ) -> None:
        self.principal = principal
        self.subprotocol = subprotocol
        self.limit = limit
        self.queue = Private()
        self.subs: dict[str, Subscription] = {}
        self.closed = False
        self.slow = False
        self._idle = False
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None  # not an asyncio.Event: its deque is ~760 bytes
        self._socket = socket
        self._batched = batched
        self._grace_s = grace_s
        self.ended = False
        self.close_code: int | None = None
        self._drain_due = False
        self._lazy = False
        self._task: asyncio.Task[None] | None = None

    def send(self, out: Outgoing) -> bool:
        if self.closed:
            return False
        if self._idle and not self.queue and self._caught_up() and self.write_now([out]):
            return True  # written in order, without waking the writer: an ack or a notice is one write
        if self.backlog() >= self.limit:
            self.overflow()
            return False
        self.queue.append((tick(), out))
        self.wake()
        return True

    def send_frame(self, frame: dict[str, Any]) -> bool:
        return self.send(Outgoing(frame))

    def backlog(self) -> int:
        """Frames waiting for this connection: private ones and its distance behind each lot's head."""
        return len(self.queue) + sum(sub.lag for sub in self.subs.values())

    # -- what a lot's feed asks (lotfeed.Reader) -------------------------------------------

    def idle(self) -> bool:
        return self._idle and not self.queue and not self.closed

    def write_now(self, frames: list[Outgoing]) -> bool:
        return self._batched and self._socket.write_now(frames)

    def wake(self) -> None:
        """There is something to write: an idle connection writes it itself at the end of this loop
        turn (`_drain`); a busy or closing one leaves it to its writer task."""
        if self._idle and not self.closed and self._batched:
            if not self._drain_due:
                self._drain_due = True
                asyncio.get_running_loop().call_soon(self._drain)
            return
        self._wake_writer()

    def _wake_writer(self) -> None:
        if self._lazy and self._task is None:
            self._idle = False  # from now until it returns, the task writes, in order
            self._start_writer()
            return
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drain(self) -> None:
        """What an idle connection was handed during the turn (its lots' frames and private ones, in
        the writer's order, `_take`), in as few writes as the writer would make, without waking the
        writer task: at a sale's closes 500 lots tell ~6,000 bidders who won, each a task switch
        before. A transport that stops taking data hands the rest to the writer, which waits for it."""
        self._drain_due = False
        while self._idle and not self.closed and self.write_now([]):
            batch = self._take(WRITE_BATCH)
            if not batch:
                self._park()
                return
            self.write_now(batch)  # cannot fail: the transport took data just now and nothing ran since
        self._wake_writer()

    async def _sleep(self) -> None:
        """Until `wake` (at once if it came while the writer was busy)."""
        if not self._woken:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._woken = False

    def overflow(self) -> None:
        if self.closed:
            return
        self.slow = True
        self._let_go()
        self.queue.clear()
        self.queue.append((tick(), Outgoing(slow_consumer_frame(self.limit))))
        self.closed = True
        self.wake()
        # A watcher that stopped reading also stops the close handshake: cut it off if it
        # has not taken the error frame within the grace period.
        asyncio.get_running_loop().call_later(self._grace_s, self._abort_if_stuck)

    def _let_go(self) -> None:
        """Stop holding any lot's frames: a closing connection reads no more of them."""
        for sub in self.subs.values():
            sub.feed.unsubscribe(sub)
        self.subs.clear()

    def _abort_if_stuck(self) -> None:
        if not self.ended:
            self._socket.abort()

    # -- the writer --------------------------------------------------------------------------

    def _caught_up(self) -> bool:
        """No lot frame published before now is still to be written here, so a private frame written
        at once keeps the writer's order (`_take`): a close's notices to 6,000 bidders each woke a
        writer task, a few hundred ms of the loop on a sale day."""
        return all(sub.held or sub.conflate_s is not None or sub.pos == sub.feed.head for sub in self.subs.values())

    def _take(self, room: int) -> list[Outgoing]:
        """Up to `room` frames in the order they were handed over: each private frame after the
        lots' frames published before it (an ack before the events after it)."""
        out: list[Outgoing] = []
        subs = self.subs.values()
        queue = self.queue
        while len(out) < room and queue:
            before, frame = queue.first()
            for sub in subs:
                sub.take(before, room - len(out), out)
            if len(out) >= room:
                return out
            queue.popleft()
            out.append(frame)
        for sub in subs:
            if len(out) >= room:
                break
            sub.take(_LAST, room - len(out), out)
        return out

    def _park(self) -> None:
        for sub in self.subs.values():
            sub.feed.park(sub)

    async def _write(self, batch: list[Outgoing]) -> None:
        socket = self._socket
        if self._batched:
            await socket.send_many(batch)
            return
        for out in batch:
            data = out.for_subprotocol(self.subprotocol)
            await (socket.send_bytes(data) if isinstance(data, bytes) else socket.send_text(data))

    def start(self) -> None:
        """Begin writing. Where frames can be written directly (`write_now`, the engine's own
        WebSocket layer), an idle connection holds no task at all: its writer task is started when
        a write has to wait (a transport that stopped taking data) or the connection closes, and
        ends when it is idle again. A task, its coroutine and its waiter were ~1 KiB of each of
        10,000 idle watchers. Elsewhere (a plain ASGI server) the writer runs for the connection's life."""
        if not self._batched:
            self._start_writer()
        else:
            self._lazy = True
            self._idle = True

    def _start_writer(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.writer(), name="ws-writer")

    async def stopped(self) -> None:
        """Until the writer has written what it holds and closed the socket (after `shutdown`)."""
        while (task := self._task) is not None:
            await task
            if self._task is task:
                return

    async def writer(self) -> None:
        """Writes what waits for this connection until it ends (or, started by `start` with direct
        writes, until it is idle again: the lots write directly then)."""
        idle = False
        try:
            while True:
                while batch := self._take(WRITE_BATCH):
                    await self._write(batch)
                if self.closed:
                    break
                self._park()
                self._idle = True
                if self._lazy:
                    self._task = None
                    idle = True
                    return
                await self._sleep()
                self._idle = False
        except Exception:  # the peer went away; the receive loop notices too
            logger.debug("writer ended", exc_info=True)
        finally:
            if not idle:
                await self._end()

    async def _end(self) -> None:
        self._idle = False
        self.closed = True
        self._let_go()
        self.ended = not self.slow
        if self.slow:
            try:
                await asyncio.wait_for(self._socket.close(SLOW_CONSUMER_CLOSE), 2)
            except Exception:
                logger.debug("close of slow consumer failed", exc_info=True)
            self.ended = True
        elif self.close_code is not None:
            try:
                await asyncio.wait_for(self._socket.close(self.close_code), 2)
            except Exception:
                logger.debug("close with %s failed", self.close_code, exc_info=True)

    def cancel(self) -> None:
        """Stop the writer where it is (a socket that did not close in time)."""
        if self._task is not None:
            self._task.cancel()

    def shutdown(self) -> None:
        self.closed = True
        self.wake()

    def end(self, frame: dict[str, Any], code: int) -> None:
        """Send `frame` after what is queued, then close with `code` (a suspended bidder's socket)."""
        if self.closed:
            return
        self.queue.append((_LAST, Outgoing(frame)))  # after every lot frame already published
        self.close_code = code
        self.closed = True
        self.wake()


class Hub:
    """Who watches which lot (each lot's shared feed), and which connections belong to which bidder."""

    def __init__(self, coalesce_s: float = 0.0) -> None:
        self.coalesce_s = coalesce_s  # a busy lot's flushes at least this far apart (lotfeed.py)
        self.watchers: dict[str, LotFeed] = {}  # a lot is here while someone on this node watches it
        self.bidders: dict[str, set[Connection]] = collections.defaultdict(set)
        self.connections: set[Connection] = set()

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)
        if conn.principal.bidder:
            self.bidders[conn.principal.bidder].add(conn)

    def remove(self, conn: Connection) -> None:
        self.connections.discard(conn)
        for lot in list(conn.subs):
            self.unwatch(conn, lot)
        if conn.principal.bidder:
            conns = self.bidders.get(conn.principal.bidder)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self.bidders[conn.principal.bidder]

    def watch(self, conn: Connection, lot: str, conflate_ms: int | None = None, delta: bool = False) -> Subscription:
        """A new watch of `lot`, held (nothing is sent) until its snapshot or history is queued and
        `Subscription.release` is called; an earlier watch of the lot by `conn` ends."""
        self.unwatch(conn, lot)
        feed = self.watchers.get(lot)
        if feed is None:
            feed = self.watchers[lot] = LotFeed(lot, conn.limit, self.coalesce_s)
        feed.limit = min(feed.limit, conn.limit)
        sub = conn.subs[lot] = feed.subscribe(conn, conflate_ms, delta)
        return sub

    def unwatch(self, conn: Connection, lot: str) -> None:
        sub = conn.subs.pop(lot, None)
        feed = self.watchers.get(lot)
        if sub is not None:
            sub.feed.unsubscribe(sub)
        if feed is not None and not feed:
            del self.watchers[lot]

    def publish(self, lot: str, seq: int, out: Outgoing) -> None:
        feed = self.watchers.get(lot)
        if feed is not None:
            feed.append(seq, out)

    def end_bidder(self, bidder: str, frame: dict[str, Any], code: int) -> None:
        """Close every connection of `bidder` with `frame` and `code`."""
        for conn in tuple(self.bidders.get(bidder, ())):
            conn.end(frame, code)

    def to_bidder(self, bidder: str, out: Outgoing) -> None:
        for conn in tuple(self.bidders.get(bidder, ())):
            conn.send(out)

    def queued(self) -> int:
        return sum(c.backlog() for c in self.connections)
