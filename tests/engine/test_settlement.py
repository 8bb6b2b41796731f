"""After the hammer: one settlement per lot, handed to escrow exactly once (also across a
kill -9), the paid callback, and the cross-lot credit ledger."""

from __future__ import annotations

import asyncio
import inspect
import json

import pytest

from auction_engine.store import sign_body

from ..conftest import EngineProcess
from ..store.conftest import EscrowReceiver
from .helpers import api, new_lot
from .wsclient import Peer

ESCROW_SECRET = "escrow-secret-for-tests-0123456789"


async def settlements(engine, **params) -> list[dict]:
    async with api(engine) as client:
        return (await client.get("/api/settlements", params=params)).json()["settlements"]


async def wait_for(predicate, timeout: float = 10.0):
    """Poll `predicate` (sync, or returning an awaitable) until it gives something truthy."""
    for _ in range(int(timeout / 0.1)):
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_a_sold_lot_is_settled_once_and_written_once_to_the_escrow_file(engine):
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A", "101"))
    assert (await peer.bid(lot, "a1", amount=5_000_000))["ok"]
    async with api(engine) as client:
        assert (await client.post(f"/api/lots/{lot}/close")).status_code == 200
        again = await client.post(f"/api/lots/{lot}/close")
        assert again.status_code == 409 and again.json()["error"]["code"] in ("lot_closed", "not_allowed")
    records = await wait_for(lambda: settlements(engine))
    assert len(records) == 1
    record = records[0]
    assert (record["lot"], record["result"], record["winner"], record["winner_paddle"], record["hammer_price"]) == (lot, "sold", "A", "101", 5_000_000)
    assert record["total_due"] == record["hammer_price"] + record["premium"] and record["premium"] > 0
    sink = engine.data_dir / "escrow.jsonl"
    lines = await wait_for(lambda: [line for line in sink.read_text().splitlines() if lot in line] if sink.exists() else [])
    assert len(lines) == 1 and json.loads(lines[0])["lot"] == lot
    engine.stop()
    engine.start()
    await asyncio.sleep(0.5)
    assert len([line for line in sink.read_text().splitlines() if lot in line]) == 1
    assert len(await settlements(engine)) == 1


async def test_an_unsold_lot_is_recorded_but_never_sent_to_escrow(engine):
    lot = (await new_lot(engine))["lot"]
    async with api(engine) as client:
        await client.post(f"/api/lots/{lot}/close")
    record = (await wait_for(lambda: settlements(engine)))[0]
    assert record["result"] == "unsold" and record["winner"] is None
    await asyncio.sleep(0.5)
    sink = engine.data_dir / "escrow.jsonl"
    assert not sink.exists() or lot not in sink.read_text()


async def test_pending_approval_then_approve_settles_as_sold_and_tells_the_winner(engine):
    lot = (await new_lot(engine, reserve=9_000_000))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    assert (await peer.bid(lot, "a1", amount=5_000_000))["ok"]
    async with api(engine) as client:
        closed = (await client.post(f"/api/lots/{lot}/close")).json()
        assert closed["result"] == "pending_approval"
        assert (await wait_for(lambda: settlements(engine)))[0]["result"] == "pending_approval"
        assert (await client.post(f"/api/lots/{lot}/approve")).json()["result"] == "sold"
    assert (await peer.next(lambda f: f["type"] == "won"))["price"] == 5_000_000
    record = await wait_for(lambda: settlements(engine, result="sold"))
    assert record[0]["hammer_price"] == 5_000_000


@pytest.fixture
async def escrow_down(tmp_path, redis_url):
    receiver = EscrowReceiver(secret=ESCROW_SECRET)
    proc = EngineProcess(tmp_path, redis_url, env_extra={
        "ESCROW_URL": receiver.url, "ESCROW_SECRET": ESCROW_SECRET,
        "AUCTION_ESCROW_RETRY_BASE_S": "0.05", "AUCTION_ESCROW_RETRY_CAP_S": "0.2",
        "AUCTION_ESCROW_POLL_S": "0.2", "AUCTION_ESCROW_LEASE_S": "1",
    }).start()
    yield proc, receiver
    proc.stop()
    await receiver.stop()


