"""The settlement ledger: one record per closed lot, and its outbox row when sold.

A record is written once. The only change a result may see is `pending_approval` becoming
`sold` or `unsold` (the auctioneer's approve or reject), once. A sold result, first time or after
approval, puts its escrow hand-off in the outbox in the same transaction.
"""

import csv
import json
import logging
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .db import insert
from .errors import BadQuery, NotPayable, UnknownSettlement
from .models import RESULTS, Settlement
from .premium import PremiumSchedule
from .schema import outbox, settlements

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
PENDING = "pending_approval"
FINAL_AFTER_PENDING = ("sold", "unsold")


def outbox_key(lot: str) -> str:
    return f"settlement-{lot}"


def body_of(settlement: Settlement) -> str:
    """The exact JSON text sent to escrow (and signed)."""
    return json.dumps(settlement.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _amounts(result: str, price: int | None, schedule: PremiumSchedule) -> dict[str, int | None]:
    if result in ("sold", PENDING) and price is not None:
        premium = schedule.premium(price)
        return {"hammer_price": price, "premium": premium, "total_due": price + premium}
    return {"hammer_price": price, "premium": None, "total_due": None}


async def _get(conn: AsyncConnection, lot: str, lock: bool = False) -> Settlement | None:
    stmt = sa.select(settlements).where(settlements.c.lot == lot)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return Settlement.from_row(row) if row else None


async def _recorded(conn: AsyncConnection, lot: str, lock: bool = False) -> Settlement:
    """The settlement this transaction just wrote or collided with: its row exists."""
    settlement = await _get(conn, lot, lock)
    if settlement is None:
        raise LookupError(f"settlement for {lot} vanished inside its transaction")
    return settlement


async def _enqueue(conn: AsyncConnection, settlement: Settlement, now: int, hold_until: int = 0) -> None:
    """`hold_until`: no attempt before then (a live lot's reopen window, docs/rules.md)."""
    stmt = insert(conn, outbox).values(
        key=outbox_key(settlement.lot),
        lot=settlement.lot,
        body=body_of(settlement),
        created_at=now,
        next_attempt_at=max(now, hold_until),
        attempts=0,
    )
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=[outbox.c.key]))


async def record(
    conn: AsyncConnection,
    *,
    lot: str,
    result: str,
    winner: str | None,
    winner_paddle: str | None,
    price: int | None,
    currency: str,
    closed_at: int,
    final_seq: int,
    head_hash: str,
    schedule: PremiumSchedule,
    payment_days: int,
    now: int,
    hold_until: int = 0,
    report_version: int | None = None,
) -> tuple[Settlement, bool]:
    """Write (or find) the lot's record; returns it and whether an outbox row was added (its
    first attempt not before `hold_until`)."""
    if result not in RESULTS:
        raise ValueError(f"result must be one of {RESULTS}, got {result!r}")
    if price is not None and (not isinstance(price, int) or isinstance(price, bool) or price < 0):
        raise ValueError(f"price must be a non-negative integer, got {price!r}")
    if result == "sold" and price is None:
        raise ValueError("a sold result needs a price")
    due = closed_at + payment_days * DAY_MS if result == "sold" else None
    values = {
        "lot": lot,
        "result": result,
        "winner": winner,
        "winner_paddle": winner_paddle,
        **_amounts(result, price, schedule),
        "currency": currency,
        "closed_at": closed_at,
        "decided_at": closed_at,
        "final_seq": final_seq,
        "head_hash": head_hash,
        "payment_due_at": due,
        "paid_at": None,
        "report_version": report_version,
        "created_at": now,
        "updated_at": now,
    }
    new = insert(conn, settlements).values(**values)
    stmt = new.on_conflict_do_nothing(index_elements=[settlements.c.lot]).returning(settlements.c.lot)
    if (await conn.execute(stmt)).first() is not None:
        settlement = await _recorded(conn, lot)
        if result == "sold":
            await _enqueue(conn, settlement, now, hold_until)
        return settlement, result == "sold"

    existing = await _recorded(conn, lot, lock=True)
    if existing.result != PENDING or result not in FINAL_AFTER_PENDING:
        if (existing.result, existing.hammer_price, existing.winner) != (result, price, winner):
            log.warning("settlement for %s already recorded as %s; ignoring %s", lot, existing.result, result)
        return existing, False

    decided_at = max(closed_at, existing.closed_at)
    changes = {
        "result": result,
        "winner": winner,
        "winner_paddle": winner_paddle,
        **_amounts(result, price, schedule),
        "decided_at": decided_at,
        "final_seq": final_seq,
        "head_hash": head_hash,
        "payment_due_at": decided_at + payment_days * DAY_MS if result == "sold" else None,
        "report_version": report_version,
        "updated_at": now,
    }
    decide = (
        sa.update(settlements)
        .where(settlements.c.lot == lot, settlements.c.result == PENDING)
        .values(**changes)
        .returning(settlements.c.lot)
    )
    if (await conn.execute(decide)).first() is None:
        return await _recorded(conn, lot), False
    settlement = await _recorded(conn, lot)
    if result == "sold":
        await _enqueue(conn, settlement, now)
    return settlement, result == "sold"


