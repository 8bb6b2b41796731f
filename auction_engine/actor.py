"""One lot, one writer: the actor that owns a lot's in-memory book.

It drains its queue in batches and runs each batch in four stages: decide each command with
`bidding` (no await), append the whole batch to the lot's stream in one fenced round trip,
only then answer bidders and publish events in seq order, and last snapshot and settle.
Nothing is acknowledged before it is durable.

Scale-out adds a stage on each side of `_decide` (only when `LotDeps.reserve` is set): each limited
bidder's bid is first stood on the shared ledger (`bidder_ledger.py`), whose one script per bidder
sees the bidder's lots on every node, and after the append the lot's true exposure is written back
there (an outbid or refused bidder's drops to what the lot really holds, often 0).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import msgpack

from bidding.commands import AcceptCounter, Bid, BuyNow, Command, Reconfirm, Tick
from bidding.log import apply_entry, make_entry
from bidding.notices import notices
from bidding.reasons import Reason
from bidding.rules import Accepted, Refused, decide, due_by, due_tick, next_deadline, next_min
from bidding.spec import LotSpec
from bidding.state import CLOSED, PENDING_APPROVAL, SOLD, LotState
from bidding.views import auctioneer_view, bidder_view, exposure, public_view

from . import metrics
from .answers import Ack, Answer, Applied, Refusal, Unwritten
from .budget import BudgetLedger
from .clock import Clock
from .credit import CreditLedger
from .fanout import Hub
from .frames import Outgoing, event_frame, event_from_public, notice_frame, pack_answer, pack_public, unpack_answer
from .stream import Item, RedisLog

logger = logging.getLogger(__name__)

Reply = Callable[[Answer], None]
Book = tuple[LotSpec, LotState, int, dict[bytes, bytes]]
"""A lot as read back from its log: spec, state, the writer's new epoch, the stored acks."""

MAX_BATCH = 512
REFUSALS = 10_000  # refused bid ids remembered per lot (in memory), oldest forgotten first
RING = 256  # recent event frames kept per lot for fast resumes; older ones are read from the stream


class Follower(Protocol):
    """What publishes a lot's events to its watchers: its writer (`LotActor`) or a node that reads it
    (`cluster.Replica`)."""

    lot: str
    ring: collections.deque[tuple[int, bytes]]
    published_seq: int


def publish_logged(hub: Hub, follower: Follower, moved: Iterable[tuple[int, bytes]]) -> None:
    """Entries read back from the lot's log, (seq, public state), to its watchers: those after the last
    published, in order, so that the feed stays gapless (docs/protocol.md)."""
    lot = follower.lot
    for seq, public in moved:
        if seq <= follower.published_seq:
            continue
        follower.ring.append((seq, public))
        follower.published_seq = seq
        hub.publish(lot, seq, event_from_public(lot, seq, public))


@dataclass(slots=True)
class Work:
    """A command on its way to the lot, with whom to answer and when it was received."""

    command: Command
    reply: Reply | None = None
    key: bytes = b""
    received: float = field(default_factory=time.perf_counter)
    over_limit: bool = False
    """Scale-out: the shared ledger refused to stand this bid; it is refused `credit_limit`."""
    over_budget: bool = False
    """The bidder's budget for the lot's sale refused to stand this bid; it is refused `budget`."""


