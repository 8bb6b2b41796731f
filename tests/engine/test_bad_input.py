"""Bad input gets a clear, typed answer and changes nothing: frames, amounts, bodies, tokens."""

from __future__ import annotations

import json
import socket
import time

import msgpack
import pytest

from .helpers import api, new_lot
from .wsclient import MSGPACK, Peer

BAD_FRAMES = [
    ("not json", "bad_frame"),
    ("[1, 2, 3]", "bad_frame"),
    ('{"type": 7}', "bad_frame"),
    ('{"lot": "X"}', "bad_frame"),
    ('{"type": "dance", "lot": "X"}', "unknown_type"),
    ('{"type": "subscribe"}', "bad_frame"),
    ('{"type": "subscribe", "lot": "X", "since": -1}', "bad_frame"),
    ('{"type": "subscribe", "lot": "X", "since": 1.5}', "bad_frame"),
    ('{"type": "bid", "lot": "X", "amount": 100}', "bad_frame"),
    ('{"type": "ping", "t": "soon"}', "bad_frame"),
    ('{"type": "ping", "t": NaN}', "bad_frame"),
    ("x" * 5000, "too_large"),
]
BAD_AMOUNTS = [
    {"amount": 15000.0},
    {"amount": -15000},
    {"amount": 0},
    {"amount": True},
    {"amount": "15000"},
    {"amount": 15000, "max": 20000},
    {},
    {"max": 10**18},
]


async def lot_state(engine, lot):
    async with api(engine) as client:
        return (await client.get(f"/api/lots/{lot}")).json()


async def test_every_bad_frame_gets_a_typed_error_and_changes_nothing(engine):
    lot = (await new_lot(engine))["lot"]
    before = await lot_state(engine, lot)
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    for raw, code in BAD_FRAMES:
        await peer.send_raw(raw.replace('"X"', json.dumps(lot)))
        error = await peer.next()
        assert (error["type"], error["code"]) == ("error", code), raw
        assert error["message"]
    await peer.send({"type": "subscribe", "lot": "nope"})
    assert (await peer.next())["code"] == "unknown_lot"
    # the connection still works after all that
    assert (await peer.bid(lot, "good", amount=5000))["ok"]
    after = await lot_state(engine, lot)
    assert after["seq"] == before["seq"] + 1


async def test_bad_amounts_are_refused_as_bad_amount_over_both_subprotocols_and_http(engine):
    lot = (await new_lot(engine))["lot"]
    before = await lot_state(engine, lot)
    for subprotocol in ("auction.v1.json", MSGPACK):
        peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"), subprotocol)
        for n, amounts in enumerate(BAD_AMOUNTS):
            if subprotocol == MSGPACK and amounts.get("max") == 10**18:
                amounts = {"max": 2**63}
            await peer.send({"type": "bid", "lot": lot, "id": f"bad{n}", **amounts})
            ack = await peer.ack(f"bad{n}")
            assert (ack["ok"], ack["reason"]) == (False, "bad_amount"), amounts
    async with api(engine, "bidder", "A") as client:
        for n, amounts in enumerate(BAD_AMOUNTS):
            response = await client.post(f"/api/lots/{lot}/bids", json={"id": f"h{n}", **amounts})
            assert response.status_code == 422 and response.json()["reason"] == "bad_amount", amounts
    assert await lot_state(engine, lot) == before


async def test_binary_frames_on_json_and_text_frames_on_msgpack_are_bad_frames(engine):
    as_json = await Peer.open(engine.ws_url)
    await as_json.send_raw(msgpack.packb({"type": "ping", "t": 1}))
    assert (await as_json.next())["code"] == "bad_frame"
    as_msgpack = await Peer.open(engine.ws_url, subprotocol=MSGPACK)
    await as_msgpack.send_raw('{"type": "ping", "t": 1}')
    assert (await as_msgpack.next())["code"] == "bad_frame"
    await as_msgpack.send({"type": "ping", "t": 41})
    pong = await as_msgpack.next()
    assert pong["type"] == "pong" and pong["t"] == 41 and isinstance(pong["server_time"], int)


