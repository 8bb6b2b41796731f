"""Commands: what someone asked a lot to do, stamped `at` (server epoch ms) on receipt.

They are logged as received, so every field is plain data and the class-level `kind` names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ._records import RecordError, Registry
from .spec import LotSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Create:
    kind: ClassVar[str] = "create"
    at: int
    spec: LotSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Open:
    kind: ClassVar[str] = "open"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause:
    kind: ClassVar[str] = "pause"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume:
    kind: ClassVar[str] = "resume"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FairWarning:
    kind: ClassVar[str] = "fair_warning"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Hammer:
    kind: ClassVar[str] = "close"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdraw:
    kind: ClassVar[str] = "withdraw"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Approve:
    kind: ClassVar[str] = "approve"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Reject:
    kind: ClassVar[str] = "reject"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Bid:
    """`amount` is a straight bid, `max` a proxy bid; exactly one is set (else bad_amount)."""

    kind: ClassVar[str] = "bid"
    at: int
    bidder: str
    paddle: str
    id: str
    amount: int | None = None
    max: int | None = None
    floor: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class BuyNow:
    kind: ClassVar[str] = "buy_now"
    at: int
    bidder: str
    paddle: str
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """The engine's timer: do whatever is due at `at` (open, auto fair warning, close)."""

    kind: ClassVar[str] = "tick"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    """The engine's, never a client's: the lot had no writer for the `outage_ms` before `at` (its
    owner died, or Redis was away), so nobody could bid. docs/rules.md "Outage fairness": an open
    timed lot gets its time back plus `grace_ms`, a running live lot pauses for the auctioneer."""

    kind: ClassVar[str] = "outage"
    at: int
    outage_ms: int
    grace_ms: int

    @property
    def began_at(self) -> int:
        """When the lot lost its writer: the lot is judged as it stood then."""
        return self.at - self.outage_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class RetractLast:
    """The auctioneer's: take back the last accepted bid still standing, saying why
    (docs/rules.md "Clerk corrections")."""

    kind: ClassVar[str] = "retract_last"
    at: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reopen:
    """The auctioneer's: open again a live lot hammered by mistake, within REOPEN_MS of the close."""

    kind: ClassVar[str] = "reopen"
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Asking:
    """The auctioneer's next asking amount for a live lot (at least the ladder's next_min)."""

    kind: ClassVar[str] = "asking"
    at: int
    amount: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Counter:
    """The auctioneer's counter-offer, for the seller, on a lot pending approval
    (docs/rules.md "Counter-offers")."""

    kind: ClassVar[str] = "counter"
    at: int
    amount: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptCounter:
    """The high bidder takes the counter-offer."""

    kind: ClassVar[str] = "accept_counter"
    at: int
    bidder: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclineCounter:
    """The high bidder turns the counter-offer down."""

    kind: ClassVar[str] = "decline_counter"
    at: int
    bidder: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishInspection:
    """The auctioneer publishes a newer condition report (docs/rules.md "Inspection versions")."""

    kind: ClassVar[str] = "inspection"
    at: int
    version: int
    report_url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconfirm:
    """A bidder stands by their maximum on the current report version."""

    kind: ClassVar[str] = "reconfirm"
    at: int
    bidder: str
    paddle: str
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinSale:
    """The engine's, never a client's: the lot takes its place in sale `sale` (the sale's `lots`, in
    closing order) and ends at `ends_at` (docs/rules.md "Sales")."""

    kind: ClassVar[str] = "join_sale"
    at: int
    sale: str
    ends_at: int
    group: bool
    lots: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtendBy:
    """The engine's: group soft close. The earlier lot `source` of the lot's sale has moved its own
    end by `total` ms so far; the lot moves by what it has not yet taken of that."""

    kind: ClassVar[str] = "extend_by"
    at: int
    source: str
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WithdrawMax:
    """The engine's: the bidder has won all the lots their budget for the sale allows, so their
    standing maximum here, where they do not lead, is withdrawn (docs/rules.md "Budgets")."""

    kind: ClassVar[str] = "withdraw_max"
    at: int
    bidder: str


Command = (
    Create | Open | Pause | Resume | FairWarning | Hammer | Withdraw | Approve | Reject | Bid | BuyNow | Tick | Outage
    | RetractLast | Reopen | Asking | Counter | AcceptCounter | DeclineCounter | PublishInspection | Reconfirm
    | JoinSale | ExtendBy | WithdrawMax
)

_REGISTRY: Registry[Command] = Registry(
    (Create, Open, Pause, Resume, FairWarning, Hammer, Withdraw, Approve, Reject, Bid, BuyNow, Tick, Outage,
     RetractLast, Reopen, Asking, Counter, AcceptCounter, DeclineCounter, PublishInspection, Reconfirm, JoinSale, ExtendBy,
     WithdrawMax)
)
_STRINGS = ("bidder", "paddle", "id", "reason", "sale", "source")
_SPANS = ("outage_ms", "grace_ms")


def lot_list(value: Any) -> tuple[str, ...]:
    """A sale's lots as logged (msgpack gives a list back): a tuple of strings."""
    if not isinstance(value, list | tuple) or not all(isinstance(lot, str) for lot in value):
        raise RecordError("lots must be a list of lot ids")
    return tuple(value)


def command_to_dict(cmd: Command) -> dict[str, Any]:
    d = _REGISTRY.to_dict(cmd)
    if type(cmd) is Create:
        d["spec"] = cmd.spec.to_dict()
    return d


def command_from_dict(d: Mapping[str, Any]) -> Command:
    """Raises RecordError (a ValueError) or SpecError on malformed input."""
    cmd = _REGISTRY.from_dict(d, {"spec": LotSpec.from_dict, "lots": lot_list})
    if type(cmd.at) is not int or cmd.at < 0:
        raise RecordError(f"{cmd.kind}: at must be a non-negative integer")
    for name in _STRINGS:
        if hasattr(cmd, name) and not isinstance(getattr(cmd, name), str):
            raise RecordError(f"{cmd.kind}: {name} must be a string")
    if type(cmd) is Bid and type(cmd.floor) is not bool:
        raise RecordError("bid: floor must be a boolean")
    if type(cmd) is JoinSale and (type(cmd.ends_at) is not int or type(cmd.group) is not bool):
        raise RecordError("join_sale: ends_at must be an integer and group a boolean")
    if type(cmd) is ExtendBy and type(cmd.total) is not int:
        raise RecordError("extend_by: total must be an integer")
    for name in _SPANS:
        if hasattr(cmd, name) and (type(getattr(cmd, name)) is not int or getattr(cmd, name) < 0):
            raise RecordError(f"{cmd.kind}: {name} must be a non-negative integer")
    return cmd
