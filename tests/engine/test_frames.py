"""auction_engine/frames.py: what a client frame may be, and the server frames built once."""

from __future__ import annotations

import json

import msgpack
import pytest
from websockets.frames import Frame, Opcode

from auction_engine import frames
from auction_engine.answers import Ack, Refusal
from auction_engine.errors import BadFrame, TooLarge, UnknownType
from bidding.reasons import Reason


def test_a_bid_a_subscribe_and_a_ping_parse_to_their_records() -> None:
    assert frames.parse({"type": "bid", "lot": "L1", "id": "b-1", "max": 9000}) == frames.BidFrame("L1", "b-1", None, 9000)
    assert frames.parse({"type": "subscribe", "lot": "L1", "since": 4}) == frames.Subscribe("L1", 4)
    assert frames.parse({"type": "unsubscribe", "lot": "L1"}) == frames.Unsubscribe("L1")
    assert frames.parse({"type": "buy_now", "lot": "L1", "id": "x"}) == frames.BuyNowFrame("L1", "x")
    assert frames.parse({"type": "ping", "t": -3}) == frames.Ping(-3)


@pytest.mark.parametrize(("frame", "error", "field"), [
    ({"type": "bid", "lot": "L 1", "id": "b-1", "amount": 1}, BadFrame, "lot"),
    ({"type": "bid", "lot": "L1", "id": "", "amount": 1}, BadFrame, "id"),
    ({"type": "subscribe", "lot": "L1", "since": -1}, BadFrame, "since"),
    ({"type": "subscribe", "lot": "L1", "since": True}, BadFrame, "since"),
    ({"type": "ping", "t": 2**53 + 1}, BadFrame, "t"),
    ({"type": 7}, BadFrame, "type"),
    ({"type": "shout"}, UnknownType, None),
])
def test_a_bad_client_frame_is_a_typed_error_naming_its_field(frame, error, field) -> None:
    with pytest.raises(error) as refused:
        frames.parse(frame)
    assert refused.value.code in ("bad_frame", "unknown_type")
    assert getattr(refused.value, "field", None) == field


def test_decode_takes_each_subprotocol_in_its_own_kind_of_frame() -> None:
    assert frames.decode('{"type":"ping","t":1}', frames.JSON) == {"type": "ping", "t": 1}
    assert frames.decode(msgpack.packb({"type": "ping", "t": 1}), frames.MSGPACK) == {"type": "ping", "t": 1}
    for raw, subprotocol in [(b'{"type":"ping"}', frames.JSON), ("{}", frames.MSGPACK), ("[1]", frames.JSON),
                             ('{"t": NaN}', frames.JSON), ("{", frames.JSON)]:
        with pytest.raises(BadFrame):
            frames.decode(raw, subprotocol)
    with pytest.raises(TooLarge):
        frames.decode("x" * (frames.MAX_FRAME + 1), frames.JSON)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
@pytest.mark.parametrize("binary", [False, True])
def test_ws_frame_is_byte_for_byte_what_websockets_serializes(size: int, binary: bool) -> None:
    payload = b"a" * size
    expected = Frame(Opcode.BINARY if binary else Opcode.TEXT, payload).serialize(mask=False)
    assert frames.ws_frame(payload, binary) == expected


def test_an_outgoing_frame_is_encoded_once_per_subprotocol() -> None:
    out = frames.Outgoing(frames.pong_frame(5, 1000))
    text = out.for_subprotocol(frames.JSON)
    assert json.loads(text) == {"type": "pong", "t": 5, "server_time": 1000}
    assert out.for_subprotocol(frames.JSON) is text
    packed = out.for_subprotocol(frames.MSGPACK)
    assert msgpack.unpackb(packed) == {"type": "pong", "t": 5, "server_time": 1000}
    wire = out.wire(frames.MSGPACK)
    assert wire == frames.ws_frame(packed, binary=True) and out.wire(frames.MSGPACK) is wire
    assert out.wire(frames.JSON) == frames.ws_frame(text.encode(), binary=False)


def test_a_stored_answer_reads_back_as_the_answer_it_was() -> None:
    for answer in [Ack("L1", "b-1", 7, True, 5100, 9000), Ack("L1", "b-2", 8, None, None),
                   Refusal("L1", "b-3", Reason.TOO_LOW, 5200), Refusal("L1", "b-4", Reason.LOT_CLOSED)]:
        assert frames.unpack_answer(frames.pack_answer(answer)) == answer


def test_every_error_has_one_shape() -> None:
    assert frames.error_frame("bad_frame", "no") == {"type": "error", "code": "bad_frame", "message": "no"}
    body = {"error": {"code": "invalid_spec", "message": "no", "field": "title"}}
    assert frames.error_body("invalid_spec", "no", "title") == body
    assert frames.error_body("not_found", "no") == {"error": {"code": "not_found", "message": "no"}}


def test_close_codes_are_private_use_and_distinct() -> None:
    codes = [frames.SLOW_CONSUMER_CLOSE, frames.UNAUTHORIZED_CLOSE, frames.FORBIDDEN_ORIGIN_CLOSE]
    assert len(set(codes)) == len(codes)
    assert all(4000 <= code <= 4999 for code in codes)  # RFC 6455 7.4.2: for applications