async def test_unknown_lots_and_unknown_routes(engine):
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    ack = await peer.bid("no-such-lot", "u1", amount=5000)
    assert (ack["ok"], ack["reason"]) == (False, "unknown_lot")
    async with api(engine) as client:
        assert (await client.get("/api/lots/no-such-lot")).json()["error"]["code"] == "unknown_lot"
        assert (await client.post("/api/lots/no-such-lot/open")).status_code == 404
        assert (await client.get("/api/nothing")).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"title": "Camry", "start_price": 5000.5, "duration_s": 60}, "start_price"),
    ({"title": "Camry", "start_price": -1, "duration_s": 60}, "start_price"),
    ({"title": "Camry", "start_price": 5000}, "duration_s"),
    ({"title": "Camry", "start_price": 5000, "duration_s": 60, "format": "raffle"}, "format"),
    ({"title": "Camry", "start_price": 5000, "duration_s": 60, "increments": [[100, 10]]}, "increments"),
    ({"title": "Camry", "start_price": 5000, "duration_s": 60, "reserve": 9000, "buy_now": 8000}, "buy_now"),
])
async def test_a_bad_lot_spec_is_a_422_naming_the_field_and_creates_nothing(engine, body, field):
    async with api(engine) as client:
        response = await client.post("/api/lots", json={"lot": "BAD", **body})
        assert response.status_code == 422
        assert response.json()["error"]["field"].split(".")[0] == field
        assert (await client.get("/api/lots/BAD")).status_code == 404


async def test_bad_http_bodies(engine):
    lot = (await new_lot(engine))["lot"]
    async with api(engine) as client:
        body = b"{" + b" " * (1024 * 1024) + b"}"
        huge = await client.post("/api/lots", content=body, headers={"content-type": "application/json"})
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"

        async def chunks():
            for _ in range(100):
                yield b" " * 1024

        streamed = await client.post("/api/lots", content=chunks())
        assert streamed.status_code == 413
        assert (await client.post("/api/lots", content=b"{not json")).json()["error"]["code"] == "bad_request"
        assert (await client.post("/api/lots", content=b"[1]")).status_code == 400
        assert (await client.post("/api/lots", content=b'{"title": NaN}')).status_code == 400
        dupe = await client.post("/api/lots", json={"lot": lot, "title": "again", "start_price": 1, "duration_s": 60})
        assert dupe.status_code == 409
        assert (await client.post("/api/bidders", json={"bidder": "X", "paddle": 7})).json()["error"]["field"] == "paddle"
        assert (await client.post("/api/bidders", json={"bidder": "X", "paddle": "7", "credit_limit": 1.5})).status_code == 400
        assert (await client.post(f"/api/lots/{lot}/floor-bids", json={"paddle": "F1", "amount": 99.5})).status_code == 422
    async with api(engine, "bidder", "A") as client:
        assert (await client.post(f"/api/lots/{lot}/bids", json={"amount": 15000})).json()["error"]["field"] == "id"


