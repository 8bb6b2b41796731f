"""This engine as one node of many: the lots it writes, the lots it only serves, and the way
commands and updates cross between nodes.

With `node_id` set, the engine stops owning every lot. `Node` (node.py) decides which lots this
process writes: it holds their leases, and the epoch of each lease fences every earlier writer's
appends. For a lot written elsewhere, this node keeps a `Replica`, the lot rebuilt from its own
log and caught up entry by entry when the feed says it moved, so a watcher connected here sees
exactly the log, gapless; a bid or a staff command is forwarded to the owner's mailbox and its
answer comes back as if the lot were here. Ownership is Redis's (one script per lot's slot),
never a vote of ours.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Iterable
from typing import Any, Protocol

from bidding.commands import Command, Outage, command_from_dict, command_to_dict
from bidding.reasons import Reason
from bidding.spec import LotSpec
from bidding.state import LotState
from bidding.views import public_view

from . import metrics
from .actor import RING, Book, LotActor, Work, publish_logged, staff_key, view_for
from .answers import Answer, Refusal, Unwritten
from .clock import Clock
from .config import Config
from .credit import CreditLedger
from .fanout import Hub
from .feed import Feed
from .frames import Outgoing, answer_of, answer_record
from .mirror import LotMirror, MirrorBroken
from .node import NOT_OWNER, Node
from .ownership import Lease
from .redis_down import redis_down
from .stream import LOTS_KEY, SETTLED_KEY, RedisLog

logger = logging.getLogger(__name__)

REPLICAS = 10_000  # lots served from a replica at once, least recently used dropped first
HAND_OVER_S = 2.0  # a graceful hand-over waits this long for the lot's queued commands


class LotLost(RuntimeError):
    """This node no longer holds the lot's lease: its actor must stop, never take the lot back."""


class EngineSide(Protocol):
    """What this module uses of the engine (engine.py imports this module, not the reverse)."""

    config: Config
    clock: Clock
    stream: RedisLog
    hub: Hub
    credit: CreditLedger
    lots: dict[str, LotActor]
    quarantined: dict[str, str]

    async def load_book(self, lot: str, epoch: int | None = None) -> Book: ...
    def wake(self, lot: str, book: Book) -> LotActor: ...
    async def call_here(self, lot: str, command: Command, key: bytes = b"") -> Answer: ...
    async def reload_bidder(self, bidder: str) -> None: ...
    async def load_bidders(self) -> None: ...
    def count_open(self) -> None: ...


class Replica:
    """A lot written by another node, as this node serves it: the read side of a `LotActor`."""

    def __init__(self, mirror: LotMirror) -> None:
        self.mirror = mirror
        self.lot = mirror.lot
        self.published_seq = mirror.seq
        self.ring: collections.deque[tuple[int, bytes]] = collections.deque(maxlen=RING)

    @property
    def spec(self) -> LotSpec:
        return self.mirror.spec

    @property
    def state(self) -> LotState:
        return self.mirror.state

    def public(self, now: int | None = None) -> dict[str, Any]:
        return public_view(self.spec, self.state, now)

    def view_for(self, role: str, bidder: str | None, now: int | None = None) -> dict[str, Any]:
        return view_for(self.spec, self.state, role, bidder, now)


