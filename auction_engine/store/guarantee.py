"""The guarantee (担保交易) after payment: escrow holds the buyer's money until the buyer confirms
receipt, the claims window passes with no claim, or a claim is resolved; each outcome is one
signed instruction to escrow (`release`, `refund`, `partial_refund`), written once.

Why the database, not the code, keeps a refund and a release apart: the two can be reached by
different paths (the buyer's receipt, the window sweep, an auctioneer's resolution, on several
engine processes at once). Every instruction is a row of `instructions`; a release or a refund
writes the lot into `final_lot`, which is UNIQUE, so whichever commits second fails and its whole
transaction (state change, outbox row) is rolled back.

State of a guarantee: `holding` -> `released` (receipt, or window end with no open claim);
`holding` -> `claimed` (a claim in the window) -> `holding` (rejected) | `released` (partial refund,
then the rest released) | `refunded` (full refund and return). See docs/settlement.md.
"""

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .db import insert
from .errors import StepRefused
from .handoff import ESCROW, enqueue, record_event
from .ledger import outbox_key
from .models import Settlement
from .schema import claims, guarantees, instructions, settlements
from .signing import PURPOSE_PARTIAL_REFUND, PURPOSE_REFUND, PURPOSE_RELEASE

RELEASE, REFUND, PARTIAL_REFUND = "release", "refund", "partial_refund"
PURPOSES = {RELEASE: PURPOSE_RELEASE, REFUND: PURPOSE_REFUND, PARTIAL_REFUND: PURPOSE_PARTIAL_REFUND}
CLAIM_REASONS = ("not_as_described", "undisclosed_accident", "undisclosed_flood", "undisclosed_fire", "title_problem", "other")
OUTCOMES = ("reject", "partial_refund", "full_refund")
HOLDING, CLAIMED, RELEASED, REFUNDED = "holding", "claimed", "released", "refunded"


@dataclass(frozen=True, slots=True)
class Guarantee:
    lot: str
    state: str
    window_ms: int
    window_ends_at: int | None
    received_at: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Claim:
    lot: str
    bidder: str
    reason: str
    text: str
    photos: list[str]
    status: str
    refund_amount: int | None
    note: str | None
    opened_at: int
    resolved_at: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def instruction_key(kind: str, lot: str) -> str:
    return f"{kind}-{lot}"


async def _settlement(conn: AsyncConnection, lot: str) -> Settlement:
    row = (await conn.execute(sa.select(settlements).where(settlements.c.lot == lot))).first()
    if row is None:
        raise StepRefused("unknown_lot", f"no settlement for lot {lot!r}", "lot", 404)
    return Settlement.from_row(row)


async def get(conn: AsyncConnection, lot: str) -> Guarantee | None:
    row = (await conn.execute(sa.select(guarantees).where(guarantees.c.lot == lot))).first()
    if row is None:
        return None
    return Guarantee(row.lot, row.state, row.window_ms, row.window_ends_at, row.received_at)


async def get_claim(conn: AsyncConnection, lot: str) -> Claim | None:
    row = (await conn.execute(sa.select(claims).where(claims.c.lot == lot))).first()
    if row is None:
        return None
    return Claim(**{name: row._mapping[name] for name in Claim.__dataclass_fields__})


async def _require(conn: AsyncConnection, lot: str) -> Guarantee:
    guarantee = await get(conn, lot)
    if guarantee is None:
        raise StepRefused("not_paid", f"lot {lot!r} is not paid into escrow yet", "lot")
    return guarantee


async def open_guarantee(conn: AsyncConnection, settlement: Settlement, window_ms: int, window_starts: bool, now: int) -> bool:
    """Hold a paid settlement; the window runs from the payment unless it waits for delivery.
    False if it was opened before (the call is repeated after a crash or on another node)."""
    if settlement.paid_at is None:
        raise StepRefused("not_paid", f"lot {settlement.lot!r} is not paid", "lot")
    ends = settlement.paid_at + window_ms if window_starts else None
    values = dict(lot=settlement.lot, state=HOLDING, window_ms=window_ms, window_ends_at=ends, received_at=None,
                  created_at=now, updated_at=now)
    done = await conn.execute(
        insert(conn, guarantees).values(**values).on_conflict_do_nothing(index_elements=[guarantees.c.lot])
        .returning(guarantees.c.lot)
    )
    if done.first() is None:
        return False
    await record_event(conn, settlement.lot, "paid", settlement.paid_at, amount=settlement.total_due)
    await record_event(conn, settlement.lot, "held", now, window_ends_at=ends)
    return True


