"""Transport orders (物流): a paid lot's car goes to the buyer through a logistics partner.

The order is an outbox row for the `logistics` destination, written with the guarantee when the
payment is recorded. The partner reports `picked_up`, `in_transit`, `delivered` in signed
callbacks; the status only moves forward (a repeat is answered with the current order, a step back
is refused), and `delivered` can start the claims window.
"""

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .db import insert
from .errors import StepRefused
from .handoff import LOGISTICS, enqueue, record_event
from .models import Settlement
from .schema import applications, lots, transports
from .signing import PURPOSE_TRANSPORT

STATUSES = ("ordered", "picked_up", "in_transit", "delivered")
DELIVERED = "delivered"


@dataclass(frozen=True, slots=True)
class Transport:
    lot: str
    status: str
    order: dict[str, Any]
    created_at: int
    updated_at: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def get(conn: AsyncConnection, lot: str) -> Transport | None:
    row = (await conn.execute(sa.select(transports).where(transports.c.lot == lot))).first()
    return Transport(row.lot, row.status, row.order, row.created_at, row.updated_at) if row else None


async def order(conn: AsyncConnection, settlement: Settlement, now: int) -> bool:
    """Write the lot's transport order and its hand-off once; False if it exists."""
    state = (await conn.execute(sa.select(lots.c.state).where(lots.c.lot == settlement.lot))).scalar()
    vehicle = dict((state or {}).get("vehicle") or {})
    dealer = (await conn.execute(sa.select(applications).where(applications.c.bidder == settlement.winner))).first()
    doc = {
        "order": "transport",
        "lot": settlement.lot,
        "vin": vehicle.get("vin"),
        "vehicle": " ".join(str(vehicle[k]) for k in ("year", "make", "model") if vehicle.get(k)),
        "pickup": {"city": vehicle.get("location"), "address": vehicle.get("pickup_address") or vehicle.get("location")},
        "destination": {"city": dealer.city if dealer else None, "company": dealer.company if dealer else None},
        "contact": {"name": dealer.contact_name if dealer else settlement.winner,
                    "phone": dealer.contact_phone if dealer else None},
        "buyer": settlement.winner,
        "issued_at": now,
    }
    stmt = insert(conn, transports).values(lot=settlement.lot, status="ordered", order=doc, created_at=now, updated_at=now)
    added = await conn.execute(stmt.on_conflict_do_nothing(index_elements=[transports.c.lot]).returning(transports.c.lot))
    if added.first() is None:
        return False
    await enqueue(conn, destination=LOGISTICS, purpose=PURPOSE_TRANSPORT, key=f"transport-{settlement.lot}",
                  lot=settlement.lot, doc=doc, now=now)
    await record_event(conn, settlement.lot, "transport_ordered", now)
    return True


async def report(conn: AsyncConnection, lot: str, status: str, now: int) -> tuple[Transport, bool]:
    """The partner's status; (the order, whether it moved). Refused unless forward or the same."""
    if status not in STATUSES[1:]:
        raise StepRefused("bad_status", f"status must be one of {', '.join(STATUSES[1:])}", "status", 422)
    current = await get(conn, lot)
    if current is None:
        raise StepRefused("unknown_transport", f"no transport order for lot {lot!r}", "lot", 404)
    if STATUSES.index(status) < STATUSES.index(current.status):
        raise StepRefused("status_backwards", f"the order is already {current.status}", "status")
    if status == current.status:
        return current, False
    await conn.execute(sa.update(transports).where(transports.c.lot == lot, transports.c.status == current.status)
                       .values(status=status, updated_at=now))
    await record_event(conn, lot, status, now)
    moved = await get(conn, lot)
    assert moved is not None
    return moved, True
