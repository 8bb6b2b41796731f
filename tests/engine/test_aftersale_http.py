"""The after-sale routes (`aftersale_http.py`): after the hammer and before the first bid, through the
real engine (issue 15): a dealer applies,
is approved, pays a deposit through escrow and gets buying power; a rejected dealer cannot bid; a
sold lot's contract PDF (Chinese text embedded, its SHA-256 in the ledger) goes to its buyer and the
auctioneer only; the payment is held, the car is moved, a claim is resolved, and every instruction
reaches escrow once, also across a kill -9 of the engine."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
from pathlib import Path

import httpx
import pypdf
import pytest

from auction_engine.auth import TokenSigner
from auction_engine.store import sign
from auction_engine.store.db import now_ms
from auction_engine.store.signing import (
    PURPOSE_DEPOSIT,
    PURPOSE_DEPOSIT_PAID,
    PURPOSE_PAID,
    PURPOSE_PARTIAL_REFUND,
    PURPOSE_REFUND,
    PURPOSE_RELEASE,
    PURPOSE_SETTLEMENT,
    PURPOSE_TRANSPORT_STATUS,
    SignatureError,
    verify,
)
from clients.aftersale_demo import follow

from ..conftest import SECRET, EngineProcess
from ..schema_check import check
from ..store.conftest import EscrowReceiver
from .helpers import api, new_lot
from .test_settlement import payment, wait_for
from .wsclient import Peer

ESCROW_SECRET = "escrow-secret-for-aftersale-0123456789"
VEHICLE = {
    "vin": "LGXCE4CB5N0123456", "make": "比亚迪", "model": "汉 EV", "year": 2022, "mileage_km": 23000,
    "location": "上海", "seller": "上海浦东二手车行", "inspection": {"grade": "A", "report_url": "https://inspect.example/r/7"},
}
_codes = iter(range(10**6))


def credit_code() -> str:
    return f"91310000{next(_codes):010d}"


def secret_of(engine: EngineProcess, name: str) -> str:
    return (engine.data_dir / name).read_text().strip()


def signed_post(engine: EngineProcess, path: str, doc: dict, secret: str, purpose: str) -> httpx.Response:
    body = json.dumps(doc).encode()
    header = sign(secret, purpose, body, now_ms=now_ms())
    return httpx.post(f"{engine.url}{path}", content=body, headers={"X-Signature": header}, timeout=10)


def bearer(token: str) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)


def qualified_dealer(engine: EngineProcess, bidder: str, deposit: int | None = 1_000_000) -> str:
    """Apply, be approved and (unless `deposit` is None) have a deposit held: the dealer's token."""
    applied = httpx.post(f"{engine.url}/api/applications", json={
        "company": f"{bidder} 汽车贸易有限公司", "credit_code": credit_code(), "contact_name": "王经理",
        "contact_phone": "+86 138 0000 0000", "city": "杭州", "documents": ["https://docs.example/licence.pdf"]}, timeout=10)
    assert applied.status_code == 201, applied.text
    with bearer(engine.auctioneer_token) as staff:
        approved = staff.post(f"{engine.url}/api/applications/{applied.json()['application']}/approve",
                              json={"bidder": bidder, "paddle": f"p-{bidder}"})
    assert approved.status_code == 200, approved.text
    check("Application", approved.json())
    token = approved.json()["token"]
    if deposit is not None:
        with bearer(token) as dealer:
            requested = dealer.post(f"{engine.url}/api/deposits", json={"amount": deposit})
        assert requested.status_code == 201, requested.text
        doc = {"deposit_id": requested.json()["id"], "bidder": bidder, "amount": deposit, "paid_at": now_ms()}
        held = signed_post(engine, f"/api/deposits/{doc['deposit_id']}/paid", doc, secret_of(engine, "deposit-secret"),
                           PURPOSE_DEPOSIT_PAID)
        assert held.status_code == 200 and held.json()["credit_limit"] == 10 * deposit, held.text
    return token


