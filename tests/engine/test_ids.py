"""Ids (bidder, paddle, lot, bid id) match one pattern wherever they enter, and the idempotency
key of (bidder, bid id) cannot collide (issue 9 item 8); a bad vehicle creates nothing (item 5)."""

from __future__ import annotations

import pytest

from auction_engine.actor import bid_key

from .helpers import api, new_lot
from .wsclient import Peer


def test_two_different_bidder_and_id_pairs_never_share_an_idempotency_key():
    # With a NUL separator these two were the same key: bidder "a\0b" got bidder "a"'s ack back.
    assert bid_key("a\x00b", "c") != bid_key("a", "b\x00c")
    assert bid_key("a:1", "2") != bid_key("a", "1:2")
    assert bid_key("A", "b1") == bid_key("A", "b1")


@pytest.mark.parametrize("bad", ["a\x00b", "a b", "tab\there", "-lead", "x" * 65, "", "a\nb"])
async def test_a_bad_id_is_refused_with_422_wherever_it_enters_over_http(engine, bad):
    lot = (await new_lot(engine))["lot"]
    async with api(engine) as client:
        for body, field in (({"bidder": bad, "paddle": "P1"}, "bidder"), ({"bidder": "OK1", "paddle": bad}, "paddle")):
            reply = await client.post("/api/bidders", json=body)
            error = reply.json()["error"]
            assert (reply.status_code, error["code"], error["field"]) == (422, "invalid_id", field)
        reply = await client.post("/api/lots", json={"lot": bad, "title": "t", "start_price": 1, "duration_s": 60})
        assert (reply.status_code, reply.json()["error"]["field"]) == (422, "lot")
        reply = await client.post(f"/api/lots/{lot}/floor-bids", json={"paddle": bad, "amount": 6000})
        assert (reply.status_code, reply.json()["error"]["field"]) == (422, "paddle")
        reply = await client.post(f"/api/lots/{lot}/floor-bids", json={"paddle": "F1", "amount": 6000, "id": bad})
        assert (reply.status_code, reply.json()["error"]["field"]) == (422, "id")
        assert (await client.get("/api/bidders")).json()["bidders"] == []
    async with api(engine, "bidder", "A") as client:
        reply = await client.post(f"/api/lots/{lot}/bids", json={"id": bad, "amount": 6000})
        assert (reply.status_code, reply.json()["error"]["field"]) == (422, "id")
    async with api(engine, "watcher") as client:
        assert (await client.get(f"/api/lots/{lot}")).json()["bids"] == 0


async def test_a_bid_frame_with_a_nul_in_its_id_is_a_bad_frame_and_places_nothing(engine):
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    await peer.send({"type": "bid", "lot": lot, "id": "b\x00c", "amount": 6000})
    error = await peer.next(lambda f: f["type"] == "error")
    assert error["code"] == "bad_frame"
    await peer.send({"type": "subscribe", "lot": "L\x00"})
    assert (await peer.next(lambda f: f["type"] == "error"))["code"] == "bad_frame"
    async with api(engine, "watcher") as client:
        assert (await client.get(f"/api/lots/{lot}")).json()["bids"] == 0


async def test_a_bad_vehicle_is_a_422_naming_the_field_and_creates_no_lot(engine):
    async with api(engine) as client:
        reply = await client.post("/api/lots", json={"lot": "V1", "title": "Camry", "start_price": 100,
                                                      "duration_s": 60, "vehicle": {"year": "abc"}})
        assert reply.status_code == 422
        assert reply.json()["error"] == {"code": "invalid_spec", "field": "vehicle.year", "message": "must be an integer"}
        assert (await client.get("/api/lots/V1")).status_code == 404
        good = await client.post("/api/lots", json={"lot": "V1", "title": "Camry", "start_price": 100,
                                                     "duration_s": 60, "vehicle": {"year": 2019}})
        assert good.status_code == 201
        assert [lot["lot"] for lot in (await client.get("/api/lots")).json()["lots"]] == ["V1"]
