"""After the hammer: one settlement per lot, handed to escrow exactly once (also across a
kill -9), the paid callback, and the cross-lot credit ledger."""

from __future__ import annotations

import asyncio
import inspect
import json

import pytest

from auction_engine.store import PURPOSE_PAID, sign
from auction_engine.store.db import now_ms

from ..conftest import EngineProcess
from ..store.conftest import EscrowReceiver
from .helpers import api, new_lot
from .wsclient import Peer

ESCROW_SECRET = "escrow-secret-for-tests-0123456789"


async def settlements(engine, **params) -> list[dict]:
    async with api(engine) as client:
        return (await client.get("/api/settlements", params=params)).json()["settlements"]


def payment(record: dict, **changes: object) -> bytes:
    """The paid callback's body for a settlement record, as escrow sends it."""
    doc = {
        "lot": record["lot"],
        "settlement_id": f"settlement-{record['lot']}",
        "amount_paid": record["total_due"],
        "paid_at": now_ms(),
    }
    return json.dumps({**doc, **changes}).encode()


def signed(secret: str, body: bytes, skew_ms: int = 0) -> str:
    return sign(secret, PURPOSE_PAID, body, now_ms=now_ms() + skew_ms)


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
    recorded = (record["lot"], record["result"], record["winner"], record["winner_paddle"], record["hammer_price"])
    assert recorded == (lot, "sold", "A", "101", 5_000_000)
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

    record = (await wait_for(lambda: settlements(engine, result="sold")))[0]
    body = payment(record)
    async with api(engine, "watcher") as client:
        unsigned = await client.post(f"/api/settlements/{second}/paid", content=body)
        assert unsigned.status_code == 401
        signature = {"X-Signature": signed(ESCROW_SECRET, body)}
        paid = await client.post(f"/api/settlements/{second}/paid", content=body, headers=signature)
        assert paid.status_code == 200 and paid.json()["paid_at"] is not None
    assert (await dealer.bid(first, "d5", maximum=9_500_000))["ok"]


async def test_simultaneous_bids_on_two_lots_cannot_both_take_the_same_credit(engine):
    async with api(engine) as client:
        dealer_record = {"bidder": "D2", "paddle": "502", "credit_limit": 10_000_000}
        token = (await client.post("/api/bidders", json=dealer_record)).json()["token"]
    lots = [(await new_lot(engine))["lot"] for _ in range(6)]
    dealer = await Peer.open(engine.ws_url, token)
    for n, lot in enumerate(lots):
        await dealer.send({"type": "bid", "lot": lot, "id": f"c{n}", "max": 4_000_000})
    acks = await wait_for(
        lambda: (found := [f for f in dealer.frames if f["type"] == "ack"]) and len(found) == len(lots) and found
    )
    assert sum(a["ok"] for a in acks) == 2
    assert [a["reason"] for a in acks if not a["ok"]] == ["credit_limit"] * 4


def forged_from_token(token: str) -> tuple[bytes, str]:
    """An HS256 JWT is HMAC(auth secret, header.payload): the (body, signature) pair it hands out."""
    import base64

    header_payload, _, mac = token.rpartition(".")
    digest = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
    return header_payload.encode(), "sha256=" + digest.hex()


async def test_a_bidder_cannot_mark_their_won_lot_paid_with_their_own_token(engine):
    lot = (await new_lot(engine))["lot"]
    token = engine.token("bidder", "A", "101")
    peer = await Peer.open(engine.ws_url, token)
    assert (await peer.bid(lot, "a1", amount=5_000_000))["ok"]
    async with api(engine) as client:
        assert (await client.post(f"/api/lots/{lot}/close")).status_code == 200
    await wait_for(lambda: settlements(engine, result="sold"))
    body, signature = forged_from_token(token)
    async with api(engine, "watcher") as client:
        forged = await client.post(f"/api/settlements/{lot}/paid", content=body, headers={"X-Signature": signature})
    assert forged.status_code == 401
    assert (await settlements(engine, result="sold"))[0]["paid_at"] is None


async def sold_lot(engine, price: int = 5_000_000) -> dict:
    """A lot won by bidder A at `price`, closed, with its settlement record."""
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A", "101"))
    assert (await peer.bid(lot, f"a-{lot}", amount=price))["ok"]
    async with api(engine) as client:
        assert (await client.post(f"/api/lots/{lot}/close")).status_code == 200
    return (await wait_for(lambda: settlements(engine, result="sold")))[-1]


