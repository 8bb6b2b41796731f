"""Who is told privately what an entry did to them: `outbid`, `won`, `lost` (PROTOCOL.md).

A function of the lot before and after one entry, so the server never decides it again."""

from __future__ import annotations

from dataclasses import dataclass

from .rules import next_min
from .spec import LotSpec
from .state import CLOSED, OPEN, PENDING_APPROVAL, SOLD, LotState


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


FLOOR_PREFIX = "floor:"  # a floor paddle's bidder id: a person in the room, with no channel to tell


@dataclass(frozen=True, slots=True)
class EndingSoon:
    """A bidder's word that a lot they bid on or watch ends at `ends_at` (issue 13 item 10)."""

    bidder: str
    ends_at: int


def ending_soon(state: LotState, now: int, window_ms: int, watchers: frozenset[str] | set[str] = frozenset()) -> list[EndingSoon]:
    """Who is told, at `now`, that an open lot ends within `window_ms`: every bidder with a bid on it
    (floor paddles aside) and every watcher, once each, sorted. Empty when the lot is not open, has
    no end (a live lot before fair warning), or ends later than the window or already. Keyed by
    `ends_at`, the caller sends it once per end: an extension is a new end, so it is told again."""
    if not ends_within(state, now, window_ms):
        return []
    assert state.ends_at is not None
    told = {b for b in state.paddles if not b.startswith(FLOOR_PREFIX)} | set(watchers)
    return [EndingSoon(bidder, state.ends_at) for bidder in sorted(told)]


def ends_within(state: LotState, now: int, window_ms: int) -> bool:
    """An open lot whose end is after `now` and at most `window_ms` away."""
    ends_at = state.ends_at
    return state.status == OPEN and ends_at is not None and 0 < ends_at - now <= window_ms
