"""One lot, one writer: the actor that owns a lot's in-memory book.

It drains its queue in batches, decides each command with `bidding`, appends the whole
batch to the lot's stream in one fenced round trip, and only then answers bidders and
publishes events, in seq order. Nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgpack

from bidding.commands import Bid, BuyNow, Command, Tick
from bidding.log import apply_entry, make_entry
from bidding.reasons import Reason
from bidding.rules import Refused, decide, due_tick, next_deadline, next_min
from bidding.spec import LotSpec
from bidding.state import LotState
from bidding.views import auctioneer_view, bidder_view, exposure, public_view

from . import metrics
from .frames import Outgoing
from .log import Item

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

Reply = Callable[[dict[str, Any]], None]
MAX_BATCH = 512
REFUSALS = 10_000  # refused bid ids remembered per lot (in memory), oldest forgotten first
RING = 256  # recent event frames kept per lot for fast resumes; older ones are read from the stream


@dataclass(slots=True)
class Work:
    """A command on its way to the lot, with whom to answer."""

    command: Command
    reply: Reply | None = None
    key: bytes = b""


@dataclass(slots=True)
class _Done:
    seq: int
    reply: Reply | None
    answer: dict[str, Any] | None
    event: Outgoing | None = None
    public: bytes = b""
    private: list[tuple[str, Outgoing]] = field(default_factory=list)


def pack_public(kind: str, at: int, public: dict[str, Any]) -> bytes:
    """What the stream (and the ring) keep for watchers who resume: the entry's public face."""
    return msgpack.packb({"kind": kind, "at": at, "state": public})


def public_frame_bytes(spec: LotSpec, state: LotState, kind: str, at: int) -> bytes:
    return pack_public(kind, at, public_view(spec, state, at, static=False))


def bid_key(bidder: str, bid_id: str) -> bytes:
    """The idempotency key of (bidder, bid id): the bidder length-prefixed, so no two pairs
    encode alike whatever characters they hold (a NUL separator once let bidder "a\\0b" with
    id "c" replay bidder "a"'s ack for id "b\\0c")."""
    who = bidder.encode()
    return b"%d:%s%s" % (len(who), who, bid_id.encode())


def refused(lot: str, bid_id: str | None, reason: str, nxt: int | None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "ack", "id": bid_id, "lot": lot, "ok": False, "reason": reason}
    if nxt is not None:
        frame["next_min"] = nxt
    return frame


