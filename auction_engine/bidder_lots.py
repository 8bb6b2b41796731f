"""Which lots a bidder has bid on and watches, per bidder in Redis under the bidder's own hash tag
(beside their credit, `bidder_ledger.py`), so "My auctions" and the watchlist are the same on
every device and every node (issue 13, items 1, 9, 11). `me.py` serves them."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

logger = logging.getLogger(__name__)


def lots_key(bidder: str) -> str:
    return f"auction:{{bidder:{bidder}}}:lots"


def watch_key(bidder: str) -> str:
    return f"auction:{{bidder:{bidder}}}:watch"


def watchers_key(lot: str) -> str:
    """The lot's watchers, the reverse of each bidder's `watch_key`, under the lot's own hash tag:
    the lot's owner reads it to send ending-soon alerts (`alerts.py`)."""
    return f"auction:{{{lot}}}:watchers"


async def members(redis: Any, key: str) -> list[str]:
    raw: Any = await redis.smembers(key)
    return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in raw)


_notes: set[asyncio.Task[Any]] = set()
# Per Redis client (an engine's): the (bidder, lot) pairs it has written or is writing (the Redis set
# only grows), and those waiting for the next write.
_noted: weakref.WeakKeyDictionary[Any, set[tuple[str, str]]] = weakref.WeakKeyDictionary()
_waiting: weakref.WeakKeyDictionary[Any, list[tuple[str, str]]] = weakref.WeakKeyDictionary()
NOTED_MAX = 200_000  # pairs remembered; past it, forgotten all at once (a write again each, then quiet)


def note_bid(redis: Any, bidder: str | None, lot: str) -> None:
    """Remember that `bidder` has a bid on `lot`, after its ack went out (never on the bid's path:
    the ack does not wait for this write). A lost write leaves the lot out of "My auctions" only
    until the bidder's next ack; the room still learns it from the lot's own `your_max`.

    The pairs noted in one turn of the loop are written together, in one pipelined round trip on
    one connection: a sale's first second brings every bidder's first ack at once, and an SADD
    each, side by side, made the client open a connection for each (35 in 150 ms, the acks of that
    second waiting up to 170 ms behind them). A pair counts as noted from then on."""
    noted = _noted.setdefault(redis, set())
    pair = (bidder or "", lot)
    if not bidder or bidder.startswith("floor:") or pair in noted:
        return  # a bidder's tenth bid on a lot needs no tenth SADD: 29,000 round trips on a 40 s sale day
    if len(noted) >= NOTED_MAX:
        noted.clear()
    noted.add(pair)
    waiting = _waiting.get(redis)
    if waiting is not None:
        waiting.append(pair)  # a write is already due this turn
        return
    _waiting[redis] = [pair]
    task = asyncio.get_running_loop().create_task(_write(redis), name="me-notes")
    _notes.add(task)
    task.add_done_callback(_notes.discard)


async def _write(redis: Any) -> None:
    try:
        await asyncio.sleep(0)  # the rest of this turn's acks join the write
    except asyncio.CancelledError:  # the engine is stopping: these were never written
        _noted.get(redis, set()).difference_update(_waiting.pop(redis, []))
        raise
    pairs = _waiting.pop(redis, [])
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for bidder, lot in pairs:
                pipe.sadd(lots_key(bidder), lot)
            await pipe.execute()
    except Exception:
        _noted.get(redis, set()).difference_update(pairs)  # each bidder's next ack tries again
        logger.warning("could not note %d lots for their bidders", len(pairs), exc_info=True)
