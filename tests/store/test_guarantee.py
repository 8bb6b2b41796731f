"""The guarantee after payment, on SQLite and PostgreSQL: the seller is paid only after receipt or
the window's end, claims inside the window only, each instruction once, and a refund and a release
of one settlement never both (the database refuses the second, whichever path writes it)."""

import json

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from auction_engine.store.aftersale import DAY_MS, AfterSale
from auction_engine.store.errors import StepRefused
from auction_engine.store.schema import instructions, outbox

from .conftest import lot_state

WINDOW = 7 * DAY_MS


async def paid_lot(store, lot: str, price: int = 10_000_000) -> int:
    """A sold lot, won by A and paid; returns when escrow's payment was recorded."""
    await store.upsert_lot(lot_state(lot, status="closed", result="sold", price=price))
    await store.record_settlement(lot=lot, result="sold", winner="A", winner_paddle="101", price=price, currency="CNY",
                                  closed_at=1_764_000_000_000, final_seq=7, head_hash="ab" * 32)
    return (await store.mark_paid(lot)).paid_at


@pytest.fixture
async def after(store):
    service = AfterSale(store, window_ms=WINDOW)
    yield service
    await service.close()


async def escrow_rows(store, lot: str) -> list[tuple[str, str, dict]]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox.c.key, outbox.c.purpose, outbox.c.body)
                                   .where(outbox.c.lot == lot, outbox.c.destination == "escrow")
                                   .order_by(outbox.c.id))).all()
    return [(r.key, r.purpose, json.loads(r.body)) for r in rows]


async def test_the_seller_is_never_released_before_receipt_or_the_windows_end(store, after):
    paid_at = await paid_lot(store, "G1")
    await after.on_paid("G1")
    await after.run_once(now=paid_at + WINDOW - 1)
    assert (await after.record("G1"))["guarantee"]["state"] == "holding"
    assert [k for k, _, _ in await escrow_rows(store, "G1")] == ["settlement-G1"]
    await after.run_once(now=paid_at + WINDOW)
    record = await after.record("G1")
    assert record["guarantee"]["state"] == "released"
    assert [(i["kind"], i["amount"]) for i in record["instructions"]] == [("release", 10_000_000)]
    key, purpose, body = (await escrow_rows(store, "G1"))[-1]
    assert (key, purpose, body["payee"], body["amount"]) == ("release-G1", "escrow.release", "seller", 10_000_000)
    await after.run_once(now=paid_at + 2 * WINDOW)
    assert len(await escrow_rows(store, "G1")) == 2


async def test_receipt_releases_at_once_and_only_the_buyer_confirms(store, after):
    await paid_lot(store, "G2")
    await after.on_paid("G2")
    with pytest.raises(StepRefused) as refused:
        await after.confirm_receipt("G2", "B")
    assert refused.value.code == "not_buyer"
    assert (await after.confirm_receipt("G2", "A")).state == "released"
    with pytest.raises(StepRefused) as again:
        await after.confirm_receipt("G2", "A")
    assert again.value.code == "wrong_state"
    assert [k for k, _, _ in await escrow_rows(store, "G2")] == ["settlement-G2", "release-G2"]


async def test_a_claim_after_the_window_is_refused(store, after):
    paid_at = await paid_lot(store, "G3")
    await after.on_paid("G3")
    with pytest.raises(StepRefused) as refused:
        await after.open_claim("G3", "A", "not_as_described", "late", [], now=paid_at + WINDOW)
    assert refused.value.code == "claim_window_closed"
    assert (await after.record("G3"))["claim"] is None
    claim = await after.open_claim("G3", "A", "undisclosed_flood", "water line in the boot", ["https://img.example/1.jpg"],
                                   now=paid_at + WINDOW - 1)
    assert claim.status == "open"
    await after.run_once(now=paid_at + 2 * WINDOW)
    assert (await after.record("G3"))["guarantee"]["state"] == "claimed"  # an open claim holds the money past the window