async def test_killed_before_the_hand_off_the_engine_delivers_after_restart_exactly_once(escrow_down):
    engine, receiver = escrow_down
    lots = [(await new_lot(engine))["lot"] for _ in range(3)]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    async with api(engine) as client:
        for lot in lots:
            assert (await peer.bid(lot, f"b-{lot}", amount=3_000_000))["ok"]
            await client.post(f"/api/lots/{lot}/close")
    await wait_for(lambda: settlements(engine, result="sold"))
    await asyncio.sleep(0.5)  # escrow is down: the worker retries meanwhile
    engine.kill()
    receiver.refuse = 2
    await receiver.start()
    engine.start()
    await wait_for(lambda: len(receiver.records) == 3)
    await asyncio.sleep(1.0)
    assert sorted(receiver.records) == sorted(f"settlement-{lot}" for lot in lots)
    assert receiver.bad_signatures == 0
    body = json.loads(receiver.records[f"settlement-{lots[0]}"])
    assert body["lot"] == lots[0] and body["hammer_price"] == 3_000_000


async def test_credit_limit_counts_across_lots_is_released_when_outbid_and_when_paid(escrow_down):
    engine, receiver = escrow_down
    await receiver.start()
    async with api(engine) as client:
        reply = await client.post("/api/bidders", json={"bidder": "D1", "paddle": "501", "credit_limit": 10_000_000})
        assert reply.status_code == 201
        token = reply.json()["token"]
    first, second = (await new_lot(engine))["lot"], (await new_lot(engine))["lot"]
    dealer = await Peer.open(engine.ws_url, token)
    rival = await Peer.open(engine.ws_url, engine.token("bidder", "R"))
    assert (await dealer.bid(first, "d1", maximum=8_000_000))["ok"]
    refused = await dealer.bid(second, "d2", amount=3_000_000)
    assert (refused["ok"], refused["reason"]) == (False, "credit_limit")
    assert (await rival.bid(first, "r1", maximum=9_000_000))["ok"]
    await dealer.next(lambda f: f["type"] == "outbid")
    assert (await dealer.bid(second, "d3", amount=3_000_000))["ok"]
    async with api(engine) as client:
        await client.post(f"/api/lots/{second}/close")
    assert (await dealer.next(lambda f: f["type"] == "won"))["lot"] == second
    over = await dealer.bid(first, "d4", maximum=9_500_000)
    assert over["reason"] == "credit_limit"  # the won, unpaid lot still counts

    await wait_for(lambda: settlements(engine, result="sold"))
    body = json.dumps({"lot": second}).encode()
    async with api(engine, "watcher") as client:
        unsigned = await client.post(f"/api/settlements/{second}/paid", content=body)
        assert unsigned.status_code == 401
        paid = await client.post(f"/api/settlements/{second}/paid", content=body, headers={"X-Signature": sign_body(ESCROW_SECRET, body)})
        assert paid.status_code == 200 and paid.json()["paid_at"] is not None
    assert (await dealer.bid(first, "d5", maximum=9_500_000))["ok"]


async def test_simultaneous_bids_on_two_lots_cannot_both_take_the_same_credit(engine):
    async with api(engine) as client:
        token = (await client.post("/api/bidders", json={"bidder": "D2", "paddle": "502", "credit_limit": 10_000_000})).json()["token"]
    lots = [(await new_lot(engine))["lot"] for _ in range(6)]
    dealer = await Peer.open(engine.ws_url, token)
    for n, lot in enumerate(lots):
        await dealer.send({"type": "bid", "lot": lot, "id": f"c{n}", "max": 4_000_000})
    acks = await wait_for(lambda: (found := [f for f in dealer.frames if f["type"] == "ack"]) and len(found) == len(lots) and found)
    assert sum(a["ok"] for a in acks) == 2
    assert [a["reason"] for a in acks if not a["ok"]] == ["credit_limit"] * 4
