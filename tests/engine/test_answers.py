"""What a lot answers (`answers.py`): frozen values, equal by what they say, each encoded once at the
edge into a frame the served AsyncAPI document accepts; an unwritten command asks for a retry."""

from __future__ import annotations

import dataclasses

import pytest

from auction_engine import frames
from auction_engine.answers import Ack, Answer, Applied, Refusal, Unwritten
from bidding.reasons import Reason

from ..schema_check import check_frame

BIDDER_ANSWERS: list[Answer] = [
    Ack("L1", "b-1", 7, True, 5100, your_max=9000),
    Ack("L1", "b-2", 8, None, None),  # a sealed lot: leading and price stay hidden until the close
    Refusal("L1", "b-3", Reason.TOO_LOW, next_min=5200),
    Refusal("L1", "b-4", Reason.LOT_CLOSED),
    Unwritten(),
]


def test_an_answer_is_a_value_that_cannot_be_changed_after_it_is_given() -> None:
    ack = Ack("L1", "b-1", 7, True, 5100)
    assert ack == Ack("L1", "b-1", 7, True, 5100) and hash(ack) == hash(Ack("L1", "b-1", 7, True, 5100))
    answers: list[Answer] = [ack, Refusal("L1", "b-3", Reason.TOO_LOW), Applied(3, "open"), Unwritten()]
    for answer in answers:
        field = dataclasses.fields(answer)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(answer, field, None)


def test_every_answer_a_bidder_gets_is_a_frame_the_document_accepts() -> None:
    for answer in BIDDER_ANSWERS:
        check_frame(frames.answer_frame(answer))


def test_a_refusal_says_its_reason_and_an_unwritten_command_asks_for_the_same_id_again() -> None:
    refused = frames.answer_frame(Refusal("L1", "b-3", Reason.TOO_LOW, next_min=5200))
    assert (refused["ok"], refused["reason"], refused["next_min"]) == (False, "too_low", 5200)
    unwritten = frames.answer_frame(Unwritten())
    assert unwritten["type"] == "error" and unwritten["code"] == "unavailable" and "same id" in unwritten["message"]
    assert frames.answer_frame(Applied(12, "hammer")) == {"ok": True, "seq": 12, "kind": "hammer"}
