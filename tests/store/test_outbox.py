"""The escrow hand-off against a real HTTP receiver and the embedded JSON-lines sink."""

import asyncio
import contextlib
import json

from auction_engine.store.ledger import outbox_key
from auction_engine.store.outbox import JsonlSink

HASH = "cd" * 32


def sale(lot, price=8_000_000):
    return dict(
        lot=lot,
        result="sold",
        winner="b1",
        winner_paddle="101",
        price=price,
        currency="CNY",
        closed_at=1_700_000_000_000,
        final_seq=12,
        head_hash=HASH,
    )


async def test_delivers_signed_with_idempotency_key_after_refusals(open_store, escrow):
    escrow.refuse = 3
    await escrow.start()
    store = await open_store(escrow_url=escrow.url, escrow_secret=escrow.secret)
    store.start_outbox_worker()
    settlement = await store.record_settlement(**sale("L1"))

    assert await store.wait_delivered("L1", timeout=10)
    entry = await store.outbox_entry("L1")
    assert entry["attempts"] == 4 and entry["last_error"] is None
    assert list(escrow.records) == ["settlement-L1"]
    assert json.loads(escrow.records["settlement-L1"]) == settlement.to_dict()
    assert escrow.requests == 4 and escrow.bad_signatures == 0


async def test_lost_acknowledgements_are_retried_and_counted_once(open_store, escrow):
    escrow.lose_acks = 2
    await escrow.start()
    store = await open_store(escrow_url=escrow.url, escrow_secret=escrow.secret)
    store.start_outbox_worker()
    for i in range(5):
        await store.record_settlement(**sale(f"L{i}"))
    for i in range(5):
        assert await store.wait_delivered(f"L{i}", timeout=10)
    assert sorted(escrow.records) == [outbox_key(f"L{i}") for i in range(5)]
    assert escrow.duplicates == 2


async def test_wrong_secret_is_never_accepted(open_store, escrow):
    await escrow.start()
    store = await open_store(escrow_url=escrow.url, escrow_secret="not-the-secret")
    store.start_outbox_worker()
    await store.record_settlement(**sale("L1"))
    assert not await store.wait_delivered("L1", timeout=0.5)
    entry = await store.outbox_entry("L1")
    assert entry["attempts"] >= 1 and "401" in entry["last_error"]
    assert escrow.records == {}


async def test_escrow_down_then_up(open_store, escrow):
    store = await open_store(escrow_url=escrow.url, escrow_secret=escrow.secret)
    store.start_outbox_worker()
    await store.record_settlement(**sale("L1"))
    while ((await store.outbox_entry("L1"))["attempts"]) < 3:
        await asyncio.sleep(0.02)
    assert (await store.outbox_entry("L1"))["last_error"].startswith("ConnectError")
    await escrow.start()
    assert await store.wait_delivered("L1", timeout=10)
    assert list(escrow.records) == ["settlement-L1"] and escrow.duplicates == 0


async def test_killed_between_write_and_hand_off_is_delivered_after_restart(open_store, escrow):
    first = await open_store(escrow_url=escrow.url, escrow_secret=escrow.secret)
    first.start_outbox_worker()
    await first.record_settlement(**sale("L1"))
    await first.record_settlement(**sale("L2"))
    while (await first.outbox_entry("L2"))["attempts"] < 1:
        await asyncio.sleep(0.02)
    await first.close()

    await escrow.start()
    second = await open_store(escrow_url=escrow.url, escrow_secret=escrow.secret)
    assert (await second.record_settlement(**sale("L1"))).lot == "L1"  # the close replayed on recovery
    second.start_outbox_worker()
    assert await second.wait_delivered("L1", timeout=10)
    assert await second.wait_delivered("L2", timeout=10)
    assert sorted(escrow.records) == ["settlement-L1", "settlement-L2"] and escrow.duplicates == 0
    assert len(await second.list_settlements()) == 2


async def test_two_engines_on_one_database_deliver_each_once(open_store, escrow):
    await escrow.start()
    a = await open_store(escrow_url=escrow.url, escrow_secret=escrow.secret)
    b = await open_store(escrow_url=escrow.url, escrow_secret=escrow.secret)
    for i in range(10):
        await (a if i % 2 else b).record_settlement(**sale(f"L{i}"))
    a.start_outbox_worker()
    b.start_outbox_worker()
    for i in range(10):
        assert await a.wait_delivered(f"L{i}", timeout=10)
    assert len(escrow.records) == 10
    assert escrow.requests == 10  # the claim kept both workers off each other's rows


def jsonl(path):
    """The file's records, skipping a torn line left by a crash."""
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


async def test_jsonl_sink_writes_each_record_once_across_restarts(open_store, tmp_path):
    store = await open_store()
    store.start_outbox_worker()
    settlement = await store.record_settlement(**sale("L1"))
    assert await store.wait_delivered("L1", timeout=5)
    await store.close()

    again = await open_store()
    again.start_outbox_worker()
    await again.record_settlement(**sale("L1"))
    await again.record_settlement(**sale("L2"))
    assert await again.wait_delivered("L2", timeout=5)
    lines = jsonl(tmp_path / "escrow.jsonl")
    assert [line["lot"] for line in lines] == ["L1", "L2"]
    assert lines[0] == {"idempotency_key": "settlement-L1", **settlement.to_dict()}


async def test_jsonl_crash_between_append_and_mark_does_not_duplicate(open_store, tmp_path):
    store = await open_store()
    await store.record_settlement(**sale("L1"))
    row_body = json.dumps(
        (await store.get_settlement("L1")).to_dict(), sort_keys=True, separators=(",", ":")
    ).encode()
    # The append happened, then the process died before marking the row delivered.
    await JsonlSink(tmp_path / "escrow.jsonl").deliver("settlement-L1", row_body)
    (tmp_path / "escrow.jsonl").open("ab").write(b'{"idempotency_key": "settlement-L9", "lot": "L')  # torn
    await store.close()

    again = await open_store()
    again.start_outbox_worker()
    assert await again.wait_delivered("L1", timeout=5)
    await again.record_settlement(**sale("L3"))
    assert await again.wait_delivered("L3", timeout=5)
    assert [line["lot"] for line in jsonl(tmp_path / "escrow.jsonl")] == ["L1", "L3"]


async def test_close_is_idempotent_and_stops_the_worker(open_store):
    store = await open_store()
    store.start_outbox_worker()
    assert store.outbox.running
    await store.close()
    await store.close()
    assert not store.outbox.running