class LotActor:
    def __init__(self, engine: Engine, spec: LotSpec, state: LotState, epoch: int, acks: dict[bytes, bytes]) -> None:
        self.engine = engine
        self.lot = spec.lot
        self.spec = spec
        self.state = state
        self.epoch = epoch
        # Acks and recent frames are kept as msgpack bytes, one object each: as dicts, a sale
        # day's millions of small objects made each full GC pass stall the loop for 0.5 s.
        self.acks = acks
        self.refusals: dict[bytes, bytes] = {}
        self.queue: asyncio.Queue[Work] = asyncio.Queue()
        self.published_seq = state.seq
        self.ring: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=RING)
        self.task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed: int | None = None
        self._since_snapshot = 0

    # -- the outside world --------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"lot:{self.lot}")
        self._arm()

    async def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    def submit(self, work: Work) -> None:
        self.queue.put_nowait(work)


    def public(self, now: int | None = None) -> dict[str, Any]:
        return public_view(self.spec, self.state, now)

    def view_for(self, role: str, bidder: str | None, now: int | None = None) -> dict[str, Any]:
        if role == "auctioneer":
            return auctioneer_view(self.spec, self.state, now)
        if role == "bidder" and bidder:
            return bidder_view(self.spec, self.state, bidder, now)
        return public_view(self.spec, self.state, now)

    # -- the loop -----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await self._process(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lot %s: batch failed; rebuilding from the log", self.lot)
                await self._rebuild(batch)
            self._arm()

    def _due_first(self, batch: list[Work]) -> Iterator[Work]:
        """Each command after the Ticks the lot owes by its time, one per deadline and stamped
        with it (bidding.rules.due_tick), so the log is the same however late the timer ran.
        Lazy: each Tick is decided and applied before the next deadline is read."""
        for work in batch:
            while (tick := due_tick(self.spec, self.state, work.command.at)) is not None:
                seq = self.state.seq
                yield Work(tick)
                if self.state.seq == seq:  # a due Tick is always accepted; never spin if not
                    break
            yield work

    async def _process(self, batch: list[Work]) -> None:
        started = time.perf_counter()
        expected = self.state.seq
        items: list[Item] = []
        done: list[_Done] = []
        pending: dict[bytes, dict[str, Any]] = {}
        stored: dict[bytes, bytes] = {}
        refusals: dict[bytes, bytes] = {}
        closing = False
        for work in self._due_first(batch):
            cmd = work.command
            if work.key:
                first = pending.get(work.key)
                known = self.acks.get(work.key) or self.refusals.get(work.key)
                if first is None and known is not None:
                    first = msgpack.unpackb(known, raw=False)
                if first is not None:
                    done.append(_Done(0, work.reply, first))
                    continue
            refusal = self._precheck(cmd)
            outcome = refusal or decide(self.spec, self.state, cmd)
            if isinstance(outcome, Refused):
                if isinstance(cmd, Tick):
                    continue
                metrics.BIDS_REFUSED.labels(outcome.reason.value).inc()
                answer = refused(self.lot, getattr(cmd, "id", None), outcome.reason.value, outcome.next_min)
                if work.key:
                    pending[work.key] = answer
                    refusals[work.key] = msgpack.packb(answer)
                done.append(_Done(0, work.reply, answer))
                continue
            before_leader, before_result = self.state.leader, self.state.result
            entry, raw = make_entry(self.state, cmd, outcome.events)
            apply_entry(self.spec, self.state, entry)
            # Reserve credit now, not after the append: another lot's actor may decide meanwhile.
            self.engine.credit.set_lot(self.lot, exposure(self.spec, self.state))
            public = public_view(self.spec, self.state, cmd.at, static=False)
            kind = outcome.events[-1].kind
            frame = {"type": "event", "lot": self.lot, "seq": entry.seq, "kind": kind, "at": cmd.at, "state": public}
            item_ack = b""
            answer: dict[str, Any] | None = None
            if isinstance(cmd, Bid | BuyNow):
                metrics.BIDS_ACCEPTED.inc()
                answer = self._accepted_ack(cmd, entry.seq)
                if work.key:
                    pending[work.key] = answer
                    item_ack = stored[work.key] = msgpack.packb(answer)
            elif work.reply is not None:
                answer = {"ok": True, "seq": entry.seq, "kind": kind}
            public_bytes = pack_public(kind, cmd.at, public)
            d = _Done(entry.seq, work.reply, answer, Outgoing(frame), public_bytes)
            self._privates(d, before_leader, before_result)
            if self.state.result != before_result:
                closing = True
            done.append(d)
            items.append((raw, entry.hash, public_bytes, work.key if item_ack else b"", item_ack))
        if items:
            await self.engine.log.append(self.lot, expected, self.epoch, items)
            metrics.APPEND_SECONDS.observe(time.perf_counter() - started)
            metrics.BATCH_SIZE.observe(len(items))
            self.acks.update(stored)
            self.engine.lot_changed(self)
        if refusals:
            self._remember_refusals(refusals)
        for d in done:
            if d.reply is not None and d.answer is not None:
                d.reply(d.answer)
            if d.event is not None:
                self.ring.append((d.seq, d.public))
                self.published_seq = d.seq
                self.engine.hub.publish(self.lot, d.seq, d.event)
            for bidder, out in d.private:
                self.engine.hub.to_bidder(bidder, out)
        if items:
            self._since_snapshot += len(items)
            if self._since_snapshot >= self.engine.config.snapshot_every:
                await self._snapshot()
            if closing:
                self.engine.lot_result(self)

    def _remember_refusals(self, answers: dict[bytes, bytes]) -> None:
        """A refused id answers the same refusal when reused, whatever its new amount: an
        idempotency key names one decision. Kept in memory only (a restart forgets them), the
        newest `REFUSALS` per lot; accepted acks are in the log and kept for good."""
        self.refusals.update(answers)
        while len(self.refusals) > REFUSALS:
            del self.refusals[next(iter(self.refusals))]

    def _precheck(self, cmd: Command) -> Refused | None:
        """The engine's own refusals, before the rules see the command."""
        if isinstance(cmd, Bid) and not cmd.floor:
            value = cmd.max if cmd.max is not None else cmd.amount
            if type(value) is int and not self.engine.credit.allows(cmd.bidder, self.lot, max(value, self._standing(cmd.bidder))):
                return Refused(Reason.CREDIT_LIMIT, next_min(self.spec, self.state))
        if isinstance(cmd, BuyNow) and self.spec.buy_now is not None:
            if not self.engine.credit.allows(cmd.bidder, self.lot, self.spec.buy_now):
                return Refused(Reason.CREDIT_LIMIT, None)
        return None

    def _standing(self, bidder: str) -> int:
        return self.state.maxima.get(bidder, 0) if self.state.leader == bidder else 0

    def _accepted_ack(self, cmd: Bid | BuyNow, seq: int) -> dict[str, Any]:
        view = bidder_view(self.spec, self.state, cmd.bidder, cmd.at)
        ack: dict[str, Any] = {
            "type": "ack", "id": cmd.id, "lot": self.lot, "ok": True, "seq": seq,
            "leading": view.get("leading"), "price": view.get("price"),
        }
        if view.get("your_max") is not None:
            ack["your_max"] = view["your_max"]
        return ack

    def _privates(self, d: _Done, before_leader: str | None, before_result: str | None) -> None:
        state = self.state
        if before_leader and before_leader != state.leader and state.status != "closed" and self.spec.format == "english":
            d.private.append((before_leader, Outgoing({
                "type": "outbid", "lot": self.lot, "seq": d.seq, "price": state.price,
                "next_min": next_min(self.spec, state),
            })))
        if state.result == before_result or state.result is None:
            return
        # Closing pending approval tells everyone but the leader; approve/reject then tells the leader.
        told = [state.leader] if before_result == "pending_approval" else list(state.paddles)
        for bidder in told:
            if bidder is None:
                continue
            if bidder == state.leader and state.result == "sold":
                d.private.append((bidder, Outgoing({"type": "won", "lot": self.lot, "price": state.price})))
            elif bidder != state.leader or state.result != "pending_approval":
                d.private.append((bidder, Outgoing({"type": "lost", "lot": self.lot})))

    # -- timers, snapshots, recovery ---------------------------------------------

    def _arm(self) -> None:
        deadline = next_deadline(self.spec, self.state)
        if deadline == self._armed:
            return
        if self._timer:
            self._timer.cancel()
            self._timer = None
        self._armed = deadline
        if deadline is None:
            return
        delay = max(0.0, (deadline - self.engine.clock.now_ms()) / 1000) + self.engine.config.timer_delay_ms / 1000
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self.engine.clock.now_ms()
        if self._armed is not None and now < self._armed:
            self._armed = None
            self._arm()
            return
        self._armed = None
        self.submit(Work(Tick(at=now)))

    async def _snapshot(self) -> None:
        self._since_snapshot = 0
        blob = msgpack.packb({"seq": self.state.seq, "state": self.state.to_dict()})
        await self.engine.log.save_snapshot(self.lot, blob)
        self.engine.record_head(self.lot, self.state.seq, self.state.head_hash)

    async def _rebuild(self, batch: list[Work]) -> None:
        """The append failed: the book may be ahead of the log. Answer `unavailable`, reload.
        While the log cannot be read (Redis down), what arrives meanwhile is answered
        `unavailable` too, every half second, never left waiting."""
        self._unavailable(batch)
        while True:
            try:
                fresh = await self.engine.load_book(self.lot)
                break
            except Exception as exc:
                log.warning("lot %s: reload failed (%s); retrying", self.lot, exc)
                await asyncio.sleep(0.5)
                queued = []
                while not self.queue.empty():
                    queued.append(self.queue.get_nowait())
                self._unavailable(queued)
        self.spec, self.state, self.epoch, self.acks = fresh
        self.engine.credit.set_lot(self.lot, exposure(self.spec, self.state))

    @staticmethod
    def _unavailable(batch: list[Work]) -> None:
        for work in batch:
            if work.reply is not None:
                work.reply({"type": "error", "code": "unavailable", "message": "the lot's log could not be written; retry with the same id"})
