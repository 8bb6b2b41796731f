"""Escrow's paid callback, checked against the ledger before it may free a winner's credit.

The signature only says escrow sent these bytes; the body must also say what was paid, and
every claim in it is compared with what the engine itself recorded: the lot in the URL, the
settlement id (the hand-off's `Idempotency-Key`), the full amount owed, and that the lot sold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bidding.money import is_money
from bidding.state import SOLD

from .errors import BadPayment, NotSold, PaymentMismatch
from .store import Settlement
from .store.ledger import outbox_key

FIELDS = ("lot", "settlement_id", "amount_paid", "paid_at")


@dataclass(frozen=True, slots=True)
class Payment:
    lot: str
    settlement_id: str
    amount_paid: int
    paid_at: int


def parse_payment(body: bytes) -> Payment:
    """The body as a `Payment`, or BadPayment naming the field: a JSON object with exactly FIELDS,
    ids as strings, `amount_paid` int minor units, `paid_at` int epoch ms."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise BadPayment("the body is not JSON") from None
    if not isinstance(doc, dict):
        raise BadPayment("the body is a JSON object")
    for name in FIELDS:
        if name not in doc:
            raise BadPayment(f"{name} is required", name)
    extra = sorted(set(doc) - set(FIELDS))
    if extra:
        raise BadPayment(f"unknown field {extra[0]}", extra[0])
    for name in ("lot", "settlement_id"):
        if not isinstance(doc[name], str) or not doc[name]:
            raise BadPayment(f"{name} is a non-empty string", name)
    for name in ("amount_paid", "paid_at"):
        if not is_money(doc[name]):
            raise BadPayment(f"{name} is a non-negative integer", name)
    return Payment(doc["lot"], doc["settlement_id"], doc["amount_paid"], doc["paid_at"])


def check_payment(payment: Payment, lot: str, settlement: Settlement) -> None:
    """Raise unless `payment` settles `settlement` of `lot` in full: PaymentMismatch (field named)
    or NotSold. The expected values are not echoed."""
    if payment.lot != lot:
        raise PaymentMismatch("the body names another lot than the URL", "lot")
    if settlement.result != SOLD:
        raise NotSold(f"lot {lot!r} was not sold ({settlement.result}); there is nothing to pay", "lot")
    if payment.settlement_id != outbox_key(lot):
        raise PaymentMismatch("settlement_id is not this lot's settlement", "settlement_id")
    if payment.amount_paid != settlement.total_due:
        raise PaymentMismatch("amount_paid is not the total due", "amount_paid")
