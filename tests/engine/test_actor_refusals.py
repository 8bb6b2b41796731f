"""A refused bid id answers the same refusal when it is used again, whatever its new amount (an
idempotency key names one decision); the newest `REFUSALS` per lot are kept, the oldest forgotten
first. On a real LotActor against the real redis-server."""

from __future__ import annotations

import pytest

from auction_engine import actor as actor_module
from auction_engine.answers import Ack, Refusal
from auction_engine.bidder_ledger import BidderLedger
from bidding.reasons import Reason

from .test_actor_credit import LIMIT, start
from .test_actor_credit import ledger as ledger  # noqa: F401 - the fixture, on the real redis-server


async def test_the_newest_refusals_are_kept_and_the_oldest_forgotten_first(ledger: BidderLedger,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actor_module, "REFUSALS", 3)
    await ledger.set_limit("A", LIMIT)
    lot = await start(ledger, "RF1")
    for n in range(1, 5):
        refused = await lot.bid("A", f"r{n}", amount=100)  # under the start price
        assert isinstance(refused, Refusal) and refused.reason is Reason.TOO_LOW
    again = await lot.bid("A", "r2", amount=5000)
    assert isinstance(again, Refusal) and again.reason is Reason.TOO_LOW  # kept: the same decision
    assert len(lot.actor.refusals) == 3
    fresh = await lot.bid("A", "r1", amount=5000)  # the oldest, forgotten: decided anew
    assert isinstance(fresh, Ack) and fresh.id == "r1" and fresh.leading
    await lot.actor.stop()
