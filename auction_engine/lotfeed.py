"""One lot's event frames on this node, appended once and shared by every watcher of the lot.

Why: a hot lot sends each event to every watcher. Copying each frame into each watcher's queue
and waking each watcher's writer once per event was about 40% of the fan-out CPU
(docs/performance.md, "Profile"). Here an event is appended once; a watcher's backlog is its
position in the buffer, not a copy of it; and once per event-loop turn the feed writes what each
idle watcher has not had yet straight to its socket: one write per watcher per turn, however many
events the lot published in it. That turn is the one after next, once the lot's next append is away.

The bound of invariant 8 is unchanged: a watcher more than `limit` frames behind (its position,
plus its private frames) is cut off as a slow consumer, and the buffer never keeps more than
`limit` frames behind the head for anyone.

A conflated subscription (`conflate_ms`) holds no position: it gets the latest frame at most once
per period, and always within one period of the last change (a timer per group of watchers that
were sent to together, not one per event).

A delta subscription (`delta`) reads the same buffer, but each event after its first live one
carries only the state's changed fields (`frames.delta_frame`). A hot lot's event frame is ~550
bytes of which a bid changes ~150; the kernel's send path per byte was most of what 1,000 watchers
cost (docs/performance.md, "Round twelve"). The delta is made once per event, in `append`, from the
frame before it, and only while someone on this node reads deltas.

A lot with many watchers waiting for direct writes (`COALESCE_WATCHERS`) is flushed at most once per
`coalesce_s` (AUCTION_FEED_COALESCE_MS, 25 ms by default): the first event after a quiet spell goes at
once, the ones that follow within the period go together with the first append after its end. Each
flush is one socket write per watcher whatever it carries: at ~190 events/s on a lot of 1,000
watchers every event was its own flush, 72-73% of a core, against 41-44% coalesced, with a shorter
ack tail. On the hottest lot, whose flushes already carry many events, it changes little with delta
watchers and cost whole-frame watchers some accepted bids in the bench (docs/performance.md,
"Round fourteen").
A flush writes to at most `FLUSH_SLICE` watchers per loop turn, the rest in the turns after: a flush to
1,000 watchers held the loop 10-20 ms, and the hot lot's acks and appends waited behind it
(docs/performance.md, "Round fifteen").
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Protocol

from .frames import Outgoing, Run, delta_frame

Entry = tuple[int, int, Outgoing, Outgoing | None]
"""(tick, seq, frame, its delta from the frame before it or None). The tick orders a lot's frame
among the connection's private frames."""

_TICKS = itertools.count(1)

COALESCE_WATCHERS = 100
"""From this many watchers written to directly, a lot's flushes are at least `coalesce_s` apart: a sale's
lots of ten watchers each are flushed as soon as they can be."""


FLUSH_SLICE = 10
"""Watchers written to in one loop turn of a flush (and of a conflated period's end): the rest go in the
turns after, each after the loop has polled its sockets. A hot lot's flush to 1,000 watchers held the loop
for ~10-20 ms at a time, and every ack and append reply that came meanwhile waited for all of it. The hot
lot with 1,000 delta watchers at 3,600 commands/s offered: ~1,710 accepted/s at ack p99 55-64 ms in one
piece; 2,030-2,060 at 49-69 in slices of 200; 2,110-2,130 at 33-37 in slices of 25; 2,120-2,130 at 26-29
in slices of 10 (docs/performance.md, "Round fifteen")."""


def tick() -> int:
    """A number that grows with every frame handed to the fan-out, private or public."""
    return next(_TICKS)


class Reader(Protocol):
    """What the feed needs of a connection (fanout.Connection)."""

    def idle(self) -> bool:
        """Its writer is waiting and it has no private frame queued: a direct write keeps order."""

    def write_now(self, frames: list[Outgoing]) -> bool:
        """Write at once if the socket takes it without waiting; False leaves it to the writer."""

    def wake(self) -> None:
        """Let the writer take what the feed holds for it."""

    def send(self, out: Outgoing) -> bool:
        """Queue a frame as a private one (after what is queued), within the bound."""

    def overflow(self) -> None:
        """Past the bound: tell it `slow_consumer` and cut it off."""


