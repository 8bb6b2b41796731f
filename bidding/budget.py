"""Budgets across a sale's lots (docs/rules.md "Budgets"): what a bid may commit when its bidder
has set, for the sale, "commit at most `max_total`" and/or "win at most `max_lots`".

Pure: the engine keeps the bidder's commitments on the sale's lots in Redis and runs the same rule
atomically there (`auction_engine/budget.lua`), before the lot decides.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Budget:
    max_total: int | None = None
    max_lots: int | None = None


def budget_cap(budget: Budget, elsewhere: int, won: int, value: int, proxy: bool) -> int | None:
    """The value a bid may be placed with, given what its bidder has committed on the sale's other
    lots (`elsewhere`: leading maxima, sealed bids, pre-bids, won and pending hammer prices) and how
    many of them they won (`won`): `value` itself, a proxy maximum capped to what is left, or None
    (refused `budget`: `max_lots` reached, nothing left, or a straight bid above what is left)."""
    if budget.max_lots is not None and won >= budget.max_lots:
        return None
    if budget.max_total is None:
        return value
    left = budget.max_total - elsewhere
    if value <= left:
        return value
    if not proxy or left <= 0:
        return None
    return left


def lots_reached(budget: Budget, won: int) -> bool:
    """Has the bidder won all the lots their budget allows? Their non-leading maxima on the sale's
    other open lots are then withdrawn (`withdraw_max`)."""
    return budget.max_lots is not None and won >= budget.max_lots