@dataclass(frozen=True, slots=True)
class LotDeps:
    """What a lot's actor uses, and nothing more: its stream, the shared credit ledger, the hub,
    the clock, two settings, how to read the lot back, and whom to tell what changed."""

    stream: RedisLog
    credit: CreditLedger
    hub: Hub
    clock: Clock
    reload: Callable[[str], Awaitable[Book]]
    changed: Callable[[LotActor], None]
    """After each append: the lot's catalogue row is stale."""
    result: Callable[[LotActor], None]
    """After an append that changed the lot's result: write the settlement."""
    head: Callable[[str, int, bytes], None]
    """After a snapshot: record the lot's head (seq, hash) in SQL."""
    snapshot_every: int = 256
    timer_delay_ms: int = 0
    announce: Callable[[str, int, list[tuple[str, Outgoing]]], None] | None = None
    """After each append's answers (scale-out only): tell the other nodes the lot moved to this
    seq, with the private notices for bidders connected elsewhere."""
    reserve: Callable[[str, str, int], Awaitable[bool]] | None = None
    """Scale-out only: (bidder, lot, amount) stood on the shared ledger if the bidder's lots on every
    node leave room under the limit (`BidderLedger.reserve`); None on a single node."""
    expose: Callable[[str, dict[str, int]], Awaitable[None]] | None = None
    """Scale-out only: the lot's true exposure per bidder after a batch, 0 releasing (with `reserve`)."""
    extended: Callable[[str, list[str], int], None] | None = None
    """After an append in which the lot's own anti-sniping moved it, in a sale with group soft
    close: (lot, the sale's lots, its running total `snipe_ms`), for the later lots to follow."""
    budget: BudgetLedger | None = None
    """Budgets across a sale's lots (docs/rules.md "Budgets"), stood before and set after each batch."""
    lots_reached: Callable[[str, str, list[str]], None] | None = None
    """After a batch in which a bidder won the last lot their budget allows: (bidder, lot, the sale's
    lots), for their maxima on the other lots to be withdrawn."""


@dataclass(slots=True)
class _Done:
    """One command's outcome, waiting for the append to be answered."""

    seq: int
    reply: Reply | None
    answer: Answer | None
    event: Outgoing | None = None
    public: bytes = b""
    private: list[tuple[str, Outgoing]] = field(default_factory=list)


@dataclass(slots=True)
class _Decided:
    """A decided batch: what to append, whom to answer, what to remember."""

    expected: int
    done: list[_Done] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    answers: dict[bytes, Answer] = field(default_factory=dict)
    stored: dict[bytes, bytes] = field(default_factory=dict)
    refusals: dict[bytes, bytes] = field(default_factory=dict)
    closing: bool = False
    extended: bool = False


def public_frame_bytes(spec: LotSpec, state: LotState, kind: str, at: int) -> bytes:
    return pack_public(kind, at, public_view(spec, state, at, static=False))


def view_for(spec: LotSpec, state: LotState, role: str, bidder: str | None, now: int | None = None) -> dict[str, Any]:
    """The lot as `role` (and, for a bidder, `bidder`) may see it: the one choice of view for the
    actor that writes a lot and for the replica that serves it elsewhere."""
    if role == "auctioneer":
        return auctioneer_view(spec, state, now)
    if role == "bidder" and bidder:
        return bidder_view(spec, state, bidder, now)
    return public_view(spec, state, now)


def staff_key() -> bytes:
    """A new idempotency key for one staff command sent to another node: never a `bid_key`, which
    starts with a digit."""
    return b"staff:" + uuid.uuid4().hex.encode()


def bid_key(bidder: str, bid_id: str) -> bytes:
    """The idempotency key of (bidder, bid id): the bidder length-prefixed, so no two pairs
    encode alike whatever characters they hold (a NUL separator once let bidder "a\\0b" with
    id "c" replay bidder "a"'s ack for id "b\\0c")."""
    who = bidder.encode()
    return b"%d:%s%s" % (len(who), who, bid_id.encode())


def _observe(stage: str, since: float) -> float:
    now = time.perf_counter()
    metrics.labelled(metrics.STAGE_SECONDS, stage).observe(now - since)
    return now