async def test_a_full_refund_is_one_refund_and_never_a_release(store, after):
    paid_at = await paid_lot(store, "G4")
    await after.on_paid("G4")
    await after.open_claim("G4", "A", "title_problem", "the title is pledged", [], now=paid_at + 1)
    await after.resolve_claim("G4", "full_refund", None, "title not clear", now=paid_at + 2)
    await after.run_once(now=paid_at + 2 * WINDOW)
    with pytest.raises(StepRefused):
        await after.confirm_receipt("G4", "A")
    record = await after.record("G4")
    assert record["guarantee"]["state"] == "refunded"
    total_due = record["settlement"]["total_due"]
    assert [(i["kind"], i["amount"]) for i in record["instructions"]] == [("refund", total_due)]
    assert [h["kind"] for h in record["history"]] == ["paid", "held", "transport_ordered", "claim_opened", "refund",
                                                     "claim_resolved", "contract"]


async def test_a_partial_refund_then_the_rest_of_the_hammer_price_is_released(store, after):
    paid_at = await paid_lot(store, "G5", price=10_000_000)
    await after.on_paid("G5")
    await after.open_claim("G5", "A", "undisclosed_accident", "rear bumper repainted", [], now=paid_at + 1)
    with pytest.raises(StepRefused) as bad:
        await after.resolve_claim("G5", "partial_refund", 10_000_000, "too much", now=paid_at + 2)
    assert bad.value.field == "refund_amount"
    await after.resolve_claim("G5", "partial_refund", 300_000, "repaint", now=paid_at + 2)
    rows = await escrow_rows(store, "G5")
    assert [(k, p, b["amount"]) for k, p, b in rows[1:]] == [
        ("partial_refund-G5", "escrow.partial_refund", 300_000), ("release-G5", "escrow.release", 9_700_000)]


async def test_a_rejected_claim_holds_the_money_until_the_window_ends(store, after):
    paid_at = await paid_lot(store, "G6")
    await after.on_paid("G6")
    await after.open_claim("G6", "A", "other", "smell", [], now=paid_at + 1)
    await after.resolve_claim("G6", "reject", None, "as described", now=paid_at + 2)
    await after.run_once(now=paid_at + 3)
    assert (await after.record("G6"))["guarantee"]["state"] == "holding"
    await after.run_once(now=paid_at + WINDOW)
    assert (await after.record("G6"))["guarantee"]["state"] == "released"


async def test_the_database_refuses_a_refund_and_a_release_of_one_settlement(store, after):
    await paid_lot(store, "G7")
    await after.on_paid("G7")
    await after.confirm_receipt("G7", "A")
    async with store.engine.connect() as conn:
        with pytest.raises(IntegrityError):
            async with conn.begin():
                await conn.execute(sa.insert(instructions).values(key="refund-G7", lot="G7", kind="refund", final_lot="G7",
                                                                  amount=1, created_at=1))
        with pytest.raises(IntegrityError):  # a release or refund must name its lot as final: no way around the UNIQUE
            async with conn.begin():
                await conn.execute(sa.insert(instructions).values(key="refund-G7b", lot="G7", kind="refund", final_lot=None,
                                                                  amount=1, created_at=1))
    async with store.engine.connect() as conn:
        kinds = (await conn.execute(sa.select(instructions.c.kind).where(instructions.c.lot == "G7"))).scalars().all()
    assert kinds == ["release"]


async def test_a_refund_racing_a_release_leaves_exactly_one(store, after):
    """The receipt and a full refund of one lot, at once from two services (two engine processes):
    one of them is refused, by the state check or by the constraint, and nothing of it stays."""
    import asyncio

    paid_at = await paid_lot(store, "G8")
    await after.on_paid("G8")
    await after.open_claim("G8", "A", "other", "x", [], now=paid_at + 1)
    await after.resolve_claim("G8", "reject", None, "no", now=paid_at + 2)
    other = AfterSale(store, window_ms=WINDOW)
    try:
        outcomes = await asyncio.gather(after.confirm_receipt("G8", "A"), other.run_once(now=paid_at + WINDOW),
                                        return_exceptions=True)
    finally:
        await other.close()
    assert not [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, StepRefused)]
    record = await after.record("G8")
    assert [i["kind"] for i in record["instructions"]] == ["release"]
    assert [k for k, _, _ in await escrow_rows(store, "G8")] == ["settlement-G8", "release-G8"]
