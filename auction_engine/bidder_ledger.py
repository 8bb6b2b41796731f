"""A bidder's credit exposure and bid rate shared by every node, in the bidder's own hash slot.

On one node the in-memory `CreditLedger` is enough: all lots' actors run on one event loop. With
lots owned by different nodes, two owners could each see the limit unspent and both accept. Here
the check and the reservation are one Lua script on the bidder's key (`auction:{bidder:B}:credit`),
so whichever of two concurrent bids runs second sees the first's reservation. An owner reserves
before it decides a bid and sets the lot's true exposure after (an outbid bidder's drops to 0), so
a refused or outbid bid frees its reservation; a concurrent bid may be refused for a reservation
that is released a moment later, which errs on the safe side.
"""

from __future__ import annotations

from importlib import resources
from typing import Any


def credit_key(bidder: str) -> str:
    return f"auction:{{bidder:{bidder}}}:credit"


def rate_key(bidder: str) -> str:
    return f"auction:{{bidder:{bidder}}}:rate"


class BidderLedger:
    """Exposure per lot, the limit, and a token bucket, for any bidder, on Redis."""

    def __init__(self, redis: Any, rate: float, burst: int) -> None:
        self.redis = redis
        self.rate = rate
        self.burst = burst
        self._script = redis.register_script(resources.files(__package__).joinpath("bidder_ledger.lua").read_text())

    async def _run(self, bidder: str, *args: str | int) -> list[int]:
        result: list[Any] = await self._script(keys=[credit_key(bidder), rate_key(bidder)], args=list(args))
        return [int(v) for v in result]

    async def set_limit(self, bidder: str, limit: int | None) -> None:
        await self._run(bidder, "limit", "" if limit is None else limit)

    async def reserve(self, bidder: str, lot: str, amount: int) -> bool:
        """Stand `amount` on `lot` if the bidder's other lots leave room under the limit."""
        allowed, _total = await self._run(bidder, "reserve", lot, amount)
        return bool(allowed)

    async def set(self, bidder: str, lot: str, amount: int) -> None:
        """The lot's true exposure for the bidder, after the decision (0 releases it)."""
        await self._run(bidder, "set", lot, amount)

    async def total(self, bidder: str) -> int:
        _ok, total = await self._run(bidder, "total")
        return total

    async def allow_bid(self, bidder: str, now_ms: int) -> bool:
        """The per-bidder rate limit, the same on every node."""
        (allowed,) = await self._run(bidder, "rate", str(self.rate), self.burst, now_ms)
        return bool(allowed)
