"""The cross-lot credit ledger (保证金): what each bidder stands to owe across lots.

Each lot reports its exposure per bidder after every entry (bidding.exposure); the ledger
keeps the sum so a bid can be checked against the bidder's limit before it is decided.
As one node of many it sees only the lots this node writes; the limit across nodes is held by the
shared `BidderLedger` (bidder_ledger.py), which each lot's actor reserves on first (actor.py).
"""

from __future__ import annotations

import collections


class CreditLedger:
    def __init__(self) -> None:
        self.limits: dict[str, int | None] = {}
        self._by_bidder: dict[str, dict[str, int]] = collections.defaultdict(dict)
        self._by_lot: dict[str, dict[str, int]] = {}
        self.paid: set[str] = set()

    def set_limit(self, bidder: str, limit: int | None) -> None:
        self.limits[bidder] = limit

    def set_lot(self, lot: str, exposure: dict[str, int]) -> None:
        """Replace a lot's exposures; a lot escrow reported paid owes nothing more."""
        if lot in self.paid:
            exposure = {}
        old = self._by_lot.get(lot, {})
        if old == exposure:
            return
        for bidder in old:
            lots = self._by_bidder[bidder]
            lots.pop(lot, None)
            if not lots:
                del self._by_bidder[bidder]
        for bidder, amount in exposure.items():
            self._by_bidder[bidder][lot] = amount
        self._by_lot[lot] = dict(exposure)

    def mark_paid(self, lot: str) -> None:
        self.paid.add(lot)
        self.set_lot(lot, {})

    def total(self, bidder: str) -> int:
        return sum(self._by_bidder.get(bidder, {}).values())

    def allows(self, bidder: str, lot: str, amount: int) -> bool:
        """Would standing `amount` on `lot` keep the bidder within their limit?"""
        limit = self.limits.get(bidder)
        if limit is None:
            return True
        elsewhere = self.total(bidder) - self._by_bidder.get(bidder, {}).get(lot, 0)
        return elsewhere + amount <= limit
