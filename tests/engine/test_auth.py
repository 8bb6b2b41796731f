"""Who may act (`auth.py`). Tokens expire, name a bidder the database knows, can be cut off by a suspension (also on open
sockets), are minted on demand and never listed, and need not travel in the URL (issue 9 items 7, 13)."""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest
from websockets.asyncio.client import connect

from auction_engine.auth import WATCHER, BidderAccess, RedactTokens, Suspended, TokenSigner, UnknownBidder
from auction_engine.errors import Forbidden, Unauthorized

from ..conftest import SECRET
from .helpers import api, new_lot
from .wsclient import JSON, Peer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_for_a_bidder_the_database_does_not_know_is_refused(engine):
    lot = (await new_lot(engine))["lot"]
    ghost = TokenSigner(SECRET).issue("bidder", "GHOST")  # validly signed, never registered
    async with api(engine, "watcher") as client:
        reply = await client.post(f"/api/lots/{lot}/bids", json={"id": "g1", "amount": 6000}, headers=bearer(ghost))
    assert (reply.status_code, reply.json()["error"]["code"]) == (401, "unknown_bidder")
    async with connect(f"{engine.ws_url}?token={ghost}", subprotocols=[JSON]) as ws:
        assert json.loads(await ws.recv())["code"] == "unknown_bidder"
        await ws.wait_closed()
        assert ws.close_code == 4401


async def test_a_suspended_bidder_is_refused_at_once_also_on_an_open_socket_until_reinstated_with_a_new_token(engine):
    lot = (await new_lot(engine))["lot"]
    async with api(engine) as staff:
        old = (await staff.post("/api/bidders", json={"bidder": "S1", "paddle": "501"})).json()["token"]
        peer = await Peer.open(engine.ws_url, old)
        assert (await peer.bid(lot, "s1-1", amount=6000))["ok"]
        assert (await staff.post("/api/bidders/S1/suspend")).json()["suspended"] is True
        closing = await peer.next(lambda f: f["type"] == "error")
        assert closing["code"] == "suspended"
        await peer.conn.wait_closed()
        assert peer.conn.close_code == 4401
        async with api(engine, "watcher") as client:
            refused = await client.post(f"/api/lots/{lot}/bids", json={"id": "s1-2", "amount": 7000}, headers=bearer(old))
            assert (refused.status_code, refused.json()["error"]["code"]) == (401, "suspended")
            assert (await staff.post("/api/bidders/S1/tokens")).status_code == 409
            assert (await staff.post("/api/bidders/S1/reinstate")).json()["suspended"] is False
            still = await client.post(f"/api/lots/{lot}/bids", json={"id": "s1-2", "amount": 7000}, headers=bearer(old))
            assert still.json()["error"]["code"] == "suspended", "a token from before the suspension stays refused"
            fresh = (await staff.post("/api/bidders/S1/tokens")).json()["token"]
            placed = await client.post(f"/api/lots/{lot}/bids", json={"id": "s1-2", "amount": 7000}, headers=bearer(fresh))
            assert placed.json()["reason"] == "already_leading", "the new token reaches the rules"
    async with api(engine, "bidder", "S2") as bidder:
        assert (await bidder.post("/api/bidders/S1/suspend")).status_code == 403


async def test_the_bidder_list_holds_no_tokens_and_a_token_is_minted_on_demand(engine):
    async with api(engine) as staff:
        first = await staff.post("/api/bidders", json={"bidder": "M1", "paddle": "601"})
        assert "token" in first.json(), "registration still hands out the first token, once"
        listed = (await staff.get("/api/bidders")).json()["bidders"]
        assert listed == [{"bidder": "M1", "paddle": "601", "credit_limit": None, "exposure": 0, "suspended": False}]
        minted = await staff.post("/api/bidders/M1/tokens", json={"ttl_s": 3600})
        assert minted.status_code == 201
        claims = jwt.decode(minted.json()["token"], SECRET, algorithms=["HS256"])
        assert claims["sub"] == "M1" and 3590 <= claims["exp"] - claims["iat"] <= 3600 and claims["jti"]
        assert (await staff.post("/api/bidders/NOPE/tokens")).json()["error"]["code"] == "unknown_bidder"
        assert (await staff.post("/api/bidders/M1/tokens", json={"ttl_s": 10**9})).status_code == 400