def test_a_client_still_sending_a_too_large_body_reads_the_413_not_a_reset(engine):
    """A browser uploading 1 MB in pieces: answered and closed after the headers, the rest of its
    upload made the kernel reset the connection, and the client saw a reset instead of the typed
    error. The engine reads and drops the rest first (app.BodyLimit)."""
    size = 1024 * 1024
    with socket.create_connection(("127.0.0.1", engine.port), timeout=10) as conn:
        conn.sendall(b"POST /api/lots HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            time.sleep(0.01)  # the engine has had the headers for a while when the rest comes
            conn.sendall(b" " * 65536)
        answer = b""
        while b'"too_large"' not in answer and (piece := conn.recv(65536)):
            answer += piece
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"too_large"' in answer


async def test_a_binary_frame_on_json_is_a_bad_frame_even_when_it_holds_valid_json(engine):
    peer = await Peer.open(engine.ws_url)
    await peer.send_raw(b'{"type": "ping", "t": 1}')
    assert (await peer.next())["code"] == "bad_frame"
    await peer.send({"type": "ping", "t": 2})
    assert (await peer.next())["type"] == "pong"


@pytest.mark.parametrize("t", ["1e400", "-1e400", "1.5", "12345678901234567890", "true", "null"])
async def test_a_ping_t_must_be_a_finite_integer_so_the_pong_is_valid_json(engine, t):
    peer = await Peer.open(engine.ws_url)
    await peer.send_raw(f'{{"type": "ping", "t": {t}}}')
    error = await peer.next()
    assert (error["type"], error["code"], error.get("field", "t")) == ("error", "bad_frame", "t")
    assert all(isinstance(r, str) and "Infinity" not in r for r in peer.raw)


async def test_a_ping_t_over_msgpack_must_be_an_integer_too(engine):
    peer = await Peer.open(engine.ws_url, subprotocol=MSGPACK)
    await peer.send({"type": "ping", "t": float("inf")})
    assert (await peer.next())["code"] == "bad_frame"


async def test_a_refused_bid_id_reused_with_another_amount_gets_its_first_answer(engine):
    lot = (await new_lot(engine))["lot"]
    peer = await Peer.open(engine.ws_url, engine.token("bidder", "A"))
    first = await peer.bid(lot, "r1", amount=100)
    assert (first["ok"], first["reason"]) == (False, "too_low")
    again = await peer.bid(lot, "r1", amount=9000)
    assert again == first
    async with api(engine, "bidder", "A") as client:
        over_http = await client.post(f"/api/lots/{lot}/bids", json={"id": "r1", "amount": 9000})
        assert over_http.json() == first
    assert (await lot_state(engine, lot))["price"] is None or (await lot_state(engine, lot))["bids"] == 0
    assert (await peer.bid(lot, "r2", amount=9000))["ok"]


async def test_deeply_nested_json_bodies_are_a_400_not_a_500(engine):
    nested = b"[" * 20_000 + b"]" * 20_000
    async with api(engine) as client:
        for path in ("/api/lots", "/api/bidders"):
            response = await client.post(path, content=nested)
            assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request", path
        body = b'{"bidder": "N", "paddle": "N", "credit_limit": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
        assert (await client.post("/api/bidders", content=body)).status_code == 400


@pytest.mark.parametrize("path, name", [
    ("/api/lots?price_max=", "price_max"),
    ("/api/lots?year_min=", "year_min"),
    ("/api/lots?limit=", "limit"),
    ("/api/lots/{lot}/events?since=", "since"),
    ("/api/lots/{lot}/events?limit=", "limit"),
    ("/api/settlements?limit=", "limit"),
])
@pytest.mark.parametrize("value", ["9" * 30, "9" * 5000, "-1"])
async def test_huge_or_negative_integers_in_query_parameters_are_a_400_naming_the_parameter(module_engine, path, name, value):
    lot = (await new_lot(module_engine))["lot"]
    async with api(module_engine) as client:
        response = await client.get(path.format(lot=lot) + value)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == {"code": "bad_request", "field": name, "message": response.json()["error"]["message"]}


async def test_a_cursor_holding_a_huge_key_or_deep_nesting_is_a_400(module_engine):
    from auction_engine.store.catalogue import encode_cursor

    async with api(module_engine) as client:
        for cursor in (encode_cursor("ending", 10**30, "X"), "W" * 3000 + "Q"):
            response = await client.get("/api/lots", params={"cursor": cursor})
            assert response.status_code == 400 and response.json()["error"]["field"] == "cursor"
    import base64

    deep = base64.urlsafe_b64encode(b"[" * 3000).decode()
    async with api(module_engine) as client:
        assert (await client.get("/api/lots", params={"cursor": deep})).status_code == 400


async def test_a_credit_limit_beyond_any_amount_is_a_400_and_registers_nobody(module_engine):
    async with api(module_engine) as client:
        response = await client.post("/api/bidders", json={"bidder": "Huge", "paddle": "H1", "credit_limit": 10**40})
        assert response.status_code == 400 and response.json()["error"]["field"] == "credit_limit"
        again = await client.post("/api/bidders", json={"bidder": "Huge", "paddle": "H1", "credit_limit": 10**6})
        assert again.status_code == 201
