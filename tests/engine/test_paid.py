"""auction_engine/paid.py: escrow's paid callback is read strictly and must match the ledger."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from auction_engine.errors import BadPayment, NotSold, PaymentMismatch
from auction_engine.paid import Payment, check_payment, parse_payment
from auction_engine.store import Settlement
from bidding.state import SOLD, UNSOLD

SOLD_L1 = Settlement(lot="L1", result=SOLD, winner="b1", winner_paddle="7", hammer_price=100000, premium=5000,
                     total_due=105000, currency="CNY", closed_at=1000, decided_at=1000, final_seq=9,
                     head_hash="00" * 32, payment_due_at=2000, paid_at=None)
PAID = {"lot": "L1", "settlement_id": "settlement-L1", "amount_paid": 105000, "paid_at": 1500}


def test_a_well_formed_body_is_a_payment() -> None:
    assert parse_payment(json.dumps(PAID).encode()) == Payment("L1", "settlement-L1", 105000, 1500)


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", None),
    (b"[1]", None),
    (json.dumps({k: v for k, v in PAID.items() if k != "paid_at"}).encode(), "paid_at"),
    (json.dumps({**PAID, "note": "x"}).encode(), "note"),
    (json.dumps({**PAID, "lot": ""}).encode(), "lot"),
    (json.dumps({**PAID, "amount_paid": 1050.0}).encode(), "amount_paid"),
    (json.dumps({**PAID, "amount_paid": True}).encode(), "amount_paid"),
    (json.dumps({**PAID, "paid_at": -1}).encode(), "paid_at"),
])
def test_a_bad_body_is_refused_naming_the_field(body: bytes, field: str | None) -> None:
    with pytest.raises(BadPayment) as refused:
        parse_payment(body)
    assert refused.value.field == field


def test_a_payment_in_full_of_the_lots_settlement_passes() -> None:
    check_payment(parse_payment(json.dumps(PAID).encode()), "L1", SOLD_L1)


@pytest.mark.parametrize(("payment", "field"), [
    (Payment("L2", "settlement-L1", 105000, 1500), "lot"),
    (Payment("L1", "settlement-L2", 105000, 1500), "settlement_id"),
    (Payment("L1", "settlement-L1", 104999, 1500), "amount_paid"),
])
def test_a_payment_that_does_not_match_the_ledger_is_refused(payment: Payment, field: str) -> None:
    with pytest.raises(PaymentMismatch) as refused:
        check_payment(payment, "L1", SOLD_L1)
    assert refused.value.field == field
    assert "105000" not in refused.value.message  # the expected amount is not echoed


def test_a_lot_that_did_not_sell_has_nothing_to_pay() -> None:
    with pytest.raises(NotSold):
        check_payment(Payment("L1", "settlement-L1", 0, 1500), "L1", replace(SOLD_L1, result=UNSOLD, total_due=None))
