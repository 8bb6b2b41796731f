"""The engine: the lots it owns, the shared ledgers, and the way commands reach a lot.

It is glue: every rule is in `bidding`, every durable byte in Redis or SQL. What it
adds is who may do what, in which order, and what happens after a lot closes.

Credit: on one node the in-memory `CreditLedger` sees every lot. As one node of many it sees only
the lots this node writes, so each lot's actor also reserves on the shared `BidderLedger` (Redis,
the bidder's own slot) and the limits are written there too (docs/scale.md, "Credit across nodes").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from sqlalchemy import exc as sa_exc

from bidding.commands import Bid, BuyNow, Command, ExtendBy, WithdrawMax
from bidding.log import create_lot
from bidding.money import is_bid_value
from bidding.reasons import Reason
from bidding.rules import winning_report
from bidding.sales import group_extensions
from bidding.spec import LotSpec, SpecError
from bidding.state import CLOSED, PENDING_APPROVAL, SOLD, UNSOLD, WITHDRAWN
from bidding.views import exposure

from . import metrics
from .actor import Book, LotActor, LotDeps, Work, bid_key, public_frame_bytes
from .alerts import EndingSoonAlerts, Notices
from .answers import Answer, Refusal, Unwritten
from .auth import BidderAccess, Principal
from .bidder_ledger import BidderLedger
from .budget import BudgetLedger
from .clock import Clock
from .cluster import Cluster, LotLost, Replica
from .config import Config
from .credit import CreditLedger
from .errors import Conflict, EngineError, InvalidSpec, NotFound, Unavailable
from .fanout import Hub
from .frames import UNAUTHORIZED_CLOSE, error_frame
from .history_cache import HistoryCache
from .integrity import check_database, check_head
from .mirror import read_book
from .ratelimit import RateLimiter
from .redis_down import redis_down
from .store import Bidder, Store
from .store.errors import WriterClosed
from .stream import LotExists, RedisLog, meta_key

logger = logging.getLogger(__name__)

# The database did not answer, or the writer process died and the next write starts another: the row
# is fine and waits for the next try (one log line each, not a traceback: 500 lots closing when the
# writer was killed logged 500 tracebacks).
_TRANSIENT = (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, TimeoutError, WriterClosed)

FINAL_RESULTS = (SOLD, UNSOLD, WITHDRAWN)
SHARE_AT_ONCE = 64  # bidders' limits written to the shared ledger at once (scale-out start-up)
VIEWS_AT_ONCE = 32  # public views per turn of the loop in a catalogue flush (25-50 us each: a 1-1.5 ms slice)
REOPEN_HOLD_MARGIN_MS = 1_000  # a reopen stamped just before its window ends may still be queued
EXTEND_TRIES = 5  # an `extend_by` the later lot could not take yet (Redis away, a hand-over) is sent again


class Engine:
    def __init__(self, config: Config, redis: Redis | RedisCluster, store: Store) -> None:
        self.config = config
        self.redis = redis
        replicated = (config.redis_url, config.min_replicas or 0, config.replica_wait_ms) if config.redis_url else None
        self.stream = RedisLog(redis, replicated)
        self.store = store
        self.clock = Clock()
        self.hub = Hub(config.feed_coalesce_ms / 1000)
        self.credit = CreditLedger()
        self.rate = RateLimiter(config.bid_rate, config.bid_burst)
        self.reads = RateLimiter(config.anonymous_reads_per_s, max(1, int(config.anonymous_reads_per_s * 2)))
        # History pages are read and encoded one at a time, whoever asks: each is a few ms of this
        # loop's time in one piece, and 32 readers side by side put half a second of them ahead of
        # every bid's ack (scripts/bench_history.py). Readers wait their turn instead.
        self.history_turn = asyncio.Lock()
        self.history = HistoryCache()
        self.lots: dict[str, LotActor] = {}
        self.paddles: dict[str, str] = {}
        self.access = BidderAccess()
        self._dirty: dict[str, LotActor] = {}
        self._settling: dict[str, asyncio.Task[None]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._lag: asyncio.Task[None] | None = None
        self._create_lock = asyncio.Lock()
        self._wake_lock = asyncio.Lock()
        self.dormant: set[str] = set()
        self.quarantined: dict[str, str] = {}
        self._head_writes: set[asyncio.Task[None]] = set()
        self._sale_work: set[asyncio.Task[None]] = set()  # group soft close and budget withdrawals on their way
        self.budgets = BudgetLedger(redis)
        self._read_back: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.cluster: Cluster | None = None
        if config.node_id:
            url = config.advertise_url or f"http://{config.host}:{config.port}"
            self.cluster = Cluster(self, redis, config.node_id, url)
        self.shared_credit = BidderLedger(redis, config.bid_rate, config.bid_burst) if self.cluster else None
        self._shared_limits: dict[str, int | None] = {}
        self._count_due = False
        self._last_bid = -math.inf  # time.monotonic() of the last bid this node took in (bidding_within)
        self._deps = LotDeps(
            self.stream, self.credit, self.hub, self.clock, self._reload, self.lot_changed, self.lot_result,
            self.record_head, config.snapshot_every, config.timer_delay_ms,
            self.cluster.announce if self.cluster else None,
            reserve=self.shared_credit.reserve if self.shared_credit else None,
            expose=self._expose if self.shared_credit else None,
            extended=self.group_extended, budget=self.budgets, lots_reached=self.budget_lots_reached,
        )
        self.alerts = EndingSoonAlerts(redis, self.hub, self.clock, lambda: self.lots.values(),
                                       config.ending_soon_s * 1000, self._announce_notices if self.cluster else None)

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        await self.load_bidders()
        for record in await self.store.list_settlements(paid=True, limit=None):
            self.credit.paid.add(record.lot)
        if self.cluster is not None:
            await self.cluster.start()  # this node's lots are loaded as it takes their leases
        else:
            await self._load_lots()
            for record in await self.store.list_settlements(result="sold", paid=False, limit=None):
                if record.lot in self.dormant and record.winner and record.hammer_price is not None:
                    self.credit.set_lot(record.lot, {record.winner: record.hammer_price})
        self.count_open()
        self._flusher = asyncio.create_task(self._flush_catalogue(), name="catalogue-flush")
        self._lag = asyncio.create_task(self._watch_loop_lag(), name="loop-lag")
        self.alerts.start()

    async def load_bidders(self) -> None:
        bidders = await self.store.list_bidders()
        for bidder in bidders:
            self._know_bidder(bidder)
        if self.shared_credit is not None:  # scale-out: the limits every node's lots check against
            stale = [b for b in bidders if self._shared_limits.get(b.bidder, -1) != b.credit_limit]
            for start in range(0, len(stale), SHARE_AT_ONCE):  # thousands at once broke a new cluster client
                await asyncio.gather(*(self._share_limit(b.bidder, b.credit_limit) for b in stale[start:start + SHARE_AT_ONCE]))

    def _know_bidder(self, bidder: Bidder) -> None:
        self.credit.set_limit(bidder.bidder, bidder.credit_limit)
        self.paddles[bidder.paddle] = bidder.bidder
        self.access.set(bidder.bidder, bidder.suspended_at is not None, bidder.tokens_after)

    async def reload_bidder(self, bidder: str) -> None:
        """Another node registered, suspended or reinstated `bidder`: read it again, and end its
        sockets here too when it is suspended."""
        record = await self.store.get_bidder(bidder)
        if record is None:
            return
        self._know_bidder(record)
        if self.shared_credit is not None:
            await self._share_limit(record.bidder, record.credit_limit)
        if record.suspended_at is not None:
            self.hub.end_bidder(bidder, error_frame("suspended", "this bidder is suspended"), UNAUTHORIZED_CLOSE)

    async def set_limit(self, bidder: str, limit: int | None) -> None:
        """A bidder's credit limit here, and (scale-out) in the shared ledger before any bid is answered."""
        self.credit.set_limit(bidder, limit)
        if self.shared_credit is not None:
            await self._share_limit(bidder, limit)

    async def _share_limit(self, bidder: str, limit: int | None) -> None:
        """Retried: a start-up must not fail on one dropped connection (redis_down.py: redis-py's
        cluster client under uvloop raises RuntimeError on a transport it had just closed)."""
        assert self.shared_credit is not None
        for attempt in range(3):
            try:
                await self.shared_credit.set_limit(bidder, limit)
                break
            except Exception as exc:
                if not redis_down(exc) or attempt == 2:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
        self._shared_limits[bidder] = limit

    async def _expose(self, lot: str, changes: dict[str, int]) -> None:
        """A lot's true exposure per bidder, after its actor's batch, in the shared ledger (0 releases)."""
        assert self.shared_credit is not None
        ledger = self.shared_credit
        await asyncio.gather(*(ledger.set(bidder, lot, amount) for bidder, amount in changes.items()))

    def _announce_notices(self, notices: Notices) -> None:
        """Scale-out: private frames for bidders connected to other nodes, through the feed."""
        assert self.cluster is not None
        feed = self.cluster.feed

        async def send() -> None:
            try:
                await feed.announce_notices(notices)
            except Exception:
                logger.warning("ending-soon alerts for other nodes were not announced", exc_info=True)

        self.cluster.spawn(send())

    def bidder_changed(self, bidder: str) -> None:
        """After a change to a bidder in the database: the other nodes read it again."""
        if self.cluster is not None:
            self.cluster.bidder_changed(bidder)

    async def _load_lots(self) -> None:
        """Wake the open lots, note the settled ones; refuse to start on a database that lost lots
        (`integrity.check_database`); quarantine a lot whose log is damaged, loudly, and go on."""
        ids = await self.stream.lot_ids()
        lasts = await self.stream.last_records(ids)
        missing = check_database({lot: r.seq if r else 0 for lot, r in lasts.items()},
                                 set(await self.store.lot_ids(open_only=False)), self.store.where())
        heads = await self.store.lot_heads()
        settled = await self.stream.settled_ids()
        for lot in ids:
            try:
                if lot in settled:
                    last = lasts[lot]
                    seq, head_hash = (last.seq, last.hash) if last else (0, b"")
                    problem = await check_head(self.stream, lot, seq, head_hash, heads.get(lot))
                    if problem is None:
                        self.dormant.add(lot)
                else:
                    book = await self.load_book(lot)
                    problem = await check_head(self.stream, lot, book[1].seq, book[1].head_hash, heads.get(lot))
                    if problem is None:
                        actor = self.wake(lot, book)
                        if lot in missing:
                            await self.store.upsert_lot(actor.public())
            except Exception as exc:
                problem = f"the log cannot be read back: {exc!r}"
            if problem is not None:
                self.quarantine(lot, problem)
        for lot in sorted(set(heads) - set(ids)):
            self.quarantine(lot, f"the log is gone but seq {heads[lot].seq} was recorded")

    def quarantine(self, lot: str, problem: str) -> None:
        """Keep a damaged lot out of service: its bids are refused `unavailable`, /healthz lists it."""
        logger.error("lot %s is QUARANTINED: %s. The other lots run; see docs/engine.md (Damaged data).", lot, problem)
        self.quarantined[lot] = problem

    def record_head(self, lot: str, seq: int, head_hash: bytes) -> None:
        """Write the lot's log head to the SQL store in the background (at snapshots and closes)."""
        task = asyncio.create_task(self._write_head(lot, seq, head_hash.hex()), name=f"head:{lot}")
        self._head_writes.add(task)
        task.add_done_callback(self._head_writes.discard)

    async def _write_head(self, lot: str, seq: int, head_hash: str) -> None:
        try:
            await self.store.record_head(lot, seq, head_hash)
        except Exception:
            logger.exception("lot %s: the log head (seq %d) was not recorded", lot, seq)

    async def stop(self) -> None:
        if self.cluster is not None:
            await self.cluster.stop()  # hands this node's lots to the others first
        for task in (self._flusher, self._lag):
            if task:
                task.cancel()
        await self.alerts.stop()
        for actor in self.lots.values():
            await actor.stop()
        for task in list(self._settling.values()):
            try:
                await asyncio.wait_for(asyncio.shield(task), 5)
            except Exception:
                logger.exception("settlement write did not finish before stop")
        if self._head_writes:
            await asyncio.wait(list(self._head_writes), timeout=5)
        await self._write_catalogue()
        if self.stream.replicated is not None:
            await self.stream.replicated.close()

    async def load_book(self, lot: str, epoch: int | None = None) -> Book:
        """Rebuild a lot from its snapshot and the log's tail, and take it: with a new epoch of its
        own, or (scale-out) the epoch of the lease this node holds."""
        if epoch is None:
            epoch = await self.stream.claim(lot)  # before the read: no earlier writer appends after it
        book = await read_book(self.stream, lot)
        if book is None:
            raise NotFound(f"lot {lot} has no log")
        spec, state = book
        return spec, state, epoch, await self.stream.acks(lot)

    async def _reload(self, lot: str) -> Book:
        """An append failed: read the lot back. Scale-out: only under the lease this node still
        holds; an append fenced by another node's epoch means the lot is lost, never retaken here."""
        if self.cluster is None:
            return await self.load_book(lot)
        lease = self.cluster.node.leases.get(lot)
        if lease is None:
            raise LotLost(f"lot {lot} is no longer this node's")
        if int(await self.redis.hget(meta_key(lot), "epoch") or 0) != lease.epoch:
            asyncio.create_task(self.cluster.node.lost(lot), name=f"lost:{lot}")
            raise LotLost(f"lot {lot} was taken by a newer epoch than {lease.epoch}")
        return await self.load_book(lot, lease.epoch)

    # -- lots ---------------------------------------------------------------------

    async def create_lot(self, body: dict[str, Any]) -> LotActor | Replica:
        try:
            spec = LotSpec.from_dict(body)
        except SpecError as exc:
            raise InvalidSpec(exc.message, exc.field) from exc
        async with self._create_lock:
            if spec.lot in self.lots or spec.lot in self.dormant or spec.lot in self.quarantined:
                raise Conflict(f"lot {spec.lot} exists", "lot")
            spec, state, entry, raw = create_lot(spec, self.clock.now_ms())
            item = (raw, entry.hash, public_frame_bytes(spec, state, entry.events[-1].kind, entry.command.at), b"", b"")
            try:
                epoch = await self.stream.create(spec.lot, [item])
            except LotExists as exc:
                raise Conflict(f"lot {spec.lot} exists", "lot") from exc
            if self.cluster is None:
                actor = LotActor(self._deps, spec, state, epoch, {})
                self.lots[spec.lot] = actor
                actor.start()
        if self.cluster is not None:
            return await self._create_in_cluster(spec.lot)
        await self.store.upsert_lot(actor.public())
        self.count_open()
        return actor

    async def _create_in_cluster(self, lot: str) -> LotActor | Replica:
        """This node takes the new lot's lease at once, so it can be opened now; the node that
        rendezvous hashing prefers takes it over gracefully at its next rebalance."""
        assert self.cluster is not None
        self.cluster.known.add(lot)
        await self.cluster.node.try_take(lot)
        self.cluster.announce(lot, 1, [])
        face = await self.actor(lot)
        await self.store.upsert_lot(face.public())
        return face

    def wake(self, lot: str, book: Book) -> LotActor:
        spec, state, epoch, acks = book
        actor = LotActor(self._deps, spec, state, epoch, acks)
        self.lots[lot] = actor
        self.dormant.discard(lot)
        self.credit.set_lot(lot, exposure(spec, state))
        actor.start()
        if state.result is not None and lot not in self._settling:
            self.lot_result(actor)  # idempotent: covers a crash between the close and the settlement write
        sale = state.sale
        if sale is not None and sale["group"] and state.snipe_ms > 0 and state.status != CLOSED:
            # Idempotent too: an extend_by its last writer died before sending reaches the later lots now.
            self.group_extended(lot, list(sale["lots"]), state.snipe_ms)
        return actor

    async def actor(self, lot: str) -> LotActor | Replica:
        """The lot's actor; a settled lot, not kept in memory, is read back from its log on demand
        and kept among the `settled_in_memory` most recently used (anonymous reads of old lots
        otherwise filled memory for good). Scale-out: a lot written by another node is served
        from its replica here (read-only, caught up to the log)."""
        actor = self.lots.get(lot)
        if actor is not None:
            if lot in self._read_back:
                self._read_back.move_to_end(lot)
            return actor
        if lot in self.quarantined:
            raise Unavailable(f"lot {lot} is quarantined: {self.quarantined[lot]}")
        if self.cluster is not None:
            replica = await self.cluster.replica(lot)
            if replica is None:
                raise NotFound(f"no lot {lot!r}", "lot")
            return replica
        if lot not in self.dormant:
            raise NotFound(f"no lot {lot!r}", "lot")
        async with self._wake_lock:
            if lot in self.lots:
                return self.lots[lot]
            actor = self.wake(lot, await self.load_book(lot))
            self._read_back[lot] = None
            await self._evict_read_back()
        self.count_open()
        return actor

    async def _evict_read_back(self) -> None:
        """Put the least recently used settled lots back to sleep, past the bound. A lot still
        settling or with work queued stays; its credit hold is left as it is."""
        for lot in list(self._read_back):
            if len(self._read_back) <= self.config.settled_in_memory:
                return
            actor = self.lots.get(lot)
            if actor is None or lot in self._settling or not actor.queue.empty():
                continue
            del self._read_back[lot]
            del self.lots[lot]
            self.dormant.add(lot)
            await actor.stop()

    async def history_head(self, lot: str) -> int:
        """The last seq a reader may see: the published seq of a lot in memory, the log's own
        for a settled one (read without waking it). NotFound for no such lot."""
        actor = self.lots.get(lot)
        if actor is not None:
            return actor.published_seq
        if self.cluster is not None and lot not in self.quarantined:
            return (await self.actor(lot)).published_seq
        if lot not in self.dormant and lot not in self.quarantined:  # a quarantined lot's log stays readable
            raise NotFound(f"no lot {lot!r}", "lot")
        return await self.stream.last_seq(lot)

    def _elsewhere(self, lot: str) -> bool:
        """Scale-out: a lot another node writes, to which a command is forwarded."""
        cluster = self.cluster
        return cluster is not None and lot in cluster.known and lot not in cluster.settled and lot not in self.quarantined

    def gone(self, lot: str) -> Reason:
        """Why a lot not in memory refuses a bid."""
        if lot in self.quarantined:
            return Reason.UNAVAILABLE
        if self.cluster is not None and lot in self.cluster.settled:
            return Reason.LOT_CLOSED
        return Reason.LOT_CLOSED if lot in self.dormant else Reason.UNKNOWN_LOT

    def submit(self, lot: str, work: Work) -> None:
        """An admitted command, answered by `work.reply`: to the lot's actor here, else (scale-out)
        to the node that writes it. A command caught by a hand-over is sent on to the new owner."""
        cluster = self.cluster
        if cluster is None:
            actor = self.lots.get(lot)
            if actor is not None:
                actor.submit(work)
            return
        if not _rated(work.command):
            self._route(lot, work, cluster)
            return

        async def when_allowed() -> None:
            refusal = await self.shared_rate(lot, work.command)
            if refusal is None:
                self._route(lot, work, cluster)
            elif work.reply is not None:
                work.reply(refusal)

        cluster.spawn(when_allowed())

    async def shared_rate(self, lot: str, command: Command) -> Refusal | None:
        """Scale-out: a bidder's rate limit is one bucket in Redis that every node draws from (a
        bidder connected to three nodes gets the rate once, not three times); None when allowed."""
        ledger = self.shared_credit
        if ledger is None or not _rated(command):
            return None
        assert isinstance(command, Bid | BuyNow)
        try:
            allowed = await ledger.allow_bid(command.bidder, self.clock.now_ms())
        except Exception as exc:
            if not redis_down(exc):
                raise
            return None  # Redis does not answer: the append will say so
        if allowed:
            return None
        metrics.labelled(metrics.BIDS_REFUSED, Reason.RATE_LIMITED.value).inc()
        return Refusal(lot, command.id, Reason.RATE_LIMITED)

    def _route(self, lot: str, work: Work, cluster: Cluster) -> None:
        actor = self.lots.get(lot)
        if actor is None:
            cluster.submit(lot, work)
            return
        reply = work.reply

        def answered(answer: Answer) -> None:
            if isinstance(answer, Unwritten) and not cluster.owns(lot):
                cluster.submit(lot, Work(work.command, reply, work.key))
            elif reply is not None:
                reply(answer)

        work.reply = answered
        actor.submit(work)

    def bidding_within(self, seconds: float) -> bool:
        """A bid came in to this node in the last `seconds`: a sale is running here, and work nobody
        waits for (contracts rendered ahead of a download, store/aftersale.py) waits its turn."""
        return time.monotonic() - self._last_bid < seconds

    def admit_bid(self, principal: Principal, lot: str, bid_id: str, amount: Any = None, maximum: Any = None,
                  buy_now: bool = False) -> Work | Refusal:
        """A bidder's bid or buy-now, WebSocket or HTTP, stamped and ready for its lot, or its refusal.

        Checked here, before the lot: the role, the lot, the amount's type, the rate limit.
        A retry of an id the lot already answered is never rate limited."""
        reason = None
        local = self.lots.get(lot)
        if principal.role != "bidder" or not principal.bidder:
            reason = Reason.NOT_ALLOWED
        elif local is None and not self._elsewhere(lot):
            reason = self.gone(lot)
        elif not buy_now and not is_bid_value(amount, maximum):
            reason = Reason.BAD_AMOUNT
        else:
            key = bid_key(principal.bidder, bid_id)
            if (local is not None and local.knows(key)) or self.rate.allow(principal.bidder, self.clock.now_ms() / 1000):
                at, paddle = self.clock.now_ms(), principal.paddle or principal.bidder
                self._last_bid = time.monotonic()
                command: Bid | BuyNow = (
                    BuyNow(at=at, bidder=principal.bidder, paddle=paddle, id=bid_id) if buy_now
                    else Bid(at=at, bidder=principal.bidder, paddle=paddle, id=bid_id, amount=amount, max=maximum)
                )
                return Work(command, None, key)
            reason = Reason.RATE_LIMITED
        metrics.labelled(metrics.BIDS_REFUSED, reason.value).inc()
        return Refusal(lot, bid_id, reason)

    async def call(self, lot: str, command: Command, key: bytes = b"", timeout: float = 10.0) -> Answer:
        """Submit and wait for the lot's answer (HTTP uses this; WebSockets answer by callback).
        Raises Unavailable if the lot does not answer within `timeout`. Scale-out: a lot written
        by another node answers through its mailbox."""
        cluster = self.cluster
        if cluster is not None and (refusal := await self.shared_rate(lot, command)) is not None:
            return refusal
        if cluster is not None and lot not in self.lots:
            if lot in self.quarantined:
                raise Unavailable(f"lot {lot} is quarantined: {self.quarantined[lot]}")
            if lot in cluster.settled:
                return Refusal(lot, getattr(command, "id", None), Reason.LOT_CLOSED)
            answer = await cluster.forward(lot, command, key, timeout)
            if isinstance(answer, Refusal) and answer.reason is Reason.UNKNOWN_LOT and not isinstance(command, Bid | BuyNow):
                raise NotFound(f"no lot {lot!r}", "lot")
            return answer
        answer = await self.call_here(lot, command, key, timeout)
        if cluster is not None and isinstance(answer, Unwritten) and not cluster.owns(lot):
            return await cluster.forward(lot, command, key, timeout)  # handed over meanwhile
        return answer

    async def call_here(self, lot: str, command: Command, key: bytes = b"", timeout: float = 10.0) -> Answer:
        """`call` on this node's own actor (a lot it writes, or a settled one read back)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()

        def reply(answer: Answer) -> None:
            if not future.done():
                future.set_result(answer)

        actor = self.lots.get(lot) if self.cluster is not None else await self.actor(lot)
        if not isinstance(actor, LotActor):
            return Unwritten("the lot moved to another node; retry with the same id")
        actor.submit(Work(command, reply, key))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise Unavailable(f"lot {lot} did not answer within {timeout}s") from exc

    # -- after the log ---------------------------------------------------------------

    def lot_changed(self, actor: LotActor) -> None:
        self._dirty[actor.lot] = actor

    def lot_result(self, actor: LotActor) -> None:
        """Write the settlement; chained per lot so pending -> approved lands in order."""
        self.count_open()
        state, lot = actor.state, actor.lot
        result, closed_at = state.result, state.closed_at
        if result is None or closed_at is None:
            return
        previous = self._settling.get(lot)
        winner = state.leader if result in (SOLD, PENDING_APPROVAL) else None
        paddle = state.paddles.get(winner) if winner else None
        price = state.price if winner else None
        final_seq, head_hash, currency = state.seq, state.head_hash.hex(), actor.spec.currency
        report = winning_report(state) if winner else None
        reopen_by = state.reopen_by  # a live lot's escrow hand-off waits out its reopen window

        async def write() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            for attempt in range(60):
                try:
                    await self.store.record_settlement(
                        lot=lot, result=result, winner=winner, winner_paddle=paddle, price=price, currency=currency,
                        closed_at=closed_at, final_seq=final_seq, head_hash=head_hash,
                        hold_until=0 if reopen_by is None else reopen_by + REOPEN_HOLD_MARGIN_MS,
                        report_version=report,
                    )
                    await self.store.record_head(lot, final_seq, head_hash)
                    if result in FINAL_RESULTS:
                        await self.stream.mark_settled(lot)
                    return
                except _TRANSIENT as exc:  # a busy SQLite file, a database away: one line, not a traceback
                    logger.warning("settlement of %s not written yet (%s); retrying (attempt %d)",
                                   actor.lot, str(exc).splitlines()[0][:200], attempt + 1)
                    await asyncio.sleep(min(5.0, 0.1 * 2**attempt))
                except Exception:
                    logger.exception("settlement of %s failed (attempt %d)", actor.lot, attempt + 1)
                    await asyncio.sleep(min(5.0, 0.1 * 2**attempt))

        task = asyncio.create_task(write(), name=f"settle:{actor.lot}")
        self._settling[actor.lot] = task
        task.add_done_callback(lambda t: self._forget_settling(lot, t))

    def group_extended(self, lot: str, lots: list[str], total: int) -> None:
        """Group soft close (docs/rules.md "Sales"): `lot` has moved itself by `total` ms in all;
        each later lot of its sale is sent `extend_by {lot, total}` through `call` (so to its owner
        on another node), stamped now. The running total makes a resend harmless."""
        for later, sent in group_extensions(lots, lot, total):
            self._to_lot(later, functools.partial(_extend_by, source=lot, total=sent))

    def budget_lots_reached(self, bidder: str, lot: str, lots: list[str]) -> None:
        """docs/rules.md "Budgets": `bidder` won `lot`, the last their budget for the sale allows;
        their maxima on the sale's other lots, where they do not lead, are withdrawn (`withdraw_max`
        through `call`; a lot they lead, or closed, refuses it and keeps what it has)."""
        for other in lots:
            if other != lot:
                self._to_lot(other, functools.partial(_withdraw_max, bidder=bidder))

    def _to_lot(self, lot: str, make: Callable[[int], Command]) -> None:
        task = asyncio.create_task(self._send(lot, make), name=f"sale:{lot}")
        self._sale_work.add(task)
        task.add_done_callback(self._sale_work.discard)

    async def _send(self, lot: str, make: Callable[[int], Command]) -> None:
        """An engine command for a lot of a sale, stamped when sent, sent again while the lot could
        not take it (Redis away, a hand-over); each is harmless to repeat."""
        for attempt in range(EXTEND_TRIES):
            command = make(self.clock.now_ms())
            try:
                answer = await self.call(lot, command)
            except Exception as exc:
                if not (isinstance(exc, EngineError) or redis_down(exc)):
                    raise
                answer = Unwritten(str(exc))
            if not isinstance(answer, Unwritten):
                return  # applied, or refused (closed, or nothing new): either way done
            await asyncio.sleep(0.2 * (attempt + 1))
        logger.warning("lot %s: %s not taken after %d tries", lot, command, EXTEND_TRIES)

    def _forget_settling(self, lot: str, task: asyncio.Task[None]) -> None:
        if self._settling.get(lot) is task:
            del self._settling[lot]

    async def settlement_written(self, lot: str, timeout: float) -> None:
        """Wait (at most `timeout` s) for a settlement write of `lot` in flight, if any; a failed
        or slow one is left to its own retries."""
        writing = self._settling.get(lot)
        if writing is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(writing), timeout)

    def keep_awake(self, lot: str) -> None:
        """A settled lot about to be reopened: no longer one of the read-back lots put to sleep."""
        self._read_back.pop(lot, None)

    def mark_paid(self, lot: str) -> None:
        self.credit.mark_paid(lot)

    async def release_paid(self, lot: str, winner: str | None) -> None:
        """Scale-out: a paid lot's hold leaves the winner's shared exposure (a no-op on one node).
        A failure is logged, not raised: the payment is recorded; the hold stays (erring safe) until
        the paid notice is sent again."""
        if self.shared_credit is None or winner is None:
            return
        try:
            await self.shared_credit.set(winner, lot, 0)
        except Exception:
            logger.warning("lot %s: paid, but the shared credit hold of %s was not released", lot, winner,
                           exc_info=True)

    def count_open(self) -> None:
        """Recount at the end of this turn: 500 lots closing in one turn scan the lots once, not 500 times."""
        if self._count_due:
            return
        self._count_due = True
        asyncio.get_running_loop().call_soon(self._recount)

    def _recount(self) -> None:
        self._count_due = False
        metrics.OPEN_LOTS.set(sum(1 for a in self.lots.values() if a.state.status != CLOSED))
        metrics.LOTS_IN_MEMORY.set(len(self.lots))

    async def _flush_catalogue(self) -> None:
        while True:
            await asyncio.sleep(self.config.catalogue_flush_s)
            try:
                await self._write_catalogue()
            except Exception:
                logger.exception("catalogue update failed; will retry")

    async def _watch_loop_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(0.1)
            metrics.LOOP_LAG.observe(max(0.0, loop.time() - started - 0.1))

    async def _write_catalogue(self) -> None:
        """One flush of the lots changed since the last: their public views are taken here,
        `VIEWS_AT_ONCE` per turn of the loop, and written by the store's writer thread, so a
        flush of 500 lots costs the loop 16 slices of a millisecond or so, never the write
        itself. At most one flush is in flight: changes made meanwhile wait for the next one."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        states = []
        for count, actor in enumerate(dirty.values(), 1):
            states.append(actor.public())
            if count % VIEWS_AT_ONCE == 0:
                await asyncio.sleep(0)
        try:
            with metrics.CATALOGUE_FLUSH_SECONDS.time():
                await self.store.update_lots(states)
        except _TRANSIENT as exc:  # the database is away or locked: every row waits for the next flush
            for lot, actor in dirty.items():
                self._dirty.setdefault(lot, actor)
            logger.warning("catalogue not updated (%s); will retry", str(exc).splitlines()[0][:200])
        except Exception:
            await self._write_catalogue_rows(dirty)

    async def _write_catalogue_rows(self, dirty: dict[str, LotActor]) -> None:
        """After a failed flush, each row alone: one bad row must not stop the catalogue for every
        other lot (a lot with `year: "abc"` once did). A row that fails because the database is
        unreachable waits for the next flush; a row the database refuses is dropped and logged:
        the log, not the catalogue, is the record, and the next change of the lot writes it again."""
        for lot, actor in dirty.items():
            try:
                await self.store.update_lots([actor.public()])
            except _TRANSIENT:
                self._dirty.setdefault(lot, actor)
                logger.warning("catalogue row of %s not written (database unreachable); will retry", lot)
            except Exception:
                logger.exception("catalogue row of %s refused; dropped until the lot changes again", lot)


def _rated(command: Command) -> bool:
    """A bidder's own bid or buy-now (a clerk's floor bid is not rate limited)."""
    return isinstance(command, BuyNow) or (isinstance(command, Bid) and not command.floor)


def _extend_by(at: int, source: str, total: int) -> Command:
    return ExtendBy(at=at, source=source, total=total)


def _withdraw_max(at: int, bidder: str) -> Command:
    return WithdrawMax(at=at, bidder=bidder)