async def start_window(conn: AsyncConnection, lot: str, now: int) -> None:
    """Delivery starts the claims window when it waits for it; a started window is left as it is."""
    row = (await conn.execute(sa.select(guarantees.c.window_ms).where(guarantees.c.lot == lot))).first()
    if row is None:
        return
    done = await conn.execute(
        sa.update(guarantees).where(guarantees.c.lot == lot, guarantees.c.window_ends_at.is_(None))
        .values(window_ends_at=now + row.window_ms, updated_at=now)
    )
    if done.rowcount:
        await record_event(conn, lot, "window_started", now, window_ends_at=now + row.window_ms)


async def _move(conn: AsyncConnection, lot: str, from_state: str, to_state: str, now: int, **values: Any) -> None:
    """Change the state only from `from_state` (a conditional UPDATE: a racing step loses)."""
    done = await conn.execute(
        sa.update(guarantees).where(guarantees.c.lot == lot, guarantees.c.state == from_state)
        .values(state=to_state, updated_at=now, **values)
    )
    if done.rowcount != 1:
        current = await _require(conn, lot)
        raise StepRefused("wrong_state", f"the guarantee of {lot!r} is {current.state}, not {from_state}", "lot")


async def _issue(conn: AsyncConnection, settlement: Settlement, kind: str, amount: int, now: int) -> None:
    """Write one instruction and its outbox row. The UNIQUE `final_lot` refuses a second final one."""
    lot, key = settlement.lot, instruction_key(kind, settlement.lot)
    final = lot if kind in (RELEASE, REFUND) else None
    try:
        async with conn.begin_nested():
            await conn.execute(sa.insert(instructions).values(
                key=key, lot=lot, kind=kind, final_lot=final, amount=amount, created_at=now))
    except IntegrityError:
        raise StepRefused("already_final", f"lot {lot!r} already has a release or a refund", "lot") from None
    doc = {
        "instruction": kind, "lot": lot, "settlement_id": outbox_key(lot), "amount": amount,
        "currency": settlement.currency, "payee": "seller" if kind == RELEASE else "buyer",
        "buyer": settlement.winner, "issued_at": now,
    }
    await enqueue(conn, destination=ESCROW, purpose=PURPOSES[kind], key=key, lot=lot, doc=doc, now=now)
    await record_event(conn, lot, kind, now, amount=amount, key=key)


async def _refunded_part(conn: AsyncConnection, lot: str) -> int:
    stmt = sa.select(instructions.c.amount).where(instructions.c.lot == lot, instructions.c.kind == PARTIAL_REFUND)
    return int((await conn.execute(stmt)).scalar() or 0)


async def _release(conn: AsyncConnection, settlement: Settlement, from_state: str, now: int, **values: Any) -> None:
    await _move(conn, settlement.lot, from_state, RELEASED, now, **values)
    hammer = settlement.hammer_price or 0
    await _issue(conn, settlement, RELEASE, hammer - await _refunded_part(conn, settlement.lot), now)


async def confirm_receipt(conn: AsyncConnection, lot: str, bidder: str, now: int) -> Guarantee:
    """The buyer has the car and accepts it: the seller is paid."""
    settlement = await _settlement(conn, lot)
    if settlement.winner != bidder:
        raise StepRefused("not_buyer", "only the buyer confirms receipt", "lot", 403)
    await _require(conn, lot)
    await record_event(conn, lot, "received", now, bidder=bidder)
    await _release(conn, settlement, HOLDING, now, received_at=now)
    return await _require(conn, lot)