class Subscription:
    """One connection's watch of one lot."""

    __slots__ = ("feed", "reader", "pos", "held", "skip", "floor", "conflate_s", "due", "sent_seq", "active", "delta",
                 "fresh")

    def __init__(self, feed: LotFeed, reader: Reader, conflate_ms: int | None, delta: bool = False) -> None:
        self.feed = feed
        self.reader = reader
        self.pos = feed.head  # next frame this watcher gets (full feed only)
        self.held = True  # snapshot or history on its way: the feed keeps frames but sends nothing
        self.skip = 0  # frames up to this seq were in the snapshot or history
        self.floor = 0  # frames below this tick go after the history queued before it
        self.conflate_s = conflate_ms / 1000 if conflate_ms else None
        self.due = 0.0  # conflated: loop time at which the next frame may go
        self.sent_seq = 0
        self.active = True
        self.delta = delta  # events after the first live one carry only what changed
        self.fresh = True  # a delta watcher's first live event is whole: its base is the snapshot, which may hold
        # the bidder's or auctioneer's own fields (your_max, leading) that events never carry

    @property
    def lag(self) -> int:
        """Frames of the lot this watcher has yet to get (0 for a conflated one: it never queues)."""
        return 0 if self.conflate_s is not None else self.feed.head - self.pos

    def take(self, before: int, room: int, out: list[Outgoing]) -> None:
        """Frames for the writer, in order: those older than tick `before`, at most `room`."""
        if self.held or self.conflate_s is not None or self.floor >= before:
            return
        self.feed.take(self, before, room, out)

    def release(self, sent_seq: int) -> None:
        """The snapshot or history up to `sent_seq` is queued: from here on, the live frames."""
        self.held = False
        self.skip = sent_seq
        self.sent_seq = sent_seq
        self.floor = tick()
        self.feed.released(self)