async def sold_lot(engine: EngineProcess, token: str, price: int = 5_000_000) -> dict:
    """A lot with a vehicle, bid by the dealer holding `token`, closed: its settlement record."""
    lot = (await new_lot(engine, start_price=price, vehicle=VEHICLE))["lot"]
    with bearer(token) as dealer:
        placed = dealer.post(f"{engine.url}/api/lots/{lot}/bids", json={"id": uuid.uuid4().hex, "amount": price})
    assert placed.status_code == 200, placed.text
    async with api(engine) as client:
        assert (await client.post(f"/api/lots/{lot}/close")).status_code == 200

    async def recorded():
        async with api(engine) as client:
            return [s for s in (await client.get("/api/settlements")).json()["settlements"] if s["lot"] == lot]

    return (await wait_for(recorded))[0]


def pay(engine: EngineProcess, record: dict) -> None:
    body = payment(record)
    reply = httpx.post(f"{engine.url}/api/settlements/{record['lot']}/paid", content=body, timeout=10,
                       headers={"X-Signature": sign(ESCROW_SECRET, PURPOSE_PAID, body, now_ms=now_ms())})
    assert reply.status_code == 200, reply.text


def history(engine: EngineProcess, lot: str) -> dict:
    with bearer(engine.auctioneer_token) as staff:
        reply = staff.get(f"{engine.url}/api/settlements/{lot}")
    assert reply.status_code == 200, reply.text
    return reply.json()


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


