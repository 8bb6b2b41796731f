"""The load generator's cheap frame reader finds every event's seq in the engine's own frames, read
in pieces cut anywhere, without decoding them; and it tells events from the other frames."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from _bench_feeds import final_event  # noqa: E402
from _bench_frames import ENGINE_PING, ack_id_of, close_at_end, count_scan, last_event, scan, seq_of, split  # noqa: E402

from auction_engine.answers import Ack  # noqa: E402
from auction_engine.frames import Outgoing, ack_frame, event_frame, snapshot_frame  # noqa: E402

JSON = "auction.v1.json"


def state(seq: int) -> dict[str, object]:
    return {"lot": "HOT-0", "title": "Car \"quoted\" é", "status": "open", "price": 1_000_000 + seq, "next_min": 1_000_100 + seq,
            "leader": "P7", "bids": seq, "ends_at": 1_795_667_991_000, "extensions": 0, "seq": seq}


def events(first: int, count: int, pad: int = 0) -> bytes:
    """Real event frames on the wire, as the engine writes them (one lot, seqs first..)."""
    return b"".join(Outgoing(event_frame("HOT-0", s, "bid_placed", 1_795_667_491_000,
                                         {**state(s), "title": "x" * pad} if pad else state(s))).wire(JSON)
                    for s in range(first, first + count))


def read_in_pieces(wire: bytes, cuts: list[int]) -> list[int]:
    seqs: list[int] = []
    carry = b""
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        found, carry, _ = scan(carry + wire[a:b])
        seqs += [int(seq) for _, seq in found]
    return seqs


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(0, 300), st.data())
def test_every_seq_is_found_once_however_the_reads_cut_the_frames(count: int, pad: int, data: st.DataObject) -> None:
    wire = events(98, count, pad)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(wire) - 1), max_size=12)))
    assert read_in_pieces(wire, cuts) == list(range(98, 98 + count))


def test_a_read_ending_inside_the_digits_of_a_seq_waits_for_the_rest() -> None:
    wire = events(12345, 2)
    cut = wire.index(b'"seq":12346') + len(b'"seq":123')
    first, carry, _ = scan(wire[:cut])
    assert [int(s) for _, s in first] == [12345]
    rest, _, _ = scan(carry + wire[cut:])
    assert [int(s) for _, s in rest] == [12346]


def test_the_last_event_of_a_read_decodes_to_the_engine_s_frame() -> None:
    wire = events(7, 3)
    _, _, start = scan(wire)
    event = final_event(wire[start:])
    assert event is not None and event["seq"] == 9 and event["state"] == state(9)


def test_split_tells_events_from_snapshots_pings_and_a_cut_frame() -> None:
    snapshot = Outgoing(snapshot_frame("HOT-0", state(6), 1_795_667_491_000)).wire(JSON)
    ping = bytes([0x89, 0x01]) + b"p"
    wire = snapshot + events(7, 2) + ping + events(9, 1)
    n, others, used, last_start, last_end = split(wire + events(10, 1)[:-5], b'{"type":"event"')
    assert n == 3 and used == len(wire)
    assert [(opcode, wire[a:b][:18]) for opcode, a, b in others] == [(1, b'{"type":"snapshot"'), (9, b"p")]
    assert seq_of(wire[last_start:last_end]) == 9


def test_seq_and_ack_id_come_from_the_frame_s_own_fields() -> None:
    ack = Outgoing(ack_frame(Ack("HOT-0", "b-17", 42, True, 1_000_000, 2_000_000))).for_subprotocol(JSON)
    assert isinstance(ack, str)
    assert ack_id_of(ack.encode()) == "b-17"
    assert seq_of(ack.encode()) == 42
    assert ack_id_of(events(1, 1)) is None


def test_the_engine_s_keepalive_ping_is_found_between_events_without_walking_frames() -> None:
    from websockets.frames import Frame, Opcode

    ping = Frame(Opcode.PING, b"\x89\x04\x00\xff").serialize(mask=False, extensions=[])
    wire = events(1, 3) + ping + events(4, 2)
    assert ENGINE_PING.findall(wire) == [b"\x89\x04\x00\xff"]
    assert [int(s) for _, s in scan(wire)[0]] == [1, 2, 3, 4, 5]


def count_in_pieces(wire: bytes, cuts: list[int]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    carry = b""
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        n, first, last, carry, _ = count_scan(carry + wire[a:b])
        if n:
            out.append((n, first, last))
    return out


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(0, 300), st.data())
def test_counting_finds_each_read_s_events_as_a_run_first_to_last_however_the_reads_cut(
    count: int, pad: int, data: st.DataObject
) -> None:
    wire = events(98, count, pad)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(wire) - 1), max_size=12)))
    runs = count_in_pieces(wire, cuts)
    assert sum(n for n, _, _ in runs) == count
    assert all(last - first + 1 == n for n, first, last in runs), "each read's events are contiguous"
    assert [first for _, first, _ in runs] == [98] + [last + 1 for _, _, last in runs[:-1]]
    assert runs[-1][2] == 98 + count - 1


def test_counting_shows_a_gap_as_a_count_that_disagrees_with_the_ends() -> None:
    wire = events(1, 3) + events(5, 2)  # 4 is missing
    n, first, last, _, start = count_scan(wire)
    assert (n, first, last) == (5, 1, 6) and last - first + 1 != n
    event = final_event(wire[start:])
    assert event is not None and event["seq"] == 6


def events_of_size(first: int, count: int, size: int) -> bytes:
    """Event frames whose JSON is exactly `size` bytes (seqs of one width), as the engine writes them."""
    def one(seq: int, pad: str) -> bytes:
        return Outgoing(event_frame("HOT-0", seq, "bid_placed", 1_795_667_491_000, {"seq": seq, "pad": pad})).wire(JSON)

    short = len(one(first, "")) - 2  # the header of a frame under 126 bytes
    return b"".join(one(seq, "x" * (size - short)) for seq in range(first, first + count))


def server_close(code: int, reason: str) -> bytes:
    from websockets.frames import Close, Frame, Opcode

    return Frame(Opcode.CLOSE, Close(code, reason).serialize()).serialize(mask=False, extensions=[])


def test_a_close_is_found_at_the_end_of_a_carry_never_inside_an_event_frame() -> None:
    wire = events_of_size(100, 20, 136)  # each header is 81 7e 00 88: the byte a close frame starts with
    assert wire.count(b"\x7e\x00\x88") == 20
    for cut in range(1, len(wire) + 1):  # every carry a counting read can leave, with either reader
        _, _, start = last_event(wire, cut)
        assert close_at_end(wire[start:cut]) is None
        assert close_at_end(count_scan(wire[:cut])[3]) is None
        assert close_at_end(wire, cut) is None  # nor anywhere in the read
    reason = "more than 1024 frames waiting; resubscribe with `since` to resume"  # longer than a carry's tail
    closed = wire + server_close(1008, reason)
    for cut in range(len(wire) + 1, len(closed)):  # the close not yet whole
        assert close_at_end(closed, cut) is None
    assert close_at_end(closed) == (1008).to_bytes(2, "big") + reason.encode()
