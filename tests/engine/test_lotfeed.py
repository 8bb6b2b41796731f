"""lotfeed.py: a lot's flush writes each idle watcher what it has not had, and the watchers at one
position share one copy of those frames' bytes."""

from __future__ import annotations

import asyncio

import uvloop

from auction_engine.frames import JSON, Outgoing, Run, event_frame
from auction_engine.lotfeed import COALESCE_WATCHERS, FLUSH_SLICE, LotFeed

from .helpers import flushed


class Watcher:
    """An idle watcher whose socket takes everything at once."""

    def __init__(self) -> None:
        self.written: list[list[Outgoing]] = []

    def idle(self) -> bool:
        return True

    def write_now(self, frames: list[Outgoing]) -> bool:
        self.written.append(frames)
        return True

    def wake(self) -> None:
        raise AssertionError("an idle watcher is written to directly")

    def send(self, out: Outgoing) -> bool:
        raise AssertionError("no private frame here")

    def overflow(self) -> None:
        raise AssertionError("nobody falls behind here")



def event(seq: int) -> Outgoing:
    return Outgoing(event_frame("L1", seq, "bid", 1_000 + seq, {"price": 100 * seq}))


async def test_watchers_at_one_position_are_written_the_same_bytes_built_once() -> None:
    feed = LotFeed("L1", limit=100)
    watchers = [Watcher() for _ in range(3)]
    for watcher in watchers:
        sub = feed.subscribe(watcher, None)
        sub.held = False
        feed.park(sub)
    frames = [event(1), event(2)]
    for seq, out in enumerate(frames, 1):
        feed.append(seq, out)
    await flushed()

    runs = [w.written for w in watchers]
    assert all(len(r) == 1 for r in runs)
    first = runs[0][0]
    assert isinstance(first, Run) and all(r[0] is first for r in runs)  # one list for all, not one each
    assert list(first) == frames
    assert first.joined(JSON) == b"".join(out.wire(JSON) for out in frames)
    assert first.joined(JSON) is first.joined(JSON)  # joined once

    feed.append(3, later := event(3))
    await flushed()
    assert [w.written[1] for w in watchers] == [[later]] * 3  # each had 1 and 2: only 3 is new


async def test_a_lots_flush_waits_a_turn_more_whatever_its_crowd() -> None:
    """The extra turn lets the lot's next append leave before the flush: a hot lot's 1,000 watchers,
    and a sale's 500 lots of ten watchers each flushing in the same turn, held it back alike."""
    few, crowd = LotFeed("L1", limit=100), LotFeed("L2", limit=100)
    sockets = {"few": [Watcher() for _ in range(3)], "crowd": [Watcher() for _ in range(200)]}
    for feed, watchers in ((few, sockets["few"]), (crowd, sockets["crowd"])):
        for watcher in watchers:
            sub = feed.subscribe(watcher, None)
            sub.held = False
            feed.park(sub)
        feed.append(1, event(1))
    await asyncio.sleep(0)
    assert not any(w.written for w in sockets["few"] + sockets["crowd"]), "not the next turn"
    await asyncio.sleep(0)
    assert all(w.written for w in sockets["few"]), "the one after"
    assert sum(bool(w.written) for w in sockets["crowd"]) == FLUSH_SLICE, "the one after, its first slice"


