import asyncio
import csv
import io

import pytest

from auction_engine.store import (
    BadQuery,
    NotPayable,
    UnknownSettlement,
    export_settlements_csv,
)
from auction_engine.store.ledger import body_of
from auction_engine.store.outbox import OutboxWorker

DAY = 86_400_000
HASH = "ab" * 32


def sale(lot="L1", result="sold", winner="b1", paddle="101", price=10_000_000, closed_at=1_000_000, seq=9):
    return dict(
        lot=lot,
        result=result,
        winner=winner,
        winner_paddle=paddle,
        price=price,
        currency="CNY",
        closed_at=closed_at,
        final_seq=seq,
        head_hash=HASH,
    )



async def test_sold_record_has_premium_total_and_due_date(store):
    s = await store.record_settlement(**sale())
    assert (s.result, s.winner, s.winner_paddle, s.hammer_price) == ("sold", "b1", "101", 10_000_000)
    assert s.premium == 450_000 and s.total_due == 10_450_000
    assert s.payment_due_at == 1_000_000 + 3 * DAY
    assert s.paid_at is None and s.head_hash == HASH and s.final_seq == 9
    assert s.to_dict()["total_due"] == 10_450_000
    assert await store.outbox_entry("L1") is not None


async def test_payment_days_are_configurable(open_store):
    store = await open_store(payment_days=7)
    s = await store.record_settlement(**sale())
    assert s.payment_due_at == 1_000_000 + 7 * DAY


async def test_recording_twice_gives_the_same_answer_and_one_record(store):
    first = await store.record_settlement(**sale())
    again = await store.record_settlement(**sale())
    different = await store.record_settlement(**sale(price=1, winner="b2"))
    assert first == again == different
    assert len(await store.list_settlements()) == 1
    assert await store.pending_deliveries() == 1


async def test_concurrent_records_of_one_lot_write_once(store):
    results = await asyncio.gather(*(store.record_settlement(**sale()) for _ in range(8)))
    assert all(r == results[0] for r in results)
    assert len(await store.list_settlements()) == 1
    assert await store.pending_deliveries() == 1


@pytest.mark.parametrize("result", ["unsold", "withdrawn"])
async def test_results_without_a_sale_are_kept_without_hand_off(store, result):
    s = await store.record_settlement(**sale(result=result, winner=None, paddle=None, price=None))
    assert s.result == result and s.premium is None and s.total_due is None and s.payment_due_at is None
    assert await store.outbox_entry("L1") is None
    assert [x.lot for x in await store.list_settlements(result=result)] == ["L1"]


async def test_pending_approval_then_approved_is_handed_off_once(store):
    pending = await store.record_settlement(**sale(result="pending_approval", seq=9))
    assert pending.result == "pending_approval" and pending.payment_due_at is None
    assert pending.premium == 450_000
    assert await store.outbox_entry("L1") is None

    approved = await store.record_settlement(**sale(result="sold", closed_at=2_000_000, seq=10))
    assert approved.result == "sold"
    assert approved.closed_at == 1_000_000 and approved.decided_at == 2_000_000
    assert approved.payment_due_at == 2_000_000 + 3 * DAY
    assert approved.final_seq == 10
    assert await store.pending_deliveries() == 1

    assert await store.record_settlement(**sale(result="sold", closed_at=3_000_000, seq=11)) == approved
    assert await store.record_settlement(**sale(result="unsold", closed_at=3_000_000, seq=11)) == approved
    assert await store.pending_deliveries() == 1


async def test_pending_approval_then_rejected_is_kept_unsold(store):
    await store.record_settlement(**sale(result="pending_approval"))
    rejected = await store.record_settlement(**sale(result="unsold", closed_at=2_000_000, seq=10))
    assert rejected.result == "unsold" and rejected.premium is None and rejected.payment_due_at is None
    assert await store.outbox_entry("L1") is None
    again = await store.record_settlement(**sale(result="sold", closed_at=3_000_000, seq=11))
    assert again == rejected and await store.outbox_entry("L1") is None


async def test_pending_repeated_stays_pending(store):
    first = await store.record_settlement(**sale(result="pending_approval"))
    assert await store.record_settlement(**sale(result="pending_approval")) == first