@pytest.fixture(scope="module")
def engine(tmp_path_factory, redis_server):
    """One engine for the module's scenarios (each uses its own dealers and lots)."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    env = {"ESCROW_SECRET": ESCROW_SECRET, "AUCTION_ESCROW_POLL_S": "0.2"}
    proc = EngineProcess(tmp_path_factory.mktemp("aftersale"), redis_server.url, env_extra=env).start()
    yield proc
    proc.stop()


async def test_a_dealer_bids_only_once_approved_and_with_a_deposit_held(engine):
    token = qualified_dealer(engine, "D1", deposit=None)
    lot = (await new_lot(engine, start_price=5_000_000))["lot"]
    with bearer(token) as dealer:
        refused = dealer.post(f"{engine.url}/api/lots/{lot}/bids", json={"id": "b1", "amount": 5_000_000})
        assert refused.status_code == 409 and refused.json()["reason"] == "credit_limit", refused.text
        deposit = dealer.post(f"{engine.url}/api/deposits", json={"amount": 600_000}).json()
    handed = await wait_for(lambda: [r for r in jsonl(engine.data_dir / "escrow.jsonl") if r.get("deposit_id") == deposit["id"]])
    assert handed[0]["idempotency_key"] == f"deposit-{deposit['id']}" and handed[0]["amount"] == 600_000
    doc = {"deposit_id": deposit["id"], "bidder": "D1", "amount": 600_000, "paid_at": now_ms()}
    path = f"/api/deposits/{deposit['id']}/paid"
    forged = signed_post(engine, path, doc, ESCROW_SECRET, PURPOSE_DEPOSIT_PAID)  # escrow's payment secret: not this one
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "bad_signature"
    body = json.dumps(doc).encode()
    header = sign(secret_of(engine, "deposit-secret"), PURPOSE_DEPOSIT_PAID, body, now_ms=now_ms())
    held = httpx.post(f"{engine.url}{path}", content=body, headers={"X-Signature": header})
    assert held.status_code == 200 and held.json()["credit_limit"] == 6_000_000 and held.json()["status"] == "held"
    replayed = httpx.post(f"{engine.url}{path}", content=body, headers={"X-Signature": header})
    assert replayed.status_code == 401 and "replayed" in replayed.json()["error"]["message"]
    with bearer(token) as dealer:
        assert dealer.post(f"{engine.url}/api/lots/{lot}/bids", json={"id": "b2", "amount": 5_000_000}).status_code == 200
        in_use = dealer.post(f"{engine.url}/api/deposits/{deposit['id']}/refund")
        assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "deposit_in_use"


async def test_a_suspended_dealers_token_stops_at_once_also_on_an_open_socket(engine):
    token = qualified_dealer(engine, "D6")
    lot = (await new_lot(engine, start_price=5_000_000))["lot"]
    peer = await Peer.open(engine.ws_url, token)
    assert (await peer.bid(lot, "d6-1", amount=5_000_000))["ok"]
    with bearer(engine.auctioneer_token) as staff:
        assert staff.post(f"{engine.url}/api/bidders/D6/suspend").json()["suspended"] is True
    assert (await peer.next(lambda f: f["type"] == "error"))["code"] == "suspended"
    await peer.conn.wait_closed()
    assert peer.conn.close_code == 4401
    with bearer(token) as dealer:
        refused = dealer.post(f"{engine.url}/api/lots/{lot}/bids", json={"id": "d6-2", "amount": 5_100_000})
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "suspended")
        assert dealer.post(f"{engine.url}/api/deposits", json={"amount": 1}).status_code == 401


async def test_a_rejected_dealer_cannot_bid(engine):
    applied = httpx.post(f"{engine.url}/api/applications", json={
        "company": "无资质车行", "credit_code": credit_code(), "contact_name": "李", "contact_phone": "13900000000",
        "city": "北京", "documents": []}).json()["application"]
    with bearer(engine.auctioneer_token) as staff:
        rejected = staff.post(f"{engine.url}/api/applications/{applied}/reject", json={"reason": "营业执照过期"})
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        late = staff.post(f"{engine.url}/api/applications/{applied}/approve", json={"bidder": "R1", "paddle": "r1"})
        assert late.status_code == 409
        assert staff.post(f"{engine.url}/api/bidders/R1/tokens").status_code == 404
    lot = (await new_lot(engine))["lot"]
    forged = TokenSigner(SECRET).issue("bidder", "R1", "r1")  # even a validly signed token names no known bidder
    with bearer(forged) as outsider:
        refused = outsider.post(f"{engine.url}/api/lots/{lot}/bids", json={"id": "x", "amount": 5000})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unknown_bidder"


async def test_a_contract_is_rendered_ahead_of_its_download_only_once_the_node_has_had_no_bid_for_5_s(engine):
    """The shipped default: contracts wait while bids come in to the node (a sale's closes are its
    busiest seconds), then render without anyone asking (store/aftersale.py `AfterSale`)."""
    token = qualified_dealer(engine, "D9")
    bid_at = now_ms()
    lot = (await sold_lot(engine, token))["lot"]

    def rendered() -> list[dict]:
        return [event for event in history(engine, lot)["history"] if event["kind"] == "contract"]

    event = (await wait_for(rendered, timeout=30))[0]
    assert event["at"] >= bid_at + 5_000 - 50, "rendered while the node was still busy with the bid"
    assert history(engine, lot)["contract_sha256"]


async def test_the_contract_pdf_carries_the_sale_in_chinese_and_only_its_buyer_and_the_auctioneer_get_it(engine):
    token = qualified_dealer(engine, "D2")
    record = await sold_lot(engine, token)
    lot = record["lot"]
    with bearer(token) as buyer:
        reply = buyer.get(f"{engine.url}/api/lots/{lot}/contract.pdf")
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/pdf"
    digest = hashlib.sha256(reply.content).hexdigest()
    assert reply.headers["x-contract-sha256"] == digest
    # Characters come back through the font's ToUnicode map; pypdf reads fpdf2's embedded Identity
    # encoding one byte at a time and puts a NUL before each two-byte code, which is dropped here.
    text = "".join(pypdf.PdfReader(io.BytesIO(reply.content)).pages[0].extract_text().replace("\x00", "").split())
    for expected in ("二手车买卖合同", "上海浦东二手车行", "D2汽车贸易有限公司", "比亚迪/汉EV/2022", "LGXCE4CB5N0123456",
                     "CNY50,000.00", record["head_hash"], f"{record['total_due'] // 100:,}"):
        assert expected in text, expected
    assert history(engine, lot)["contract_sha256"] == digest
    with bearer(engine.auctioneer_token) as staff:
        assert staff.get(f"{engine.url}/api/lots/{lot}/contract.pdf").content == reply.content  # the stored bytes, again
    other = qualified_dealer(engine, "D3", deposit=None)
    with bearer(other) as stranger:
        assert stranger.get(f"{engine.url}/api/lots/{lot}/contract.pdf").status_code == 403
    assert httpx.get(f"{engine.url}/api/lots/{lot}/contract.pdf").status_code == 401


async def test_paid_held_moved_claimed_and_settled_with_each_instruction_once(engine):
    token = qualified_dealer(engine, "D4")
    record = await sold_lot(engine, token)
    lot = record["lot"]
    pay(engine, record)
    await wait_for(lambda: history(engine, lot)["guarantee"])
    orders = await wait_for(lambda: jsonl(engine.data_dir / "logistics.jsonl"))
    assert orders[0]["vin"] == VEHICLE["vin"] and orders[0]["destination"]["city"] == "杭州"
    logistics = secret_of(engine, "logistics-secret")
    for status in ("picked_up", "in_transit", "delivered"):
        moved = signed_post(engine, f"/api/settlements/{lot}/transport", {"lot": lot, "status": status, "at": now_ms()},
                            logistics, PURPOSE_TRANSPORT_STATUS)
        assert moved.status_code == 200 and moved.json()["status"] == status, moved.text
        check("Transport", moved.json())
    back = signed_post(engine, f"/api/settlements/{lot}/transport", {"lot": lot, "status": "picked_up", "at": now_ms()},
                       logistics, PURPOSE_TRANSPORT_STATUS)
    assert back.status_code == 409
    with bearer(token) as buyer:
        mine = buyer.get(f"{engine.url}/api/me/purchases").json()["purchases"]
        assert [(p["settlement"]["lot"], p["transport"]["status"]) for p in mine] == [(lot, "delivered")]
        claim = buyer.post(f"{engine.url}/api/settlements/{lot}/claim",
                           json={"reason": "undisclosed_accident", "text": "左前翼子板有钣金", "photos": []})
        assert claim.status_code == 201, claim.text
        check("Claim", claim.json())
        assert buyer.post(f"{engine.url}/api/settlements/{lot}/receipt").status_code == 409  # a claim holds the money
    with bearer(engine.auctioneer_token) as staff:
        resolved = staff.post(f"{engine.url}/api/settlements/{lot}/claim/resolve",
                              json={"outcome": "partial_refund", "refund_amount": 200_000, "note": "钣金维修费"})
        assert resolved.status_code == 200, resolved.text
        again = staff.post(f"{engine.url}/api/settlements/{lot}/claim/resolve", json={"outcome": "full_refund"})
        assert again.status_code == 409

    def instructions() -> list[dict]:
        found = [r for r in jsonl(engine.data_dir / "escrow.jsonl") if r.get("instruction")]
        return found if len(found) >= 2 else []

    sent = await wait_for(instructions)
    assert sorted((r["instruction"], r["amount"]) for r in sent) == [("partial_refund", 200_000), ("release", 4_800_000)]
    check("SettlementRecord", history(engine, lot))
    # rendered by the worker once the node has had no bid for 5 s, before or after the payment
    await wait_for(lambda: "contract" in [h["kind"] for h in history(engine, lot)["history"]], timeout=30)
    kinds = [h["kind"] for h in history(engine, lot)["history"]]
    assert [k for k in kinds if k != "contract"] == ["paid", "held", "transport_ordered", "picked_up", "in_transit", "delivered",
                                                     "claim_opened", "partial_refund", "release", "claim_resolved"]


async def test_the_demo_partners_take_sold_cars_to_delivered_and_paid_out(engine):
    """`auction-engine demo`'s second act, against the file sinks: escrow, carrier and buyers simulated."""
    engine.register("DM1", "dm1", None)
    engine.register("DM2", "dm2", None)
    lots = [(await sold_lot(engine, engine.token("bidder", name, name.lower())))["lot"] for name in ("DM1", "DM2")]
    said: list[str] = []
    states = await follow(engine.url, engine.auctioneer_token, engine.data_dir, lots, said.append, escrow_secret=ESCROW_SECRET)
    assert states == {lot: "released" for lot in lots}
    assert any("auctioneer refunds" in line for line in said)  # the second buyer claimed, and it was settled
    for lot in lots:
        assert history(engine, lot)["transport"]["status"] == "delivered"


