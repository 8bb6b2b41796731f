"""The contract of a sold lot, on SQLite and PostgreSQL: rendered once the sale can no longer be
voided, stored once with its SHA-256 in the ledger, the same bytes on every later read."""

import asyncio
import hashlib
import io

import pypdf
import pytest
import sqlalchemy as sa

from auction_engine.store.aftersale import AfterSale
from auction_engine.store.contract import Facts, render, yuan
from auction_engine.store.db import now_ms
from auction_engine.store.errors import StepRefused
from auction_engine.store.models import Settlement
from auction_engine.store.schema import settlement_events, settlements

from .conftest import lot_state


async def test_the_renderer_process_is_started_and_fed_off_the_event_loop(monkeypatch):
    """The pool spawns its process on the first submit, about 35 ms; `run_in_executor` submitted on the
    loop, and a sale's bids waited behind it at its first close."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    from auction_engine.store import aftersale

    submitted_on: list[int] = []

    class Recording(ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            submitted_on.append(threading.get_ident())
            return super().submit(fn, *args, **kwargs)

    pool = Recording(1, mp_context=multiprocessing.get_context("spawn"))
    monkeypatch.setattr(aftersale, "_renderer", lambda: pool)
    settlement = Settlement("L1", "sold", "A", "101", 100_000, 5_000, 105_000, "CNY", 1, 1, 3, "ab" * 32, 2, None)
    try:
        pdf = await aftersale.render_off_loop(Facts(settlement, "2021 比亚迪 汉", {}, "甲公司", "91310000000000000X", 7))
    finally:
        pool.shutdown()
    assert pdf == render(Facts(settlement, "2021 比亚迪 汉", {}, "甲公司", "91310000000000000X", 7))
    assert submitted_on and threading.get_ident() not in submitted_on


def test_amounts_are_written_from_minor_units_without_floats():
    assert [yuan(v, "CNY") for v in (10_450_000, 5, 0, None)] == ["CNY 104,500.00", "CNY 0.05", "CNY 0.00", "-"]


def test_the_same_facts_render_the_same_bytes():
    """Dated by the decision, not the clock: anyone holding the facts can render the PDF again and
    compare it with the digest in the ledger."""
    settlement = Settlement("L1", "sold", "A", "101", 100_000, 5_000, 105_000, "CNY", 1, 1, 3, "ab" * 32, 2, None)
    facts = Facts(settlement, "2021 比亚迪 汉", {"vin": "LGXCE4CB5N0123456"}, "甲公司", "91310000000000000X", 7)
    first = render(facts)
    assert first == render(facts)
    text = pypdf.PdfReader(io.BytesIO(first)).pages[0].extract_text().replace("\x00", "")
    assert "比亚迪" in "".join(text.split()) and "甲公司" in text


async def test_a_contract_waits_for_the_reopen_window_then_is_kept_once(store):
    after = AfterSale(store)
    try:
        await store.upsert_lot(lot_state("C1", status="closed", result="sold", price=9_000_000))
        await store.record_settlement(lot="C1", result="sold", winner="A", winner_paddle="101", price=9_000_000,
                                      currency="CNY", closed_at=now_ms(), final_seq=9, head_hash="cd" * 32,
                                      hold_until=now_ms() + 60_000)
        with pytest.raises(StepRefused) as pending:
            await after.contract("C1")
        assert pending.value.code == "contract_pending"
        await after.run_once()  # the worker skips it too, and fails nothing
        await store.upsert_lot(lot_state("C2", status="closed", result="sold", price=9_000_000))
        await store.record_settlement(lot="C2", result="sold", winner="A", winner_paddle="101", price=9_000_000,
                                      currency="CNY", closed_at=now_ms(), final_seq=9, head_hash="ef" * 32)
        await after.run_once()
        pdf, digest = await after.contract("C2")
        assert digest == hashlib.sha256(pdf).hexdigest() and (await after.contract("C2")) == (pdf, digest)
        async with store.engine.connect() as conn:
            stored = (await conn.execute(sa.select(settlements.c.lot, settlements.c.contract_sha256)
                                         .where(settlements.c.lot.in_(["C1", "C2"])).order_by(settlements.c.lot))).all()
            kinds = (await conn.execute(sa.select(settlement_events.c.kind).where(settlement_events.c.lot == "C2"))).scalars()
            events = list(kinds).count("contract")
        assert [tuple(r) for r in stored] == [("C1", None), ("C2", digest)] and events == 1
    finally:
        await after.close()


async def test_while_bids_come_in_contracts_wait_and_all_render_once_the_node_is_quiet(store):
    """A sale's 500 lots close within seconds; rendering their contracts then took a core from the
    bids still running (docs/performance.md "Round twelve"). The worker waits for the node to be
    quiet; a buyer's download never waits for it."""
    bidding = {"now": True}
    asked: list[float] = []

    def busy(quiet_s: float) -> bool:
        asked.append(quiet_s)
        return bidding["now"]

    after = AfterSale(store, busy=busy, quiet_s=4.0)
    try:
        await sold(store, "T1", "T2", "T3")
        await after.run_once()
        assert await rendered(store) == [], "no contract ahead of its download while bids come in"
        pdf, digest = await after.contract("T3")  # a buyer's download renders at once, busy or not
        assert digest == hashlib.sha256(pdf).hexdigest() and await rendered(store) == ["T3"]
        bidding["now"] = False
        await after.run_once()
        assert await rendered(store) == ["T1", "T2", "T3"]
        assert set(asked) == {4.0}
    finally:
        await after.close()


async def test_on_a_node_never_quiet_contracts_past_their_deadline_render_one_per_turn(store):
    after = AfterSale(store, busy=lambda quiet_s: True, defer_max_s=60, busy_every_s=0.3)
    try:
        await sold(store, "U1", "U2")
        await after.run_once()
        assert await rendered(store) == [], "within the deadline: they wait"
        later = now_ms() + 61_000
        await after.run_once(now=later)
        await after.run_once(now=later)
        assert await rendered(store) == ["U1"], "past it: the oldest sale's first, then the trickle's turn"
        await asyncio.sleep(0.35)
        await after.run_once(now=later)
        assert await rendered(store) == ["U1", "U2"]
    finally:
        await after.close()


async def sold(store, *lots: str) -> None:
    for n, lot in enumerate(lots):
        await store.upsert_lot(lot_state(lot, status="closed", result="sold", price=9_000_000))
        await store.record_settlement(lot=lot, result="sold", winner="A", winner_paddle="101", price=9_000_000,
                                      currency="CNY", closed_at=now_ms() + n, final_seq=9, head_hash="ab" * 32)


async def rendered(store) -> list[str]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.select(settlements.c.lot).where(settlements.c.contract_sha256.is_not(None))
                                  .order_by(settlements.c.lot))
        return list(rows.scalars())
