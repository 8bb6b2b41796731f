"""Sales: lots that end one after another, with group soft close (docs/rules.md "Sales").

A sale is a record in Redis under its own hash tag (`auction:{sale:S}:sale`), written once
(`SET NX`), so every node reads the same one. What a sale does to its lots is in their own logs:
the engine sends each lot, in closing order, `join_sale` through `Engine.call` (to the lot's owner,
wherever it runs); the lots' anti-sniping passes on through `extend_by` (`Engine.group_extended`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bidding.budget import Budget
from bidding.commands import JoinSale
from bidding.ids import ID_RULE, is_id
from bidding.money import is_money
from bidding.sales import MAX_SALE_LOTS, MAX_STAGGER_S, staggered_ends
from bidding.spec import MAX_TIME_MS
from bidding.state import CLOSED, OPEN, PENDING_APPROVAL, SCHEDULED, SOLD
from bidding.views import exposure

from .answers import Applied, Refusal
from .engine import Engine
from .errors import BadRequest, Conflict, InvalidId, NotFound

FIELDS = {"id", "lots", "first_end_at", "stagger_s", "group_soft_close"}


def sale_key(sale: str) -> str:
    return f"auction:{{sale:{sale}}}:sale"


@dataclass(frozen=True, slots=True)
class Sale:
    """The sale as asked for, checked: its lots in closing order and where each ends at first."""

    id: str
    lots: tuple[str, ...]
    first_end_at: int
    stagger_s: int
    group_soft_close: bool

    @property
    def ends(self) -> list[int]:
        return staggered_ends(self.first_end_at, self.stagger_s, len(self.lots))

    def to_dict(self) -> dict[str, Any]:
        return {"sale": self.id, "lots": list(self.lots), "first_end_at": self.first_end_at,
                "stagger_s": self.stagger_s, "group_soft_close": self.group_soft_close}


def parse_sale(body: dict[str, Any], now: int) -> Sale:
    """The body of `POST /api/sales`, or BadRequest / InvalidId naming the bad field."""
    unknown = set(body) - FIELDS
    if unknown:
        raise BadRequest(f"unknown field {sorted(unknown)[0]!r}", sorted(unknown)[0])
    sale, lots = body.get("id"), body.get("lots")
    if not isinstance(sale, str) or not is_id(sale):
        raise InvalidId(f"`id` must be an id: {ID_RULE}", "id")
    if not isinstance(lots, list) or not 0 < len(lots) <= MAX_SALE_LOTS:
        raise BadRequest(f"`lots` must be a list of 1 to {MAX_SALE_LOTS} lot ids", "lots")
    if not all(isinstance(lot, str) and is_id(lot) for lot in lots) or len(set(lots)) != len(lots):
        raise InvalidId(f"`lots` must be distinct lot ids: {ID_RULE}", "lots")
    first, stagger, group = body.get("first_end_at"), body.get("stagger_s", 0), body.get("group_soft_close", False)
    if type(first) is not int or not now < first <= MAX_TIME_MS:
        raise BadRequest("`first_end_at` must be a server time (epoch ms) after now", "first_end_at")
    if type(stagger) is not int or not 0 <= stagger <= MAX_STAGGER_S:
        raise BadRequest(f"`stagger_s` must be an integer from 0 to {MAX_STAGGER_S}", "stagger_s")
    if type(group) is not bool:
        raise BadRequest("`group_soft_close` must be true or false", "group_soft_close")
    if group and stagger < 1 and len(lots) > 1:
        # An extension reaches the later lots a few ms after the bid: lots ending at the same instant
        # could close before it arrives (docs/rules.md "Sales").
        raise BadRequest("group soft close needs `stagger_s` of at least 1", "stagger_s")
    return Sale(sale, tuple(lots), first, stagger, group)


async def create_sale(engine: Engine, sale: Sale) -> dict[str, Any]:
    """Check every lot first (nothing changes if one cannot join), record the sale once, then
    send each lot its `join_sale`. A lot that changed in between (say, closed) and refuses is a
    409 naming it; the lots before it stay in the sale, as their logs say."""
    for lot, ends_at in zip(sale.lots, sale.ends, strict=True):
        view = (await engine.actor(lot)).public()
        problem = _cannot_join(view, ends_at)
        if problem is not None:
            raise Conflict(f"lot {lot} cannot join the sale: {problem}", "lots")
    if not await engine.redis.set(sale_key(sale.id), json.dumps(sale.to_dict()), nx=True):
        raise Conflict(f"sale {sale.id} exists", "id")
    at = engine.clock.now_ms()
    for lot, ends_at in zip(sale.lots, sale.ends, strict=True):
        command = JoinSale(at=at, sale=sale.id, ends_at=ends_at, group=sale.group_soft_close, lots=sale.lots)
        answer = await engine.call(lot, command)
        if not isinstance(answer, Applied):
            reason = answer.reason.value if isinstance(answer, Refusal) else "unavailable"
            raise Conflict(f"lot {lot} did not join the sale ({reason}); the lots before it did", "lots")
    return await read_sale(engine, sale.id)


def _cannot_join(view: dict[str, Any], ends_at: int) -> str | None:
    """Why a lot (its public view) cannot take this slot, as the rules would refuse it."""
    if view["mode"] != "timed" or view["format"] == "dutch":
        return "only timed english or sealed lots end in a sale"
    if view.get("sale") is not None:
        return f"it is in sale {view['sale']}"
    if view["status"] not in (SCHEDULED, OPEN):
        return f"it is {view['status']}"
    if view["status"] == OPEN and view["ends_at"] is not None and view["ends_at"] > ends_at:
        return f"it ends at {view['ends_at']}, after its slot {ends_at} (an end never moves earlier)"
    starts_at = view["starts_at"]
    if view["status"] == SCHEDULED and starts_at is not None and starts_at >= ends_at:
        return f"it opens at {starts_at}, not before its slot {ends_at}"
    return None


async def read_sale(engine: Engine, sale: str) -> dict[str, Any]:
    """The sale and, for each lot in closing order, its end (a scheduled lot's slot), status and
    result as they are now."""
    raw = await engine.redis.get(sale_key(sale))
    if raw is None:
        raise NotFound(f"no sale {sale!r}", "sale")
    record: dict[str, Any] = json.loads(raw)
    now = engine.clock.now_ms()
    lots = []
    for lot in record["lots"]:
        face = await engine.actor(lot)
        view = face.public(now)
        ends_at = face.state.sale_end if view["status"] == SCHEDULED else view["ends_at"]
        lots.append({"lot": lot, "ends_at": ends_at, "status": view["status"], "result": view["result"],
                     "extensions": view["extensions"]})
    return {**record, "lots": lots, "server_time": now}


def parse_budget(body: dict[str, Any]) -> Budget:
    """The body of `PUT /api/sales/{id}/budget`: `max_total` (minor units) and/or `max_lots`."""
    unknown = set(body) - {"max_total", "max_lots"}
    if unknown:
        raise BadRequest(f"unknown field {sorted(unknown)[0]!r}", sorted(unknown)[0])
    total, lots = body.get("max_total"), body.get("max_lots")
    if total is None and lots is None:
        raise BadRequest("give `max_total`, `max_lots` or both", "max_total")
    if total is not None and not is_money(total):
        raise BadRequest("`max_total` must be a non-negative integer in minor units", "max_total")
    if lots is not None and (type(lots) is not int or not 1 <= lots <= MAX_SALE_LOTS):
        raise BadRequest(f"`max_lots` must be an integer from 1 to {MAX_SALE_LOTS}", "max_lots")
    return Budget(total, lots)


async def set_budget(engine: Engine, bidder: str, sale: str, budget: Budget) -> dict[str, Any]:
    """Replace the bidder's budget for the sale, counting what they already hold on its lots
    (docs/rules.md "Budgets": it restricts bids from now on and takes nothing back)."""
    held = []
    for lot in await _sale_lots(engine, sale):
        face = await engine.actor(lot)
        state = face.state
        won = state.status == CLOSED and state.result in (SOLD, PENDING_APPROVAL) and state.leader == bidder
        held.append((lot, exposure(face.spec, state).get(bidder, 0), won))
    await engine.budgets.set(bidder, sale, budget, held)
    return await read_budget(engine, bidder, sale)


async def read_budget(engine: Engine, bidder: str, sale: str) -> dict[str, Any]:
    """The bidder's own budget for the sale and how much of it their bids hold (`committed`, `won`)."""
    await _sale_lots(engine, sale)
    standing = await engine.budgets.standing(bidder, sale)
    budget = standing.budget or Budget()
    return {"sale": sale, "bidder": bidder, "max_total": budget.max_total, "max_lots": budget.max_lots,
            "committed": standing.committed, "won": standing.won}


async def _sale_lots(engine: Engine, sale: str) -> list[str]:
    raw = await engine.redis.get(sale_key(sale))
    if raw is None:
        raise NotFound(f"no sale {sale!r}", "sale")
    lots: list[str] = json.loads(raw)["lots"]
    return lots
