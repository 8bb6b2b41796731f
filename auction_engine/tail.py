"""Follow a Redis stream as it grows: one blocking reader per stream per node.

Both of the scale-out's shared channels are streams tailed this way: the feed (which lots
moved, and private notices for bidders wherever they are connected) and each node's mailbox
(commands forwarded to the lot's owner, and the owner's answers). A stream, not pub/sub, so a
reader that reconnects continues from the last id it saw instead of losing what was sent
meanwhile; the streams are capped (`MAXLEN ~`), and a reader that fell further behind than the
cap is told so (`on_gap`) and repairs from the lots' own logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

Entries = list[tuple[bytes, dict[bytes, bytes]]]


class StreamTail:
    """Calls `on_entries` with each batch appended to `key` after the reader started."""

    def __init__(
        self,
        redis: Any,
        key: str,
        on_entries: Callable[[Entries], Awaitable[None]],
        block_ms: int = 1000,
        count: int = 512,
    ) -> None:
        self.redis = redis
        self.key = key
        self.on_entries = on_entries
        self.block_ms = block_ms
        self.count = count
        self.last_id: bytes | str = "$"
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self._stopping = False

    async def start(self) -> None:
        """Start reading; entries added after this returns are seen."""
        info = await self.redis.xinfo_stream(self.key) if await self.redis.exists(self.key) else None
        self.last_id = info["last-generated-id"] if info else b"0-0"
        self.task = asyncio.create_task(self._run(), name=f"tail:{self.key}")
        self.ready.set()

    async def stop(self) -> None:
        """Stop reading. The cluster client may retry through a cancellation of a blocked read,
        so the loop also checks a flag, and the wait is bounded by one block period."""
        self._stopping = True
        if self.task is not None:
            self.task.cancel()
            await asyncio.wait({self.task}, timeout=self.block_ms / 1000 + 1)
            self.task = None

    async def _run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            try:
                reply = await self.redis.xread({self.key: self.last_id}, count=self.count, block=self.block_ms)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("reading %s failed; retrying in %.2fs", self.key, backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)
                continue
            for _key, entries in reply or ():
                if entries:
                    self.last_id = entries[-1][0]
                    try:
                        await self.on_entries(entries)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        logger.exception("handling entries of %s failed", self.key)
