"""The HTTP routes of sales (docs/protocol.md "Sales"; docs/rules.md "Sales")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .http import checked_id, engine_of, json_body, principal_of
from .sales import create_sale, parse_budget, parse_sale, read_budget, read_sale, set_budget


async def post_sale(request: Request) -> JSONResponse:
    """Create a sale `{id, lots, first_end_at, stagger_s, group_soft_close}` (auctioneer): the lots
    end one after another in the order listed, `stagger_s` apart from `first_end_at`."""
    principal_of(request).require("auctioneer")
    engine = engine_of(request)
    sale = parse_sale(await json_body(request), engine.clock.now_ms())
    return JSONResponse(await create_sale(engine, sale), status_code=201)


async def get_sale(request: Request) -> JSONResponse:
    """A sale and its lots' end times, status and result, in closing order."""
    principal_of(request)
    engine = engine_of(request)
    return JSONResponse(await read_sale(engine, checked_id("sale", request.path_params["sale"])))


async def put_budget(request: Request) -> JSONResponse:
    """Set the calling bidder's budget for the sale, `{max_total?, max_lots?}` (docs/rules.md
    "Budgets"): a proxy maximum that would break it is capped, a bid past it refused `budget`."""
    principal = principal_of(request).require("bidder")
    engine = engine_of(request)
    budget = parse_budget(await json_body(request))
    sale = checked_id("sale", request.path_params["sale"])
    assert principal.bidder is not None  # a bidder token names its bidder
    return JSONResponse(await set_budget(engine, principal.bidder, sale, budget))


async def get_budget(request: Request) -> JSONResponse:
    """The calling bidder's budget for the sale and what their bids hold of it."""
    principal = principal_of(request).require("bidder")
    assert principal.bidder is not None
    sale = checked_id("sale", request.path_params["sale"])
    return JSONResponse(await read_budget(engine_of(request), principal.bidder, sale))


ROUTES = [
    Route("/api/sales", post_sale, methods=["POST"]),
    Route("/api/sales/{sale}", get_sale, methods=["GET"]),
    Route("/api/sales/{sale}/budget", put_budget, methods=["PUT"]),
    Route("/api/sales/{sale}/budget", get_budget, methods=["GET"]),
]
