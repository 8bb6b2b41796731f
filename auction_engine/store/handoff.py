"""Outbox rows for every outside party, and the settlement history they are written beside.

Each row is written in the transaction of the change it announces (a claim's outcome and its
refund, a payment and its transport order), keyed so that a second write of the same message is a
no-op: the `key` is the receiver's `Idempotency-Key`, so delivery at least once is exactly once as
the receiver sees it. The body is canonical JSON, so a retry is byte-for-byte the first attempt.
"""

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .db import insert
from .schema import outbox, settlement_events

ESCROW = "escrow"
LOGISTICS = "logistics"
DESTINATIONS = (ESCROW, LOGISTICS)


def canonical(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def enqueue(
    conn: AsyncConnection, *, destination: str, purpose: str, key: str, lot: str, doc: dict[str, Any], now: int
) -> bool:
    """Queue `doc` for `destination`, signed for `purpose`; False if `key` was queued before."""
    if destination not in DESTINATIONS:
        raise ValueError(f"unknown destination {destination!r}")
    stmt = insert(conn, outbox).values(
        key=key, lot=lot, body=canonical(doc), created_at=now, next_attempt_at=now, attempts=0,
        destination=destination, purpose=purpose,
    )
    done = await conn.execute(stmt.on_conflict_do_nothing(index_elements=[outbox.c.key]).returning(outbox.c.id))
    return done.first() is not None


async def record_event(conn: AsyncConnection, lot: str, kind: str, at: int, **detail: Any) -> None:
    """One step of a settlement's history (`GET /api/settlements/{lot}`)."""
    await conn.execute(sa.insert(settlement_events).values(lot=lot, kind=kind, at=at, detail=detail))


async def history(conn: AsyncConnection, lot: str) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            sa.select(settlement_events.c.kind, settlement_events.c.at, settlement_events.c.detail)
            .where(settlement_events.c.lot == lot)
            .order_by(settlement_events.c.id)
        )
    ).all()
    return [{"kind": r.kind, "at": r.at, **r.detail} for r in rows]


async def deliveries(conn: AsyncConnection, lot: str) -> list[dict[str, Any]]:
    """Every outbox row of a lot: what was sent to whom, and whether it was taken."""
    rows = (
        await conn.execute(
            sa.select(outbox.c.key, outbox.c.destination, outbox.c.purpose, outbox.c.attempts, outbox.c.delivered_at)
            .where(outbox.c.lot == lot)
            .order_by(outbox.c.id)
        )
    ).all()
    return [dict(r._mapping) for r in rows]
