"""Transport orders (`transport.py`), on SQLite and PostgreSQL: a paid lot gets one order, handed
to logistics once; its status only moves forward, and delivery can start the claims window."""

import pytest

from auction_engine.store.aftersale import AfterSale
from auction_engine.store.errors import StepRefused

from .conftest import lot_state
from .test_dealers import FIELDS, rows
from .test_guarantee import WINDOW, paid_lot


@pytest.fixture
async def after(store):
    service = AfterSale(store, window_ms=WINDOW, deposit_multiple=10)
    yield service
    await service.close()


async def test_a_paid_lot_gets_one_transport_order_whose_status_only_moves_forward(store, after):
    application = await after.apply(dict(FIELDS))
    await store.register_bidder("A", "101", 0)
    await after.decide(application.id, True, None, "A")
    await paid_lot(store, "T1")
    await after.on_paid("T1")
    await after.on_paid("T1")
    orders = await rows(store, destination="logistics")
    assert [(k, p) for k, _, p, _ in orders] == [("transport-T1", "logistics.order")]
    order = orders[0][3]
    assert (order["vin"], order["pickup"]["city"], order["destination"], order["contact"]["phone"]) == (
        lot_state("T1")["vehicle"]["vin"], "上海", {"city": "杭州", "company": FIELDS["company"]}, "13800000000")
    assert (await after.transport_status("T1", "in_transit")).status == "in_transit"  # a step may be skipped, forward
    assert (await after.transport_status("T1", "in_transit")).status == "in_transit"  # a repeat answers the order
    with pytest.raises(StepRefused) as back:
        await after.transport_status("T1", "picked_up")
    assert back.value.code == "status_backwards"
    with pytest.raises(StepRefused) as bad:
        await after.transport_status("T1", "lost")
    assert bad.value.code == "bad_status"


async def test_delivery_starts_the_claims_window_when_configured_to(store):
    after = AfterSale(store, window_ms=WINDOW, window_from="delivered")
    try:
        paid_at = await paid_lot(store, "T2")
        await after.on_paid("T2")
        assert (await after.record("T2"))["guarantee"]["window_ends_at"] is None
        await after.run_once(now=paid_at + 10 * WINDOW)  # no window yet: nothing is released
        assert (await after.record("T2"))["guarantee"]["state"] == "holding"
        await after.transport_status("T2", "delivered", now=paid_at + 1000)
        assert (await after.record("T2"))["guarantee"]["window_ends_at"] == paid_at + 1000 + WINDOW
        await after.run_once(now=paid_at + 1000 + WINDOW)
        assert (await after.record("T2"))["guarantee"]["state"] == "released"
    finally:
        await after.close()