class LotFeed:
    """The shared, append-only frame buffer of one lot; positions are absolute (`base` + index)."""

    def __init__(self, lot: str, limit: int, coalesce_s: float = 0.0) -> None:
        self.lot = lot
        self.limit = limit
        self.coalesce_s = coalesce_s
        self.entries: list[Entry] = []
        self.base = 0
        self.last_seq = 0
        self.latest: Outgoing | None = None
        self.full: set[Subscription] = set()
        self.conflated: set[Subscription] = set()
        self.parked: set[Subscription] = set()  # full, at the head, their writer idle: written directly
        self.waiting: set[Subscription] = set()  # conflated, caught up, no timer
        self.deltas = 0  # delta watchers: while there are any, each event's delta is made
        self._flush_due = False
        self._flushed_at = float("-inf")  # loop time of the last flush
        self._late: asyncio.Handle | None = None  # a coalesced flush's timer, at its period's end ...
        self._late_at = 0.0  # ... which is this loop time: uvloop hands back a plain Handle, without `when()`,
        # for a time less than a millisecond away
        self._todo: list[Subscription] = []  # a flush's watchers not written to yet, a slice a turn; while
        # there are any, the next slice is on its way

    def __len__(self) -> int:
        return len(self.full) + len(self.conflated)

    @property
    def head(self) -> int:
        return self.base + len(self.entries)

    def subscribe(self, reader: Reader, conflate_ms: int | None, delta: bool = False) -> Subscription:
        sub = Subscription(self, reader, conflate_ms, delta and conflate_ms is None)
        (self.full if sub.conflate_s is None else self.conflated).add(sub)
        self.deltas += sub.delta
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub.active:
            self.deltas -= sub.delta
        sub.active = False
        self.full.discard(sub)
        self.conflated.discard(sub)
        self.parked.discard(sub)
        self.waiting.discard(sub)
        if not self.full:
            self._forget()

    def append(self, seq: int, out: Outgoing) -> None:
        """A published event; a seq already appended (a replica catching up twice) is dropped."""
        if seq <= self.last_seq:
            return
        prev, self.last_seq = self.last_seq, seq
        delta = delta_frame(prev, self.latest, out) if self.deltas and self.latest is not None else None
        self.latest = out
        if self.full:
            self.entries.append((tick(), seq, out, delta))
            if len(self.entries) > self.limit:
                self._trim()
        loop = asyncio.get_running_loop()
        if self._flush_due:
            late = self._late
            if late is not None and loop.time() >= self._late_at:  # the period is over: go with this append
                late.cancel()
                self._late = None
                loop.call_soon(loop.call_soon, self._flush)
            return
        self._flush_due = True
        at = self._flushed_at + self.coalesce_s
        if len(self.parked) >= COALESCE_WATCHERS and loop.time() < at:
            # Within the period after the last flush: the first append after its end carries the flush,
            # two turns on as below, so that it still overlaps that append's fsync; a timer at the
            # period's end does if no append comes.
            self._late, self._late_at = loop.call_at(at, self._flush), at
        else:
            # Two turns on, not one: the lot's actor goes on from here to decide its next batch and
            # send its append in the next turn. Flushed first, a hot lot's 1,000 watchers held that
            # append back by the whole flush (its wait p50 27-29 ms) while Redis sat idle; after it,
            # the flush overlaps the append's fsync (docs/performance.md, "Round eight"). A sale's 500
            # lots of ten watchers each are the same: their flushes in one turn held back the append
            # the pipeline sends for all of them ("Round eleven": sale-day ack p99 median 22 ms over
            # six runs, against 26 with the short flushes the next turn).
            loop.call_soon(loop.call_soon, self._flush)

    def take(self, sub: Subscription, before: int, room: int, out: list[Outgoing]) -> None:
        entries, i = self.entries, sub.pos - self.base
        if sub.skip:
            i = self._skip(sub, i)
        end = min(len(entries), i + room)
        if sub.delta:
            while i < end and entries[i][0] < before:
                entry = entries[i]
                out.append(entry[2] if sub.fresh or entry[3] is None else entry[3])
                sub.fresh = False
                i += 1
        else:
            while i < end and entries[i][0] < before:
                out.append(entries[i][2])
                i += 1
        sub.pos = self.base + i

    def _skip(self, sub: Subscription, i: int) -> int:
        """Past the frames the snapshot or history already held (the book can run ahead of the log)."""
        entries = self.entries
        while i < len(entries) and entries[i][1] <= sub.skip:
            i += 1
        if self.last_seq >= sub.skip:
            sub.skip = 0
        sub.pos = self.base + i
        return i

    def park(self, sub: Subscription) -> None:
        """The writer of `sub` went idle with nothing left of this lot: later frames go directly."""
        if sub.active and not sub.held and sub.conflate_s is None and sub.pos == self.head:
            self.parked.add(sub)
            if self._settled():
                self._forget()

    def released(self, sub: Subscription) -> None:
        if sub.conflate_s is not None:
            if self.last_seq > sub.sent_seq:
                self._send_latest(sub, asyncio.get_running_loop().time())
            else:
                self.waiting.add(sub)
            return
        sub.reader.wake()

    # -- once per loop turn after an append ------------------------------------------------

    def _settled(self) -> bool:
        """Every watcher has had every frame: none is waiting for a flush or behind its writer."""
        return not self._flush_due and not self._todo and len(self.parked) == len(self.full)

    def _flush(self) -> None:
        self._flush_due = False
        self._late = None
        self._flushed_at = now = asyncio.get_running_loop().time()
        if self.parked:
            # The watchers a flush still in slices has not reached go first (the list is taken from its
            # end), then the rest: restarted from the top, a hot lot's flushes, each begun before the last
            # one ended, wrote to the same first slices and starved the others into slow consumers.
            pending = self._todo
            waiting = set(pending)
            self._todo = [sub for sub in self.parked if sub not in waiting] + pending
            if not pending:
                self._flush_parked()
        if self.waiting:
            self._flush_conflated(now)

    def _flush_parked(self) -> None:
        """One slice of the flush's watchers, then the next in the turn after (`FLUSH_SLICE`). Frames
        appended meanwhile go to the rest at once and to this slice with the next flush."""
        todo = self._todo
        batch = todo[-FLUSH_SLICE:]
        del todo[-FLUSH_SLICE:]
        entries, head, parked = self.entries, self.head, self.parked
        # By position and form: the watchers at one position, reading whole frames or deltas, share
        # their frames' bytes.
        runs: dict[tuple[int, int], Run] = {}
        for sub in batch:
            if sub not in parked:  # its writer took over, or it left, since the flush began
                continue
            i = sub.pos - self.base
            if sub.skip:
                i = self._skip(sub, i)
            if i >= len(entries):
                continue
            reader = sub.reader
            form = (2 if sub.fresh else 1) if sub.delta else 0
            run = runs.get((i, form))
            if run is None:
                run = runs[i, form] = Run(self._frames(i, form))
            if reader.idle() and reader.write_now(run):
                sub.pos = head
                sub.fresh = False
                continue
            parked.discard(sub)
            reader.wake()
        if todo:
            asyncio.get_running_loop().call_soon(self._flush_parked)
        elif self._settled():
            self._forget()

    def _frames(self, i: int, form: int) -> list[Outgoing]:
        """The frames from position `i` on: whole (form 0), deltas (1), or deltas after a whole first (2)."""
        entries = self.entries
        if form == 0:
            return [e[2] for e in entries[i:]]
        frames = [e[2] if e[3] is None else e[3] for e in entries[i:]]
        if form == 2:
            frames[0] = entries[i][2]
        return frames

    def _flush_conflated(self, now: float) -> None:
        waiting, self.waiting = self.waiting, set()
        later: dict[float, list[Subscription]] = {}
        ready: list[Subscription] = []
        for sub in waiting:
            if self.last_seq <= sub.sent_seq:  # the snapshot already held it (the book runs ahead of the log)
                self.waiting.add(sub)
            elif sub.due <= now:
                ready.append(sub)
            else:
                later.setdefault(sub.due, []).append(sub)
        loop = asyncio.get_running_loop()
        for due, subs in later.items():
            loop.call_at(due, self._due, subs)
        if ready:
            self._due(ready)

    def _due(self, subs: list[Subscription], start: int = 0) -> None:
        """The latest frame to conflated watchers whose period is over, a slice a turn (`FLUSH_SLICE`): a
        group's periods then drift apart, and a thousand of them no longer end in the same turn."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        end = start + FLUSH_SLICE
        if end < len(subs):
            loop.call_soon(self._due, subs, end)
        for sub in subs[start:end]:
            if not sub.active:
                continue
            if self.last_seq > sub.sent_seq:
                self._send_latest(sub, now)
            else:
                self.waiting.add(sub)

    def _send_latest(self, sub: Subscription, now: float) -> None:
        """The newest frame, directly if the writer is idle, else after the private frames queued."""
        assert self.latest is not None and sub.conflate_s is not None
        sub.sent_seq = self.last_seq
        sub.due = now + sub.conflate_s
        reader, out = sub.reader, self.latest
        if not (reader.idle() and reader.write_now([out])) and not reader.send(out):
            return  # cut off as a slow consumer
        self.waiting.add(sub)

    # -- keeping the buffer bounded ------------------------------------------------------------

    def _forget(self) -> None:
        """Everyone has everything: nothing needs keeping."""
        self.base = self.head
        self.entries.clear()

    def _trim(self) -> None:
        """Cut off watchers more than `limit` behind and drop what no one still needs."""
        head = low = self.head
        for sub in tuple(self.full):
            if head - sub.pos > self.limit:
                sub.reader.overflow()  # the connection lets go of its subscriptions
            else:
                low = min(low, sub.pos)
        del self.entries[:low - self.base]
        self.base = low
