"""Bulk watchers (scripts/_bench_feeds.py) against the real engine: subscribed through the engine's
own protocol, they end on the engine's last seq and state, with no gap, after reads in both modes
(frames walked while subscribing, `scan` once counting). A delta feed's reads are checked by bytes
against its lot's tracker: a frame missing or repeated anywhere in a read is a gap, a ping is not."""

from __future__ import annotations

import contextlib
import itertools
import select
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import _bench_feeds  # noqa: E402
from _bench_feeds import Feed, LotTally, Reader, ReaderSpec  # noqa: E402

from auction_engine.frames import Outgoing, delta_frame, event_frame, snapshot_frame  # noqa: E402

from ..conftest import METRICS_AUTH, EngineProcess
from .test_bench_frames import events_of_size, server_close

JSON = "auction.v1.json"


def open_lot(engine: EngineProcess, lot: str, **extra: Any) -> httpx.Client:
    """An open lot; the auctioneer's client."""
    staff = engine.http()
    staff.post("/api/lots", json={"lot": lot, "title": "feeds", "currency": "EUR", "start_price": 1000,
                                  "duration_s": 600, **extra}).raise_for_status()
    staff.post(f"/api/lots/{lot}/open").raise_for_status()
    return staff


def subscribed(engine: EngineProcess, lot: str, watchers: int, **spec: Any) -> tuple[Reader, select.epoll]:
    """`watchers` bulk watchers of `lot`, connected and each past its snapshot."""
    reader = Reader(ReaderSpec(0, engine.url.replace("http", "ws", 1), "engine", [lot], watchers, duration=5, **spec))
    poller = select.epoll()
    reader.connect_all(poller)
    for _ in range(200):
        if all(f.ready for f in reader.feeds.values()):
            break
        reader.sweep(poller, 0.02)
    return reader, poller


@pytest.mark.parametrize("delta", [False, True], ids=["whole", "delta"])
def test_bulk_watchers_end_on_the_engine_s_seq_and_state(engine, delta: bool) -> None:
    lot = f"FEED-{'D' if delta else 'W'}"
    staff = open_lot(engine, lot)
    bidders = [engine.http("bidder", "feed-b1"), engine.http("bidder", "feed-b2")]
    bidders[0].post(f"/api/lots/{lot}/bids", json={"id": "before", "max": 5_000}).raise_for_status()
    before = staff.get(f"/api/lots/{lot}").json()["seq"]

    reader, poller = subscribed(engine, lot, 5, delta=delta)
    assert [(f.ready, f.last) for f in reader.feeds.values()] == [(True, before)] * 5  # each snapshot's seq
    trackers = [f for f in reader.feeds.values() if f.state is not None]
    assert len(trackers) == delta, "a delta lot has one feed per reader that decodes every frame"

    reader.counting = reader.fast = True  # the bids start after, as in the bench: a delta feed's first event is whole
    for i in range(30):
        placed = bidders[(i + 1) % 2].post(f"/api/lots/{lot}/bids", json={"id": f"b{i}", "max": 1_000_000 + 100_000 * i})
        assert placed.status_code == 200, placed.text
        if i % 7 == 0:
            reader.sweep(poller, 0)
    state = staff.get(f"/api/lots/{lot}").json()
    for _ in range(200):
        if all(f.last == state["seq"] for f in reader.feeds.values()):
            break
        reader.sweep(poller, 0.02)

    if delta:
        assert all(f.base is not None for f in reader.feeds.values() if f.state is None), \
            "every bulk feed was measured by bytes against the tracker"
    report = reader.result((0.0, 0.0), 1.0, [])["lots"][lot]
    assert report["lasts"] == {str(state["seq"]): 5}
    assert (report["gaps"], report["dups"], report["closed"]) == (0, 0, 0)
    assert report["frames"] == 5 * (state["seq"] - before)
    assert {k: report["final"][k] for k in ("seq", "price", "leader", "bids")} == \
           {k: state[k] for k in ("seq", "price", "leader", "bids")}


# -- the byte check alone, on the engine's own frames over a real socket pair --

def lot_state(seq: int) -> dict[str, object]:
    return {"lot": "HOT-0", "title": "Car 车", "status": "open", "price": 1_000_000 + 100 * seq,
            "next_min": 1_000_100 + 100 * seq, "leader": f"P{seq % 3}", "bids": seq, "ends_at": 1_795_667_991_000,
            "extensions": 0, "seq": seq}


def delta_frames(first: int, count: int) -> list[bytes]:
    """A delta watcher's event frames on the wire: the first whole, then each as its change."""
    whole = [Outgoing(event_frame("HOT-0", s, "bid_placed", 1_795_667_491_000 + s, lot_state(s)))
             for s in range(first, first + count)]
    out = [whole[0].wire(JSON)]
    for before, after in itertools.pairwise(whole):
        delta = delta_frame(after.frame["seq"] - 1, before, after)
        out.append((delta or after).wire(JSON))
    return out


