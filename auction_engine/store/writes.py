"""The writes a sale makes while bids are acked, by name, each in one transaction it is given.

Named, with plain arguments, so the same write runs wherever the store's writer is: in the writer
process (`writerproc.py`, the default), on the writer thread (`offloop.py`) or on the caller's loop.
What is written, and the ledger's once-per-lot guarantee, are the same in all three.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from . import catalogue, heads, ledger
from .models import Settlement


async def upsert_lots(conn: AsyncConnection, states: list[dict[str, Any]], now: int) -> None:
    await catalogue.upsert(conn, states, now)


async def update_lots(conn: AsyncConnection, states: list[dict[str, Any]], now: int) -> None:
    await catalogue.update(conn, states, now)


async def record_head(conn: AsyncConnection, lot: str, seq: int, head_hash: str, now: int) -> None:
    await heads.record(conn, lot, seq, head_hash, now)


async def record_settlement(conn: AsyncConnection, fields: dict[str, Any]) -> tuple[Settlement, bool]:
    """`ledger.record(conn, **fields)`: the settlement and whether it was queued for escrow."""
    return await ledger.record(conn, **fields)


WRITES: dict[str, Callable[..., Awaitable[Any]]] = {
    "upsert_lots": upsert_lots,
    "update_lots": update_lots,
    "record_head": record_head,
    "record_settlement": record_settlement,
}
