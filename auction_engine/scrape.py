"""What `/metrics` measures at scrape time, for the dashboard and the alerts in deploy/.

The escrow outbox's backlog and its oldest undelivered row tell a stuck hand-off (escrow down,
a refused signature) long before a winner complains; the Redis round trip is the floor under
every acknowledgement. Each is read once per scrape (every 15 s or so), each bounded by a
second: a scrape never waits on a hung server, it reports it.
"""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa

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
