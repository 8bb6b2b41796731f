"""A bidder's own side of the sale: the lots they bid on, their watchlist (关注), their settlements.

Kept server-side, per bidder, so "My auctions" says the same on every device (issue 13, items 1,
9, 11): a Redis set of lot ids per bidder, under the bidder's own hash tag like their credit
(`bidder_ledger.py`). A lot is noted when one of the bidder's bids is acknowledged (`ws.py`,
`http.py`), never before; where the bidder stands on it is `bidding.standing`, read from the lot
itself. Every route here reads the token's bidder only: there is no parameter naming another.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bidding.standing import standing

from .bidder_lots import lots_key, members, watch_key, watchers_key
from .engine import Engine
from .errors import BadRequest
from .frames import me_frame
from .http import _int_param, checked_id, engine_of, principal_of

logger = logging.getLogger(__name__)
ME = "me"  # the `subscribe` target of a bidder's private channel: never a lot id (`create_lot` refuses it)
MAX_WATCHED = 200  # per bidder: the room subscribes to each watched lot


async def my_lots(engine: Engine, bidder: str) -> list[dict[str, Any]]:
    """Each lot the bidder bid on: the lot as the bidder sees it (`your_max`, `leading`), its
    `standing`, and for a lot they won, what is owed and by when (`settlement`)."""
    ids = set(await members(engine.redis, lots_key(bidder)))
    ids.update(lot for lot, actor in list(engine.lots.items()) if bidder in actor.state.maxima)
    now = engine.clock.now_ms()
    out = []
    for lot in sorted(ids):
        try:
            actor = await engine.actor(lot)
        except Exception:  # gone or quarantined: left out, the rest still listed
            continue
        where = standing(actor.spec, actor.state, bidder)
        if where is None:
            continue
        item = {**actor.view_for("bidder", bidder, now), "standing": where.value, "settlement": None}
        if where.value in ("won", "pending"):
            record = await engine.store.get_settlement(lot)
            if record is not None and record.winner == bidder:
                item["settlement"] = _owed(record.to_dict())
        out.append(item)
    return out


def _owed(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("result", "hammer_price", "premium", "total_due", "currency", "decided_at", "payment_due_at", "paid_at")
    return {k: record[k] for k in keys}


async def get_my_lots(request: Request) -> JSONResponse:
    """`GET /api/me/lots`: the token's bidder's lots, newest standing first is the client's choice."""
    principal = principal_of(request).require("bidder")
    assert principal.bidder is not None
    engine = engine_of(request)
    return JSONResponse({"lots": await my_lots(engine, principal.bidder), "server_time": engine.clock.now_ms()})


async def get_my_settlements(request: Request) -> JSONResponse:
    """`GET /api/me/settlements`: the ledger rows the token's bidder won, never anyone else's."""
    principal = principal_of(request).require("bidder")
    records = await engine_of(request).store.list_settlements(winner=principal.bidder, limit=500)
    return JSONResponse({"settlements": [r.to_dict() for r in records]})


async def get_watchlist(request: Request) -> JSONResponse:
    principal = principal_of(request).require("bidder")
    assert principal.bidder is not None
    return JSONResponse({"lots": await members(engine_of(request).redis, watch_key(principal.bidder))})


async def put_watch(request: Request) -> Response:
    """`PUT /api/me/watchlist/{lot}`: watch a lot that exists (404 otherwise); idempotent."""
    principal = principal_of(request).require("bidder")
    assert principal.bidder is not None
    engine = engine_of(request)
    lot = checked_id("lot", request.path_params["lot"])
    await engine.history_head(lot)  # NotFound for no such lot
    key = watch_key(principal.bidder)
    count: Any = await engine.redis.scard(key)
    added: Any = await engine.redis.sadd(key, lot)
    if added and int(count) >= MAX_WATCHED:
        await engine.redis.srem(key, lot)
        raise BadRequest(f"a watchlist holds at most {MAX_WATCHED} lots", "lot")
    await engine.redis.sadd(watchers_key(lot), principal.bidder)  # another slot: the lot's, for its alerts
    engine.alerts.watched(lot)  # a lot this node writes tells the new watcher on its next pass
    return JSONResponse({"lots": await members(engine.redis, key)})


async def delete_watch(request: Request) -> Response:
    principal = principal_of(request).require("bidder")
    assert principal.bidder is not None
    engine = engine_of(request)
    lot = checked_id("lot", request.path_params["lot"])
    key = watch_key(principal.bidder)
    await engine.redis.srem(key, lot)
    await engine.redis.srem(watchers_key(lot), principal.bidder)
    return JSONResponse({"lots": await members(engine.redis, key)})


async def premium_quote(request: Request) -> JSONResponse:
    """`GET /api/premium?price=N`: the buyer's premium and total on a hammer price, from the
    published schedule the ledger uses (`store/premium.py`), so a bid's confirmation shows the
    same total the settlement will."""
    principal_of(request)
    price = _int_param(request, "price")
    if price is None:
        raise BadRequest("`price` is required: a hammer price in minor units", "price")
    schedule = engine_of(request).store.premium
    return JSONResponse({"price": price, "premium": schedule.premium(price), "total_due": schedule.total_due(price)})


async def me_snapshot(engine: Engine, bidder: str) -> dict[str, Any]:
    """What a `subscribe` to `me` answers first: the bidder's lots with their standing, and the
    watchlist; `outbid`, `won` and `lost` then reach every connection of the bidder (`Hub.to_bidder`),
    and ending-soon notices for lots they bid on or watch (`alerts.py`)."""
    watchlist = await members(engine.redis, watch_key(bidder))
    await _rewatch(engine.redis, bidder, watchlist)
    return me_frame(await my_lots(engine, bidder), watchlist, engine.clock.now_ms())


async def _rewatch(redis: Any, bidder: str, watchlist: list[str]) -> None:
    """Each watched lot's reverse set names the bidder again: watches made before the reverse sets
    existed (or a reverse write lost) still get their ending-soon alerts once the bidder connects.
    SADD is idempotent; a failure is logged, never the channel's."""
    try:
        await asyncio.gather(*(redis.sadd(watchers_key(lot), bidder) for lot in watchlist))
    except Exception:
        logger.warning("watchers of %d lots not written again for bidder %s", len(watchlist), bidder, exc_info=True)


ROUTES = [
    Route("/api/me/lots", get_my_lots, methods=["GET"]),
    Route("/api/me/settlements", get_my_settlements, methods=["GET"]),
    Route("/api/me/watchlist", get_watchlist, methods=["GET"]),
    Route("/api/me/watchlist/{lot}", put_watch, methods=["PUT"]),
    Route("/api/me/watchlist/{lot}", delete_watch, methods=["DELETE"]),
    Route("/api/premium", premium_quote, methods=["GET"]),
]