class LotActor:
    def __init__(self, deps: LotDeps, spec: LotSpec, state: LotState, epoch: int, acks: dict[bytes, bytes]) -> None:
        self.deps = deps
        self.lot = spec.lot
        self.spec = spec
        self.state = state
        self.epoch = epoch
        # Acks and recent frames are kept as msgpack bytes, one object each: as dicts, a sale
        # day's millions of small objects made each full GC pass stall the loop for 0.5 s.
        self.acks = acks
        # Oldest first; an OrderedDict forgets its oldest in O(1), where `del d[next(iter(d))]` on a
        # dict rescans the slots of every key deleted before it (7 us a refusal at 10,000 kept, 1 here).
        self.refusals: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()
        self.queue: asyncio.Queue[Work] = asyncio.Queue()
        self.published_seq = state.seq
        self.ring: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=RING)
        self.task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed: int | None = None
        self._since_snapshot = 0
        self._busy = False
        # Scale-out: the exposure this actor last wrote to the shared ledger, and the bidders it
        # reserved for since. A closed lot's is taken as written (it may be paid and released since).
        self._shared: dict[str, int] = exposure(spec, state) if state.status == CLOSED else {}
        self._unshared: set[str] = set()

    # -- the outside world --------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"lot:{self.lot}")
        self._arm()

    async def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def idle(self, timeout: float) -> bool:
        """Wait (up to `timeout` s) until nothing is queued or in progress: a graceful hand-over
        stops the actor only then, so no command it took is left unanswered."""
        deadline = time.monotonic() + timeout
        while self._busy or not self.queue.empty():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    def submit(self, work: Work) -> None:
        self.queue.put_nowait(work)

    def knows(self, key: bytes) -> bool:
        """Has this bid key been answered already (a retry, never rate limited)?"""
        return key in self.acks or key in self.refusals

    def public(self, now: int | None = None) -> dict[str, Any]:
        return public_view(self.spec, self.state, now)

    def view_for(self, role: str, bidder: str | None, now: int | None = None) -> dict[str, Any]:
        return view_for(self.spec, self.state, role, bidder, now)

    def drain(self) -> list[Work]:
        """Take every command still queued, to answer it elsewhere."""
        queued = []
        while not self.queue.empty():
            queued.append(self.queue.get_nowait())
        return queued

    # -- the loop -----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self._busy = True
            try:
                await self._process(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("lot %s: batch failed; rebuilding from the log", self.lot)
                await self._rebuild(batch)
            finally:
                self._busy = False
            self._arm()

    async def _process(self, batch: list[Work]) -> None:
        started = time.perf_counter()
        queued = metrics.labelled(metrics.STAGE_SECONDS, "queued")
        for work in batch:
            queued.observe(started - work.received)
        budget, sale = self.deps.budget, self.state.sale
        held = exposure(self.spec, self.state) if budget is not None and sale is not None else None
        won_before = self._winner()
        if budget is not None and sale is not None:
            await self._stand_budgets(batch, budget, sale["sale"])
        if self.deps.reserve is not None:
            await self._reserve(batch, self.deps.reserve)
        decided = self._decide(batch)
        at = _observe("decided", started)
        await self._commit(decided)
        if decided.items:
            metrics.APPEND_SECONDS.observe(time.perf_counter() - started)
            at = _observe("appended", at)
        self._answer(decided)
        _observe("answered", at)
        if self.deps.expose is not None:
            await self._share_exposure(self.deps.expose)
        if budget is not None and sale is not None and held is not None:
            await self._set_budgets(batch, budget, sale, held, won_before)
        await self._after(decided)

    # -- the stages -----------------------------------------------------------------

    def _decide(self, batch: list[Work]) -> _Decided:
        """Rules and credit for each command, in order, on the in-memory book; no await."""
        decided = _Decided(self.state.seq)
        for work in self._due_first(batch):
            first = self._first_answer(work.key, decided) if work.key else None
            if first is not None:
                decided.done.append(_Done(0, work.reply, first))
                continue
            outcome = self._precheck(work) or decide(self.spec, self.state, work.command)
            if isinstance(outcome, Refused):
                self._refuse(work, outcome, decided)
            else:
                self._accept(work, outcome, decided)
        return decided

    async def _reserve(self, batch: list[Work], reserve: Callable[[str, str, int], Awaitable[bool]]) -> None:
        """Scale-out: stand what each bid could cost on the shared ledger before deciding, every
        bidder at once (one round trip), a bidder's own bids in order and only when one asks for more
        than the last that stood. A refused reservation marks the work `over_limit`."""
        wants: dict[str, list[tuple[Work, int]]] = {}
        held = exposure(self.spec, self.state)
        for work in batch:
            cmd = work.command
            amount = self._credit_want(work, held)
            if amount is not None and isinstance(cmd, Bid | BuyNow):
                wants.setdefault(cmd.bidder, []).append((work, amount))

        async def stand(bidder: str, items: list[tuple[Work, int]]) -> None:
            stood = 0
            for work, amount in items:
                if amount <= stood:
                    continue
                self._unshared.add(bidder)
                if await reserve(bidder, self.lot, amount):
                    stood = amount
                else:
                    work.over_limit = True

        if wants:
            await asyncio.gather(*(stand(bidder, items) for bidder, items in wants.items()))

    def _credit_want(self, work: Work, held: dict[str, int]) -> int | None:
        """What a bid or buy-now could make its bidder owe here (never less than the lot already
        `held` for them: a standing maximum, a sealed bid), if it needs a reservation: not a retry,
        not a floor bid, not on a closed lot, not a bidder known to have no limit."""
        cmd = work.command
        if not isinstance(cmd, Bid | BuyNow) or self.state.status == CLOSED or (work.key and self.knows(work.key)):
            return None
        limits = self.deps.credit.limits
        if cmd.bidder in limits and limits[cmd.bidder] is None:
            return None  # a bidder not known here yet is reserved for: the ledger holds the limit
        if isinstance(cmd, BuyNow):
            return self.spec.buy_now
        value = cmd.max if cmd.max is not None else cmd.amount
        if cmd.floor or type(value) is not int:
            return None
        return max(value, held.get(cmd.bidder, 0))

    async def _stand_budgets(self, batch: list[Work], ledger: BudgetLedger, sale: str) -> None:
        """Budgets (docs/rules.md "Budgets"): stand each bid's value on its bidder's budget for the
        sale, in order, before deciding; a proxy maximum the budget caps is placed capped (the log
        holds the capped bid), a refused one marks the work `over_budget`. No budget: unchanged.
        One round trip per bid, each bidder's in order, the bidders side by side."""
        mine: dict[str, list[tuple[Work, str, int, bool]]] = {}
        for work in batch:
            ask = self._budget_ask(work.command)
            if ask is not None and not (work.key and self.knows(work.key)):
                mine.setdefault(ask[0], []).append((work, *ask))

        async def stand(works: list[tuple[Work, str, int, bool]]) -> None:
            for work, bidder, value, proxy in works:
                placed = await ledger.reserve(bidder, sale, self.lot, value, proxy)
                if placed is None:
                    work.over_budget = True
                elif placed != value and isinstance(work.command, Bid):
                    work.command = replace(work.command, max=placed)

        if mine:
            await asyncio.gather(*(stand(works) for works in mine.values()))

    def _budget_ask(self, cmd: Command) -> tuple[str, int, bool] | None:
        """(bidder, value, may it be capped) that `cmd` would commit its bidder to here, for the
        budget: a bid (a proxy may be capped), a buy-now at its price, a non-leader's `reconfirm`
        placing their maximum again, an `accept_counter` at the counter amount; None otherwise."""
        state = self.state
        value: int | None = None
        proxy = False
        if isinstance(cmd, Bid) and not cmd.floor:
            proxy = cmd.max is not None
            value = cmd.max if proxy else cmd.amount
        elif isinstance(cmd, BuyNow):
            value = self.spec.buy_now
        elif isinstance(cmd, Reconfirm) and cmd.bidder != state.leader:
            value = state.maxima.get(cmd.bidder)
        elif isinstance(cmd, AcceptCounter):
            value = state.counter
        if type(value) is not int or value <= 0:
            return None  # nothing spent here (a bad amount is the rules' `bad_amount`)
        assert isinstance(cmd, Bid | BuyNow | Reconfirm | AcceptCounter)  # only these set `value`
        return cmd.bidder, value, proxy

    def _winner(self) -> str | None:
        """Who won the lot (or holds it pending approval), if it closed so."""
        state = self.state
        return state.leader if state.status == CLOSED and state.result in (SOLD, PENDING_APPROVAL) else None

    async def _set_budgets(self, batch: list[Work], ledger: BudgetLedger, sale: dict[str, Any],
                           held: dict[str, int], won_before: str | None) -> None:
        """After the answers: the lot's true commitment for every bidder whose commitment here
        changed or who stood a bid, and whether they won it. A bidder who just won the last lot
        their budget allows is passed on (`lots_reached`). A failure is logged: the reservation
        stays (erring safe) until the next batch writes it."""
        now = exposure(self.spec, self.state)
        winner = self._winner()
        bidders = {b for b in set(held) | set(now) if held.get(b) != now.get(b)}
        bidders |= {ask[0] for w in batch if (ask := self._budget_ask(w.command)) is not None}
        try:
            ordered = sorted(bidders)
            reached = await asyncio.gather(*(
                ledger.expose(bidder, sale["sale"], self.lot, now.get(bidder, 0), bidder == winner) for bidder in ordered
            ))
            for bidder, done in zip(ordered, reached, strict=True):
                if done and bidder == winner and winner != won_before and self.deps.lots_reached:
                    self.deps.lots_reached(bidder, self.lot, list(sale["lots"]))
        except Exception:
            logger.warning("lot %s: budgets of sale %s not updated", self.lot, sale["sale"], exc_info=True)

    async def _share_exposure(self, expose: Callable[[str, dict[str, int]], Awaitable[None]]) -> None:
        """Scale-out, after the answers and before the next batch: write the lot's true exposure
        for each bidder whose exposure changed or who reserved (0 releases). A failure is logged and
        the write retried after the next batch; the answers are already out."""
        now = {} if self.lot in self.deps.credit.paid else exposure(self.spec, self.state)
        changes = {
            bidder: now.get(bidder, 0) for bidder in set(now) | set(self._shared) | self._unshared
            if bidder in self._unshared or self._shared.get(bidder, 0) != now.get(bidder, 0)
        }
        if not changes:
            return
        try:
            await expose(self.lot, changes)
        except Exception:
            logger.warning("lot %s: the shared credit ledger was not updated; retrying after the next batch",
                           self.lot, exc_info=True)
            return
        self._shared = now
        self._unshared.clear()

    async def _commit(self, decided: _Decided) -> None:
        """One fenced append of the batch's entries. Raises Fenced or SeqMismatch (log.py): the
        book is then ahead of the log, and `_run` rebuilds it."""
        if decided.items:
            await self.deps.stream.append(self.lot, decided.expected, self.epoch, decided.items)
            metrics.BATCH_SIZE.observe(len(decided.items))
            self.acks.update(decided.stored)
            self.deps.changed(self)
        if decided.refusals:
            self._remember_refusals(decided.refusals)

    def _answer(self, decided: _Decided) -> None:
        """Acks, public events and private notices, in seq order, only after the append."""
        hub = self.deps.hub
        privates: list[tuple[str, Outgoing]] = []
        for d in decided.done:
            if d.reply is not None and d.answer is not None:
                d.reply(d.answer)
            if d.event is not None:
                self.ring.append((d.seq, d.public))
                self.published_seq = d.seq
                hub.publish(self.lot, d.seq, d.event)
            for bidder, out in d.private:
                hub.to_bidder(bidder, out)
            privates += d.private
        if decided.items and self.deps.announce is not None:
            self.deps.announce(self.lot, self.published_seq, privates)

    async def _after(self, decided: _Decided) -> None:
        """A snapshot every `snapshot_every` entries; the settlement when the result changed."""
        if not decided.items:
            return
        self._since_snapshot += len(decided.items)
        if self._since_snapshot >= self.deps.snapshot_every:
            await self._snapshot()
        if decided.closing:
            self.deps.result(self)
        sale, tell = self.state.sale, self.deps.extended
        if decided.extended and sale is not None and sale["group"] and tell is not None:
            tell(self.lot, list(sale["lots"]), self.state.snipe_ms)

    # -- deciding one command -------------------------------------------------------

    def _due_first(self, batch: list[Work]) -> Iterator[Work]:
        """Each command after the Ticks the lot owes by its time, one per deadline and stamped
        with it (bidding.rules.due_tick), so the log is the same however late the timer ran.
        Lazy: each Tick is decided and applied before the next deadline is read."""
        for work in batch:
            while (tick := due_tick(self.spec, self.state, due_by(work.command))) is not None:
                seq = self.state.seq
                yield Work(tick)
                if self.state.seq == seq:  # a due Tick is always accepted; never spin if not
                    break
            yield work

    def _first_answer(self, key: bytes, decided: _Decided) -> Answer | None:
        """The answer already given to this key (a bid's, a forwarded staff command's), in this
        batch or before: a retry gets it again."""
        first = decided.answers.get(key)
        if first is not None:
            return first
        known = self.acks.get(key) or self.refusals.get(key)
        return unpack_answer(known) if known is not None else None

    def _refuse(self, work: Work, outcome: Refused, decided: _Decided) -> None:
        cmd = work.command
        if isinstance(cmd, Tick):
            return
        metrics.labelled(metrics.BIDS_REFUSED, outcome.reason.value).inc()
        answer = Refusal(self.lot, cmd.id if isinstance(cmd, Bid | BuyNow) else None, outcome.reason, outcome.next_min)
        if work.key:
            decided.answers[work.key] = answer
            decided.refusals[work.key] = pack_answer(answer)
        decided.done.append(_Done(0, work.reply, answer))

    def _accept(self, work: Work, outcome: Accepted, decided: _Decided) -> None:
        cmd = work.command
        before_leader, before_result, before_snipe = self.state.leader, self.state.result, self.state.snipe_ms
        entry, raw = make_entry(self.state, cmd, outcome.events)
        apply_entry(self.spec, self.state, entry)
        # Reserve credit now, not after the append: another lot's actor may decide meanwhile.
        self.deps.credit.set_lot(self.lot, exposure(self.spec, self.state))
        public = public_view(self.spec, self.state, cmd.at, static=False)
        kind = outcome.events[-1].kind
        stored = b""
        answer: Answer | None = None
        if isinstance(cmd, Bid | BuyNow):
            metrics.BIDS_ACCEPTED.inc()
            answer = self._accepted_ack(cmd, entry.seq)
            if work.key:
                decided.answers[work.key] = answer
                stored = decided.stored[work.key] = pack_answer(answer)
        elif work.reply is not None:
            answer = Applied(entry.seq, kind)
            if work.key:  # a forwarded staff command: stored with its entry, as a bid's ack is
                decided.answers[work.key] = answer
                stored = decided.stored[work.key] = pack_answer(answer)
        public_bytes = pack_public(kind, cmd.at, public)
        event = Outgoing(event_frame(self.lot, entry.seq, kind, cmd.at, public))
        done = _Done(entry.seq, work.reply, answer, event, public_bytes)
        for notice in notices(self.spec, before_leader, before_result, self.state):
            done.private.append((notice.bidder, Outgoing(notice_frame(self.lot, entry.seq, notice))))
        decided.closing = decided.closing or self.state.result != before_result
        decided.extended = decided.extended or self.state.snipe_ms != before_snipe
        decided.done.append(done)
        decided.items.append((raw, entry.hash, public_bytes, work.key if stored else b"", stored))

    def _remember_refusals(self, answers: dict[bytes, bytes]) -> None:
        """A refused id answers the same refusal when reused, whatever its new amount: an
        idempotency key names one decision. Kept in memory only (a restart forgets them), the
        newest `REFUSALS` per lot; accepted acks are in the log and kept for good."""
        self.refusals.update(answers)
        while len(self.refusals) > REFUSALS:
            self.refusals.popitem(last=False)

    def _precheck(self, work: Work) -> Refused | None:
        """The engine's own refusals, before the rules see the command; `over_limit`: the shared
        ledger (scale-out) already refused to stand it; `over_budget`: the bidder's budget did."""
        cmd, over_limit = work.command, work.over_limit
        if work.over_budget:
            return Refused(Reason.BUDGET, next_min(self.spec, self.state))
        credit = self.deps.credit
        if isinstance(cmd, Bid) and not cmd.floor:
            value = cmd.max if cmd.max is not None else cmd.amount
            if type(value) is int and (
                over_limit or not credit.allows(cmd.bidder, self.lot, max(value, self._standing(cmd.bidder)))
            ):
                return Refused(Reason.CREDIT_LIMIT, next_min(self.spec, self.state))
        buy_now = self.spec.buy_now
        if isinstance(cmd, BuyNow) and buy_now is not None and (over_limit or not credit.allows(cmd.bidder, self.lot, buy_now)):
            return Refused(Reason.CREDIT_LIMIT, None)
        return None

    def _standing(self, bidder: str) -> int:
        return self.state.maxima.get(bidder, 0) if self.state.leader == bidder else 0

    def _accepted_ack(self, cmd: Bid | BuyNow, seq: int) -> Ack:
        view = bidder_view(self.spec, self.state, cmd.bidder, cmd.at)
        return Ack(self.lot, cmd.id, seq, view.get("leading"), view.get("price"), view.get("your_max"))

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
        delay = max(0.0, (deadline - self.deps.clock.now_ms()) / 1000) + self.deps.timer_delay_ms / 1000
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self.deps.clock.now_ms()
        if self._armed is not None and now < self._armed:
            self._armed = None
            self._arm()
            return
        self._armed = None
        self.submit(Work(Tick(at=now)))

    async def _snapshot(self) -> None:
        self._since_snapshot = 0
        blob = msgpack.packb({"seq": self.state.seq, "state": self.state.to_dict()})
        await self.deps.stream.save_snapshot(self.lot, blob)
        self.deps.head(self.lot, self.state.seq, self.state.head_hash)

    async def _rebuild(self, batch: list[Work]) -> None:
        """The append failed: the book may be ahead of the log. Answer `unavailable`, reload.
        While the log cannot be read (Redis down), what arrives meanwhile is answered
        `unavailable` too, every half second, never left waiting."""
        self._unavailable(batch)
        while True:
            try:
                fresh = await self.deps.reload(self.lot)
                break
            except Exception as exc:
                logger.warning("lot %s: reload failed (%s); retrying", self.lot, exc)
                await asyncio.sleep(0.5)
                self._unavailable(self.drain())
        self.spec, self.state, self.epoch, self.acks = fresh
        self.deps.credit.set_lot(self.lot, exposure(self.spec, self.state))
        await self._publish_logged()

    async def _publish_logged(self) -> None:
        """The entries the failed batch did write (its reply lost, or the fan-out raising after the
        append) go to the watchers now: the feed is gapless (docs/protocol.md), and a delta watcher
        that missed one would hold a wrong state until it noticed."""
        if self.state.seq <= self.published_seq:
            return
        try:
            records = await self.deps.stream.read(self.lot, self.published_seq, self.state.seq)
        except Exception:
            logger.warning("lot %s: entries %d-%d are in the log but not sent to its watchers; they resync on the gap",
                           self.lot, self.published_seq + 1, self.state.seq, exc_info=True)
            return
        publish_logged(self.deps.hub, self, ((record.seq, record.public) for record in records))

    @staticmethod
    def _unavailable(batch: list[Work]) -> None:
        for work in batch:
            if work.reply is not None:
                work.reply(Unwritten())
