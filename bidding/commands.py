"""Commands: what someone asked a lot to do, stamped `at` (server epoch ms) on receipt.

They are logged as received, so every field is plain data and the class-level `kind` names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

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


Command = Create | Open | Pause | Resume | FairWarning | Hammer | Withdraw | Approve | Reject | Bid | BuyNow | Tick

_REGISTRY = Registry((Create, Open, Pause, Resume, FairWarning, Hammer, Withdraw, Approve, Reject, Bid, BuyNow, Tick))
_STRINGS = ("bidder", "paddle", "id")


def command_to_dict(cmd: Command) -> dict[str, Any]:
    d = _REGISTRY.to_dict(cmd)
    if type(cmd) is Create:
        d["spec"] = cmd.spec.to_dict()
    return d


def command_from_dict(d: Mapping[str, Any]) -> Command:
    """Raises RecordError (a ValueError) or SpecError on malformed input."""
    cmd = _REGISTRY.from_dict(d, {"spec": LotSpec.from_dict})
    if type(cmd.at) is not int or cmd.at < 0:
        raise RecordError(f"{cmd.kind}: at must be a non-negative integer")
    for name in _STRINGS:
        if hasattr(cmd, name) and not isinstance(getattr(cmd, name), str):
            raise RecordError(f"{cmd.kind}: {name} must be a string")
    if type(cmd) is Bid and type(cmd.floor) is not bool:
        raise RecordError("bid: floor must be a boolean")
    return cmd
