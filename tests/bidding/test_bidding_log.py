"""The lot log: canonical bytes, the hash chain, replay, snapshot + tail, and the verifier."""

import hashlib

import msgpack
import pytest

from bidding import AntiSnipe, Bid, LotState, command_from_dict, command_to_dict, event_from_dict, event_to_dict
from bidding.commands import Create, Open
from bidding.log import GENESIS_HASH, LogError, chain, create_lot, decode_entry, encode_entry, replay, resume, verify
from tests.bidding.bidding_harness import RULES_LADDER, Lot
from tests.bidding.test_bidding_english import WORKED_EXAMPLE, parse


def worked_lot() -> Lot:
    lot = Lot(increments=RULES_LADDER, reserve=12000, buy_now=30000,
              anti_snipe=AntiSnipe(window_s=120, extend_s=120), vehicle={"make": "Geely", "year": 2020})
    lot.open(0)
    for at, (command, *_rest) in enumerate(WORKED_EXAMPLE, start=1):
        bidder, kwargs = parse(command)
        lot.bid(at * 1000, bidder, **kwargs)
    lot.bid(590000, "B", max=40000)
    lot.tick(710000)
    return lot


def test_create_is_seq_1_and_the_chain_starts_at_genesis():
    spec = Lot().spec
    _, state, entry, raw = create_lot(spec, 123)
    assert (entry.seq, entry.prev_hash, state.seq, state.head_hash) == (1, GENESIS_HASH, 1, entry.hash)
    assert entry.hash == hashlib.sha256(GENESIS_HASH + raw).digest() == chain(GENESIS_HASH, raw)
    assert list(msgpack.unpackb(raw)) == ["seq", "cmd", "events"]
    assert decode_entry(raw, entry.hash).command == Create(at=123, spec=spec)


def test_replay_and_verify_rebuild_the_live_state():
    lot = worked_lot()
    assert lot.state.status == "closed" and lot.state.seq == len(lot.log) == 11
    spec, state = replay(lot.log)
    assert spec == lot.spec and state == lot.state
    report = verify(lot.log)
    assert (report.ok, report.entries, report.first_bad_seq, report.problem) == (True, 11, None, None)
    assert report.state == lot.state


def test_resume_from_a_snapshot_through_msgpack():
    lot = worked_lot()
    spec, at5 = replay(lot.log[:5])
    blob = msgpack.packb(at5.to_dict())
    snapshot = LotState.from_dict(msgpack.unpackb(blob))
    assert snapshot == at5
    assert resume(spec, snapshot, lot.log[5:]) == lot.state
    assert snapshot == at5  # left untouched


def test_every_flipped_byte_is_named_by_its_entry():
    lot = worked_lot()
    for index, (raw, stored) in enumerate(lot.log):
        for target in ("bytes", "hash"):
            data = raw if target == "bytes" else stored
            for pos in range(len(data)):
                flipped = bytearray(data)
                flipped[pos] ^= 0x01
                tampered = list(lot.log)
                tampered[index] = (bytes(flipped), stored) if target == "bytes" else (raw, bytes(flipped))
                report = verify(tampered)
                assert not report.ok and report.first_bad_seq == index + 1, (index, target, pos, report)
                assert report.entries == index


def test_a_consistently_rehashed_forgery_is_caught_by_re_deciding():
    """Change a bid's amount in both command and event, then rebuild the whole chain."""
    lot = worked_lot()
    forged = []
    prev = GENESIS_HASH
    for raw, _stored in lot.log:
        d = msgpack.unpackb(raw)
        if d["seq"] == 5:
            d["cmd"]["max"] = 14000
            d["events"][0]["max"] = 14000
        raw = msgpack.packb(d)
        prev = chain(prev, raw)
        forged.append((raw, prev))
    report = verify(forged)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert "differ" in report.problem


def test_gaps_reorders_and_a_second_create_are_named():
    lot = worked_lot()
    assert verify(lot.log[:3] + lot.log[4:]).first_bad_seq == 4
    assert verify([lot.log[1]] + lot.log[2:]).first_bad_seq == 1
    assert verify([]).ok is False
    with pytest.raises(LogError) as err:
        replay(lot.log[:3] + lot.log[4:])
    assert err.value.seq == 4


def test_refused_command_in_the_log_is_named():
    lot = Lot()
    lot.open(0)
    state = lot.state.copy()
    cmd = Bid(at=5, bidder="A", paddle="PA", id="1", amount=1)   # too low: never accepted
    from bidding.events import BidPlaced
    from bidding.log import make_entry

    ev = BidPlaced(at=5, bidder="A", paddle="PA", id="1", amount=1, max=None, floor=False, price=1, leader="A",
                   leader_paddle="PA", leader_max=1, ends_at=600000, extensions=0)
    entry, raw = make_entry(state, cmd, (ev,))
    report = verify(lot.log + [(raw, entry.hash)])
    assert report.first_bad_seq == 3 and "refuse" in report.problem


def test_command_and_event_dicts_round_trip():
    lot = worked_lot()
    for raw, stored in lot.log:
        entry = decode_entry(raw, stored)
        assert command_from_dict(command_to_dict(entry.command)) == entry.command
        for event in entry.events:
            assert event_from_dict(event_to_dict(event)) == event
        assert encode_entry(entry.seq, entry.command, entry.events) == raw


@pytest.mark.parametrize(
    "d",
    [
        {"kind": "launch", "at": 1},
        {"kind": "open"},
        {"kind": "open", "at": 1, "extra": 2},
        {"kind": "open", "at": -1},
        {"kind": "open", "at": True},
        {"kind": "bid", "at": 1, "bidder": 7, "paddle": "p", "id": "i", "amount": 1, "max": None, "floor": False},
        {"kind": "bid", "at": 1, "bidder": "b", "paddle": "p", "id": "i", "amount": 1, "max": None, "floor": 0},
    ],
)
def test_malformed_commands_raise_value_error(d):
    with pytest.raises(ValueError):
        command_from_dict(d)


def test_open_command_dict_shape():
    assert command_to_dict(Open(at=5)) == {"kind": "open", "at": 5}