PING = bytes([0x89, 0x04]) + b"\x01\x02\x03\x04"  # the engine's keepalive: 4 random bytes


@contextlib.contextmanager
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """The feed's socket (pongs go out on it) and the engine's end, which reads them."""
    a, b = socket.socketpair()
    b.setblocking(False)
    with a, b:
        yield a, b


def measured(sock: socket.socket, feed_wire: bytes, cuts: list[int], tracker_wire: bytes) -> Feed:
    """One bulk feed reading `feed_wire` in pieces cut at `cuts`, checked against a tracker that read
    `tracker_wire` (a snapshot at seq 99, then events from 100); the tracker reads first, as it may."""
    reader = Reader(ReaderSpec(0, "ws://127.0.0.1:1", "engine", ["HOT-0"], 2, duration=1, delta=True))
    snapshot = Outgoing(snapshot_frame("HOT-0", lot_state(99), 1_795_667_491_000)).wire(JSON)
    tracker, feed = Feed(sock, b"HOT-0", state={}), Feed(sock, b"HOT-0")
    reader.feeds = {1: tracker, 2: feed}
    reader.lots[b"HOT-0"] = LotTally()
    reader.received(tracker, snapshot + tracker_wire, 0.0)
    reader.received(feed, snapshot, 0.0)
    assert feed.ready and feed.last == 99
    reader.counting = reader.fast = True
    for a, b in zip([0, *cuts], [*cuts, len(feed_wire)], strict=True):
        into = bytearray(feed.buf + feed_wire[a:b])
        feed.buf = b""
        reader.placed(feed, into, len(into))
    reader.result((0.0, 0.0), 1.0, [])
    return feed


def cuts_of(data: st.DataObject, wire: bytes) -> list[int]:
    return sorted(data.draw(st.sets(st.integers(1, len(wire) - 1), max_size=10)))


@settings(max_examples=150, deadline=None)
@given(st.integers(3, 30), st.data())
def test_a_whole_delta_feed_read_in_any_pieces_has_no_gap(count: int, data: st.DataObject) -> None:
    wire = b"".join(delta_frames(100, count))
    with socket_pair() as (ours, _):
        feed = measured(ours, wire, cuts_of(data, wire), wire)
    assert (feed.gaps, feed.dups, feed.last, feed.frames) == (0, 0, 99 + count, count)


@settings(max_examples=150, deadline=None)
@given(st.integers(4, 30), st.data())
def test_a_frame_missing_anywhere_is_a_gap_however_the_reads_cut(count: int, data: st.DataObject) -> None:
    frames = delta_frames(100, count)
    missing = data.draw(st.integers(1, count - 2))  # between two heads the feed reads, not its last
    wire = b"".join(frames[:missing] + frames[missing + 1:])
    with socket_pair() as (ours, _):
        feed = measured(ours, wire, cuts_of(data, wire), b"".join(frames))
    assert feed.gaps >= 1


@settings(max_examples=150, deadline=None)
@given(st.integers(4, 30), st.data())
def test_a_frame_repeated_anywhere_is_seen_however_the_reads_cut(count: int, data: st.DataObject) -> None:
    frames = delta_frames(100, count)
    again = data.draw(st.integers(1, count - 2))
    wire = b"".join(frames[:again + 1] + frames[again:])
    with socket_pair() as (ours, _):
        feed = measured(ours, wire, cuts_of(data, wire), b"".join(frames))
    assert feed.gaps + feed.dups >= 1


@settings(max_examples=150, deadline=None)
@given(st.integers(3, 20), st.data())
def test_the_engine_s_pings_between_events_are_answered_and_are_no_gap(count: int, data: st.DataObject) -> None:
    frames = delta_frames(100, count)
    at = sorted(data.draw(st.sets(st.integers(1, count - 1), min_size=1, max_size=3)))
    wire = b"".join(f + (PING if i + 1 in at else b"") for i, f in enumerate(frames))
    with socket_pair() as (ours, engine_end):
        feed = measured(ours, wire, cuts_of(data, wire), b"".join(frames))
        pongs = engine_end.recv(65536)
    assert (feed.gaps, feed.dups, feed.last) == (0, 0, 99 + count)
    assert pong_payloads(pongs) == [b"\x01\x02\x03\x04"] * len(at), "each ping answered once"


def pong_payloads(data: bytes) -> list[bytes]:
    """The payloads of the masked pong frames a client wrote (RFC 6455, 5.3)."""
    out = []
    while data:
        assert data[0] == 0x8A and data[1] & 0x80, data
        n = data[1] & 0x7F
        key, payload = data[2:6], data[6:6 + n]
        out.append(bytes(b ^ key[i % 4] for i, b in enumerate(payload)))
        data = data[6 + n:]
    return out


