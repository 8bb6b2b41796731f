"""The HTTP routes (`http.py`), through a real engine: each checks the role, parses strictly and
answers a bid with its ack frame, a refusal with the status its reason names (unknown lot 404,
not allowed 403, bad amount 422, any other 409 with the next minimum)."""

from __future__ import annotations

from ..conftest import EngineProcess
from .helpers import api, new_lot


async def test_a_bid_is_answered_with_its_ack_and_a_low_one_with_409_and_the_next_minimum(
        module_engine: EngineProcess) -> None:
    lot = (await new_lot(module_engine))["lot"]
    async with api(module_engine, "bidder", "H1") as first, api(module_engine, "bidder", "H1b") as second:
        placed = await first.post(f"/api/lots/{lot}/bids", json={"id": "h1", "amount": 5000})
        low = await second.post(f"/api/lots/{lot}/bids", json={"id": "h2", "amount": 5000})
        next_min = (await second.get(f"/api/lots/{lot}")).json()["next_min"]
    assert placed.status_code == 200
    assert {k: placed.json()[k] for k in ("type", "ok", "lot", "id", "leading")} == {
        "type": "ack", "ok": True, "lot": lot, "id": "h1", "leading": True}
    assert low.status_code == 409
    assert (low.json()["ok"], low.json()["reason"], low.json()["next_min"]) == (False, "too_low", next_min)
    assert next_min > 5000


async def test_each_refusal_has_the_status_its_reason_names(module_engine: EngineProcess) -> None:
    lot = (await new_lot(module_engine))["lot"]
    async with api(module_engine, "bidder", "H2") as client:
        unknown = await client.post("/api/lots/NO-SUCH-LOT/bids", json={"id": "u1", "amount": 5000})
        bad = await client.post(f"/api/lots/{lot}/bids", json={"id": "b1", "amount": 50.5})
        bad_id = await client.post(f"/api/lots/{lot}/bids", json={"id": "no spaces", "amount": 5000})
    assert (unknown.status_code, unknown.json()["reason"]) == (404, "unknown_lot")
    assert (bad.status_code, bad.json()["reason"]) == (422, "bad_amount")
    assert (bad_id.status_code, bad_id.json()["error"]["code"], bad_id.json()["error"]["field"]) == (422, "invalid_id", "id")


async def test_a_route_checks_the_role_before_it_reads_the_body(module_engine: EngineProcess) -> None:
    lot = (await new_lot(module_engine))["lot"]
    async with api(module_engine, "watcher") as watcher, api(module_engine, "bidder", "H3") as bidder:
        anonymous = await watcher.post(f"/api/lots/{lot}/bids", content=b"not json")
        hammer = await bidder.post(f"/api/lots/{lot}/hammer")
        create = await bidder.post("/api/lots", json={"lot": "X1"})
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "unauthorized")
    assert (hammer.status_code, hammer.json()["error"]["code"]) == (403, "not_allowed")
    assert (create.status_code, create.json()["error"]["code"]) == (403, "not_allowed")


async def test_the_server_time_and_a_lot_are_read_by_anyone(module_engine: EngineProcess) -> None:
    lot = (await new_lot(module_engine))["lot"]
    async with api(module_engine, "watcher") as client:
        clock = await client.get("/api/time")
        read = await client.get(f"/api/lots/{lot}")
    assert clock.status_code == 200 and isinstance(clock.json()["server_time"], int)
    assert read.status_code == 200 and read.json()["lot"] == lot and "reserve" not in read.json()
