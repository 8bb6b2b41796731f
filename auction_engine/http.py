"""HTTP routes of PROTOCOL.md: each checks the role, parses strictly, and defers to the engine."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bidding.commands import Approve, Bid, Command, FairWarning, Hammer, Open, Pause, Reject, Resume, Withdraw, command_to_dict
from bidding.events import event_to_dict
from bidding.ids import ID_RULE, is_id
from bidding.log import decode_entry
from bidding.money import is_money
from bidding.reasons import Reason

from . import logs, scrape
from .actor import bid_key
from .answers import Ack, Answer, Applied, Refusal, Unwritten
from .auth import Principal
from .bidder_lots import note_bid
from .corrections import BIDDER_ACTIONS, CORRECTIONS, bidder_action, command_for, run_correction
from .engine import Engine
from .errors import (
    BadRequest,
    BadSignature,
    BidderNotFound,
    Conflict,
    EngineError,
    Forbidden,
    InvalidId,
    NotFound,
    NotSold,
    RateLimited,
    Unauthorized,
)
from .frames import UNAUTHORIZED_CLOSE, ack_frame, error_body, error_frame, reject_constant, valid_amount
from .history_cache import public_item
from .paid import check_payment, parse_payment
from .store import BadQuery, BidderExists, NotPayable, UnknownSettlement
from .store.errors import NoSuchBidder
from .store.signing import HEADER, PURPOSE_PAID, SignatureError, claim_nonce, verify
from .stream import Record

ACTIONS: dict[str, Callable[..., Command]] = {
    "open": Open, "pause": Pause, "resume": Resume, "fair_warning": FairWarning, "close": Hammer,
    "withdraw": Withdraw, "approve": Approve, "reject": Reject,
}
MAX_QUERY_INT = 2**53  # the largest integer a query parameter takes (and JSON readers hold exactly)
FULL_PAGE = 10_000  # history page for auditors and auctioneers (`verify` reads whole logs)
REFUSAL_STATUS = {
    Reason.UNKNOWN_LOT: 404, Reason.NOT_ALLOWED: 403, Reason.RATE_LIMITED: 429, Reason.BAD_AMOUNT: 422, Reason.UNAVAILABLE: 503,
}  # any other refusal is a 409


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def principal_of(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.query_params.get("token")
    principal: Principal = engine_of(request).access.check(request.app.state.signer.read(token))
    logs.add(bidder=principal.bidder)
    return principal


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"null", parse_constant=reject_constant)
    except RecursionError as exc:  # `[[[[...` a few thousand deep, inside the body limit
        raise BadRequest("the body is nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def error_response(exc: EngineError) -> JSONResponse:
    return JSONResponse(error_body(exc.code, exc.message, exc.field), status_code=exc.status)


async def server_time(request: Request) -> JSONResponse:
    return JSONResponse({"server_time": engine_of(request).clock.now_ms()})


async def register_bidder(request: Request) -> JSONResponse:
    principal_of(request).require("auctioneer")
    if request.app.state.aftersale_settings.dealers_only:
        raise Forbidden("bidders here are approved dealers (AUCTION_DEALERS_ONLY): POST /api/applications, then approve it")
    body = await json_body(request)
    bidder, paddle, limit = checked_id("bidder", body.get("bidder")), body.get("paddle"), body.get("credit_limit")
    if bidder.startswith("floor:"):
        raise InvalidId("`bidder` must not start with floor:", "bidder")
    paddle = checked_id("paddle", paddle)
    if paddle.startswith("floor:"):
        raise InvalidId("`paddle` must not start with floor:", "paddle")
    if limit is not None and not is_money(limit):
        raise BadRequest("`credit_limit` must be a non-negative integer in minor units", "credit_limit")
    unknown = set(body) - {"bidder", "paddle", "credit_limit"}
    if unknown:
        raise BadRequest(f"unknown field {sorted(unknown)[0]!r}", sorted(unknown)[0])
    engine = engine_of(request)
    try:
        await engine.store.register_bidder(bidder, paddle, limit)
    except BidderExists as exc:
        raise Conflict(str(exc) or "bidder or paddle taken", "bidder") from exc
    await engine.set_limit(bidder, limit)
    engine.paddles[paddle] = bidder
    engine.access.set(bidder)
    engine.bidder_changed(bidder)
    token = request.app.state.signer.issue("bidder", bidder, paddle)
    return JSONResponse({"bidder": bidder, "paddle": paddle, "credit_limit": limit, "token": token}, status_code=201)


async def list_bidders(request: Request) -> JSONResponse:
    """Never tokens: an auctioneer mints one on demand (`mint_token`), so a leaked listing leaks none."""
    principal_of(request).require("auctioneer")
    engine = engine_of(request)
    rows = await engine.store.list_bidders()
    return JSONResponse({"bidders": [
        {"bidder": b.bidder, "paddle": b.paddle, "credit_limit": b.credit_limit,
         "exposure": engine.credit.total(b.bidder), "suspended": b.suspended_at is not None}
        for b in rows
    ]})


async def mint_token(request: Request) -> JSONResponse:
    """A new bidder token, `{ttl_s?}` (default the configured bidder lifetime); 409 while suspended."""
    principal_of(request).require("auctioneer")
    engine = engine_of(request)
    body = await json_body(request) if await request.body() else {}
    ttl = body.get("ttl_s")
    if ttl is not None and (type(ttl) is not int or not 60 <= ttl <= 30 * 86400):
        raise BadRequest("`ttl_s` must be an integer from 60 to 2592000 seconds", "ttl_s")
    bidder = checked_id("bidder", request.path_params["bidder"])
    record = await engine.store.get_bidder(bidder)
    if record is None:
        raise BidderNotFound(f"no bidder {bidder!r}", "bidder")
    if record.suspended_at is not None:
        raise Conflict(f"bidder {record.bidder!r} is suspended: reinstate it first", "bidder")
    if request.app.state.aftersale_settings.dealers_only and not await request.app.state.aftersale.is_dealer(bidder):
        raise Forbidden(f"bidder {bidder!r} is no approved dealer (AUCTION_DEALERS_ONLY)", "bidder")
    signer = request.app.state.signer
    token = signer.issue("bidder", record.bidder, record.paddle, ttl_s=ttl)
    ttl_s = ttl or signer.bidder_ttl_s
    return JSONResponse({"bidder": record.bidder, "paddle": record.paddle, "token": token, "ttl_s": ttl_s}, status_code=201)


async def suspend_bidder(request: Request) -> JSONResponse:
    """Refuse the bidder's tokens from now on, and close its open sockets with `suspended` / 4401.
    Every token issued before now stays refused after a reinstatement."""
    return await _set_suspended(request, suspend=True)


async def reinstate_bidder(request: Request) -> JSONResponse:
    """Lift a suspension; the bidder needs a newly minted token (the old ones stay refused)."""
    return await _set_suspended(request, suspend=False)


async def _set_suspended(request: Request, suspend: bool) -> JSONResponse:
    principal_of(request).require("auctioneer")
    engine = engine_of(request)
    bidder = checked_id("bidder", request.path_params["bidder"])
    record = await engine.store.get_bidder(bidder)
    if record is None:
        raise BidderNotFound(f"no bidder {bidder!r}", "bidder")
    now = engine.clock.now_ms()
    tokens_after = now if suspend else record.tokens_after
    try:
        record = await engine.store.set_suspended(bidder, now if suspend else None, tokens_after)
    except NoSuchBidder as exc:
        raise BidderNotFound(f"no bidder {bidder!r}", "bidder") from exc
    engine.access.set(bidder, suspend, tokens_after)
    engine.bidder_changed(bidder)
    if suspend:
        engine.hub.end_bidder(bidder, error_frame("suspended", "this bidder is suspended"), UNAUTHORIZED_CLOSE)
    return JSONResponse({"bidder": bidder, "paddle": record.paddle, "suspended": suspend})


async def create_lot(request: Request) -> JSONResponse:
    principal_of(request).require("auctioneer")
    body = await json_body(request)
    if "lot" not in body:
        body["lot"] = "L" + uuid.uuid4().hex[:10].upper()
    if body["lot"] == "me":  # `subscribe` to `me` is a bidder's own channel (me.py)
        raise InvalidId("`lot` 'me' is reserved for the bidders' own channel", "lot")
    actor = await engine_of(request).create_lot(body)
    return JSONResponse(actor.view_for("auctioneer", None), status_code=201)


def _int_param(request: Request, name: str) -> int | None:
    """A non-negative integer query parameter; larger than any seq, year or price is refused here,
    not by the database (an out-of-range bind was an unhandled 500)."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value) if len(value) <= 20 else None
    except ValueError:
        number = None
    if number is None or not 0 <= number <= MAX_QUERY_INT:
        raise BadRequest(f"`{name}` must be an integer from 0 to {MAX_QUERY_INT}", name)
    return number


