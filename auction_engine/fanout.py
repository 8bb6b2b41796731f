"""Fan-out to WebSocket connections, with a bounded queue per connection.

The lot actor hands a frame to the hub and moves on: publishing is a few appends to
in-memory queues, never an await on a socket. A connection whose queue passes its bound
is told `slow_consumer` and dropped, so one stuck watcher never delays the lot.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .auth import Principal
from .frames import SLOW_CONSUMER_CLOSE, Outgoing, slow_consumer_frame

logger = logging.getLogger(__name__)

# Frames handed to the socket in one write: one syscall instead of one per frame, while a hot
# lot's burst still waits in the bounded queue, where the slow-consumer check can see it.
WRITE_BATCH = 64


class Connection:
    """One WebSocket's outbound side; `send` never blocks."""

    def __init__(
        self,
        principal: Principal,
        subprotocol: str,
        send_text: Callable[[str], Awaitable[None]],
        send_bytes: Callable[[bytes], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        limit: int = 1024,
        abort: Callable[[], None] = lambda: None,
        grace_s: float = 1.0,
        send_many: Callable[[list[Outgoing]], Awaitable[None]] | None = None,
    ) -> None:
        self.principal = principal
        self.subprotocol = subprotocol
        self.limit = limit
        self.queue: collections.deque[Outgoing] = collections.deque()
        self.closed = False
        self.slow = False
        self._wake = asyncio.Event()
        self._send_text = send_text
        self._send_bytes = send_bytes
        self._send_many = send_many
        self._close = close
        self._abort = abort
        self._grace_s = grace_s
        self.ended = False
        self.close_code: int | None = None
        # lot -> buffered (seq, frame) while the subscription's history is being sent, else None
        self.pending: dict[str, list[tuple[int, Outgoing]] | None] = {}
        # lot -> highest event seq queued to this connection
        self.sent_seq: dict[str, int] = {}

    def send(self, out: Outgoing) -> bool:
        if self.closed:
            return False
        if len(self.queue) >= self.limit:
            self._overflow()
            return False
        self.queue.append(out)
        self._wake.set()
        return True

    def send_frame(self, frame: dict[str, Any]) -> bool:
        return self.send(Outgoing(frame))

    def deliver_event(self, lot: str, seq: int, out: Outgoing) -> None:
        """An event frame of a watched lot: buffered while history is in flight, deduplicated by seq."""
        buffered = self.pending.get(lot)
        if buffered is not None:
            buffered.append((seq, out))
            return
        if seq <= self.sent_seq.get(lot, 0):
            return
        self.sent_seq[lot] = seq
        self.send(out)

    def _overflow(self) -> None:
        self.slow = True
        self.queue.clear()
        self.queue.append(Outgoing(slow_consumer_frame(self.limit)))
        self.closed = True
        self._wake.set()
        # A watcher that stopped reading also stops the close handshake: cut it off if it
        # has not taken the error frame within the grace period.
        asyncio.get_running_loop().call_later(self._grace_s, self._abort_if_stuck)

    def _abort_if_stuck(self) -> None:
        if not self.ended:
            self._abort()

    async def writer(self) -> None:
        """Drains the queue onto the socket until the connection ends."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self.queue:
                    if self._send_many is None:
                        data = self.queue.popleft().for_subprotocol(self.subprotocol)
                        await (self._send_bytes(data) if isinstance(data, bytes) else self._send_text(data))
                        continue
                    batch = [self.queue.popleft() for _ in range(min(len(self.queue), WRITE_BATCH))]
                    await self._send_many(batch)
                if self.closed:
                    break
        except Exception:  # the peer went away; the receive loop notices too
            logger.debug("writer ended", exc_info=True)
        finally:
            self.closed = True
            self.ended = not self.slow
            if self.slow:
                try:
                    await asyncio.wait_for(self._close(SLOW_CONSUMER_CLOSE), 2)
                except Exception:
                    logger.debug("close of slow consumer failed", exc_info=True)
                self.ended = True
            elif self.close_code is not None:
                try:
                    await asyncio.wait_for(self._close(self.close_code), 2)
                except Exception:
                    logger.debug("close with %s failed", self.close_code, exc_info=True)

    def shutdown(self) -> None:
        self.closed = True
        self._wake.set()

    def end(self, frame: dict[str, Any], code: int) -> None:
        """Send `frame` after what is queued, then close with `code` (a suspended bidder's socket)."""
        if self.closed:
            return
        self.queue.append(Outgoing(frame))
        self.close_code = code
        self.closed = True
        self._wake.set()


class Hub:
    """Who watches which lot, and which connections belong to which bidder."""

    def __init__(self) -> None:
        self.watchers: dict[str, set[Connection]] = collections.defaultdict(set)
        self.bidders: dict[str, set[Connection]] = collections.defaultdict(set)
        self.connections: set[Connection] = set()

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)
        if conn.principal.bidder:
            self.bidders[conn.principal.bidder].add(conn)

    def remove(self, conn: Connection) -> None:
        self.connections.discard(conn)
        for lot in list(conn.pending):
            self.unwatch(conn, lot)
        if conn.principal.bidder:
            conns = self.bidders.get(conn.principal.bidder)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self.bidders[conn.principal.bidder]

    def watch(self, conn: Connection, lot: str) -> None:
        conn.pending[lot] = []
        self.watchers[lot].add(conn)

    def unwatch(self, conn: Connection, lot: str) -> None:
        conn.pending.pop(lot, None)
        conn.sent_seq.pop(lot, None)
        watchers = self.watchers.get(lot)
        if watchers is not None:
            watchers.discard(conn)
            if not watchers:
                del self.watchers[lot]

    def publish(self, lot: str, seq: int, out: Outgoing) -> None:
        for conn in tuple(self.watchers.get(lot, ())):
            conn.deliver_event(lot, seq, out)

    def end_bidder(self, bidder: str, frame: dict[str, Any], code: int) -> None:
        """Close every connection of `bidder` with `frame` and `code`."""
        for conn in tuple(self.bidders.get(bidder, ())):
            conn.end(frame, code)

    def to_bidder(self, bidder: str, out: Outgoing) -> None:
        for conn in tuple(self.bidders.get(bidder, ())):
            conn.send(out)

    def queued(self) -> int:
        return sum(len(c.queue) for c in self.connections)