def test_the_tracker_forgets_heads_no_feed_needs_and_the_check_holds(monkeypatch) -> None:
    monkeypatch.setattr(_bench_feeds, "PRUNE_OVER", 16)
    frames = delta_frames(100, 300)
    wire = b"".join(frames)
    tracker_wire = b"".join(frames[:150]), b"".join(frames[150:])
    reader = Reader(ReaderSpec(0, "ws://127.0.0.1:1", "engine", ["HOT-0"], 2, duration=1, delta=True))
    snapshot = Outgoing(snapshot_frame("HOT-0", lot_state(99), 1_795_667_491_000)).wire(JSON)
    with socket_pair() as (ours, _):
        tracker, feed = Feed(ours, b"HOT-0", state={}), Feed(ours, b"HOT-0")
        reader.feeds = {1: tracker, 2: feed}
        reader.lots[b"HOT-0"] = LotTally()
        reader.received(feed, snapshot, 0.0)
        reader.received(tracker, snapshot, 0.0)
        reader.counting = reader.fast = True
        cut = len(tracker_wire[0])
        for part, feed_part in ((tracker_wire[0], wire[:cut]), (tracker_wire[1], wire[cut:])):
            reader.received(tracker, part, 0.0)
            for i in range(0, len(feed_part), 700):  # reads of 700 bytes, each checked as the tracker has it
                into = bytearray(feed.buf + feed_part[i:i + 700])
                feed.buf = b""
                reader.placed(feed, into, len(into))
        tally = reader.lots[b"HOT-0"]
        assert min(tally.heads) == tally.pruned > 150, "the heads below the feed's base when the tracker read are gone"
        reader.result((0.0, 0.0), 1.0, [])
    assert (feed.gaps, feed.dups, feed.last, feed.frames) == (0, 0, 399, 300)


def test_a_watcher_counts_as_cut_off_by_the_engine_s_close_only() -> None:
    wire = events_of_size(100, 40, 136)  # headers holding 0x88, as a close frame starts
    reader = Reader(ReaderSpec(0, "ws://127.0.0.1:1", "engine", ["HOT-0"], 1, duration=1))
    snapshot = Outgoing(snapshot_frame("HOT-0", lot_state(99), 1_795_667_491_000)).wire(JSON)
    with socket_pair() as (ours, _):
        feed = Feed(ours, b"HOT-0")
        reader.feeds = {1: feed}
        reader.lots[b"HOT-0"] = LotTally()
        reader.received(feed, snapshot, 0.0)
        reader.counting = reader.fast = True
        for i in range(0, len(wire), 97):  # reads cut inside frames, many of them after a 0x88
            reader.received(feed, wire[i:i + 97], 0.0)
        assert not feed.closed and feed.last == 139
        reader.received(feed, server_close(1008, "more than 1024 frames waiting"), 0.0)  # a read of its own
    assert feed.closed and feed.why == "1008 more than 1024 frames waiting"
    assert (feed.gaps, feed.dups) == (0, 0)


@pytest.fixture
def tight_engine(tmp_path, redis_url):
    """An engine that cuts a watcher off after 16 frames waiting (tests/engine/test_slow_consumer.py)."""
    proc = EngineProcess(tmp_path, redis_url,
                         env_extra={"AUCTION_SEND_QUEUE_LIMIT": "16", "AUCTION_SO_SNDBUF": "16384"}).start()
    yield proc
    proc.stop()


def test_watchers_the_engine_cuts_off_are_counted_with_how_it_ended_them(tight_engine) -> None:
    engine = tight_engine
    staff = open_lot(engine, "CUT-1", increments=[[0, 100]])
    reader, poller = subscribed(engine, "CUT-1", 3, rcvbuf=4096)
    reader.counting = reader.fast = True

    def cut_off() -> float:
        return sum(float(line.split()[-1]) for line in staff.get("/metrics", headers=METRICS_AUTH).text.splitlines()
                   if line.startswith("auction_slow_consumers_total"))

    # Read only every 80 events: that many can fill the engine's 16 frames and both sockets' small buffers, and
    # the next overflows the watcher.
    for n in range(800):
        staff.post("/api/lots/CUT-1/floor-bids", json={"paddle": f"F{n % 2}", "amount": 5000 + 100 * n}).raise_for_status()
        if n % 80 == 79:
            reader.sweep(poller, 0)
            if all(f.closed for f in reader.feeds.values()):
                break
    for _ in range(300):
        reader.sweep(poller, 0.02)
        if all(f.closed for f in reader.feeds.values()):
            break
    report = reader.result((0.0, 0.0), 1.0, [])["lots"]["CUT-1"]
    assert report["closed"] == cut_off() == 3, "the readers count what the engine cut off"
    # The engine ends a cut-off connection one of two ways: its close (frames.SLOW_CONSUMER_CLOSE), found at the
    # end of a counting read, when the reader takes it within the engine's 1 s grace; else an abort, when the
    # frames before it are still in the socket buffers (a reader reads once per feed per sweep). Which one
    # depends on how fast the bids go; each is counted, and with its reason.
    assert sum(report["why"].values()) == 3
    assert set(report["why"]) <= {"4008", "closed without a close frame"}, report["why"]
    assert (report["gaps"], report["dups"]) == (0, 0)
