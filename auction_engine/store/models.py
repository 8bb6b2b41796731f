"""The records the store hands out: plain frozen dataclasses, JSON-safe through `to_dict`."""

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Row

RESULTS = ("sold", "unsold", "withdrawn", "pending_approval")
STATUSES = ("scheduled", "open", "paused", "closed")


@dataclass(frozen=True, slots=True)
class Bidder:
    bidder: str
    paddle: str
    credit_limit: int | None
    created_at: int
    suspended_at: int | None = None
    tokens_after: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Settlement:
    """One closed lot in the ledger. Money in minor units, times in epoch ms.

    `closed_at` is when the lot closed; `decided_at` when the result became what it is (the
    close, or a later approve/reject of a `pending_approval`); the payment is due
    `payment_days` after `decided_at`.
    """

    lot: str
    result: str
    winner: str | None
    winner_paddle: str | None
    hammer_price: int | None
    premium: int | None
    total_due: int | None
    currency: str
    closed_at: int
    decided_at: int
    final_seq: int
    head_hash: str
    payment_due_at: int | None
    paid_at: int | None
    report_version: int | None = None
    """The condition report version the winning bid was placed on (docs/rules.md "Inspection
    versions"); None without a winner, and for records written before it was kept."""

    @property
    def paid(self) -> bool:
        return self.paid_at is not None

    @classmethod
    def from_row(cls, row: Row[*tuple[Any, ...]]) -> "Settlement":
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
