"""`/openapi.json` (OpenAPI 3.1) and `/asyncapi.json` (AsyncAPI 3.0), generated from the app's routes.

The paths, methods and path parameters come from the routes the app really has, the descriptions
from the handlers' docstrings, the shapes from `schemas.py`. What a route takes and answers is
kept in `OPERATIONS`, one row per route; `undocumented(routes)` names a route without a row (and a
row without a route), and `tests/engine/test_openapi.py` fails on either, so the document cannot
drift from the code. The engine tests validate real answers against it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from .schemas import CLIENT_FRAMES, SCHEMAS, SERVER_FRAMES, Schema, ref

TITLE = "auction-engine"
VERSION = "1"
ANY, STAFF = ("watcher", "bidder", "auctioneer", "auditor"), ("auctioneer", "auditor")
INT_QUERY: Schema = {"type": "integer", "minimum": 0, "maximum": 2**53}
STR_QUERY: Schema = {"type": "string"}
# Content types other than JSON, by the name an operation gives its answer.
RAW = {"metrics": ("text/plain", {"type": "string"}), "html": ("text/html", {"type": "string"}),
       "file": ("application/octet-stream", {"type": "string"}), "pdf": ("application/pdf", {"type": "string"})}
STATUS_TEXT = {200: "OK", 201: "Created", 400: "Bad request", 401: "No valid token", 403: "Role not allowed",
               404: "Not found", 409: "Refused or conflicting", 413: "Body too large", 422: "Invalid field",
               429: "Rate limited", 503: "Redis or the database unavailable"}


@dataclass(frozen=True, slots=True)
class Operation:
    """What one route takes and answers: `ok` is (status, schema name) of success; `errors` the
    statuses it may answer with an Error body (a refused bid answers its Ack instead)."""

    summary: str
    roles: tuple[str, ...]
    ok: tuple[int, str]
    body: str | None = None
    errors: tuple[int, ...] = ()
    query: dict[str, Schema] = field(default_factory=dict)
    refusal: str = "Error"


_AUTH = (401, 403)
_LOT = (401, 403, 404)
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/api/time"): Operation("The server clock", ANY, (200, "ServerTime")),
    ("POST", "/api/bidders"): Operation("Register a bidder", ("auctioneer",), (201, "BidderCreated"), "BidderNew",
                                        (400, *_AUTH, 409, 413, 422)),
    ("GET", "/api/bidders"): Operation("List bidders", ("auctioneer",), (200, "BidderList"), None, _AUTH),
    ("POST", "/api/bidders/{bidder}/tokens"): Operation("Mint a bidder token", ("auctioneer",), (201, "TokenMinted"),
                                                        "TokenAsk", (400, *_AUTH, 404, 409, 422)),
    ("POST", "/api/bidders/{bidder}/suspend"): Operation("Suspend a bidder", ("auctioneer",), (200, "Suspension"), None,
                                                         (*_AUTH, 404, 422)),
    ("POST", "/api/bidders/{bidder}/reinstate"): Operation("Reinstate a bidder", ("auctioneer",), (200, "Suspension"), None,
                                                           (*_AUTH, 404, 422)),
    ("POST", "/api/lots"): Operation("Create a lot", ("auctioneer",), (201, "LotState"), "LotSpec", (400, *_AUTH, 409, 413, 422)),
    ("GET", "/api/lots"): Operation("Search the catalogue", ANY, (200, "LotList"), None, (400, 401), query={
        "status": STR_QUERY, "make": STR_QUERY, "year_min": INT_QUERY, "year_max": INT_QUERY, "price_max": INT_QUERY,
        "q": STR_QUERY, "sort": {"enum": ["ending", "price", "-price", "year", "-year", "newest"]},
        "limit": {"type": "integer", "minimum": 1, "maximum": 200}, "cursor": STR_QUERY}),
    ("GET", "/api/lots/{lot}"): Operation("A lot's state as the caller's role sees it", ANY, (200, "LotState"), None, (401, 404)),
    ("GET", "/api/lots/{lot}/events"): Operation("A page of a lot's log", ANY, (200, "EventPage"), None, (400, 401, 404, 429),
                                                 query={"since": INT_QUERY, "limit": INT_QUERY}),
    ("POST", "/api/lots/{lot}/bids"): Operation("Bid", ("bidder",), (200, "Ack"), "BidAsk", (400, *_LOT, 409, 413, 422, 429, 503),
                                                refusal="Ack"),
    ("POST", "/api/lots/{lot}/floor-bids"): Operation("Enter a floor bid", ("auctioneer",), (200, "Ack"), "FloorBidAsk",
                                                      (400, *_LOT, 409, 413, 422, 503), refusal="Ack"),
    ("POST", "/api/lots/{lot}/{action}"): Operation(
        "Run a lot: open, pause, resume, fair_warning, close, withdraw, approve, reject; retract_last {reason}, asking {amount}, "
        "reopen, counter {amount}, inspection {version, report_url} (docs/rules.md); a bidder's accept_counter, "
        "decline_counter, reconfirm", ("auctioneer",),
        (200, "LotState"),
        None, (*_LOT, 409, 503)),
    ("GET", "/api/settlements"): Operation("The settlement ledger", STAFF, (200, "SettlementList"), None, (400, *_AUTH), query={
        "result": STR_QUERY, "paid": {"enum": ["true", "false"]}, "winner": STR_QUERY, "limit": INT_QUERY}),
    ("GET", "/api/makes"): Operation("The catalogue's makes, each once, with English and Chinese names", ANY,
                                     (200, "MakeList")),
    ("POST", "/api/settlements/{lot}/mark_paid"): Operation(
        "Staff mark a sold lot paid (who in `by`, recorded in its history); idempotent", ("auctioneer",), (200, "Settlement"),
        "MarkPaid", (400, 401, 403, 404, 409)),
    ("POST", "/api/settlements/{lot}/paid"): Operation(
        "Escrow's signed callback (X-Signature, never a token)", ("escrow",), (200, "Settlement"), "Payment",
        (401, 404, 409, 413, 422)),
    # After the hammer and before the first bid (aftersale_http.py, docs/settlement.md).
    ("POST", "/api/applications"): Operation("A dealer applies (no token)", ANY, (201, "ApplicationCreated"), "ApplicationNew",
                                             (400, 409, 413, 429)),
    ("GET", "/api/applications"): Operation("Dealer applications", STAFF, (200, "ApplicationList"), None, _AUTH,
                                            query={"status": {"enum": ["pending", "approved", "rejected"]}}),
    ("POST", "/api/applications/{application}/approve"): Operation(
        "Approve a dealer as a bidder", ("auctioneer",), (200, "Application"), "ApplicationApproval",
        (400, *_AUTH, 404, 409, 422)),
    ("POST", "/api/applications/{application}/reject"): Operation(
        "Reject a dealer with a reason", ("auctioneer",), (200, "Application"), "ApplicationRejection", (400, *_AUTH, 404, 409)),
    ("POST", "/api/deposits"): Operation("Pay a deposit through escrow", ("bidder",), (201, "Deposit"), "DepositAsk",
                                         (400, *_AUTH)),
    ("GET", "/api/deposits"): Operation("A dealer's deposits and buying power", ("bidder", *STAFF), (200, "DepositList"), None,
                                        (*_AUTH, 422), query={"bidder": STR_QUERY}),
    ("POST", "/api/deposits/{deposit}/paid"): Operation(
        "Escrow's signed deposit callback (X-Signature, the deposit secret)", ("escrow",), (200, "Deposit"), "DepositPayment",
        (400, 401, 404, 409)),
    ("POST", "/api/deposits/{deposit}/refund"): Operation("Give a deposit back when nothing is owed", ("bidder", "auctioneer"),
                                                          (200, "Deposit"), None, (*_AUTH, 404, 409)),
    ("GET", "/api/lots/{lot}/contract.pdf"): Operation("The bill of sale (buyer and auctioneer)", ("bidder", "auctioneer"),
                                                       (200, "pdf"), None, (*_AUTH, 404, 409, 422)),
    ("GET", "/api/settlements/{lot}"): Operation("A settlement with its history", ("bidder", *STAFF), (200, "SettlementRecord"),
                                                 None, (*_AUTH, 404, 422)),
    ("POST", "/api/settlements/{lot}/receipt"): Operation("The buyer confirms receipt: the seller is paid", ("bidder",),
                                                          (200, "Guarantee"), None, (*_AUTH, 404, 409)),
    ("POST", "/api/settlements/{lot}/claim"): Operation("The buyer's claim inside the window", ("bidder",), (201, "Claim"),
                                                        "ClaimAsk", (400, *_AUTH, 404, 409, 422)),
    ("POST", "/api/settlements/{lot}/claim/resolve"): Operation("Resolve a claim", ("auctioneer",), (200, "Claim"),
                                                                "ClaimResolution", (400, *_AUTH, 404, 409, 422)),
    ("POST", "/api/settlements/{lot}/transport"): Operation(
        "The carrier's signed status callback (X-Signature, the logistics secret)", ("escrow",), (200, "Transport"),
        "TransportStatus", (400, 401, 404, 409, 422)),
    ("GET", "/api/me/purchases"): Operation("A buyer's won lots, their guarantee and transport", ("bidder",), (200, "Purchases"),
                                            None, _AUTH),
    # Sales: staggered ends and group soft close (docs/rules.md "Sales").
    ("POST", "/api/sales"): Operation("Create a sale of lots ending one after another", ("auctioneer",), (201, "Sale"),
                                      "SaleNew", (400, *_AUTH, 404, 409, 413, 422, 503)),
    ("GET", "/api/sales/{sale}"): Operation("A sale and its lots' end times", ANY, (200, "Sale"), None, (401, 404, 422)),
    ("PUT", "/api/sales/{sale}/budget"): Operation("Set the bidder's own budget for a sale", ("bidder",), (200, "Budget"),
                                                   "BudgetAsk", (400, *_AUTH, 404, 413, 422, 503)),
    ("GET", "/api/sales/{sale}/budget"): Operation("The bidder's own budget for a sale", ("bidder",), (200, "Budget"), None,
                                                   (*_AUTH, 404, 422)),
    ("GET", "/metrics"): Operation("Prometheus metrics (the metrics token, not a JWT)", ("metrics",), (200, "metrics"), None,
                                   (401,)),
    ("GET", "/healthz"): Operation("Redis and the database answer", ANY, (200, "Health"), None, (503,)),
    ("GET", "/api/cluster"): Operation("This node, the live nodes and the lots it writes", ("auctioneer",), (200, "ClusterInfo"),
                                       None, _AUTH),
    ("GET", "/api/lots/{lot}/owner"): Operation("Which node writes the lot now", ANY, (200, "LotOwner"), None, (401, 404, 422)),
    ("GET", "/api/me/lots"): Operation("The lots a bidder bid on or watches", ("bidder",), (200, "MyLots"), None, _AUTH),
    ("GET", "/api/me/settlements"): Operation("A bidder's own settlements", ("bidder",), (200, "SettlementList"), None, _AUTH),
    ("GET", "/api/me/watchlist"): Operation("A bidder's watchlist", ("bidder",), (200, "Watchlist"), None, _AUTH),
    ("PUT", "/api/me/watchlist/{lot}"): Operation("Watch a lot", ("bidder",), (200, "Watchlist"), None, (*_AUTH, 404, 422)),
    ("DELETE", "/api/me/watchlist/{lot}"): Operation("Stop watching a lot", ("bidder",), (200, "Watchlist"), None,
                                                     (*_AUTH, 422)),
    ("GET", "/api/premium"): Operation("The buyer's premium on a hammer price", ANY, (200, "PremiumQuote"), None, (400, 401),
                                       query={"price": INT_QUERY}),
    ("GET", "/openapi.json"): Operation("This document", ANY, (200, "OpenAPI")),
    ("GET", "/asyncapi.json"): Operation("The WebSocket frames (AsyncAPI 3.0)", ANY, (200, "AsyncAPI")),
    ("GET", "/"): Operation("The bidder room", ANY, (200, "html")),
    ("GET", "/console"): Operation("The auctioneer console", ANY, (200, "html")),
    ("GET", "/static/{path}"): Operation("The pages' scripts and styles", ANY, (200, "file"), None, (404,)),
}
# Documented ahead of routes other changes are adding (scale-out; a bidder's own pages): rows
# that may lack their route until those land. Once they have, these sets can go.
SCALE_OUT = {("GET", "/api/cluster"), ("GET", "/api/lots/{lot}/owner")}
LANDING = {*SCALE_OUT, ("GET", "/api/me/lots"), ("GET", "/api/me/settlements"), ("GET", "/api/me/watchlist"),
           ("PUT", "/api/me/watchlist/{lot}"), ("DELETE", "/api/me/watchlist/{lot}"), ("GET", "/api/premium")}
WEBSOCKETS = {"/ws"}  # documented in /asyncapi.json


def _endpoints(routes: list[BaseRoute]) -> list[tuple[str, str, Any]]:
    """(method, path, handler) of every HTTP route; a mount stands for `<path>/{path}`."""
    found: list[tuple[str, str, Any]] = []
    for route in routes:
        if isinstance(route, Route):
            found += [(method, route.path, route.endpoint) for method in sorted((route.methods or set()) - {"HEAD"})]
        elif isinstance(route, Mount):
            found.append(("GET", route.path + "/{path}", route.app))
    return found


def undocumented(routes: list[BaseRoute]) -> list[str]:
    """Routes with no row in OPERATIONS (or no WebSocket document), and rows whose route the app lacks."""
    seen = {(method, path) for method, path, _ in _endpoints(routes)}
    missing = [f"{method} {path}" for method, path in sorted(seen) if (method, path) not in OPERATIONS]
    for route in routes:
        if isinstance(route, WebSocketRoute) and route.path not in WEBSOCKETS:
            missing.append(f"WEBSOCKET {route.path}")
    optional = {("GET", "/"), ("GET", "/console"), ("GET", "/static/{path}"),  # served only with a web dir
                *LANDING}
    stale = [f"{m} {p} (no such route)" for m, p in OPERATIONS if (m, p) not in seen and (m, p) not in optional]
    return missing + stale


def _content(name: str) -> dict[str, Any]:
    if name in RAW:
        kind, schema = RAW[name]
        return {kind: {"schema": schema}}
    if name in ("OpenAPI", "AsyncAPI"):
        return {"application/json": {"schema": {"type": "object"}}}
    return {"application/json": {"schema": ref(name)}}


def _operation(method: str, path: str, handler: Any, op: Operation) -> dict[str, Any]:
    doc = inspect.getdoc(handler) if inspect.isfunction(handler) else None
    status, name = op.ok
    responses: dict[str, Any] = {str(status): {"description": STATUS_TEXT[status], "content": _content(name)}}
    for code in op.errors:
        body = op.refusal if code in (403, 404, 409, 422, 429) and op.refusal != "Error" else "Error"
        schema = {"oneOf": [ref("Error"), ref(body)]} if body != "Error" else ref("Error")
        responses[str(code)] = {"description": STATUS_TEXT[code], "content": {"application/json": {"schema": schema}}}
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
              for p in _path_params(path)]
    params += [{"name": q, "in": "query", "required": False, "schema": s} for q, s in op.query.items()]
    out: dict[str, Any] = {
        "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '') or 'root'}",
        "summary": op.summary, "x-roles": list(op.roles), "responses": responses,
    }
    if doc:
        out["description"] = doc
    if params:
        out["parameters"] = params
    if op.body:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(op.body)}}}
    if op.roles == ("metrics",):
        out["security"] = [{"metrics": []}]
    elif op.roles != ANY and op.roles != ("escrow",):
        out["security"] = [{"bearer": []}]
    elif op.roles == ANY:
        out["security"] = [{}, {"bearer": []}]
    return out


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def openapi_document(routes: list[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes (a route without a row in OPERATIONS is left out;
    the test of `undocumented` keeps there being none)."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, handler in _endpoints(routes):
        op = OPERATIONS.get((method, path))
        if op is not None:
            paths.setdefault(path, {})[method.lower()] = _operation(method, path, handler, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "HTTP API of the auction engine (docs/protocol.md). The WebSocket frames: /asyncapi.json."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                                "metrics": {"type": "http", "scheme": "bearer",
                                            "description": "METRICS_TOKEN, else the data dir's metrics-token file"}},
        },
    }


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0: the `/ws` channel, every frame a client sends and the server answers."""
    messages = {name: {"name": name, "payload": ref(name)} for name in (*SERVER_FRAMES, *CLIENT_FRAMES)}
    channel_messages = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "WebSocket frames of docs/protocol.md, in subprotocols auction.v1.json and auction.v1.msgpack "
                                "(the same maps)."},
        "channels": {"ws": {"address": "/ws", "messages": channel_messages}},
        "operations": {
            "send": {"action": "send", "channel": {"$ref": "#/channels/ws"},
                     "messages": [{"$ref": f"#/channels/ws/messages/{n}"} for n in CLIENT_FRAMES]},
            "receive": {"action": "receive", "channel": {"$ref": "#/channels/ws"},
                        "messages": [{"$ref": f"#/channels/ws/messages/{n}"} for n in SERVER_FRAMES]},
        },
        "components": {"schemas": SCHEMAS, "messages": messages},
    }


async def openapi_endpoint(request: Request) -> JSONResponse:
    """The OpenAPI 3.1 document of this engine's HTTP routes."""
    return JSONResponse(openapi_document(request.app.routes))


async def asyncapi_endpoint(request: Request) -> JSONResponse:
    """The AsyncAPI 3.0 document of the WebSocket frames."""
    return JSONResponse(asyncapi_document())
