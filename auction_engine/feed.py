"""Which lots moved, and notices for bidders: one capped stream every node tails.

The owner of a lot appends its batch to the lot's own stream (the log) and then announces
`(lot, seq)` here, with the batch's private notices (`outbid`, `won`, `lost`). Every other node
that mirrors the lot reads the new entries from the lot's stream itself, so its watchers get
exactly the log's order with no gap however the announcements arrive; a lost announcement is
caught up by the next one or by the mirror's periodic check of the lot's head. A notice goes
to the bidder's connections on whichever node holds them. A change to a bidder (registered,
suspended, reinstated) is announced too, so every node reads that bidder again from the database.
Ending-soon alerts (`alerts.py`) travel here as notices alone, with no lot moved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgpack

from .tail import Entries, StreamTail

FEED_KEY = "auction:{feed}:stream"
CAP = 200_000  # announcements kept (MAXLEN ~): a node that falls further behind resyncs from the lots' heads

Moved = Callable[[str, int], Awaitable[None]]
Notice = Callable[[str, dict[str, Any]], None]
BidderChanged = Callable[[str], Awaitable[None]]


class Feed:
    """Announce this node's appends; hear every other node's."""

    def __init__(self, redis: Any, node: str, on_moved: Moved, on_notice: Notice, block_ms: int = 1000,
                 on_bidder: BidderChanged | None = None) -> None:
        self.redis = redis
        self.node = node
        self.on_moved = on_moved
        self.on_notice = on_notice
        self.on_bidder = on_bidder
        self._tail = StreamTail(redis, FEED_KEY, self._read, block_ms=block_ms)

    async def start(self) -> None:
        await self._tail.start()

    async def stop(self) -> None:
        await self._tail.stop()

    async def announce(self, lot: str, seq: int, notices: list[tuple[str, dict[str, Any]]]) -> None:
        fields = {"n": self.node, "l": lot, "s": seq, "p": msgpack.packb(notices)}
        await self.redis.xadd(FEED_KEY, fields, maxlen=CAP, approximate=True)

    async def announce_notices(self, notices: list[tuple[str, dict[str, Any]]]) -> None:
        """Private frames for bidders wherever they are connected, with no lot move (an ending-soon
        alert: `alerts.py`); only the lot's owner sends them, so each is sent once."""
        await self.redis.xadd(FEED_KEY, {"n": self.node, "p": msgpack.packb(notices)}, maxlen=CAP, approximate=True)

    async def announce_bidder(self, bidder: str) -> None:
        await self.redis.xadd(FEED_KEY, {"n": self.node, "b": bidder}, maxlen=CAP, approximate=True)

    async def _read(self, entries: Entries) -> None:
        for _id, fields in entries:
            if fields[b"n"].decode() == self.node:
                continue  # the owner told its own watchers and bidders when it appended
            if b"b" in fields:
                if self.on_bidder is not None:
                    await self.on_bidder(fields[b"b"].decode())
                continue
            for bidder, frame in msgpack.unpackb(fields[b"p"], raw=False):
                self.on_notice(bidder, frame)
            if b"l" not in fields:
                continue  # notices only (announce_notices): no lot moved
            await self.on_moved(fields[b"l"].decode(), int(fields[b"s"]))