async def list_lots(request: Request) -> JSONResponse:
    principal = principal_of(request)
    engine = engine_of(request)
    q = request.query_params
    limit = _int_param(request, "limit") or 50
    if not 0 < limit <= 200:
        raise BadRequest("`limit` must be between 1 and 200", "limit")
    try:
        rows, cursor = await engine.store.query_lots(
            status=q.get("status") or None, make=q.get("make") or None,
            year_min=_int_param(request, "year_min"), year_max=_int_param(request, "year_max"),
            price_max=_int_param(request, "price_max"), q=q.get("q") or None,
            sort=q.get("sort") or "ending", limit=limit, cursor=q.get("cursor") or None,
        )
    except BadQuery as exc:
        raise BadRequest(str(exc), exc.field) from exc
    now = engine.clock.now_ms()
    lots = []
    for row in rows:
        actor = engine.lots.get(row["lot"])
        lots.append(actor.view_for(principal.role, principal.bidder, now) if actor else row)
    return JSONResponse({"lots": lots, "cursor": cursor, "server_time": now})


async def get_lot(request: Request) -> JSONResponse:
    principal = principal_of(request)
    engine = engine_of(request)
    actor = await engine.actor(request.path_params["lot"])
    return JSONResponse(actor.view_for(principal.role, principal.bidder, engine.clock.now_ms()))