class Cluster:
    """This node's part: the `LotHost` its `Node` drives, the feed, the replicas."""

    def __init__(self, engine: EngineSide, redis: Any, node_id: str, url: str) -> None:
        self.engine = engine
        self.redis = redis
        self.config = engine.config
        self.node = Node(redis, node_id, url, self, engine.clock.now_ms, lease_ms=self.config.lease_ms)
        self.feed = Feed(redis, node_id, self._moved, self._notice, on_bidder=self._bidder_changed)
        self.replicas: collections.OrderedDict[str, Replica] = collections.OrderedDict()
        self.known: set[str] = set()
        self.settled: set[str] = set()
        self._replica_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def node_id(self) -> str:
        return self.node.node_id

    # -- life cycle ---------------------------------------------------------------

    async def start(self) -> None:
        await self.refresh_lots()
        await self.feed.start()
        await self.node.start()
        self._tasks = [
            asyncio.create_task(self._watch_replicas(), name="replicas"),
            asyncio.create_task(self._refresh_bidders(), name="bidders"),
        ]

    async def stop(self) -> None:
        """Hand every lot over (the other nodes take them at once), then stop listening."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # bounded, as Node.stop: a cancellation may be retried through by the cluster client
            await asyncio.wait(self._tasks, timeout=2.0)
        await self.node.stop()
        if self._background:
            await asyncio.wait(list(self._background), timeout=2)
        await self.feed.stop()

    def spawn(self, coro: Any) -> None:
        """Run `coro` in the background, kept referenced until it ends."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def refresh_lots(self) -> None:
        """Which lots exist and which are settled, as Redis says (every rebalance)."""
        lots, settled = await asyncio.gather(self.redis.smembers(LOTS_KEY), self.redis.smembers(SETTLED_KEY))
        self.known |= {_text(m) for m in lots}
        self.settled |= {_text(m) for m in settled}

    # -- LotHost: what Node asks of the engine ----------------------------------------

    async def own(self, lease: Lease) -> None:
        engine, lot = self.engine, lease.lot
        book = await engine.load_book(lot, epoch=lease.epoch)
        replica = self.replicas.pop(lot, None)
        if replica is not None:  # what this node's watchers have not seen yet, before the actor publishes
            await self._catch_up(replica, book[1].seq)
        actor = engine.wake(lot, book)
        if lease.taken:
            metrics.TAKEOVERS.inc()
            gap = lease.gap_ms
            if gap is not None and gap >= self.config.outage_min_ms and book[1].result is None:
                now = engine.clock.now_ms()
                actor.submit(Work(Outage(at=now, outage_ms=min(gap, now), grace_ms=self.config.outage_grace_ms)))
                logger.warning("took lot %s after %d ms without a writer", lot, gap)
        metrics.LOTS_OWNED.set(len(self.node.leases))

    async def disown(self, lot: str, graceful: bool) -> None:
        engine = self.engine
        actor = engine.lots.get(lot)
        if actor is None:
            return
        if graceful and not await actor.idle(HAND_OVER_S):
            logger.warning("lot %s: handed over with commands still queued; their senders retry", lot)
        engine.lots.pop(lot, None)
        await actor.stop()
        for work in actor.drain():
            if work.reply is not None:
                work.reply(Unwritten("the lot moved to another node; retry with the same id"))
        engine.credit.set_lot(lot, {})
        if engine.hub.watchers.get(lot):  # this node's watchers follow the lot from its log from now on
            replica = Replica(LotMirror(engine.stream, lot, actor.spec, actor.state.copy()))
            replica.published_seq = actor.published_seq
            replica.ring.extend(actor.ring)
            self.replicas[lot] = replica
        metrics.LOTS_OWNED.set(len(self.node.leases))
        engine.count_open()

    async def run_here(self, lot: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            command = command_from_dict(body["c"])
        except (KeyError, TypeError, ValueError):
            return answer_record(Unwritten("malformed forwarded command"))
        if not self.owns(lot):
            return _not_owner()
        answer = await self.engine.call_here(lot, command, bytes(body.get("k") or b""))
        if isinstance(answer, Unwritten) and not self.owns(lot):
            return _not_owner()  # handed over meanwhile: the sender asks the new owner
        return answer_record(answer)

    async def placeable_lots(self) -> list[str]:
        await self.refresh_lots()
        return sorted(self.known - self.settled - set(self.engine.quarantined))

    # -- the way in for a lot owned elsewhere -------------------------------------------

    def owns(self, lot: str) -> bool:
        return lot in self.node.leases

    async def exists(self, lot: str) -> bool:
        if lot not in self.known and await self.redis.sismember(LOTS_KEY, lot):
            self.known.add(lot)
        return lot in self.known

    async def forward(self, lot: str, command: Command, key: bytes, timeout: float | None = None) -> Answer:
        """The lot's answer from whichever node owns it (this one included, after a takeover)."""
        try:
            known = await self.exists(lot)
        except Exception as exc:
            if not redis_down(exc):
                raise
            return Unwritten("the lot's Redis shard did not answer; retry with the same id")
        if not known:
            return _unknown(lot, command)
        started = time.perf_counter()
        # A staff command gets a key of its own here: a resend to a new owner after the first one
        # wrote it and died unanswered gets the stored answer instead of running it again (a
        # second `retract_last` would take off another bid). A bid's key is its bid id's.
        body = {"c": command_to_dict(command), "k": key or staff_key()}
        reply = await self.node.forward(lot, body, timeout or self.config.forward_timeout_s)
        answer = answer_of(reply)
        metrics.FORWARDED.labels("answered" if reply is not None else "no_owner").inc()
        metrics.FORWARD_SECONDS.observe(time.perf_counter() - started)
        return answer

    def submit(self, lot: str, work: Work) -> None:
        """A WebSocket command for a lot owned elsewhere: forwarded, answered by callback."""

        async def run() -> None:
            answer = await self.forward(lot, work.command, work.key)
            if work.reply is not None:
                work.reply(answer)

        self.spawn(run())

    async def replica(self, lot: str) -> Replica | None:
        """The lot as this node serves it without writing it, caught up to the log's head."""
        replica = self.replicas.get(lot)
        if replica is None:
            async with self._replica_lock:
                replica = self.replicas.get(lot)
                if replica is None:
                    mirror = await LotMirror.load(self.engine.stream, lot)
                    if mirror is None:
                        return None
                    replica = self.replicas[lot] = Replica(mirror)
                    self._evict()
        else:
            self.replicas.move_to_end(lot)
            await self._catch_up(replica)
        return replica

    def _evict(self) -> None:
        for lot in list(self.replicas):
            if len(self.replicas) <= REPLICAS:
                return
            if not self.engine.hub.watchers.get(lot):
                del self.replicas[lot]

    # -- the feed ------------------------------------------------------------------------

    def announce(self, lot: str, seq: int, privates: list[tuple[str, Outgoing]]) -> None:
        """Off the ack path: the answers are out before this is sent."""
        self.spawn(self._announce(lot, seq, [(bidder, out.frame) for bidder, out in privates]))

    async def _announce(self, lot: str, seq: int, notices: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            await self.feed.announce(lot, seq, notices)
        except Exception:
            logger.warning("announcing lot %s seq %d failed; other nodes catch up at their next check", lot, seq,
                           exc_info=True)

    def bidder_changed(self, bidder: str) -> None:
        self.spawn(self.feed.announce_bidder(bidder))

    async def _moved(self, lot: str, seq: int) -> None:
        self.known.add(lot)
        replica = self.replicas.get(lot)
        if replica is not None and lot not in self.engine.lots:
            await self._catch_up(replica, seq)

    def _notice(self, bidder: str, frame: dict[str, Any]) -> None:
        self.engine.hub.to_bidder(bidder, Outgoing(frame))

    async def _bidder_changed(self, bidder: str) -> None:
        await self.engine.reload_bidder(bidder)

    async def _catch_up(self, replica: Replica, upto: int | None = None) -> None:
        try:
            moved = await replica.mirror.catch_up(upto)
        except MirrorBroken as exc:
            logger.warning("%s; reading the lot again", exc)
            fresh = await LotMirror.load(self.engine.stream, replica.lot)
            if fresh is None:
                return
            records = await replica.mirror.stream.read(replica.lot, replica.published_seq, fresh.seq)
            replica.mirror = fresh
            self._publish(replica, [(r.seq, r.public) for r in records])
            return
        self._publish(replica, moved)

    def _publish(self, replica: Replica, moved: Iterable[tuple[int, bytes]]) -> None:
        publish_logged(self.engine.hub, replica, moved)

    async def _watch_replicas(self) -> None:
        """Once a second, catch up every watched replica: an announcement lost on the way (a feed
        trimmed, a node that died after its append) delays an event by this much, never drops it."""
        while not self._stopping:
            await asyncio.sleep(1.0)
            for lot, replica in list(self.replicas.items()):
                if self.engine.hub.watchers.get(lot) and lot not in self.engine.lots:
                    try:
                        await self._catch_up(replica)
                    except Exception:
                        logger.warning("catching up lot %s failed; next check in 1 s", lot, exc_info=True)

    async def _refresh_bidders(self) -> None:
        """Every few seconds, the bidders as the shared database has them: the feed tells of each
        change at once, this covers a change announced while this node was not listening."""
        while not self._stopping:
            await asyncio.sleep(5.0)
            try:
                await self.engine.load_bidders()
            except Exception:
                logger.warning("reading the bidders failed; next try in 5 s", exc_info=True)

    # -- what operators see -------------------------------------------------------------

    async def describe(self) -> dict[str, Any]:
        live = await self.node.live()
        return {
            "node": self.node_id,
            "nodes": [{"node": n.node, "url": n.url, "last_beat_ms": n.last_beat_ms} for n in live],
            "owned": sorted(self.node.leases),
            "takeovers": self.node.takeovers,
        }

    async def owner(self, lot: str) -> dict[str, Any]:
        holder = await self.node.owner_of(lot)
        if holder is None:
            return {"lot": lot, "node": None, "epoch": None}
        urls = {n.node: n.url for n in await self.node.live()}
        return {"lot": lot, "node": holder.node, "epoch": holder.epoch, "url": urls.get(holder.node)}


def _not_owner() -> dict[str, Any]:
    return {"type": "error", "code": NOT_OWNER, "message": "ask the lot's owner"}


def _unknown(lot: str, command: Command) -> Refusal:
    bid_id = getattr(command, "id", None)
    return Refusal(lot, bid_id if isinstance(bid_id, str) else None, Reason.UNKNOWN_LOT)


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member
