"""/openapi.json and /asyncapi.json: every route has its schema, and the engine's real answers fit them."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from auction_engine.app import create_app
from auction_engine.cli import default_web_dir
from auction_engine.config import Config
from auction_engine.openapi import LANDING, OPERATIONS, openapi_document, undocumented
from auction_engine.store import PURPOSE_PAID, sign
from auction_engine.store.db import now_ms

from ..conftest import METRICS_AUTH, EngineProcess
from ..schema_check import check, check_response
from .helpers import new_lot
from .wsclient import Peer

ESCROW_SECRET = "escrow-secret-for-openapi-0123456789"


def test_every_route_of_the_app_has_a_schema_and_every_schema_a_route(tmp_path: Path) -> None:
    app = create_app(Config(data_dir=tmp_path), web_dir=default_web_dir())
    assert undocumented(app.routes) == []
    documented = {(m.upper(), p) for p, item in openapi_document(app.routes)["paths"].items() for m in item}
    assert set(OPERATIONS) - documented <= LANDING


def test_a_route_added_without_a_schema_is_named(tmp_path: Path) -> None:
    async def sneaky(request: object) -> None: ...

    routes = [*create_app(Config(data_dir=tmp_path)).routes, Route("/api/sneaky", sneaky, methods=["POST"])]
    assert undocumented(routes) == ["POST /api/sneaky"]


def test_the_documents_describe_the_handlers_from_their_docstrings(tmp_path: Path) -> None:
    doc = openapi_document(create_app(Config(data_dir=tmp_path)).routes)
    assert doc["openapi"] == "3.1.0"
    suspend = doc["paths"]["/api/bidders/{bidder}/suspend"]["post"]
    assert "Refuse the bidder's tokens" in suspend["description"]
    assert suspend["parameters"][0] == {"name": "bidder", "in": "path", "required": True, "schema": {"type": "string"}}


@pytest.fixture
def escrow_engine(tmp_path: Path, redis_url: str):
    proc = EngineProcess(tmp_path, redis_url, env_extra={"ESCROW_SECRET": ESCROW_SECRET}).start()
    yield proc
    proc.stop()


class Checked:
    """An HTTP client whose every answer is checked against the engine's own /openapi.json operation."""

    def __init__(self, engine: EngineProcess, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=engine.url, headers=headers, timeout=10)
        self.seen: set[tuple[str, str, int]] = set()

    def __call__(self, method: str, path: str, want: int, **kwargs: object) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == want, response.text
        check_response(response)
        self.seen.add((method, path, want))
        return response


