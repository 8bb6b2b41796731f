"""The Python client reads every server frame the engine builds: `clients/frames.py` mirrors
`auction_engine/frames.py` (the one place server frames are made), checked frame by frame."""

from __future__ import annotations

from typing import Any

import pytest

from auction_engine import frames as server
from auction_engine.answers import Ack, Refusal, Unwritten
from bidding.notices import CounterOffer, Lost, Outbid, Won
from bidding.reasons import Reason
from clients import frames as client

STATE: dict[str, Any] = {"lot": "L1", "seq": 7, "status": "open", "price": 5100}
_BEFORE = server.Outgoing(server.event_frame("L1", 6, "bid", 998, {**STATE, "seq": 6, "price": 5000}))
_DELTA = server.delta_frame(6, _BEFORE, server.Outgoing(server.event_frame("L1", 7, "bid", 999, STATE)))
assert _DELTA is not None
DELTA: server.Outgoing = _DELTA

BUILT: list[tuple[str, dict[str, Any], type[Any]]] = [
    ("welcome, bidder", server.welcome_frame("bidder", "b1", "7", 1000), client.Welcome),
    ("welcome, watcher", server.welcome_frame("watcher", None, None, 1000), client.Welcome),
    ("pong", server.pong_frame(-5, 1000), client.Pong),
    ("snapshot", server.snapshot_frame("L1", STATE, 1000), client.Snapshot),
    ("event", server.event_frame("L1", 7, "bid", 999, STATE), client.Event),
    ("event, delta", DELTA.frame, client.Event),
    ("ack accepted", server.ack_frame(Ack("L1", "b-1", 7, True, 5100, 9000)), client.Ack),
    ("ack accepted, sealed", server.ack_frame(Ack("L1", "b-1", 7, None, None)), client.Ack),
    ("ack refused", server.ack_frame(Refusal("L1", "b-1", Reason.TOO_LOW, 5200)), client.Ack),
    ("unwritten", server.answer_frame(Unwritten()), client.Error),
    ("outbid", server.notice_frame("L1", 8, Outbid("b1", 5200, 5300)), client.Outbid),
    ("won", server.notice_frame("L1", 9, Won("b1", 5200)), client.Won),
    ("lost", server.notice_frame("L1", 9, Lost("b2")), client.Lost),
    ("counter", server.notice_frame("L1", 10, CounterOffer("b1", 11000, 87_010_000)), client.Counter),
    ("ending soon", server.ending_soon_frame("L1", "Kia K5", 90_000, 30_000), client.Notice),
    ("me", server.me_frame([{**STATE, "standing": "leading", "settlement": None}], ["L2"], 1000), client.Me),
    ("error", server.error_frame("unknown_lot", "no lot 'X'", lot="X"), client.Error),
    ("slow consumer", server.slow_consumer_frame(16), client.Error),
]


@pytest.mark.parametrize("subprotocol", server.SUBPROTOCOLS)
def test_the_client_parses_every_frame_the_engine_builds(subprotocol: str) -> None:
    for case, frame, kind in BUILT:
        wire = server.Outgoing(frame).for_subprotocol(subprotocol)
        assert isinstance(client.parse_frame(wire), kind), case


def test_an_ack_reads_back_as_the_answer_it_encodes() -> None:
    for answer in (Ack("L1", "b-1", 7, True, 5100, 9000), Refusal("L1", "b-1", Reason.CREDIT_LIMIT, None)):
        assert server.unpack_answer(server.pack_answer(answer)) == answer


def test_a_delta_event_parses_to_its_changed_fields_and_the_seq_they_lay_over() -> None:
    event = client.parse_frame(DELTA.for_subprotocol(server.JSON))
    assert isinstance(event, client.Event)
    assert (event.seq, event.prev, dict(event.changed or {})) == (7, 6, {"seq": 7, "price": 5100})