async def post_paid(engine, lot: str, body: bytes, signature: str | None):
    headers = {"X-Signature": signature} if signature is not None else {}
    async with api(engine, "watcher") as client:
        return await client.post(f"/api/settlements/{lot}/paid", content=body, headers=headers)


def escrow_secret_file(engine) -> str:
    return (engine.data_dir / "escrow-secret").read_text().strip()


async def test_without_escrow_secret_a_separate_private_one_is_created_in_the_data_dir(engine):
    from ..conftest import SECRET

    path = engine.data_dir / "escrow-secret"
    assert path.stat().st_mode & 0o777 == 0o600
    assert escrow_secret_file(engine) != SECRET and len(escrow_secret_file(engine)) >= 32


def test_escrow_secret_equal_to_the_auth_secret_refuses_to_start(tmp_path, redis_url):
    from ..conftest import SECRET

    with pytest.raises(RuntimeError, match="ESCROW_SECRET equals the token secret"):
        EngineProcess(tmp_path, redis_url, env_extra={"ESCROW_SECRET": SECRET}).start()


async def test_a_signed_payment_marks_the_lot_paid_once_and_its_replay_is_refused(engine):
    record = await sold_lot(engine)
    body = payment(record)
    header = signed(escrow_secret_file(engine), body)
    paid = await post_paid(engine, record["lot"], body, header)
    assert paid.status_code == 200 and paid.json()["paid_at"] is not None
    replay = await post_paid(engine, record["lot"], body, header)
    assert replay.status_code == 401
    assert replay.json()["error"] == {"code": "bad_signature", "message": "X-Signature replayed", "field": "X-Signature"}


async def test_the_engines_own_hand_off_signature_is_refused_as_a_paid_callback(engine):
    from auction_engine.store import PURPOSE_SETTLEMENT

    record = await sold_lot(engine)
    body = payment(record)
    handoff = sign(escrow_secret_file(engine), PURPOSE_SETTLEMENT, body, now_ms=now_ms())
    refused = await post_paid(engine, record["lot"], body, handoff)
    assert (refused.status_code, refused.json()["error"]["message"]) == (401, "X-Signature bad")
    assert (await settlements(engine, paid="true")) == []


@pytest.mark.parametrize("skew_ms", [-6 * 60_000, 6 * 60_000])
async def test_a_payment_signed_more_than_five_minutes_off_is_stale(engine, skew_ms):
    record = await sold_lot(engine)
    body = payment(record)
    refused = await post_paid(engine, record["lot"], body, signed(escrow_secret_file(engine), body, skew_ms))
    assert (refused.status_code, refused.json()["error"]["message"]) == (401, "X-Signature stale")


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"amount_paid": 1}, "amount_paid"),
        ({"settlement_id": "settlement-other"}, "settlement_id"),
        ({"lot": "another-lot"}, "lot"),
    ],
)
async def test_a_signed_payment_that_disagrees_with_the_ledger_is_a_conflict_and_changes_nothing(engine, changes, field):
    record = await sold_lot(engine)
    body = payment(record, **changes)
    refused = await post_paid(engine, record["lot"], body, signed(escrow_secret_file(engine), body))
    assert refused.status_code == 409
    assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == ("payment_mismatch", field)
    assert (await settlements(engine, paid="true")) == []


@pytest.mark.parametrize(
    "body, field",
    [
        (b"", None),
        (b"[]", None),
        (b'{"lot": "X"}', "settlement_id"),
        (b'{"lot": "X", "settlement_id": "s", "amount_paid": "5", "paid_at": 1}', "amount_paid"),
        (b'{"lot": "X", "settlement_id": "s", "amount_paid": true, "paid_at": 1}', "amount_paid"),
        (b'{"lot": "X", "settlement_id": "s", "amount_paid": 5, "paid_at": 1, "x": 1}', "x"),
    ],
)
async def test_a_signed_body_that_is_not_a_payment_document_is_unprocessable(engine, body, field):
    refused = await post_paid(engine, "X", body, signed(escrow_secret_file(engine), body))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "bad_payment" and refused.json()["error"].get("field") == field


async def test_a_payment_for_an_unsold_lot_is_a_conflict_not_a_server_error(engine):
    lot = (await new_lot(engine))["lot"]
    async with api(engine) as client:
        await client.post(f"/api/lots/{lot}/close")
    record = (await wait_for(lambda: settlements(engine, result="unsold")))[0]
    body = payment(record, amount_paid=0)
    refused = await post_paid(engine, lot, body, signed(escrow_secret_file(engine), body))
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_sold")