async def void(conn: AsyncConnection, lot: str, now: int, held_until: int) -> bool:
    """Remove the record of a lot the auctioneer reopens (docs/rules.md "Clerk corrections"),
    with its outbox row, if escrow cannot have it: the row is still held exactly as recorded
    (`next_attempt_at == held_until > now`, never attempted). The worker claims only due rows and
    a claim moves `next_attempt_at` to the claim's time plus its lease, past `held_until`, so a
    row in flight never matches. False, changing nothing, if the hand-off may have begun or the
    lot is paid; True with no record."""
    settlement = await _get(conn, lot, lock=True)
    if settlement is not None and settlement.paid_at is not None:
        return False
    row = (
        await conn.execute(
            sa.select(outbox.c.id, outbox.c.attempts, outbox.c.next_attempt_at, outbox.c.delivered_at)
            .where(outbox.c.key == outbox_key(lot))
        )
    ).first()
    if row is not None:
        if row.delivered_at is not None or row.attempts != 0 or row.next_attempt_at != held_until or held_until <= now:
            return False
        gone = await conn.execute(
            sa.delete(outbox).where(
                outbox.c.id == row.id, outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at == held_until
            )
        )
        if gone.rowcount != 1:
            return False
    await conn.execute(sa.delete(settlements).where(settlements.c.lot == lot))
    return True


async def mark_paid(conn: AsyncConnection, lot: str, now: int) -> Settlement:
    await conn.execute(
        sa.update(settlements)
        .where(settlements.c.lot == lot, settlements.c.result == "sold", settlements.c.paid_at.is_(None))
        .values(paid_at=now, updated_at=now)
    )
    settlement = await _get(conn, lot)
    if settlement is None:
        raise UnknownSettlement(lot)
    if settlement.result != "sold":
        raise NotPayable(lot, settlement.result)
    return settlement


async def get(conn: AsyncConnection, lot: str) -> Settlement | None:
    return await _get(conn, lot)


async def listing(
    conn: AsyncConnection,
    *,
    result: str | None = None,
    paid: bool | None = None,
    winner: str | None = None,
    since: int | None = None,
    until: int | None = None,
    limit: int | None = 1000,
    offset: int = 0,
) -> list[Settlement]:
    """Records in close order; `since` inclusive, `until` exclusive, on `closed_at` (ms)."""
    stmt = sa.select(settlements)
    if result is not None:
        if result not in RESULTS:
            raise BadQuery("result", f"one of {', '.join(RESULTS)}")
        stmt = stmt.where(settlements.c.result == result)
    if paid is not None:
        stmt = stmt.where(settlements.c.paid_at.is_not(None) if paid else settlements.c.paid_at.is_(None))
    if winner is not None:
        stmt = stmt.where(settlements.c.winner == winner)
    if since is not None:
        stmt = stmt.where(settlements.c.closed_at >= since)
    if until is not None:
        stmt = stmt.where(settlements.c.closed_at < until)
    stmt = stmt.order_by(settlements.c.closed_at, settlements.c.lot).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [Settlement.from_row(r) for r in (await conn.execute(stmt)).all()]


async def unpaid_won(conn: AsyncConnection, bidder: str | None = None) -> dict[str, int]:
    stmt = (
        sa.select(settlements.c.winner, sa.func.sum(settlements.c.hammer_price))
        .where(
            settlements.c.result == "sold",
            settlements.c.paid_at.is_(None),
            settlements.c.winner.is_not(None),
        )
        .group_by(settlements.c.winner)
    )
    if bidder is not None:
        stmt = stmt.where(settlements.c.winner == bidder)
    return {w: int(total) for w, total in (await conn.execute(stmt)).all()}


CSV_FIELDS = list(Settlement.__dataclass_fields__)
# OWASP "CSV Injection": a spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A text cell a spreadsheet will show, never run: one starting like a formula gets a leading
    `'` (OWASP). Numbers are left alone; ours are never negative, so they cannot start with `-`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(settlement: Settlement) -> dict[str, object]:
    return {name: csv_cell(value) for name, value in settlement.to_dict().items()}


async def export_settlements_csv(store: Any, file: str | Path | IO[str], **filters: Any) -> int:
    """Write the ledger (optionally filtered as `Store.list_settlements`) as CSV; returns the
    number of records. `file` is a path or a text file opened with `newline=""`."""
    if isinstance(file, (str, Path)):
        with open(file, "w", newline="", encoding="utf-8") as fh:
            return await export_settlements_csv(store, fh, **filters)
    writer = csv.DictWriter(file, fieldnames=CSV_FIELDS)
    writer.writeheader()
    count, page = 0, 1000
    filters.pop("limit", None)
    while True:
        batch = await store.list_settlements(**filters, limit=page, offset=count)
        writer.writerows(csv_row(s) for s in batch)
        count += len(batch)
        if len(batch) < page:
            return count