async def test_real_answers_of_every_route_fit_the_served_document(escrow_engine: EngineProcess) -> None:
    engine = escrow_engine
    served = httpx.get(f"{engine.url}/openapi.json").json()
    assert {path for _, path in OPERATIONS} - set(served["paths"]) <= {p for _, p in LANDING}  # `serve` adds the pages
    staff, watcher = Checked(engine, engine.auctioneer_token), Checked(engine, None)
    bidder = Checked(engine, engine.token("bidder", "OA", "701"))
    watcher("GET", "/api/time", 200)
    watcher("GET", "/healthz", 200)
    watcher("GET", "/metrics", 401)
    watcher("GET", "/metrics", 200, headers=METRICS_AUTH)
    watcher("GET", "/asyncapi.json", 200)
    staff("POST", "/api/bidders", 201, json={"bidder": "OB", "paddle": "702", "credit_limit": 10_000_000})
    staff("POST", "/api/bidders", 409, json={"bidder": "OB", "paddle": "702"})
    staff("POST", "/api/bidders", 422, json={"bidder": "", "paddle": "702"})
    watcher("POST", "/api/bidders", 401, json={"bidder": "OC", "paddle": "703"})
    bidder("POST", "/api/bidders", 403, json={"bidder": "OC", "paddle": "703"})
    staff("GET", "/api/bidders", 200)
    staff("POST", "/api/bidders/OB/tokens", 201, json={"ttl_s": 600})
    staff("POST", "/api/bidders/nobody/tokens", 404)
    staff("POST", "/api/bidders/OB/suspend", 200)
    staff("POST", "/api/bidders/OB/tokens", 409)
    staff("POST", "/api/bidders/OB/reinstate", 200)
    lot = (await new_lot(engine, reserve=9000, buy_now=50_000, vehicle={"make": "Toyota", "year": 2019}))["lot"]
    staff("POST", "/api/lots", 422, json={"title": "no price"})
    staff("GET", f"/api/lots/{lot}", 200)
    watcher("GET", f"/api/lots/{lot}", 200)
    bidder("GET", f"/api/lots/{lot}", 200)
    watcher("GET", "/api/lots/NOPE", 404)
    watcher("GET", "/api/lots", 200, params={"make": "Toyota"})
    watcher("GET", "/api/lots", 400, params={"year_min": "x"})
    bidder("POST", f"/api/lots/{lot}/bids", 200, json={"id": "b1", "max": 7000})
    bidder("POST", f"/api/lots/{lot}/bids", 409, json={"id": "b2", "amount": 7100})
    bidder("POST", f"/api/lots/{lot}/bids", 422, json={"id": "b3", "amount": -1})
    staff("POST", f"/api/lots/{lot}/bids", 403, json={"id": "b4", "amount": 9000})
    staff("POST", f"/api/lots/{lot}/floor-bids", 200, json={"paddle": "F1", "amount": 20_000})
    staff("POST", f"/api/lots/{lot}/pause", 200)
    staff("POST", f"/api/lots/{lot}/pause", 403)
    staff("POST", f"/api/lots/{lot}/dance", 404)
    staff("POST", f"/api/lots/{lot}/resume", 200)
    staff("GET", f"/api/lots/{lot}/events", 200, params={"since": 0})
    watcher("GET", f"/api/lots/{lot}/events", 200)
    watcher("GET", f"/api/lots/{lot}/events", 400, params={"since": "-1"})
    staff("POST", f"/api/lots/{lot}/close", 200)
    staff("GET", "/api/settlements", 200)
    watcher("GET", "/api/settlements", 401)
    for _ in range(100):  # the settlement is written just after the close
        records = staff("GET", "/api/settlements", 200, params={"result": "sold"}).json()["settlements"]
        if records:
            break
        time.sleep(0.05)
    record = records[0]
    body = json.dumps({"lot": lot, "settlement_id": f"settlement-{lot}", "amount_paid": record["total_due"],
                       "paid_at": now_ms()}).encode()
    watcher("POST", f"/api/settlements/{lot}/paid", 401, content=body)
    watcher("POST", f"/api/settlements/{lot}/paid", 200, content=body,
            headers={"X-Signature": sign(ESCROW_SECRET, PURPOSE_PAID, body, now_ms=now_ms())})
    watcher("POST", "/api/lots", 413, content=b"x" * 70_000)
    # The routes of auction_engine/http.py (and these documents) are exercised here; other modules'
    # routes (me.py, aftersale_http.py) check their real answers in their own tests.
    app = create_app(Config(data_dir=engine.data_dir / "doc"))
    core = {(method, route.path) for route in app.routes if isinstance(route, Route)
            and route.endpoint.__module__ in ("auction_engine.http", "auction_engine.openapi")
            for method in (route.methods or set()) - {"HEAD"}}
    covered = (core & set(OPERATIONS)) - LANDING
    hit = {(m, t) for m, path, _ in staff.seen | watcher.seen | bidder.seen for (mm, t) in covered
           if mm == m and _fits(t, path)}
    assert covered - hit <= {("GET", "/openapi.json")}
    check("LotState", staff.client.get(f"/api/lots/{lot}").json())


def _fits(template: str, path: str) -> bool:
    parts, want = template.strip("/").split("/"), path.split("?")[0].strip("/").split("/")
    return len(parts) == len(want) and all(p.startswith("{") or p == w for p, w in zip(parts, want, strict=True))


async def test_every_frame_of_a_sale_fits_the_asyncapi_document(engine: EngineProcess) -> None:
    """Welcome, snapshot, events, acks both ways, outbid, won, lost, pong and errors, in both subprotocols:
    wsclient.Peer checks each frame it receives against the document and fails on the first that does not fit."""
    lot = (await new_lot(engine, reserve=6000))["lot"]
    a = await Peer.open(engine.ws_url, engine.token("bidder", "WA", "801"))
    b = await Peer.open(engine.ws_url, engine.token("bidder", "WB", "802"), subprotocol="auction.v1.msgpack")
    staff = await Peer.open(engine.ws_url, engine.auctioneer_token)
    for peer in (a, b, staff):
        await peer.send({"type": "subscribe", "lot": lot})
        await peer.next(lambda f: f["type"] == "snapshot")
    assert (await a.bid(lot, "a1", maximum=20_000))["ok"]
    assert (await b.bid(lot, "b1", amount=40_000))["ok"]
    assert not (await b.bid(lot, "b2", amount=100))["ok"]
    await a.next(lambda f: f["type"] == "outbid")
    await a.send({"type": "ping", "t": 42})
    await a.next(lambda f: f["type"] == "pong")
    await a.send_raw("{not json")
    await a.next(lambda f: f["type"] == "error")
    await a.send({"type": "dance"})
    await a.next(lambda f: f.get("code") == "unknown_type")
    with httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {engine.auctioneer_token}"}) as client:
        assert client.post(f"/api/lots/{lot}/close").status_code == 200
    await b.next(lambda f: f["type"] == "won")
    await a.next(lambda f: f["type"] == "lost")
    await staff.next(lambda f: f["type"] == "event" and f["kind"] == "closed")
    await asyncio.gather(*(peer.close() for peer in (a, b, staff)))  # each asserts it saw no frame off the document
    assert all(peer.frames and not peer.schema_errors for peer in (a, b, staff))