async def test_with_dealers_only_a_bidder_token_goes_to_approved_dealers_alone(tmp_path, redis_url):
    engine = EngineProcess(tmp_path, redis_url, env_extra={"AUCTION_DEALERS_ONLY": "1"}).start()
    try:
        with bearer(engine.auctioneer_token) as staff:
            direct = staff.post(f"{engine.url}/api/bidders", json={"bidder": "X1", "paddle": "x1"})
            assert direct.status_code == 403 and "AUCTION_DEALERS_ONLY" in direct.json()["error"]["message"]
        qualified_dealer(engine, "Q1", deposit=None)
        with bearer(engine.auctioneer_token) as staff:
            assert staff.post(f"{engine.url}/api/bidders/Q1/tokens").status_code == 201
    finally:
        engine.stop()


class InstructedEscrow(EscrowReceiver):
    """A real escrow that checks each message against the purpose its body says it is for, and
    keeps each Idempotency-Key once. `hang` stores then never answers: an engine killed while it
    waits has sent the message without learning that it arrived."""

    hang: bool = False

    async def _handle(self, headers: dict, body: bytes) -> int:
        doc = json.loads(body)
        purpose = {"release": PURPOSE_RELEASE, "refund": PURPOSE_REFUND, "partial_refund": PURPOSE_PARTIAL_REFUND}.get(
            doc.get("instruction"), PURPOSE_DEPOSIT if "deposit_id" in doc else PURPOSE_SETTLEMENT)
        try:
            verify(self.secret, purpose, body, headers.get("x-signature"), now_ms=now_ms())
        except SignatureError:
            self.bad_signatures += 1
            return 401
        key = headers.get("idempotency-key")
        if key in self.records:
            self.duplicates += 1
            return 409
        self.records[key] = body
        while self.hang:  # until the test lets go; the engine that sent it is gone by then
            await asyncio.sleep(0.05)
        return 201