async def lot_action(request: Request) -> JSONResponse:
    principal = principal_of(request)
    engine = engine_of(request)
    action = request.path_params["action"]
    if action in BIDDER_ACTIONS:  # docs/rules.md: accept_counter, decline_counter, reconfirm
        actor = await engine.actor(request.path_params["lot"])
        answer = await bidder_action(engine, principal.require("bidder"), actor.lot, action)
        if not isinstance(answer, Applied):
            return _refusal(answer)
        return JSONResponse(actor.view_for("bidder", principal.bidder, engine.clock.now_ms()))
    principal.require("auctioneer")
    command_type = ACTIONS.get(action)
    if command_type is None and action not in CORRECTIONS:
        raise NotFound(f"no action {action!r}; one of {', '.join([*ACTIONS, *CORRECTIONS])}", "action")
    actor = await engine.actor(request.path_params["lot"])
    if command_type is None:  # docs/rules.md "Clerk corrections" and "Counter-offers": the actions with a body
        body = await json_body(request) if await request.body() else {}
        answer = await run_correction(engine, actor.lot, command_for(action, engine.clock.now_ms(), body))
    else:
        answer = await engine.call(actor.lot, command_type(at=engine.clock.now_ms()))
    if not isinstance(answer, Applied):
        return _refusal(answer)
    return JSONResponse(actor.view_for("auctioneer", None, engine.clock.now_ms()))


def _refusal(answer: Answer) -> JSONResponse:
    """A staff command's refusal (or an unwritten log) as an HTTP error."""
    if isinstance(answer, Refusal):
        body = error_body(answer.reason.value, f"refused: {answer.reason.value}")
        if answer.next_min is not None:
            body["error"]["next_min"] = answer.next_min
        return JSONResponse(body, status_code=REFUSAL_STATUS.get(answer.reason, 409))
    message = answer.message if isinstance(answer, Unwritten) else f"unexpected answer {type(answer).__name__}"
    return JSONResponse(error_body("unavailable", message), status_code=503)


def checked_id(name: str, value: Any) -> str:
    """`value` if it is an id (`bidding/ids.py`), else 422 `invalid_id` naming the field."""
    if not isinstance(value, str) or not is_id(value):
        raise InvalidId(f"`{name}` must be an id: {ID_RULE}", name)
    return value


def _bid_id(body: dict[str, Any], required: bool) -> str:
    bid_id = body.get("id")
    if bid_id is None and not required:
        return uuid.uuid4().hex
    return checked_id("id", bid_id)


