"""Frame parsing: strict on money, seqs and ids; lenient on keys a later version may add."""

import json

import msgpack
import pytest

from clients.frames import (
    JSON,
    MSGPACK,
    Ack,
    BadFrame,
    Error,
    Event,
    Lost,
    Outbid,
    Pong,
    Snapshot,
    UnknownFrame,
    Welcome,
    Won,
    encode,
    parse_ack,
    parse_frame,
    with_static,
)

STATE = {"lot": "L1", "status": "open", "price": 1234500, "next_min": 1254500, "seq": 7}

GOOD = [
    ({"type": "welcome", "role": "bidder", "bidder": "b1", "paddle": "17", "server_time": 5},
     Welcome(role="bidder", server_time=5, bidder="b1", paddle="17")),
    ({"type": "welcome", "role": "watcher", "server_time": 5},
     Welcome(role="watcher", server_time=5)),
    ({"type": "snapshot", "lot": "L1", "seq": 7, "state": STATE, "server_time": 9},
     Snapshot(lot="L1", seq=7, state=STATE, server_time=9)),
    ({"type": "event", "lot": "L1", "seq": 8, "kind": "bid", "at": 10, "state": STATE},
     Event(lot="L1", seq=8, kind="bid", at=10, state=STATE)),
    ({"type": "ack", "id": "x1", "lot": "L1", "ok": True, "seq": 8, "leading": True,
      "price": 1234500, "your_max": 2000000},
     Ack(id="x1", lot="L1", ok=True, seq=8, leading=True, price=1234500, your_max=2000000)),
    ({"type": "ack", "id": "x2", "lot": "L1", "ok": False, "reason": "too_low",
      "next_min": 1254500},
     Ack(id="x2", lot="L1", ok=False, reason="too_low", next_min=1254500)),
    ({"type": "ack", "id": "s1", "lot": "L2", "ok": True, "seq": 3, "leading": None,
      "price": None, "your_max": 5000000},
     Ack(id="s1", lot="L2", ok=True, seq=3, your_max=5000000)),
    ({"type": "outbid", "lot": "L1", "seq": 9, "price": 1254500, "next_min": 1274500},
     Outbid(lot="L1", seq=9, price=1254500, next_min=1274500)),
    ({"type": "won", "lot": "L1", "price": 1254500}, Won(lot="L1", price=1254500)),
    ({"type": "lost", "lot": "L1"}, Lost(lot="L1")),
    ({"type": "pong", "t": 1, "server_time": 2}, Pong(t=1, server_time=2)),
    ({"type": "error", "code": "bad_frame", "message": "no type"},
     Error(code="bad_frame", message="no type")),
]


@pytest.mark.parametrize(("raw", "frame"), GOOD, ids=[g[0]["type"] for g in GOOD])
@pytest.mark.parametrize("subprotocol", [JSON, MSGPACK])
def test_parses_every_server_frame_in_both_encodings(raw, frame, subprotocol):
    assert parse_frame(encode(raw, subprotocol)) == frame


def test_extra_keys_are_tolerated():
    raw = {"type": "won", "lot": "L1", "price": 5, "currency": "CNY"}
    assert parse_frame(json.dumps(raw)) == Won(lot="L1", price=5)


def test_error_frame_keeps_its_extra_keys():
    frame = parse_frame({"type": "error", "code": "unknown_lot", "message": "", "lot": "L9"})
    assert frame.extra == {"lot": "L9"}


BAD = [
    ("not json", "{"),
    ("not a map", "[1, 2]"),
    ("float price", json.dumps({"type": "won", "lot": "L1", "price": 12345.5})),
    ("bool price", json.dumps({"type": "won", "lot": "L1", "price": True})),
    ("string seq", json.dumps({"type": "event", "lot": "L1", "seq": "8", "kind": "bid", "at": 1,
                               "state": {}})),
    ("missing seq", json.dumps({"type": "outbid", "lot": "L1", "price": 1, "next_min": 2})),
    ("state not a map", json.dumps({"type": "snapshot", "lot": "L1", "seq": 1, "state": [],
                                    "server_time": 1})),
    ("accepted ack without seq", json.dumps({"type": "ack", "id": "a", "lot": "L1", "ok": True,
                                             "leading": True, "price": 1})),
    ("refused ack without reason", json.dumps({"type": "ack", "id": "a", "lot": "L1",
                                               "ok": False})),
    ("ok not a bool", json.dumps({"type": "ack", "id": "a", "lot": "L1", "ok": 1,
                                  "reason": "too_low"})),
    ("bad msgpack", b"\xc1"),
]


@pytest.mark.parametrize(("why", "data"), BAD, ids=[b[0] for b in BAD])
def test_bad_frames_raise_bad_frame(why, data):
    with pytest.raises(BadFrame):
        parse_frame(data)


def test_unknown_type_is_its_own_bad_frame():
    with pytest.raises(UnknownFrame):
        parse_frame({"type": "hologram"})


def test_text_is_json_and_binary_is_msgpack_whatever_was_negotiated():
    raw = {"type": "lost", "lot": "L1"}
    assert parse_frame(msgpack.packb(raw)) == parse_frame(json.dumps(raw)) == Lost(lot="L1")


def test_http_ack_may_leave_out_type_lot_and_id():
    ack = parse_ack({"ok": True, "seq": 3, "leading": True, "price": 100}, lot="L1", id="f")
    assert ack == Ack(id="f", lot="L1", ok=True, seq=3, leading=True, price=100)


def test_encode_json_is_compact_and_keeps_chinese_text():
    assert encode({"type": "subscribe", "lot": "沪A-1"}, JSON) == '{"type":"subscribe","lot":"沪A-1"}'


def test_static_keys_carry_over_from_the_snapshot():
    snapshot = {"price": None, "vehicle": {"make": "BYD"}}
    event = {"price": 100}
    assert with_static(event, snapshot) == {"price": 100, "vehicle": {"make": "BYD"}}
    assert with_static({"price": 1, "vehicle": None}, snapshot) == {"price": 1, "vehicle": None}
    assert with_static(event, None) is event