async def test_each_instruction_reaches_escrow_exactly_once_across_kill_9(tmp_path, redis_url):
    receiver = InstructedEscrow(secret=ESCROW_SECRET)
    await receiver.start()
    env = {"ESCROW_SECRET": ESCROW_SECRET, "ESCROW_URL": receiver.url, "AUCTION_ESCROW_POLL_S": "0.2",
           "AUCTION_ESCROW_LEASE_S": "1", "AUCTION_ESCROW_RETRY_CAP_S": "0.5", "AUCTION_SQL_WRITER": "process"}
    engine = EngineProcess(tmp_path, redis_url, env_extra=env).start()
    try:
        token = qualified_dealer(engine, "D5")
        record = await sold_lot(engine, token)
        lot = record["lot"]
        pay(engine, record)
        await wait_for(lambda: history(engine, lot)["guarantee"])
        with bearer(token) as buyer:
            assert buyer.post(f"{engine.url}/api/settlements/{lot}/claim",
                              json={"reason": "other", "text": "空调不制冷", "photos": []}).status_code == 201
        receiver.hang = True
        with bearer(engine.auctioneer_token) as staff:
            assert staff.post(f"{engine.url}/api/settlements/{lot}/claim/resolve",
                              json={"outcome": "partial_refund", "refund_amount": 100_000, "note": "维修"}).status_code == 200
        await wait_for(lambda: f"partial_refund-{lot}" in receiver.records)  # taken, never acknowledged
        engine.kill()
        receiver.hang = False
        engine.start()
        await wait_for(lambda: all(entry["delivered_at"] for entry in history(engine, lot)["deliveries"]), timeout=20)
        keys = sorted(k for k in receiver.records if k.endswith(lot))
        assert keys == sorted([f"settlement-{lot}", f"partial_refund-{lot}", f"release-{lot}"])
        assert receiver.duplicates >= 1  # the message in flight at the kill was sent again, and refused as known
        assert receiver.bad_signatures == 0
        assert json.loads(receiver.records[f"release-{lot}"])["amount"] == 4_900_000
    finally:
        engine.stop()
        await receiver.stop()
