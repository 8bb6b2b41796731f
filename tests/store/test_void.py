"""ledger.void (Store.void_settlement): a reopened lot's record goes only while escrow cannot have it,
and a held hand-off waits (docs/settlement.md, docs/rules.md "Clerk corrections")."""

import asyncio

from auction_engine.store.db import now_ms
from tests.store.test_outbox import sale


async def test_a_held_sale_is_not_handed_off_and_can_be_voided_then_recorded_again(open_store, escrow):
    await escrow.start()
    store = await open_store(escrow_url=escrow.url, escrow_secret=escrow.secret)
    store.start_outbox_worker()
    held_until = now_ms() + 60_000
    await store.record_settlement(**sale("L1"), hold_until=held_until)
    await asyncio.sleep(0.3)  # the worker polls every 0.05 s: a due row would be gone by now
    assert escrow.requests == 0
    assert not await store.void_settlement("L1", held_until + 1)  # not the hold it was recorded with
    assert await store.void_settlement("L1", held_until)
    assert await store.get_settlement("L1") is None and await store.outbox_entry("L1") is None
    again = await store.record_settlement(**sale("L1", price=9_000_000))
    assert again.hammer_price == 9_000_000
    assert await store.wait_delivered("L1", timeout=10)
    assert list(escrow.records) == ["settlement-L1"]


async def test_a_sale_escrow_may_have_is_never_voided(open_store, escrow):
    await escrow.start()
    store = await open_store(escrow_url=escrow.url, escrow_secret=escrow.secret)
    store.start_outbox_worker()
    await store.record_settlement(**sale("L1"))
    assert await store.wait_delivered("L1", timeout=10)
    assert not await store.void_settlement("L1", now_ms() + 123_457)
    assert (await store.get_settlement("L1")).result == "sold"
    escrow.refuse = 1_000  # L2 is claimed, attempted and retried: in flight or between attempts
    await store.record_settlement(**sale("L2"))
    while (await store.outbox_entry("L2"))["attempts"] == 0 and escrow.requests == 0:
        await asyncio.sleep(0.01)
    assert not await store.void_settlement("L2", now_ms() + 123_457)
    assert await store.outbox_entry("L2") is not None


async def test_a_paid_sale_is_never_voided_and_an_unsold_record_is(store):
    held_until = now_ms() + 60_000
    await store.record_settlement(**sale("L1"), hold_until=held_until)
    await store.mark_paid("L1")
    assert not await store.void_settlement("L1", held_until)
    assert await store.outbox_entry("L1") is not None
    await store.record_settlement(**{**sale("L2"), "result": "unsold", "winner": None, "winner_paddle": None})
    assert await store.void_settlement("L2", held_until)
    assert await store.get_settlement("L2") is None
    assert await store.void_settlement("L3", held_until)  # no record: nothing to void
