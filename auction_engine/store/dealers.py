"""Dealer qualification (资质审核) and deposits (保证金).

A dealer applies with its company's particulars; an auctioneer approves (the dealer becomes a
bidder, with a credit limit of zero until a deposit is held) or rejects with a reason. A deposit is
collected by escrow: a `deposit` hand-off out, a signed callback back; buying power is a multiple of
the deposits held. A deposit goes back only when the dealer owes nothing and leads nothing.
"""

import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .errors import StepRefused
from .handoff import ESCROW, enqueue
from .schema import applications, bidders, deposits
from .signing import PURPOSE_DEPOSIT, PURPOSE_DEPOSIT_REFUND

# GB 32100-2015: 18 characters of digits and capitals without I, O, S, V, Z.
CREDIT_CODE = re.compile(r"[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}")
MAX_DOCUMENTS = 20


@dataclass(frozen=True, slots=True)
class Application:
    id: str
    company: str
    credit_code: str
    contact_name: str
    contact_phone: str
    city: str
    documents: list[str]
    status: str
    reason: str | None
    bidder: str | None
    created_at: int
    decided_at: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Deposit:
    id: str
    bidder: str
    amount: int
    status: str
    created_at: int
    paid_at: int | None
    refunded_at: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _application(row: Any) -> Application:
    return Application(**{name: row._mapping[name] for name in Application.__dataclass_fields__})


def _deposit(row: Any) -> Deposit:
    return Deposit(**{name: row._mapping[name] for name in Deposit.__dataclass_fields__})


async def apply(conn: AsyncConnection, fields: dict[str, Any], now: int) -> Application:
    """A new pending application (fields already checked by the caller); one per credit code."""
    taken = (await conn.execute(sa.select(applications.c.id).where(applications.c.credit_code == fields["credit_code"]))).first()
    if taken is not None:
        raise StepRefused("application_exists", "this unified social credit code has applied already", "credit_code")
    app_id = "A" + secrets.token_hex(8).upper()
    await conn.execute(sa.insert(applications).values(
        id=app_id, status="pending", reason=None, bidder=None, created_at=now, decided_at=None, **fields))
    return await get_application(conn, app_id)


async def get_application(conn: AsyncConnection, app_id: str) -> Application:
    row = (await conn.execute(sa.select(applications).where(applications.c.id == app_id))).first()
    if row is None:
        raise StepRefused("unknown_application", f"no application {app_id!r}", "application", 404)
    return _application(row)


async def list_applications(conn: AsyncConnection, status: str | None = None) -> list[Application]:
    stmt = sa.select(applications).order_by(applications.c.created_at, applications.c.id)
    if status:
        stmt = stmt.where(applications.c.status == status)
    return [_application(r) for r in (await conn.execute(stmt)).all()]


async def decide(
    conn: AsyncConnection, app_id: str, approve: bool, reason: str | None, bidder: str | None, now: int
) -> Application:
    """Approve (naming the bidder id it becomes) or reject, once: a decided application stays decided."""
    done = await conn.execute(
        sa.update(applications).where(applications.c.id == app_id, applications.c.status == "pending")
        .values(status="approved" if approve else "rejected", reason=reason, bidder=bidder if approve else None, decided_at=now)
    )
    if done.rowcount != 1:
        current = await get_application(conn, app_id)
        raise StepRefused("already_decided", f"application {app_id!r} is {current.status}", "application")
    return await get_application(conn, app_id)


async def dealer_of(conn: AsyncConnection, bidder: str) -> Application | None:
    row = (await conn.execute(sa.select(applications).where(applications.c.bidder == bidder))).first()
    return _application(row) if row else None


async def request_deposit(conn: AsyncConnection, bidder: str, amount: int, currency: str, now: int) -> Deposit:
    """A pending deposit and its hand-off to escrow (which collects it and calls back)."""
    deposit_id = "D" + secrets.token_hex(8).upper()
    await conn.execute(sa.insert(deposits).values(
        id=deposit_id, bidder=bidder, amount=amount, status="pending", created_at=now, paid_at=None, refunded_at=None))
    doc = {"deposit_id": deposit_id, "bidder": bidder, "amount": amount, "currency": currency, "issued_at": now}
    await enqueue(conn, destination=ESCROW, purpose=PURPOSE_DEPOSIT, key=f"deposit-{deposit_id}", lot=deposit_id,
                  doc=doc, now=now)
    return await get_deposit(conn, deposit_id)


async def get_deposit(conn: AsyncConnection, deposit_id: str) -> Deposit:
    row = (await conn.execute(sa.select(deposits).where(deposits.c.id == deposit_id))).first()
    if row is None:
        raise StepRefused("unknown_deposit", f"no deposit {deposit_id!r}", "deposit_id", 404)
    return _deposit(row)


async def deposits_of(conn: AsyncConnection, bidder: str) -> list[Deposit]:
    stmt = sa.select(deposits).where(deposits.c.bidder == bidder).order_by(deposits.c.created_at, deposits.c.id)
    return [_deposit(r) for r in (await conn.execute(stmt)).all()]


async def _set_limit(conn: AsyncConnection, bidder: str, multiple: int) -> int:
    held = (
        await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(deposits.c.amount), 0))
                           .where(deposits.c.bidder == bidder, deposits.c.status == "held"))
    ).scalar_one()
    limit = int(held) * multiple
    await conn.execute(sa.update(bidders).where(bidders.c.bidder == bidder).values(credit_limit=limit))
    return limit


async def deposit_paid(
    conn: AsyncConnection, deposit_id: str, bidder: str, amount: int, multiple: int, now: int
) -> tuple[Deposit, int]:
    """Escrow holds the deposit: (the deposit, the bidder's new credit limit). A repeat changes nothing."""
    deposit = await get_deposit(conn, deposit_id)
    if (deposit.bidder, deposit.amount) != (bidder, amount):
        field = "amount" if deposit.bidder == bidder else "bidder"
        raise StepRefused("deposit_mismatch", "the callback does not match this deposit", field)
    await conn.execute(sa.update(deposits).where(deposits.c.id == deposit_id, deposits.c.status == "pending")
                       .values(status="held", paid_at=now))
    return await get_deposit(conn, deposit_id), await _set_limit(conn, bidder, multiple)


async def refund_deposit(conn: AsyncConnection, deposit_id: str, owed: int, multiple: int, now: int) -> tuple[Deposit, int]:
    """Give a held deposit back, only when `owed` (unpaid wins plus standing bids) is zero."""
    deposit = await get_deposit(conn, deposit_id)
    if deposit.status != "held":
        raise StepRefused("wrong_state", f"deposit {deposit_id!r} is {deposit.status}, not held", "deposit_id")
    if owed > 0:
        raise StepRefused("deposit_in_use", "the dealer owes or leads something: pay or be outbid first", "deposit_id")
    done = await conn.execute(sa.update(deposits).where(deposits.c.id == deposit_id, deposits.c.status == "held")
                              .values(status="refunded", refunded_at=now))
    if done.rowcount != 1:
        raise StepRefused("wrong_state", f"deposit {deposit_id!r} is no longer held", "deposit_id")
    doc = {"deposit_id": deposit_id, "bidder": deposit.bidder, "amount": deposit.amount, "issued_at": now}
    await enqueue(conn, destination=ESCROW, purpose=PURPOSE_DEPOSIT_REFUND, key=f"deposit-refund-{deposit_id}",
                  lot=deposit_id, doc=doc, now=now)
    return await get_deposit(conn, deposit_id), await _set_limit(conn, deposit.bidder, multiple)
