"""A lot's folded state: mutable and slotted, because `apply` changes it in place on every bid."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

SCHEDULED = "scheduled"
OPEN = "open"
PAUSED = "paused"
CLOSED = "closed"

SOLD = "sold"
UNSOLD = "unsold"
WITHDRAWN = "withdrawn"
PENDING_APPROVAL = "pending_approval"

GENESIS_HASH = bytes(32)
RETRACT_DEPTH = 32  # how many bids a lot can take back in a row (docs/rules.md "Clerk corrections")

_SCALARS = (
    "status",
    "result",
    "price",
    "leader",
    "leader_paddle",
    "bids",
    "opened_at",
    "ends_at",
    "remaining_ms",
    "extensions",
    "last_bid_at",
    "quiet_since",
    "fair_warning",
    "buy_now_offered",
    "seq",
    "head_hash",
    "closed_at",
    "outage_ms",
    "asking",
    "reopen_by",
    "correction",
    "counter",
    "counter_until",
    "inspection_version",
    "sale",
    "sale_end",
    "snipe_ms",
)
# Added after snapshots were first written: the value a snapshot without it means.
_LATER = {"outage_ms": 0, "asking": None, "reopen_by": None, "correction": None, "counter": None, "counter_until": None,
          "inspection_version": 1, "sale": None, "sale_end": None, "snipe_ms": 0}


class LotState:
    """`maxima` is E(b) per bidder (their sealed bid in sealed lots); `quiet_since` is when the
    live lot last had a bid, opened or resumed (auto fair warning counts from it); `outage_ms`
    is the total time it had no writer while open (docs/rules.md "Outage fairness").

    Clerk corrections (docs/rules.md): `asking` is the auctioneer's standing asking amount,
    `reopen_by` when a closed live lot stops being reopenable, `correction` the last correction
    (public), and `undo` what each of the last RETRACT_DEPTH bids changed, as tuples
    `(bidder, paddle, id, previous max, previous paddle, price, leader, leader paddle, buy_now_offered)`
    (tuples, cheap to build on every bid; snapshots and equality see lists). `counter` is a standing
    counter-offer's amount and `counter_until` when it lapses (docs/rules.md "Counter-offers").
    `pre_bids` are a scheduled lot's pre-bids in the order accepted, `[bidder, paddle, id, max]`
    (docs/rules.md "Pre-bids"). `inspection_version` is the lot's current report version and `seen`
    the version each bidder's standing maximum was placed on (docs/rules.md "Inspection versions").

    Sales (docs/rules.md "Sales"): `sale` is `{"sale", "group", "lots"}` once the lot joined one
    (replaced, never changed in place), `sale_end` a scheduled lot's slot, `snipe_ms` the sum of
    its own anti-sniping extensions (what group soft close passes on), and `group_in` the total
    taken so far from each earlier lot of the sale."""

    __slots__ = _SCALARS + ("maxima", "paddles", "undo", "pre_bids", "seen", "group_in")

    def __init__(self, buy_now_offered: bool = False) -> None:
        self.status = SCHEDULED
        self.result: str | None = None
        self.price: int | None = None
        self.leader: str | None = None
        self.leader_paddle: str | None = None
        self.maxima: dict[str, int] = {}
        self.paddles: dict[str, str] = {}
        self.bids = 0
        self.opened_at: int | None = None
        self.ends_at: int | None = None
        self.remaining_ms: int | None = None
        self.extensions = 0
        self.last_bid_at: int | None = None
        self.quiet_since: int | None = None
        self.fair_warning = False
        self.buy_now_offered = buy_now_offered
        self.seq = 0
        self.head_hash = GENESIS_HASH
        self.closed_at: int | None = None
        self.outage_ms = 0
        self.asking: int | None = None
        self.reopen_by: int | None = None
        self.correction: dict[str, Any] | None = None
        self.undo: deque[tuple[Any, ...]] = deque(maxlen=RETRACT_DEPTH)
        self.counter: int | None = None
        self.counter_until: int | None = None
        self.pre_bids: list[list[Any]] = []
        self.inspection_version = 1
        self.seen: dict[str, int] = {}
        self.sale: dict[str, Any] | None = None
        self.sale_end: int | None = None
        self.snipe_ms = 0
        self.group_in: dict[str, int] = {}

    def copy(self) -> LotState:
        new = LotState.__new__(LotState)
        for name in _SCALARS:
            setattr(new, name, getattr(self, name))
        new.maxima = dict(self.maxima)
        new.paddles = dict(self.paddles)
        new.undo = deque(self.undo, RETRACT_DEPTH)
        new.pre_bids = list(self.pre_bids)
        new.seen = dict(self.seen)
        new.group_in = dict(self.group_in)
        return new

    def to_dict(self) -> dict[str, Any]:
        """Snapshot encoding (msgpack-ready: head_hash stays bytes)."""
        d = {name: getattr(self, name) for name in _SCALARS}
        d["maxima"] = dict(self.maxima)
        d["paddles"] = dict(self.paddles)
        d["undo"] = [list(record) for record in self.undo]
        d["pre_bids"] = [list(record) for record in self.pre_bids]
        d["seen"] = dict(self.seen)
        d["group_in"] = dict(self.group_in)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LotState:
        new = cls.__new__(cls)
        for name in _SCALARS:
            setattr(new, name, d[name] if name in d or name not in _LATER else _LATER[name])
        new.head_hash = bytes(new.head_hash)
        new.maxima = dict(d["maxima"])
        new.paddles = dict(d["paddles"])
        new.undo = deque((tuple(record) for record in d.get("undo", ())), RETRACT_DEPTH)
        new.pre_bids = [list(record) for record in d.get("pre_bids", ())]
        new.seen = dict(d.get("seen", {}))
        new.group_in = dict(d.get("group_in", {}))
        return new

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LotState) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LotState({self.to_dict()!r})"
