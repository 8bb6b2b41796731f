"""Events: what a lot decided. They carry enough for `apply` to be a plain fold.

Events are internal and for auditors: they hold bidders' ids and maxima. Only bidding.views
decides what leaves a lot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ._records import RecordError, Registry


@dataclass(frozen=True, slots=True, kw_only=True)
class Created:
    kind: ClassVar[str] = "created"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened:
    """`at` is the opening time: the schedule's starts_at when the timer opened the lot."""

    kind: ClassVar[str] = "opened"
    at: int
    ends_at: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BidPlaced:
    """The bid as received, then the lot after it."""

    kind: ClassVar[str] = "bid"
    at: int
    bidder: str
    paddle: str
    id: str
    amount: int | None
    max: int | None
    floor: bool
    price: int | None
    leader: str | None
    leader_paddle: str | None
    leader_max: int | None
    ends_at: int | None
    extensions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BuyNowTaken:
    kind: ClassVar[str] = "buy_now"
    at: int
    bidder: str
    paddle: str
    id: str
    price: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Paused:
    kind: ClassVar[str] = "paused"
    at: int
    remaining_ms: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resumed:
    kind: ClassVar[str] = "resumed"
    at: int
    ends_at: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FairWarningGiven:
    kind: ClassVar[str] = "fair_warning"
    at: int
    ends_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OutageExtended:
    """An open timed lot given back the `outage_ms` it had no writer, plus the grace: its new `ends_at`."""

    kind: ClassVar[str] = "outage_extended"
    at: int
    outage_ms: int
    ends_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OutagePaused:
    """A running live lot paused for the auctioneer after `outage_ms` without a writer;
    `remaining_ms` is what its fair warning had left when the outage began."""

    kind: ClassVar[str] = "outage_paused"
    at: int
    outage_ms: int
    remaining_ms: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed:
    """`winner` is set for sold and pending_approval (the provisional winner)."""

    kind: ClassVar[str] = "closed"
    at: int
    result: str
    price: int | None
    winner: str | None
    winner_paddle: str | None
    closed_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Approved:
    kind: ClassVar[str] = "approved"
    at: int
    price: int
    winner: str
    winner_paddle: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    kind: ClassVar[str] = "rejected"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PreBidPlaced:
    """A proxy maximum left on a lot before it opens (docs/rules.md "Pre-bids"); placed as a bid
    at the open."""

    kind: ClassVar[str] = "pre_bid"
    at: int
    bidder: str
    paddle: str
    id: str
    max: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Retracted:
    """A bid taken back by the auctioneer: the bid (`bidder`, `paddle`, `id`), why, and the
    price and leader the lot returns to."""

    kind: ClassVar[str] = "retracted"
    at: int
    reason: str
    bidder: str
    paddle: str
    id: str
    price: int | None
    leader: str | None
    leader_paddle: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reopened:
    kind: ClassVar[str] = "reopened"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AskingSet:
    kind: ClassVar[str] = "asking"
    at: int
    amount: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Countered:
    kind: ClassVar[str] = "countered"
    at: int
    amount: int
    expires_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterAccepted:
    """The high bidder took the counter-offer: sold at `price`, the counter amount."""

    kind: ClassVar[str] = "counter_accepted"
    at: int
    price: int
    winner: str
    winner_paddle: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterDeclined:
    """`lapsed`: the high bidder said nothing before it expired (silence is decline)."""

    kind: ClassVar[str] = "counter_declined"
    at: int
    lapsed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class InspectionPublished:
    kind: ClassVar[str] = "inspection"
    at: int
    version: int
    report_url: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconfirmed:
    """The bidder's standing maximum now stands on report `version`."""

    kind: ClassVar[str] = "reconfirmed"
    at: int
    bidder: str
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SaleJoined:
    """The lot's place in a sale (docs/rules.md "Sales"): its end, and the sale's lots in order."""

    kind: ClassVar[str] = "sale_joined"
    at: int
    sale: str
    ends_at: int
    group: bool
    lots: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Extended:
    """Group soft close: the lot moved by `ms` because earlier lot `source` has extended itself by
    `total` in all; `ends_at` after it (null while the lot is scheduled or paused)."""

    kind: ClassVar[str] = "extended"
    at: int
    source: str
    total: int
    ms: int
    ends_at: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MaxWithdrawn:
    """The bidder's non-leading maximum, sealed bid or pre-bids here are gone (docs/rules.md "Budgets")."""

    kind: ClassVar[str] = "max_withdrawn"
    at: int
    bidder: str


Event = (
    Created | Opened | BidPlaced | BuyNowTaken | Paused | Resumed | FairWarningGiven | Closed | Approved | Rejected
    | OutageExtended | OutagePaused | Retracted | Reopened | AskingSet | Countered | CounterAccepted | CounterDeclined
    | PreBidPlaced | InspectionPublished | Reconfirmed | SaleJoined | Extended | MaxWithdrawn
)

_REGISTRY: Registry[Event] = Registry(
    (Created, Opened, BidPlaced, BuyNowTaken, Paused, Resumed, FairWarningGiven, Closed, Approved, Rejected,
     OutageExtended, OutagePaused, Retracted, Reopened, AskingSet, Countered, CounterAccepted, CounterDeclined,
     PreBidPlaced, InspectionPublished, Reconfirmed, SaleJoined, Extended, MaxWithdrawn)
)


def event_to_dict(event: Event) -> dict[str, Any]:
    return _REGISTRY.to_dict(event)


def event_from_dict(d: Mapping[str, Any]) -> Event:
    """Raises RecordError (a ValueError) on malformed input."""
    return _REGISTRY.from_dict(d, {"lots": _lot_tuple})


def _lot_tuple(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(lot, str) for lot in value):
        raise RecordError("lots must be a list of lot ids")
    return tuple(value)