async def place_bid(request: Request) -> JSONResponse:
    principal = principal_of(request).require("bidder")
    engine = engine_of(request)
    lot = request.path_params["lot"]
    body = await json_body(request)
    admitted = engine.admit_bid(principal, lot, _bid_id(body, required=True), body.get("amount"), body.get("max"))
    if isinstance(admitted, Refusal):
        return _ack_response(admitted)
    answer = await engine.call(lot, admitted.command, admitted.key)
    if isinstance(answer, Ack):
        note_bid(engine.redis, principal.bidder, lot)
    return _ack_response(answer)


async def floor_bid(request: Request) -> JSONResponse:
    principal_of(request).require("auctioneer")
    engine = engine_of(request)
    lot = request.path_params["lot"]
    body = await json_body(request)
    await engine.actor(lot)
    paddle, amount = checked_id("paddle", body.get("paddle")), body.get("amount")
    bid_id = _bid_id(body, required=False)
    if not valid_amount(amount):
        return _ack_response(Refusal(lot, bid_id, Reason.BAD_AMOUNT))
    bidder = f"floor:{paddle}"
    command = Bid(at=engine.clock.now_ms(), bidder=bidder, paddle=paddle, id=bid_id, amount=amount, floor=True)
    return _ack_response(await engine.call(lot, command, bid_key(bidder, bid_id)))


def _ack_response(answer: Answer) -> JSONResponse:
    """A bid's answer: its ack frame (200, or the refusal's status), or an HTTP error."""
    if isinstance(answer, Ack):
        return JSONResponse(ack_frame(answer))
    if isinstance(answer, Refusal):
        return JSONResponse(ack_frame(answer), status_code=REFUSAL_STATUS.get(answer.reason, 409))
    return _refusal(answer)


async def lot_events(request: Request) -> Response:
    """A page of a lot's history, read straight from its log: a reader never wakes a settled lot
    nor waits on its actor. Watchers and bidders get pages of at most `anonymous_page` events
    (larger asks are cut short; `next` < `head` says there is more); watchers are rate limited per
    address and bidders per bidder, as their loops slowed other bidders' acks (issue 9, item 10)."""
    principal = principal_of(request)
    engine = engine_of(request)
    full = principal.role in ("auctioneer", "auditor")
    now = engine.clock.now_ms() / 1000
    if principal.role == "watcher" and not engine.reads.allow(_address(request), now):
        raise RateLimited("too many history reads from this address; slow down")
    if principal.role == "bidder" and not engine.reads.allow(f"bidder:{principal.bidder}", now):
        raise RateLimited("too many history reads by this bidder; slow down")  # however many addresses
    lot = request.path_params["lot"]
    since = _int_param(request, "since") or 0
    limit = min(_int_param(request, "limit") or 1000, FULL_PAGE if full else engine.config.anonymous_page)
    head = await engine.history_head(lot)  # outside the turn: on a cluster it may wait for a takeover
    async with engine.history_turn:
        if full:
            records = await engine.stream.read(lot, since, head, count=limit) if since < head else []
            out = [_staff_item(record) for record in records]
            last = out[-1]["seq"] if out else since
            return _HistoryPage({"lot": lot, "events": out, "next": last, "head": head})
        upto = min(head, since + limit)
        items = engine.history.page(lot, since, upto) if since < head else []
        if items is None:
            records = await engine.stream.read(lot, since, head, count=limit)
            items = engine.history.keep(lot, records)
            upto = records[-1].seq if records else since
        last = upto if items else since
        body = b'{"lot":%b,"events":[%b],"next":%d,"head":%d}' % (orjson.dumps(lot), b",".join(items), last, head)
        return Response(body, media_type="application/json")