async def open_claim(
    conn: AsyncConnection, lot: str, bidder: str, reason: str, text: str, photos: list[str], now: int
) -> Claim:
    """The buyer disputes the car inside the window; the money stays held until it is resolved."""
    settlement = await _settlement(conn, lot)
    if settlement.winner != bidder:
        raise StepRefused("not_buyer", "only the buyer opens a claim", "lot", 403)
    if reason not in CLAIM_REASONS:
        raise StepRefused("bad_claim", f"reason must be one of {', '.join(CLAIM_REASONS)}", "reason", 422)
    guarantee = await _require(conn, lot)
    if guarantee.window_ends_at is not None and now >= guarantee.window_ends_at:
        raise StepRefused("claim_window_closed", f"the claims window of {lot!r} closed", "lot")
    if await get_claim(conn, lot) is not None:
        raise StepRefused("claim_exists", f"lot {lot!r} already has a claim", "lot")
    await _move(conn, lot, HOLDING, CLAIMED, now)
    await conn.execute(sa.insert(claims).values(
        lot=lot, bidder=bidder, reason=reason, text=text, photos=photos, status="open", refund_amount=None, note=None,
        opened_at=now, resolved_at=None))
    await record_event(conn, lot, "claim_opened", now, reason=reason)
    claim = await get_claim(conn, lot)
    assert claim is not None
    return claim


async def resolve_claim(conn: AsyncConnection, lot: str, outcome: str, refund_amount: int | None, note: str, now: int) -> Claim:
    """An auctioneer's decision. `reject`: the money is held again until receipt or the window's
    end; `partial_refund`: that much back to the buyer, the rest of the hammer price to the seller;
    `full_refund`: everything back to the buyer (the car goes back)."""
    settlement = await _settlement(conn, lot)
    claim = await get_claim(conn, lot)
    if claim is None or claim.status != "open":
        raise StepRefused("no_open_claim", f"lot {lot!r} has no open claim", "lot")
    hammer = settlement.hammer_price or 0
    if outcome == "partial_refund" and (refund_amount is None or not 0 < refund_amount < hammer):
        raise StepRefused("bad_claim", "refund_amount is an integer above 0 and below the hammer price", "refund_amount", 422)
    if outcome == "reject":
        await _move(conn, lot, CLAIMED, HOLDING, now)
    elif outcome == "partial_refund":
        assert refund_amount is not None
        await _issue(conn, settlement, PARTIAL_REFUND, refund_amount, now)
        await _release(conn, settlement, CLAIMED, now)
    elif outcome == "full_refund":
        await _move(conn, lot, CLAIMED, REFUNDED, now)
        await _issue(conn, settlement, REFUND, settlement.total_due or 0, now)
    else:
        raise StepRefused("bad_claim", f"outcome must be one of {', '.join(OUTCOMES)}", "outcome", 422)
    amount = refund_amount if outcome == "partial_refund" else None
    await conn.execute(sa.update(claims).where(claims.c.lot == lot).values(
        status="rejected" if outcome == "reject" else outcome, refund_amount=amount, note=note, resolved_at=now))
    await record_event(conn, lot, "claim_resolved", now, outcome=outcome, refund_amount=amount)
    resolved = await get_claim(conn, lot)
    assert resolved is not None
    return resolved


async def due(conn: AsyncConnection, now: int, limit: int = 100) -> list[str]:
    """Lots held past their window with no open claim: the seller is paid."""
    stmt = (
        sa.select(guarantees.c.lot)
        .where(guarantees.c.state == HOLDING, guarantees.c.window_ends_at.is_not(None), guarantees.c.window_ends_at <= now)
        .order_by(guarantees.c.window_ends_at)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).scalars())


async def release_due(conn: AsyncConnection, lot: str, now: int) -> bool:
    """Release one lot whose window ended; False if something else settled it first."""
    guarantee = await get(conn, lot)
    if guarantee is None or guarantee.state != HOLDING or guarantee.window_ends_at is None or now < guarantee.window_ends_at:
        return False
    settlement = await _settlement(conn, lot)
    await record_event(conn, lot, "window_ended", guarantee.window_ends_at)
    await _release(conn, settlement, HOLDING, now)
    return True


async def instructions_of(conn: AsyncConnection, lot: str) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            sa.select(instructions.c.key, instructions.c.kind, instructions.c.amount, instructions.c.created_at)
            .where(instructions.c.lot == lot)
            .order_by(instructions.c.created_at, instructions.c.key)
        )
    ).all()
    return [dict(r._mapping) for r in rows]
