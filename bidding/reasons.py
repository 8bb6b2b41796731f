"""Why a command was refused: the RULES.md refusal reasons, as values rather than strings."""

from enum import StrEnum


class Reason(StrEnum):
    TOO_LOW = "too_low"
    ALREADY_LEADING = "already_leading"
    LOT_NOT_OPEN = "lot_not_open"
    LOT_PAUSED = "lot_paused"
    LOT_CLOSED = "lot_closed"
    CREDIT_LIMIT = "credit_limit"
    RATE_LIMITED = "rate_limited"
    NOT_ALLOWED = "not_allowed"
    BAD_AMOUNT = "bad_amount"
    UNKNOWN_LOT = "unknown_lot"
    BUDGET = "budget"  # past the bidder's own budget for the sale (docs/rules.md "Budgets")
    UNAVAILABLE = "unavailable"  # the engine's: the lot is quarantined (its log is damaged)
