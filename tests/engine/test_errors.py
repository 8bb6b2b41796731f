"""auction_engine/errors.py: each failure is a type with one wire code and an HTTP status."""

from __future__ import annotations

import pytest

from auction_engine import errors
from auction_engine.frames import error_body, error_frame
from bidding.reasons import Reason

KINDS = [cls for cls in vars(errors).values()
         if isinstance(cls, type) and issubclass(cls, errors.EngineError) and cls not in (errors.EngineError, errors.StepRefused)]


def test_every_error_type_has_its_own_code_and_an_error_status() -> None:
    codes = [cls.code for cls in KINDS]
    assert len(codes) == len(set(codes)), codes
    assert all(400 <= cls.status < 600 for cls in KINDS)


def test_a_code_the_rules_also_name_is_the_rules_reason() -> None:
    reasons = {reason.value for reason in Reason}
    shared = {cls.__name__: cls.code for cls in KINDS if cls.code in reasons}
    assert shared == {"Forbidden": "not_allowed", "NotFound": "unknown_lot", "RateLimited": "rate_limited",
                      "Unavailable": "unavailable"}
    assert all(isinstance(cls.code, Reason) for cls in KINDS if cls.code in reasons)


@pytest.mark.parametrize("cls", KINDS)
def test_each_error_goes_on_the_wire_with_its_code_message_and_field(cls: type[errors.EngineError]) -> None:
    exc = cls("what went wrong", "lot")
    body = {"error": {"code": cls.code, "message": "what went wrong", "field": "lot"}}
    assert error_body(exc.code, exc.message, exc.field) == body
    assert error_frame(exc.code, exc.message)["code"] == cls.code


def test_a_stores_refusal_carries_its_own_code_and_status() -> None:
    refused = errors.StepRefused("already_released", "the guarantee was released", "lot", 409)
    assert (refused.code, refused.status, refused.field) == ("already_released", 409, "lot")