@pytest.mark.parametrize(
    "bad",
    [dict(result="won"), dict(price=-5), dict(price=1.5), dict(result="sold", price=None)],
)
async def test_invalid_records_are_refused(store, bad):
    with pytest.raises(ValueError):
        await store.record_settlement(**sale(**bad))
    assert await store.list_settlements() == []


async def test_mark_paid_is_idempotent(store):
    await store.record_settlement(**sale())
    paid = await store.mark_paid("L1")
    assert paid.paid_at is not None and paid.paid
    await asyncio.sleep(0.005)
    assert await store.mark_paid("L1") == paid
    with pytest.raises(UnknownSettlement):
        await store.mark_paid("nope")
    await store.record_settlement(**sale(lot="L2", result="unsold", winner=None, paddle=None, price=None))
    with pytest.raises(NotPayable):
        await store.mark_paid("L2")


async def test_listing_filters_and_unpaid_exposure(store):
    await store.record_settlement(**sale("L1", winner="b1", price=100, closed_at=1_000))
    await store.record_settlement(**sale("L2", winner="b1", price=250, closed_at=2_000))
    await store.record_settlement(**sale("L3", winner="b2", price=400, closed_at=3_000))
    await store.record_settlement(**sale("L4", result="unsold", winner=None, paddle=None, price=None, closed_at=4_000))
    await store.record_settlement(**sale("L5", result="pending_approval", winner="b2", price=900, closed_at=5_000))
    await store.mark_paid("L2")

    lots = lambda records: [s.lot for s in records]  # noqa: E731
    assert lots(await store.list_settlements()) == ["L1", "L2", "L3", "L4", "L5"]
    assert lots(await store.list_settlements(result="sold")) == ["L1", "L2", "L3"]
    assert lots(await store.list_settlements(paid=True)) == ["L2"]
    assert lots(await store.list_settlements(result="sold", paid=False)) == ["L1", "L3"]
    assert lots(await store.list_settlements(winner="b2")) == ["L3", "L5"]
    assert lots(await store.list_settlements(since=2_000, until=4_000)) == ["L2", "L3"]
    assert lots(await store.list_settlements(limit=2, offset=1)) == ["L2", "L3"]
    with pytest.raises(BadQuery):
        await store.list_settlements(result="won")

    assert await store.unpaid_won() == {"b1": 100, "b2": 400}
    assert await store.unpaid_won("b1") == {"b1": 100}
    assert await store.unpaid_won("nobody") == {}


async def test_csv_export(store, tmp_path):
    for i in range(3):
        await store.record_settlement(**sale(f"L{i}", closed_at=1_000 + i))
    out = io.StringIO()
    assert await export_settlements_csv(store, out) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["lot"] for r in rows] == ["L0", "L1", "L2"]
    assert rows[0]["total_due"] == "10450000" and rows[0]["paid_at"] == ""

    path = tmp_path / "ledger.csv"
    assert await export_settlements_csv(store, path, result="unsold") == 0
    assert path.read_text().splitlines()[0].startswith("lot,result,winner")


def test_backoff_is_full_jitter_bounded_by_cap():
    worker = OutboxWorker(None, None, retry_base_s=0.5, retry_cap_s=4.0)
    for attempts, bound in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 4.0)]:
        delays = [worker.backoff_s(attempts) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound / 2


async def test_the_record_names_the_report_version_the_winning_bid_saw_and_escrow_is_told(store):
    """docs/rules.md "Inspection versions": the ledger column (migration 0004) and the hand-off body."""
    s = await store.record_settlement(**sale(), report_version=3)
    assert s.report_version == 3 and (await store.get_settlement("L1")).report_version == 3
    assert '"report_version":3' in body_of(s) and await store.outbox_entry("L1") is not None
    pending = await store.record_settlement(**sale(lot="L2", result="pending_approval"), report_version=2)
    approved = await store.record_settlement(**sale(lot="L2", closed_at=2_000_000), report_version=2)
    assert (pending.report_version, approved.report_version) == (2, 2)
    unsold = await store.record_settlement(**sale(lot="L3", result="unsold", winner=None, paddle=None, price=None))
    assert unsold.report_version is None