async def test_an_expired_token_or_one_without_exp_is_refused(engine):
    now = int(time.time())
    expired = jwt.encode({"role": "auctioneer", "iat": now - 7200, "exp": now - 3600, "jti": "x"}, SECRET, algorithm="HS256")
    ageless = jwt.encode({"role": "auctioneer"}, SECRET, algorithm="HS256")
    async with api(engine, "watcher") as client:
        for token in (expired, ageless):
            reply = await client.get("/api/bidders", headers=bearer(token))
            assert (reply.status_code, reply.json()["error"]["code"]) == (401, "unauthorized")


async def test_the_token_may_travel_as_a_websocket_subprotocol_instead_of_in_the_url(engine):
    token = engine.token("bidder", "W1")
    async with connect(engine.ws_url, subprotocols=[JSON, f"auction.token.{token}"]) as ws:
        assert ws.subprotocol == JSON
        welcome = json.loads(await ws.recv())
        assert (welcome["role"], welcome["bidder"]) == ("bidder", "W1")


async def test_a_token_in_the_authorization_header_opens_a_bidders_socket_that_goes_on_working_after_the_handshake(engine):
    lot = (await new_lot(engine))["lot"]
    token = engine.token("bidder", "W1")
    async with connect(engine.ws_url, subprotocols=[JSON], additional_headers=bearer(token)) as ws:
        welcome = json.loads(await ws.recv())
        assert (welcome["role"], welcome["bidder"]) == ("bidder", "W1")
        # the handshake's headers are dropped once read (ws._forget_handshake): the socket still bids as W1
        await ws.send(json.dumps({"type": "bid", "lot": lot, "id": "h1", "amount": 5000}))
        ack = json.loads(await ws.recv())
        assert (ack["type"], ack["id"], ack["ok"]) == ("ack", "h1", True)


def test_tokens_in_query_strings_are_redacted_from_access_log_lines():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/ws?token=eyJ.secret.sig&lot=L1", "1.1", 101), None)
    RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /ws?token=[redacted]&lot=L1 HTTP/1.1" 101'


def test_no_token_is_a_watcher_and_a_token_signed_with_another_secret_is_refused_not_downgraded():
    signer = TokenSigner(SECRET)
    assert signer.read(None) == WATCHER and signer.read("") == WATCHER
    forged = TokenSigner("another-secret-0123456789abcdef-0123").issue("auctioneer")
    with pytest.raises(Unauthorized):
        signer.read(forged)
    staff = signer.read(signer.issue("auctioneer"))
    assert (staff.role, staff.bidder) == ("auctioneer", None)


def test_a_role_may_do_only_what_it_is_given_and_a_watcher_is_asked_for_a_token():
    signer = TokenSigner(SECRET)
    bidder = signer.read(signer.issue("bidder", "B1", "101"))
    assert bidder.require("bidder") is bidder and (bidder.bidder, bidder.paddle) == ("B1", "101")
    with pytest.raises(Forbidden):
        bidder.require("auctioneer")
    with pytest.raises(Unauthorized):
        WATCHER.require("bidder")
    with pytest.raises(ValueError):
        signer.issue("bidder")  # a bidder token names its bidder
    with pytest.raises(ValueError):
        TokenSigner("too-short")


def test_a_bidder_token_is_only_as_good_as_the_bidders_access_says():
    signer = TokenSigner(SECRET)
    access = BidderAccess()
    token = signer.read(signer.issue("bidder", "B1"))
    with pytest.raises(UnknownBidder):
        access.check(token)
    access.set("B1")
    assert access.check(token) is token
    access.set("B1", suspended=True, tokens_after=token.issued_ms + 1)
    with pytest.raises(Suspended):
        access.check(token)
    access.set("B1", suspended=False, tokens_after=token.issued_ms + 1)
    with pytest.raises(Suspended):
        access.check(token)  # issued before the suspension: refused after the reinstatement too
    staff = signer.read(signer.issue("auditor"))
    assert access.check(staff) is staff
