"""Who is told privately what an entry did to them: `outbid`, `won`, `lost` (PROTOCOL.md).

A function of the lot before and after one entry, so the server never decides it again."""

from __future__ import annotations

from dataclasses import dataclass

from .rules import next_min
from .spec import LotSpec
from .state import CLOSED, PENDING_APPROVAL, SOLD, LotState


@dataclass(frozen=True, slots=True)
class Outbid:
    bidder: str
    price: int | None
    next_min: int | None


@dataclass(frozen=True, slots=True)
class Won:
    bidder: str
    price: int | None


@dataclass(frozen=True, slots=True)
class Lost:
    bidder: str


@dataclass(frozen=True, slots=True)
class CounterOffer:
    """The high bidder's private word of the seller's counter-offer (docs/rules.md "Counter-offers")."""

    bidder: str
    amount: int
    expires_at: int


Notice = Outbid | Won | Lost | CounterOffer


def notices(spec: LotSpec, before_leader: str | None, before_result: str | None, state: LotState) -> list[Notice]:
    """The private notices of one entry, given the leader and result before it and the state after.

    An English lot's previous leader is told `outbid` while the lot runs. A new result tells every
    bidder, the leader `won` (if sold) and the others `lost`; a close pending approval tells all but
    the leader, and the approval or rejection then tells the leader alone."""
    told: list[Notice] = []
    counter, until, leader = state.counter, state.counter_until, state.leader
    if counter is not None and until is not None and leader is not None and before_result == state.result:
        # A lot still pending approval with a counter standing: only the `countered` entry leaves
        # it so (every other accepted command on it settles the result), so this is news.
        told.append(CounterOffer(leader, counter, until))
    if before_leader and before_leader != state.leader and state.status != CLOSED and spec.format == "english":
        told.append(Outbid(before_leader, state.price, next_min(spec, state)))
    if state.result == before_result or state.result is None:
        return told
    bidders = [state.leader] if before_result == PENDING_APPROVAL else list(state.paddles)
    for bidder in bidders:
        if bidder is None:
            continue
        if bidder == state.leader and state.result == SOLD:
            told.append(Won(bidder, state.price))
        elif bidder != state.leader or state.result != PENDING_APPROVAL:
            told.append(Lost(bidder))
    return told