async def slices_of(crowd: list[Watcher]) -> None:
    """The turns a flush to this crowd takes after its first (FLUSH_SLICE watchers a turn)."""
    for _ in range(len(crowd) // FLUSH_SLICE + 1):
        await asyncio.sleep(0)


def crowd_of(feed: LotFeed, n: int) -> list[Watcher]:
    watchers = [Watcher() for _ in range(n)]
    for watcher in watchers:
        sub = feed.subscribe(watcher, None)
        sub.held = False
        feed.park(sub)
    return watchers


async def test_a_crowded_lots_events_within_the_period_go_together_at_its_end_and_none_is_lost() -> None:
    """One socket write per watcher per flush: a lot with 100+ watchers is flushed at most once per
    `coalesce_s`. The first event after a quiet spell is not held back; nor is a small lot's."""
    coalesce = 0.05
    crowd, few = LotFeed("L1", limit=100, coalesce_s=coalesce), LotFeed("L2", limit=100, coalesce_s=coalesce)
    many, three = crowd_of(crowd, COALESCE_WATCHERS), crowd_of(few, 3)
    loop = asyncio.get_running_loop()

    started = loop.time()
    for feed in (crowd, few):
        feed.append(1, event(1))
    await flushed()
    await slices_of(many)
    seqs = [[[out.frame["seq"] for out in run] for run in w.written] for w in many + three]
    assert all(written == [[1]] for written in seqs)  # at once: nothing was sent lately

    for seq in (2, 3):  # within the period after that flush
        for feed in (crowd, few):
            feed.append(seq, event(seq))
        await flushed()
    assert all(len(w.written) == 3 for w in three), "a small lot is flushed as soon as it can be"
    assert all(len(w.written) == 1 for w in many), "the crowd waits for the period's end"

    while any(len(w.written) == 1 for w in many):
        await asyncio.sleep(0.005)
    assert loop.time() - started >= coalesce
    assert all([out.frame["seq"] for out in w.written[1]] == [2, 3] for w in many)  # together, in order


def seqs_written(watcher: Watcher) -> list[int]:
    return [out.frame["seq"] for run in watcher.written for out in run]


async def test_a_crowds_flush_leaves_the_loop_between_slices_and_every_watcher_gets_every_frame() -> None:
    """A flush writes to at most FLUSH_SLICE watchers a turn: the acks that come due meanwhile do not
    wait for a thousand socket writes. A frame appended between slices reaches everyone, in order."""
    feed = LotFeed("L1", limit=100)
    crowd = crowd_of(feed, 2 * FLUSH_SLICE + 1)

    feed.append(1, event(1))
    await flushed()
    assert sum(bool(w.written) for w in crowd) == FLUSH_SLICE, "one slice this turn, the rest after"

    feed.append(2, event(2))  # while the flush is half done
    await flushed()
    await slices_of(crowd)
    assert all(seqs_written(w) == [1, 2] for w in crowd)
    assert not feed.entries and feed.base == feed.head == 2, "kept only while someone still needed it"


def test_a_period_ending_within_a_millisecond_on_uvloop_does_not_break_the_lots_publishing() -> None:
    """The engine runs on uvloop, whose `call_at` for a time under a millisecond away returns a plain
    Handle (no `when()`). The hot lot's bench met it: the append after such a flush raised, the batch
    was answered `unavailable` and rebuilt, and every watcher missed events."""

    async def scenario() -> list[list[int]]:
        feed = LotFeed("L1", limit=100, coalesce_s=0.0003)
        crowd = crowd_of(feed, COALESCE_WATCHERS)
        feed.append(1, event(1))
        await flushed()
        feed.append(2, event(2))  # within the period: a timer for its end, < 1 ms away
        feed.append(3, event(3))  # asks whether the period is over
        await asyncio.sleep(0.01)
        await flushed()
        await slices_of(crowd)
        return [seqs_written(w) for w in crowd]

    assert uvloop.run(scenario()) == [[1, 2, 3]] * COALESCE_WATCHERS


async def test_flushes_begun_before_the_last_one_ended_reach_every_watcher_in_turn() -> None:
    """A hot lot appends every turn, and each flush begins before the last one's slices are done: the
    watchers the unfinished flush had not reached go first, or they would starve into slow consumers."""
    feed = LotFeed("L1", limit=1_000)
    crowd = crowd_of(feed, 4 * FLUSH_SLICE)
    for seq in range(1, 13):
        feed.append(seq, event(seq))
        await asyncio.sleep(0)
    assert all(w.written for w in crowd), "every watcher written to while the lot is still busy"
    await flushed()
    await slices_of(crowd)
    assert all(seqs_written(w) == list(range(1, 13)) for w in crowd)
