"""Budgets across a sale's lots, shared by every node (docs/rules.md "Budgets").

The rule is `bidding.budget.budget_cap`; here it runs as one Lua script on the bidder's own key
(`auction:{bidder:B}:budget:S`, in the bidder's hash slot as their credit is), so two lots of the
sale written by two nodes never both spend the same room: a lot's writer stands a bid's (capped)
value before deciding it, and writes the lot's true commitment after the append (an outbid or
refused bid frees what it stood), as `bidder_ledger.py` does for credit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from bidding.budget import Budget


def budget_key(bidder: str, sale: str) -> str:
    return f"auction:{{bidder:{bidder}}}:budget:{sale}"


@dataclass(frozen=True, slots=True)
class Standing:
    """A bidder's budget for a sale and how much of it is spoken for (`committed`, `won` lots)."""

    budget: Budget | None
    committed: int
    won: int


class BudgetLedger:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._script = redis.register_script(resources.files(__package__).joinpath("budget.lua").read_text())

    async def _run(self, bidder: str, sale: str, *args: str | int) -> list[int]:
        result: list[Any] = await self._script(keys=[budget_key(bidder, sale)], args=list(args))
        return [int(v) for v in result]

    async def set(self, bidder: str, sale: str, budget: Budget, held: Iterable[tuple[str, int, bool]]) -> None:
        """Replace the bidder's budget for the sale, with what they hold on its lots now
        (lot, committed, won)."""
        args: list[str | int] = ["set", _opt(budget.max_total), _opt(budget.max_lots)]
        for lot, committed, won in held:
            args += [lot, committed, 1 if won else 0]
        await self._run(bidder, sale, *args)

    async def reserve(self, bidder: str, sale: str, lot: str, value: int, proxy: bool) -> int | None:
        """The value the bid may be placed with (stood on the lot), or None: refused `budget`."""
        ok, placed = await self._run(bidder, sale, "reserve", lot, value, 1 if proxy else 0)
        return placed if ok else None

    async def expose(self, bidder: str, sale: str, lot: str, committed: int, won: bool) -> bool:
        """The lot's true commitment for the bidder after a batch; True when their won lots have
        reached the budget's `max_lots` (their other maxima are then withdrawn)."""
        won_lots, max_lots = await self._run(bidder, sale, "expose", lot, committed, 1 if won else 0)
        return max_lots >= 0 and won_lots >= max_lots

    async def standing(self, bidder: str, sale: str) -> Standing:
        on, total, lots, committed, won = await self._run(bidder, sale, "get")
        budget = Budget(None if total < 0 else total, None if lots < 0 else lots) if on else None
        return Standing(budget, committed, won)


def _opt(value: int | None) -> str | int:
    return "" if value is None else value
