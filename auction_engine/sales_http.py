"""The HTTP routes of sales (docs/protocol.md "Sales"; docs/rules.md "Sales")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .http import checked_id, engine_of, json_body, principal_of
from .sales import create_sale, parse_sale, read_sale


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


ROUTES = [
    Route("/api/sales", post_sale, methods=["POST"]),
    Route("/api/sales/{sale}", get_sale, methods=["GET"]),
]
