"""Each lot's recorded log head (seq, hash), the SQL side's memory of how far the log got.

Redis holds the log; if its AOF is truncated or emptied, the log silently ends early and
`verify` cannot tell, since the shorter chain is still a valid chain. The head written here
at every snapshot and close is the witness: a log behind it has lost acknowledged entries.
A head only moves forward (a late write of an older head changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .db import insert
from .schema import lot_heads


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    head_hash: str


async def record(conn: AsyncConnection, lot: str, seq: int, head_hash: str, now: int) -> None:
    stmt = insert(conn, lot_heads).values(lot=lot, seq=seq, head_hash=head_hash, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[lot_heads.c.lot],
        set_={"seq": stmt.excluded.seq, "head_hash": stmt.excluded.head_hash, "updated_at": stmt.excluded.updated_at},
        where=lot_heads.c.seq < stmt.excluded.seq,
    )
    await conn.execute(stmt)


async def load(conn: AsyncConnection) -> dict[str, Head]:
    rows = (await conn.execute(sa.select(lot_heads.c.lot, lot_heads.c.seq, lot_heads.c.head_hash))).all()
    return {row.lot: Head(row.seq, row.head_hash) for row in rows}
