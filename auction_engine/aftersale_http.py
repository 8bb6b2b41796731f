"""HTTP routes after the hammer and before the first bid (issue 15, docs/settlement.md): dealer
applications and deposits, the contract PDF, receipt and claims, transport status, a settlement's
history. Each checks the role, parses strictly, and hands the step to `store.aftersale.AfterSale`.

Callbacks from outside parties carry no bearer token: they are signed (`store/signing.py`), each
kind with its own secret and purpose, fresh and never replayed; the body then names what it
authorizes and is checked against the records.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bidding.ids import is_id
from bidding.money import is_money

from .auth import load_secret
from .config import Config, env_number
from .errors import BadRequest, BadSignature, Conflict, Forbidden, RateLimited, StepRefused
from .http import checked_id, engine_of, json_body, principal_of
from .secret_file import load_or_create
from .store import BidderExists, Store
from .store import errors as store_errors
from .store.aftersale import DAY_MS, WINDOW_FROM, AfterSale
from .store.dealers import CREDIT_CODE, MAX_DOCUMENTS
from .store.guarantee import CLAIM_REASONS, OUTCOMES
from .store.signing import HEADER, PURPOSE_DEPOSIT_PAID, PURPOSE_TRANSPORT_STATUS, SignatureError, claim_nonce, verify
from .store.transport import STATUSES

_PHONE = re.compile(r"\+?[0-9][0-9 -]{4,30}")
_URL = re.compile(r"https?://[^\s/?#]+[^\s\x00-\x1f\x7f]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AfterSaleSettings:
    """AUCTION_CLAIMS_WINDOW_S (default 7 days), AUCTION_CLAIMS_WINDOW_FROM (`paid` or `delivered`),
    AUCTION_DEPOSIT_MULTIPLE (buying power per unit of deposit, default 10), AUCTION_DEALERS_ONLY
    (bidder tokens only for approved dealers: no direct `POST /api/bidders`), LOGISTICS_URL, and one
    secret per inbound purpose: DEPOSIT_SECRET (escrow's deposit callback) and LOGISTICS_SECRET
    (transport orders out, status callbacks in), else `<data-dir>/deposit-secret`, `logistics-secret`."""

    window_ms: int
    window_from: str
    deposit_multiple: int
    logistics_url: str | None
    deposit_secret: str
    logistics_secret: str
    dealers_only: bool = False
    contract_quiet_s: float = 5.0
    contract_defer_max_s: float = 600.0
    contract_busy_every_s: float = 10.0

    @classmethod
    def from_env(cls, config: Config, escrow_secret: str) -> AfterSaleSettings:
        env = os.environ
        window_from = env.get("AUCTION_CLAIMS_WINDOW_FROM") or "paid"
        if window_from not in WINDOW_FROM:
            raise SystemExit(f"AUCTION_CLAIMS_WINDOW_FROM must be one of {', '.join(WINDOW_FROM)}")
        deposit = env.get("DEPOSIT_SECRET") or load_or_create(config.data_dir / "deposit-secret")
        logistics = env.get("LOGISTICS_SECRET") or load_or_create(config.data_dir / "logistics-secret")
        others = [load_secret(config.auth_secret, config.data_dir), escrow_secret]
        for name, secret in (("DEPOSIT_SECRET", deposit), ("LOGISTICS_SECRET", logistics)):
            if any(hmac.compare_digest(secret.encode(), other.encode()) for other in others) or deposit == logistics:
                raise SystemExit(f"refusing to start: {name} equals another secret; give each purpose its own")
        return cls(
            window_ms=int(env_number(env, "AUCTION_CLAIMS_WINDOW_S", float, 7 * DAY_MS / 1000) * 1000),
            window_from=window_from,
            deposit_multiple=env_number(env, "AUCTION_DEPOSIT_MULTIPLE", int, 10),
            logistics_url=env.get("LOGISTICS_URL") or None,
            deposit_secret=deposit,
            logistics_secret=logistics,
            dealers_only=(env.get("AUCTION_DEALERS_ONLY") or "").lower() in ("1", "true", "yes"),
            contract_quiet_s=env_number(env, "AUCTION_CONTRACT_QUIET_S", float, 5.0),
            contract_defer_max_s=env_number(env, "AUCTION_CONTRACT_DEFER_MAX_S", float, 600.0),
            contract_busy_every_s=env_number(env, "AUCTION_CONTRACT_BUSY_EVERY_S", float, 10.0),
        )


def open_aftersale(config: Config, store: Store, escrow_secret: str,
                   busy: Callable[[float], bool] | None = None) -> tuple[AfterSale, AfterSaleSettings]:
    """`busy`: `Engine.bidding_within`, so contracts rendered ahead wait while a sale runs here."""
    settings = AfterSaleSettings.from_env(config, escrow_secret)
    service = AfterSale(
        store, window_ms=settings.window_ms, window_from=settings.window_from, deposit_multiple=settings.deposit_multiple,
        logistics_url=settings.logistics_url, logistics_secret=settings.logistics_secret,
        retry_base_s=config.escrow_retry_base_s, retry_cap_s=config.escrow_retry_cap_s, lease_s=config.escrow_lease_s,
        busy=busy, quiet_s=settings.contract_quiet_s, defer_max_s=settings.contract_defer_max_s,
        busy_every_s=settings.contract_busy_every_s,
    )
    return service, settings


def aftersale_of(request: Request) -> AfterSale:
    service: AfterSale = request.app.state.aftersale
    return service


def settings_of(request: Request) -> AfterSaleSettings:
    settings: AfterSaleSettings = request.app.state.aftersale_settings
    return settings


Handler = Callable[[Request], Awaitable[Response]]


def refusals(handler: Handler) -> Handler:
    """The store's typed refusals on the wire with their own code and status."""

    async def route(request: Request) -> Response:
        try:
            return await handler(request)
        except store_errors.StepRefused as exc:
            raise StepRefused(exc.code, exc.message, exc.field, exc.status) from None

    route.__name__ = handler.__name__
    route.__doc__ = handler.__doc__
    return route


def _text(body: dict[str, Any], name: str, limit: int, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > limit or any(ord(c) < 32 for c in value):
        raise BadRequest(f"`{name}` is a string of 1 to {limit} characters without control characters", name)
    return value.strip()


def _urls(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or len(value) > MAX_DOCUMENTS or not all(
        isinstance(v, str) and len(v) <= 1000 and _URL.fullmatch(v) for v in value
    ):
        raise BadRequest(f"`{name}` is a list of at most {MAX_DOCUMENTS} http(s) URLs", name)
    return list(value)


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}", unknown[0])


async def _signed(request: Request, secret: str, purpose: str) -> dict[str, Any]:
    """The body of a signed callback as a JSON object: fresh, for `purpose`, first use of its nonce."""
    engine = engine_of(request)
    raw = await request.body()
    try:
        signed = verify(secret, purpose, raw, request.headers.get(HEADER), now_ms=engine.clock.now_ms())
        await claim_nonce(engine.redis, purpose, signed)
    except SignatureError as exc:
        raise BadSignature(f"X-Signature {exc.reason.value}", HEADER) from None
    return await json_body(request)


# -- dealers ---------------------------------------------------------------------------


@refusals
async def apply(request: Request) -> Response:
    """A dealer's application: open to anyone (it is how a dealer first arrives), limited per address."""
    engine = engine_of(request)
    address = request.client.host if request.client else ""
    if not engine.reads.allow(f"apply:{address}", engine.clock.now_ms() / 1000):
        raise RateLimited("too many applications from this address; slow down")
    body = await json_body(request)
    _only(body, {"company", "credit_code", "contact_name", "contact_phone", "city", "documents"})
    code = _text(body, "credit_code", 18).upper()
    if not CREDIT_CODE.fullmatch(code):
        raise BadRequest("`credit_code` is an 18-character unified social credit code (GB 32100)", "credit_code")
    phone = _text(body, "contact_phone", 32)
    if not _PHONE.fullmatch(phone):
        raise BadRequest("`contact_phone` is a phone number", "contact_phone")
    fields = {
        "company": _text(body, "company", 200), "credit_code": code, "contact_name": _text(body, "contact_name", 100),
        "contact_phone": phone, "city": _text(body, "city", 64), "documents": _urls(body, "documents"),
    }
    application = await aftersale_of(request).apply(fields)
    return JSONResponse({"application": application.id, "status": application.status}, status_code=201)


@refusals
async def list_applications(request: Request) -> Response:
    principal_of(request).require("auctioneer", "auditor")
    status = request.query_params.get("status") or None
    return JSONResponse({"applications": [a.to_dict() for a in await aftersale_of(request).applications(status)]})


@refusals
async def approve(request: Request) -> Response:
    """Approve a pending application as bidder `{bidder, paddle}`: registered with no buying power
    until a deposit is held, and handed its first token."""
    principal_of(request).require("auctioneer")
    engine, service = engine_of(request), aftersale_of(request)
    body = await json_body(request)
    _only(body, {"bidder", "paddle"})
    bidder, paddle = checked_id("bidder", body.get("bidder")), checked_id("paddle", body.get("paddle"))
    if bidder.startswith("floor:") or paddle.startswith("floor:"):
        raise BadRequest("ids must not start with floor:", "bidder")
    application = await service.application(request.path_params["application"])
    if application.status != "pending":
        raise Conflict(f"application {application.id!r} is {application.status}", "application")
    try:
        await engine.store.register_bidder(bidder, paddle, 0)
    except BidderExists as exc:
        raise Conflict(str(exc), "bidder") from exc
    application = await service.decide(application.id, True, None, bidder)
    await engine.set_limit(bidder, 0)
    engine.paddles[paddle] = bidder
    engine.access.set(bidder)
    engine.bidder_changed(bidder)  # scale-out: the other nodes read the new bidder back
    token = request.app.state.signer.issue("bidder", bidder, paddle)
    return JSONResponse({**application.to_dict(), "paddle": paddle, "credit_limit": 0, "token": token})


@refusals
async def reject(request: Request) -> Response:
    principal_of(request).require("auctioneer")
    body = await json_body(request)
    _only(body, {"reason"})
    application = await aftersale_of(request).decide(request.path_params["application"], False, _text(body, "reason", 500))
    return JSONResponse(application.to_dict())


@refusals
async def request_deposit(request: Request) -> Response:
    """A dealer asks to pay a deposit `{amount}`: escrow is told to collect it (the `deposit` hand-off)."""
    principal = principal_of(request).require("bidder")
    body = await json_body(request)
    _only(body, {"amount"})
    amount = body.get("amount")
    if not isinstance(amount, int) or not is_money(amount) or amount == 0:
        raise BadRequest("`amount` is a positive integer in minor units", "amount")
    assert principal.bidder is not None
    deposit = await aftersale_of(request).request_deposit(principal.bidder, amount)
    return JSONResponse(deposit.to_dict(), status_code=201)


@refusals
async def list_deposits(request: Request) -> Response:
    principal = principal_of(request).require("bidder", "auctioneer", "auditor")
    bidder = principal.bidder if principal.role == "bidder" else checked_id("bidder", request.query_params.get("bidder"))
    assert bidder is not None
    engine = engine_of(request)
    record = await engine.store.get_bidder(bidder)
    return JSONResponse({"bidder": bidder, "credit_limit": record.credit_limit if record else None,
                         "deposits": [d.to_dict() for d in await aftersale_of(request).deposits(bidder)]})


@refusals
async def deposit_paid(request: Request) -> Response:
    """Escrow's signed callback `{deposit_id, bidder, amount, paid_at}` (purpose `escrow.deposit_paid`,
    the deposit secret): the deposit is held and the dealer's buying power becomes its multiple."""
    body = await _signed(request, settings_of(request).deposit_secret, PURPOSE_DEPOSIT_PAID)
    _only(body, {"deposit_id", "bidder", "amount", "paid_at"})
    deposit_id = request.path_params["deposit"]
    if body.get("deposit_id") != deposit_id:
        raise Conflict("the body names another deposit than the URL", "deposit_id")
    if not is_id(body.get("bidder")) or not is_money(body.get("amount")) or not is_money(body.get("paid_at")):
        raise BadRequest("`bidder` is an id, `amount` and `paid_at` non-negative integers", "amount")
    deposit, limit = await aftersale_of(request).deposit_paid(deposit_id, body["bidder"], body["amount"])
    await _new_limit(request, deposit.bidder, limit)
    return JSONResponse({**deposit.to_dict(), "credit_limit": limit})


async def _new_limit(request: Request, bidder: str, limit: int) -> None:
    """The dealer's buying power here and in the shared ledger (scale-out), and on the other nodes."""
    engine = engine_of(request)
    await engine.set_limit(bidder, limit)
    engine.bidder_changed(bidder)


@refusals
async def refund_deposit(request: Request) -> Response:
    """Give a held deposit back: only while the dealer owes nothing (no unpaid win) and leads nothing."""
    principal = principal_of(request).require("bidder", "auctioneer")
    engine, service = engine_of(request), aftersale_of(request)
    deposit = await service.deposit(request.path_params["deposit"])
    if principal.role == "bidder" and principal.bidder != deposit.bidder:
        raise Forbidden("this is another dealer's deposit")
    owed = engine.credit.total(deposit.bidder) + sum((await engine.store.unpaid_won(deposit.bidder)).values())
    deposit, limit = await service.refund_deposit(deposit.id, owed)
    await _new_limit(request, deposit.bidder, limit)
    return JSONResponse({**deposit.to_dict(), "credit_limit": limit})


# -- the sale after the hammer ------------------------------------------------------------


async def _buyer_or_staff(request: Request, lot: str, *staff: str) -> None:
    principal = principal_of(request).require("bidder", *staff)
    if principal.role == "bidder":
        settlement = await engine_of(request).store.get_settlement(lot)
        if settlement is None or settlement.winner != principal.bidder:
            raise Forbidden("only the buyer and the auctioneer may see this")


@refusals
async def contract_pdf(request: Request) -> Response:
    """The bill of sale of a sold lot, for its buyer and the auctioneer only; `X-Contract-SHA256`
    is the digest kept in the ledger."""
    lot = checked_id("lot", request.path_params["lot"])
    await _buyer_or_staff(request, lot, "auctioneer")
    pdf, digest = await aftersale_of(request).contract(lot)
    return Response(pdf, media_type="application/pdf", headers={
        "X-Contract-SHA256": digest, "Content-Disposition": f'attachment; filename="contract-{lot}.pdf"',
        "Cache-Control": "private, no-store"})


@refusals
async def settlement_record(request: Request) -> Response:
    """A settlement with its full history, for its buyer, the auctioneer and auditors."""
    lot = checked_id("lot", request.path_params["lot"])
    await _buyer_or_staff(request, lot, "auctioneer", "auditor")
    record = await aftersale_of(request).record(lot)
    if not record:
        raise StepRefused("unknown_lot", f"no settlement for lot {lot!r}", "lot", 404)
    return JSONResponse(record)


@refusals
async def receipt(request: Request) -> Response:
    """The buyer has the car and accepts it: escrow is told to release the seller's money."""
    principal = principal_of(request).require("bidder")
    assert principal.bidder is not None
    held = await aftersale_of(request).confirm_receipt(checked_id("lot", request.path_params["lot"]), principal.bidder)
    return JSONResponse(held.to_dict())


@refusals
async def open_claim(request: Request) -> Response:
    """The buyer's claim `{reason, text, photos}` inside the window (reasons: CLAIM_REASONS)."""
    principal = principal_of(request).require("bidder")
    assert principal.bidder is not None
    body = await json_body(request)
    _only(body, {"reason", "text", "photos"})
    reason = body.get("reason")
    if reason not in CLAIM_REASONS:
        raise BadRequest(f"`reason` is one of {', '.join(CLAIM_REASONS)}", "reason")
    claim = await aftersale_of(request).open_claim(
        checked_id("lot", request.path_params["lot"]), principal.bidder, reason, _text(body, "text", 2000),
        _urls(body, "photos"))
    return JSONResponse(claim.to_dict(), status_code=201)


@refusals
async def resolve_claim(request: Request) -> Response:
    """An auctioneer's outcome `{outcome: reject | partial_refund | full_refund, refund_amount?, note}`."""
    principal_of(request).require("auctioneer")
    body = await json_body(request)
    _only(body, {"outcome", "refund_amount", "note"})
    outcome, amount = body.get("outcome"), body.get("refund_amount")
    if outcome not in OUTCOMES:
        raise BadRequest(f"`outcome` is one of {', '.join(OUTCOMES)}", "outcome")
    if (outcome == "partial_refund") != (amount is not None) or (amount is not None and not is_money(amount)):
        raise BadRequest("`refund_amount` (integer minor units) goes with partial_refund only", "refund_amount")
    claim = await aftersale_of(request).resolve_claim(
        checked_id("lot", request.path_params["lot"]), outcome, amount, _text(body, "note", 500, required=False))
    return JSONResponse(claim.to_dict())


@refusals
async def transport_status(request: Request) -> Response:
    """The logistics partner's signed callback `{lot, status, at}` (purpose `logistics.status`)."""
    body = await _signed(request, settings_of(request).logistics_secret, PURPOSE_TRANSPORT_STATUS)
    _only(body, {"lot", "status", "at"})
    lot = checked_id("lot", request.path_params["lot"])
    if body.get("lot") != lot:
        raise Conflict("the body names another lot than the URL", "lot")
    if body.get("status") not in STATUSES[1:] or not is_money(body.get("at")):
        raise BadRequest(f"`status` is one of {', '.join(STATUSES[1:])}, `at` epoch ms", "status")
    order = await aftersale_of(request).transport_status(lot, body["status"])
    return JSONResponse(order.to_dict())


@refusals
async def purchases(request: Request) -> Response:
    """The buyer's won lots: payment, contract, guarantee, claim and transport of each."""
    principal = principal_of(request).require("bidder")
    assert principal.bidder is not None
    return JSONResponse({"purchases": await aftersale_of(request).purchases(principal.bidder)})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/applications", apply, methods=["POST"]),
        Route("/api/applications", list_applications, methods=["GET"]),
        Route("/api/applications/{application}/approve", approve, methods=["POST"]),
        Route("/api/applications/{application}/reject", reject, methods=["POST"]),
        Route("/api/deposits", request_deposit, methods=["POST"]),
        Route("/api/deposits", list_deposits, methods=["GET"]),
        Route("/api/deposits/{deposit}/paid", deposit_paid, methods=["POST"]),
        Route("/api/deposits/{deposit}/refund", refund_deposit, methods=["POST"]),
        Route("/api/lots/{lot}/contract.pdf", contract_pdf, methods=["GET"]),
        Route("/api/settlements/{lot}", settlement_record, methods=["GET"]),
        Route("/api/settlements/{lot}/receipt", receipt, methods=["POST"]),
        Route("/api/settlements/{lot}/claim", open_claim, methods=["POST"]),
        Route("/api/settlements/{lot}/claim/resolve", resolve_claim, methods=["POST"]),
        Route("/api/settlements/{lot}/transport", transport_status, methods=["POST"]),
        Route("/api/me/purchases", purchases, methods=["GET"]),
    ]

