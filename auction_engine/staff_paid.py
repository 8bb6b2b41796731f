"""`POST /api/settlements/{lot}/mark_paid`: the auctioneer records a payment escrow did not report.

Escrow's signed callback (`paid.py`) is the usual way a sale is paid; a dealer who pays at the desk
or by a transfer the clerk sees on the statement needs the console to say so (issue 13 item 17).
Staff tokens name a role, not a person, so the body names who marks it (`by`); the ledger keeps the
first `paid_at`, and the settlement's history (`GET /api/settlements/{lot}`) keeps who and when.
Like escrow's report, it frees the winner's credit. Idempotent: a repeat answers the same record.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .errors import BadRequest, NotFound, NotSold
from .http import checked_id, engine_of, json_body, principal_of
from .store import NotPayable, UnknownSettlement

MAX_BY = 64


async def mark_paid(request: Request) -> JSONResponse:
    principal_of(request).require("auctioneer")
    engine = engine_of(request)
    lot = checked_id("lot", request.path_params["lot"])
    body = await json_body(request)
    extra = sorted(set(body) - {"by"})
    if extra:
        raise BadRequest(f"unknown field {extra[0]}", extra[0])
    by = body.get("by")
    if not isinstance(by, str) or not by.strip() or len(by) > MAX_BY or any(ord(c) < 32 for c in by):
        raise BadRequest(f"`by` names who marks it paid: 1 to {MAX_BY} printable characters", "by")
    try:
        record, first = await engine.store.mark_paid_by_staff(lot, by.strip())
    except UnknownSettlement as exc:
        raise NotFound(f"no settlement for lot {lot!r}", "lot") from exc
    except NotPayable as exc:
        raise NotSold(f"lot {lot!r} was not sold; there is nothing to pay", "lot") from exc
    if first:
        engine.mark_paid(lot)
        await engine.release_paid(lot, record.winner)
    return JSONResponse(record.to_dict())


ROUTES = [Route("/api/settlements/{lot}/mark_paid", mark_paid, methods=["POST"])]
