"""Outbox rows and settlement history (`handoff.py`), on SQLite and PostgreSQL: a message is queued
once per key, its body is canonical JSON (a retry is the first attempt byte for byte), an unknown
receiver is refused, and a lot's history reads in the order it happened."""

import json

import pytest
import sqlalchemy as sa

from auction_engine.store.handoff import ESCROW, LOGISTICS, canonical, deliveries, enqueue, history, record_event
from auction_engine.store.schema import outbox

DOC = {"lot": "H1", "amount": 10_450_000, "buyer": "王", "at": 1_700_000_000_000}


def test_the_body_is_canonical_whatever_order_the_keys_came_in() -> None:
    shuffled = dict(reversed(list(DOC.items())))
    assert canonical(shuffled) == canonical(DOC) == '{"amount":10450000,"at":1700000000000,"buyer":"王","lot":"H1"}'


async def test_a_message_is_queued_once_per_key_and_the_first_body_is_kept(store) -> None:
    async with store.engine.begin() as conn:
        assert await enqueue(conn, destination=ESCROW, purpose="escrow.settlement", key="settle-H1", lot="H1",
                             doc=DOC, now=1000) is True
        assert await enqueue(conn, destination=ESCROW, purpose="escrow.settlement", key="settle-H1", lot="H1",
                             doc={**DOC, "amount": 1}, now=2000) is False
        assert await enqueue(conn, destination=LOGISTICS, purpose="logistics.order", key="transport-H1", lot="H1",
                             doc={"lot": "H1"}, now=3000) is True
    async with store.engine.connect() as conn:
        bodies = (await conn.execute(sa.select(outbox.c.body).where(outbox.c.key == "settle-H1"))).scalars().all()
        sent = await deliveries(conn, "H1")
    assert [json.loads(b) for b in bodies] == [DOC]
    assert [(d["key"], d["destination"], d["attempts"], d["delivered_at"]) for d in sent] == [
        ("settle-H1", ESCROW, 0, None), ("transport-H1", LOGISTICS, 0, None)]


async def test_a_message_for_an_unknown_receiver_is_refused_and_nothing_is_queued(store) -> None:
    async with store.engine.begin() as conn:
        with pytest.raises(ValueError):
            await enqueue(conn, destination="bank", purpose="escrow.settlement", key="k", lot="H2", doc=DOC, now=1)
    async with store.engine.connect() as conn:
        assert await deliveries(conn, "H2") == []


async def test_a_lots_history_reads_in_the_order_it_was_written_with_its_details(store) -> None:
    async with store.engine.begin() as conn:
        await record_event(conn, "H3", "paid", 2000, by="auctioneer")
        await record_event(conn, "H3", "held", 1000)
        await record_event(conn, "H4", "paid", 1500)
    async with store.engine.connect() as conn:
        assert await history(conn, "H3") == [{"kind": "paid", "at": 2000, "by": "auctioneer"},
                                             {"kind": "held", "at": 1000}]