class _HistoryPage(JSONResponse):
    """A staff history page encoded by orjson: 500 events took 4 ms of the loop in `json.dumps`,
    while bids waited behind it. The same JSON (compact, UTF-8); money is an int below 2**53."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)  # as json.dumps, an int key as a str


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _staff_item(record: Record) -> dict[str, Any]:
    """The public item with what staff also see: the command, its events, the hash, the raw entry."""
    item = public_item(record)
    try:
        entry = decode_entry(record.entry, record.hash)
        item["command"] = command_to_dict(entry.command)
        item["events"] = [event_to_dict(e) for e in entry.events]
    except Exception as exc:  # a damaged entry is still served, raw, for the verifier to name
        item["command"] = item["events"] = None
        item["problem"] = f"undecodable entry: {exc}"
    item["hash"] = record.hash.hex()
    item["entry"] = base64.b64encode(record.entry).decode()
    return item


async def list_settlements(request: Request) -> JSONResponse:
    principal_of(request).require("auctioneer", "auditor")
    q = request.query_params
    paid = {"true": True, "false": False}.get(q.get("paid", ""))
    records = await engine_of(request).store.list_settlements(
        result=q.get("result") or None, paid=paid, winner=q.get("winner") or None, limit=_int_param(request, "limit") or 500,
    )
    return JSONResponse({"settlements": [r.to_dict() for r in records]})


async def settlement_paid(request: Request) -> JSONResponse:
    """Escrow's callback, signed with the escrow secret (never a bearer token): the signature must
    be fresh, for purpose `escrow.paid`, and not seen before on any node; then the body must match
    the ledger (`paid.py`). Only then is the lot paid and its winner's credit freed."""
    engine = engine_of(request)
    body = await request.body()
    try:
        signed = verify(
            request.app.state.escrow_secret, PURPOSE_PAID, body, request.headers.get(HEADER), now_ms=engine.clock.now_ms(),
        )
        await claim_nonce(engine.redis, PURPOSE_PAID, signed)
    except SignatureError as exc:
        raise BadSignature(f"X-Signature {exc.reason.value}", HEADER) from None
    payment = parse_payment(body)
    lot = request.path_params["lot"]
    settlement = await engine.store.get_settlement(lot)
    if settlement is None:
        raise NotFound(f"no settlement for lot {lot!r}", "lot")
    check_payment(payment, lot, settlement)
    try:
        record = await engine.store.mark_paid(lot)
    except UnknownSettlement as exc:
        raise NotFound(f"no settlement for lot {lot!r}", "lot") from exc
    except NotPayable as exc:
        raise NotSold(f"lot {lot!r} was not sold", "lot") from exc
    engine.mark_paid(lot)
    await engine.release_paid(lot, record.winner)
    return JSONResponse(record.to_dict())


async def healthz(request: Request) -> JSONResponse:
    """503 while Redis or the database does not answer within a second. Quarantined lots (a
    damaged log, see `integrity.py`) are listed but leave the status 200: the rest of the sale runs."""
    engine = engine_of(request)
    checks = {"redis": await _answers(engine.redis.ping()), "database": await _answers(engine.store.ping())}
    ok = all(checks.values())
    return JSONResponse({"ok": ok, **checks, "quarantined": engine.quarantined}, status_code=200 if ok else 503)


async def _answers(check: Awaitable[Any]) -> bool:
    try:
        return bool(await asyncio.wait_for(check, 1.0))
    except Exception:
        return False


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text, for the holder of the metrics token alone: the figures tell an outsider how
    busy a sale is and when the engine is weakest (its loop lag, its Redis round trips)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    token: str = request.app.state.metrics_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized("/metrics takes `Authorization: Bearer <metrics token>` (METRICS_TOKEN, else the data dir's "
                           "metrics-token file)")
    exposition: scrape.Exposition = request.app.state.exposition
    return Response(await exposition.text(), media_type=CONTENT_TYPE_LATEST)


async def cluster_info(request: Request) -> JSONResponse:
    """Scale-out: this node, the live nodes and the lots this node writes (staff only)."""
    principal_of(request).require("auctioneer")
    cluster = engine_of(request).cluster
    if cluster is None:
        return JSONResponse({"node": None, "nodes": [], "owned": None, "mode": "single"})
    return JSONResponse({"mode": "cluster", **await cluster.describe()})


async def lot_owner(request: Request) -> JSONResponse:
    """Which node writes the lot now, and its URL: a client may connect there to save a hop."""
    engine = engine_of(request)
    lot = checked_id("lot", request.path_params["lot"])
    if engine.cluster is None:
        await engine.actor(lot)
        return JSONResponse({"lot": lot, "node": None, "epoch": None, "mode": "single"})
    if not await engine.cluster.exists(lot):
        raise NotFound(f"no lot {lot!r}", "lot")
    return JSONResponse(await engine.cluster.owner(lot))
