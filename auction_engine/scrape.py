"""What `/metrics` measures at scrape time, for the dashboard and the alerts in deploy/.

The escrow outbox's backlog and its oldest undelivered row tell a stuck hand-off (escrow down,
a refused signature) long before a winner complains; the Redis round trip is the floor under
every acknowledgement. Each is read once per scrape (every 15 s or so), each bounded by a
second: a scrape never waits on a hung server, it reports it.

A scrape runs on the engine's loop, beside the acks: the text of every metric, a Redis round trip
and a SQL query (about 16 ms of the loop on a slow machine, issue 18's "Round ten"). Prometheus asks
every 15 s, but anyone who reaches the port could ask in a loop and slow every bid. So the text is
made at most once per `metrics_every_s`; a scrape inside that reuses it, and scrapes that arrive
together wait for the one being made.
"""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from prometheus_client import generate_latest

from . import metrics
from .engine import Engine
from .store.schema import outbox

TIMEOUT_S = 1.0


async def refresh(engine: Engine) -> None:
    await asyncio.gather(_redis_rtt(engine), _outbox(engine))


async def _redis_rtt(engine: Engine) -> None:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(engine.redis.ping(), TIMEOUT_S)
    except Exception:
        metrics.REDIS_RTT.set(TIMEOUT_S)  # no answer within the bound reads as the bound
        return
    metrics.REDIS_RTT.set(time.perf_counter() - started)


async def _outbox(engine: Engine) -> None:
    query = sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(outbox.c.delivered_at.is_(None))
    try:
        async with asyncio.timeout(TIMEOUT_S), engine.store.engine.connect() as conn:
            pending, oldest = (await conn.execute(query)).one()
    except Exception:
        return  # the gauges keep their last values; /healthz reports the database
    metrics.OUTBOX_PENDING.set(pending)
    metrics.OUTBOX_OLDEST.set(max(0.0, (engine.clock.now_ms() - oldest) / 1000) if oldest is not None else 0.0)


class Exposition:
    """The `/metrics` text, made at most once per `every_s` (0: at every scrape)."""

    def __init__(self, engine: Engine, every_s: float) -> None:
        self.engine = engine
        self.every_s = every_s
        self._text = b""
        self._made_at: float | None = None
        self._making = asyncio.Lock()

    async def text(self) -> bytes:
        async with self._making:
            now = asyncio.get_running_loop().time()
            if self._made_at is None or now - self._made_at >= self.every_s:
                metrics.SEND_QUEUE.set(self.engine.hub.queued())
                await refresh(self.engine)
                metrics.EXPOSITIONS.inc()
                self._text, self._made_at = generate_latest(), now
            return self._text
