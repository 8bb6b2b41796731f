"""Dealer applications and deposits, on SQLite and PostgreSQL: decisions are made once, buying
power follows the deposits held, a deposit goes back only when nothing is owed and its refund is
handed to escrow once. Transport orders are in test_transport.py."""

import json

import pytest
import sqlalchemy as sa

from auction_engine.store.aftersale import AfterSale
from auction_engine.store.errors import StepRefused
from auction_engine.store.schema import outbox

from .test_guarantee import WINDOW

FIELDS = {"company": "杭州某某汽车贸易有限公司", "credit_code": "91330100MA2B3C4D5E", "contact_name": "王",
          "contact_phone": "13800000000", "city": "杭州", "documents": ["https://docs.example/l.pdf"]}


@pytest.fixture
async def after(store):
    service = AfterSale(store, window_ms=WINDOW, deposit_multiple=10)
    yield service
    await service.close()


async def rows(store, **where) -> list[tuple[str, str, str, dict]]:
    async with store.engine.connect() as conn:
        found = (await conn.execute(sa.select(outbox.c.key, outbox.c.destination, outbox.c.purpose, outbox.c.body)
                                    .where(*(getattr(outbox.c, k) == v for k, v in where.items())).order_by(outbox.c.id))).all()
    return [(r.key, r.destination, r.purpose, json.loads(r.body)) for r in found]


async def test_an_application_is_decided_once_and_a_credit_code_applies_once(store, after):
    application = await after.apply(dict(FIELDS))
    assert application.status == "pending" and application.bidder is None
    with pytest.raises(StepRefused) as twice:
        await after.apply(dict(FIELDS))
    assert twice.value.code == "application_exists"
    rejected = await after.decide(application.id, False, "营业执照过期")
    assert (rejected.status, rejected.reason, rejected.bidder) == ("rejected", "营业执照过期", None)
    with pytest.raises(StepRefused) as again:
        await after.decide(application.id, True, None, "D1")
    assert again.value.code == "already_decided"
    assert [a.status for a in await after.applications()] == ["rejected"]


async def test_buying_power_follows_the_deposits_held_and_a_refund_goes_to_escrow_once(store, after):
    await store.register_bidder("D1", "101", 0)
    first = await after.request_deposit("D1", 500_000)
    second = await after.request_deposit("D1", 200_000)
    assert [(k, d, p) for k, d, p, _ in await rows(store, destination="escrow")] == [
        (f"deposit-{first.id}", "escrow", "escrow.deposit"), (f"deposit-{second.id}", "escrow", "escrow.deposit")]
    with pytest.raises(StepRefused) as wrong:
        await after.deposit_paid(first.id, "D1", 499_999)
    assert (wrong.value.code, wrong.value.field) == ("deposit_mismatch", "amount")
    assert (await after.deposit_paid(first.id, "D1", 500_000))[1] == 5_000_000
    assert (await after.deposit_paid(first.id, "D1", 500_000))[1] == 5_000_000  # a repeated callback changes nothing
    assert (await after.deposit_paid(second.id, "D1", 200_000))[1] == 7_000_000
    assert (await store.get_bidder("D1")).credit_limit == 7_000_000
    with pytest.raises(StepRefused) as owed:
        await after.refund_deposit(first.id, owed=1)
    assert owed.value.code == "deposit_in_use"
    deposit, limit = await after.refund_deposit(first.id, owed=0)
    assert (deposit.status, limit) == ("refunded", 2_000_000)
    with pytest.raises(StepRefused) as twice:
        await after.refund_deposit(first.id, owed=0)
    assert twice.value.code == "wrong_state"
    refunds = await rows(store, purpose="escrow.deposit_refund")
    assert [(k, b["amount"]) for k, _, _, b in refunds] == [(f"deposit-refund-{first.id}", 500_000)]
