"""What a lot answers a command, as values: the edge (`ws.py`, `http.py`) encodes them once,
through `frames.py`, and never looks inside a wire dict to tell them apart."""

from __future__ import annotations

from dataclasses import dataclass

from bidding.reasons import Reason


@dataclass(frozen=True, slots=True)
class Ack:
    """A bid or buy-now accepted and durable at `seq`; what the bidder sees of the lot then."""

    lot: str
    id: str
    seq: int
    leading: bool | None
    price: int | None
    your_max: int | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A command turned down, by the rules or by the engine before them (`id` None for staff commands)."""

    lot: str
    id: str | None
    reason: Reason
    next_min: int | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    """A staff command (open, hammer, ...) accepted and durable at `seq`."""

    seq: int
    kind: str


@dataclass(frozen=True, slots=True)
class Unwritten:
    """The lot's log could not be written or read back: nothing was decided; retry with the same id."""

    message: str = "the lot's log could not be written; retry with the same id"


Answer = Ack | Refusal | Applied | Unwritten
