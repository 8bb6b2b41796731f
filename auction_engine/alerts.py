"""Ending-soon alerts, pushed by the server on each bidder's own channel (issue 13 item 10).

The room used to work them out itself from the clocks of the lots it kept subscribed, so a page
that was closed, asleep or watching other lots said nothing. Now the node that writes a lot (the
only one that runs its timers) checks its open lots twice a second and, for a lot whose `ends_at`
comes within `ending_soon_s`, tells every bidder with a bid on it and every watcher
(`bidding.notices.ending_soon` decides who) a `{type: "notice", kind: "ending_soon"}` frame, on
every connection of theirs here and, through the feed, on every other node.

Once per bidder and lot for as long as the lot stays inside the window: an extension that keeps it
inside does not alert again (the lot's own feed carries its new `ends_at`), one that takes it out
does, when the lot comes back in. In a sale's anti-sniping storms the lots were extended every few
seconds and every bidder and watcher was told again each time: about 15 claims in Redis and as many
frames per extension, which took the sale-day ack p99 from 17-20 ms to 34-37 (docs/performance.md
"Round twelve"), and a banner and a tone each time on the bidder's screen for news the lot page
already showed. A stay inside the window is an episode, named by the first `ends_at` seen inside it
and kept in Redis beside the lot, and each bidder told is claimed in a Redis set keyed by the lot and
the episode, so a lot handed to another node, or an engine restarted, tells no one twice.

A scan, not a timer per lot: a pass costs about 0.4 ms per thousand open lots, and a Redis round
trip only for a lot entering the window, with someone new to tell, or whose watchers were read more
than `WATCHERS_FRESH_S` ago. Reading every lot's watchers on every pass
made 1,000 round trips a second on a sale day whose 500 lots were all inside the window, a burst of
coroutines on the engine's loop every half second that the acks waited behind (issue 18). So an
alert is about half a second late at most for a bidder, and a watcher who starts watching inside
the window on another node is told within `WATCHERS_FRESH_S` (on this node at once: `watched`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

from bidding.notices import ending_soon, ends_within
from bidding.spec import LotSpec
from bidding.state import OPEN, LotState

from .bidder_lots import watchers_key
from .clock import Clock
from .fanout import Hub
from .frames import Outgoing, ending_soon_frame

logger = logging.getLogger(__name__)

SCAN_S = 0.5
CLAIM_SLACK_MS = 60_000  # the claims outlive their `ends_at` by this much, then Redis forgets them
WATCHERS_FRESH_S = 5.0  # a lot's watchers, read from Redis, are read again after this long
# Bidders claimed (or lots' watchers read) per round trip. A sale's lots extended together all alert
# again in one pass: 500 lots' 7,000 claims and frames in one pipeline held the loop 50-76 ms at a time,
# and the acks of every other lot waited behind it. In pieces, each turn of the loop does a few ms of it.
PER_ROUND_TRIP = 256

Notices = list[tuple[str, dict[str, Any]]]
Announce = Callable[[Notices], None]


class Lot(Protocol):
    """What the scan reads of a lot's actor."""

    lot: str
    spec: LotSpec
    state: LotState


class Claim(NamedTuple):
    """Bidders of a lot to tell, in one episode, of the `ends_at` read when the claim was made."""

    actor: Lot
    episode: int
    ends_at: int
    bidders: list[str]


def claim_key(lot: str, episode: int) -> str:
    return f"auction:{{{lot}}}:ending:{episode}"


def episode_key(lot: str) -> str:
    """The lot's current stay inside the window: the first `ends_at` seen inside it."""
    return f"auction:{{{lot}}}:ending"


class EndingSoonAlerts:
    """Scans this node's own lots; `announce` (scale-out) carries the frames to the other nodes."""

    def __init__(self, redis: Any, hub: Hub, clock: Clock, lots: Callable[[], Iterable[Lot]], window_ms: int,
                 announce: Announce | None = None) -> None:
        self.redis = redis
        self.hub = hub
        self.clock = clock
        self.lots = lots
        self.window_ms = window_ms
        self.announce = announce
        self._episodes: dict[str, int] = {}  # lot -> its stay inside the window (episode_key), while it lasts
        self._told: dict[str, tuple[int, set[str]]] = {}  # lot -> (episode, bidders told or claimed elsewhere)
        self._watchers: dict[str, tuple[float, set[str]]] = {}  # lot -> (read at, its watchers then)
        # lot -> (seq, ends_at, watchers read at) when it last had no one left to tell: who is told depends
        # on nothing else, so a lot unchanged since is skipped without listing its bidders again.
        self._quiet: dict[str, tuple[int, int, float]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.window_ms > 0:
            self._task = asyncio.create_task(self._run(), name="ending-soon")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:
                logger.warning("ending-soon scan failed; next pass in %.1f s", SCAN_S, exc_info=True)
            await asyncio.sleep(SCAN_S)

    async def scan(self) -> None:
        """One pass: each lot now inside the window alerts whoever it has not told for this `ends_at`.
        Pipelined round trips of `PER_ROUND_TRIP` lots or bidders each: the watchers of the lots not
        read lately, then the claims (500 lots entering the window together had cost 500 coroutines and
        1,000 round trips in one burst on the engine's loop; in one pipeline, 50-76 ms on it at once)."""
        now = self.clock.now_ms()
        clock = asyncio.get_running_loop().time
        fresh_after = clock() - WATCHERS_FRESH_S
        lots = list(self.lots())
        inside = [actor for actor in lots if ends_within(actor.state, now, self.window_ms)]
        try:
            await self._leave(lots, inside, now)
            await self._read_episodes([a for a in inside if a.lot not in self._episodes], now)
            await self._read_watchers([a.lot for a in inside if self._stale(a.lot, fresh_after)], clock())
            await self._claim_and_tell(inside, now)
        except Exception:  # Redis did not answer: tried again next pass
            logger.warning("ending-soon alerts of %d lots not sent yet", len(inside), exc_info=True)

    def watched(self, lot: str) -> None:
        """A bidder started watching `lot` here: read its watchers on the next pass."""
        self._watchers.pop(lot, None)

    def _stale(self, lot: str, fresh_after: float) -> bool:
        seen = self._watchers.get(lot)
        return seen is None or seen[0] < fresh_after

    async def _leave(self, lots: list[Lot], inside: list[Lot], now: int) -> None:
        """Lots no longer inside the window end their episode. One extended out of it has its episode
        deleted in Redis too, so that it alerts again when it comes back in; a closed or ended lot's
        expires, and a lot no longer on this node's list is only forgotten here."""
        if not self._episodes:
            return
        staying = {actor.lot for actor in inside}
        by_lot = {actor.lot: actor for actor in lots}
        gone = [lot for lot in self._episodes if lot not in staying]
        out = [lot for lot in gone if (actor := by_lot.get(lot)) is not None and _extended_out(actor.state, now, self.window_ms)]
        if out:
            async with self.redis.pipeline(transaction=False) as pipe:
                for lot in out:
                    pipe.delete(episode_key(lot))
                await pipe.execute()
        for lot in gone:
            self._forget(lot)

    async def _read_episodes(self, entering: list[Lot], now: int) -> None:
        """The episode of each lot first seen inside the window by this node: the one Redis holds
        (another node's, or this engine's before a restart), else a new one named by its end now."""
        for start in range(0, len(entering), PER_ROUND_TRIP):
            piece = entering[start:start + PER_ROUND_TRIP]
            async with self.redis.pipeline(transaction=False) as pipe:
                for actor in piece:
                    ends_at = actor.state.ends_at
                    assert ends_at is not None
                    pipe.set(episode_key(actor.lot), ends_at, nx=True, px=max(1, ends_at - now) + CLAIM_SLACK_MS)
                    pipe.get(episode_key(actor.lot))
                replies = await pipe.execute()
            for actor, episode in zip(piece, replies[1::2], strict=True):
                self._episodes[actor.lot] = int(episode)

    def _untold(self, actor: Lot, now: int) -> list[str]:
        """The lot's bidders and (known) watchers not yet told in its episode. A lot whose
        watchers were read lately and who has no one to tell is left alone by a pass: no round trip."""
        state = actor.state
        assert state.ends_at is not None
        seen = self._watchers.get(actor.lot)
        quiet = (state.seq, state.ends_at, seen[0] if seen is not None else 0.0)
        if self._quiet.get(actor.lot) == quiet:
            return []
        episode = self._episodes[actor.lot]
        known = self._told.get(actor.lot)
        if known is None or known[0] != episode:
            known = self._told[actor.lot] = (episode, set())
        watchers = seen[1] if seen is not None else set()
        untold = [n.bidder for n in ending_soon(state, now, self.window_ms, watchers) if n.bidder not in known[1]]
        if not untold and seen is not None:
            self._quiet[actor.lot] = quiet
        return untold

    async def _read_watchers(self, lots: list[str], at: float) -> None:
        for start in range(0, len(lots), PER_ROUND_TRIP):
            piece = lots[start:start + PER_ROUND_TRIP]
            async with self.redis.pipeline(transaction=False) as pipe:
                for lot in piece:
                    pipe.smembers(watchers_key(lot))
                replies = await pipe.execute()
            for lot, raw in zip(piece, replies, strict=True):
                self._watchers[lot] = (at, {m.decode() if isinstance(m, bytes) else str(m) for m in raw})

    async def _claim_and_tell(self, inside: list[Lot], now: int) -> None:
        """Tell each lot's bidders and watchers not yet told of its end: a bidder who first bids, or
        starts watching, inside the window is told then. Each is claimed in Redis first (one set per
        lot and episode), so a hand-over or a restart tells no one twice."""
        claims = [Claim(actor, self._episodes[actor.lot], actor.state.ends_at, untold) for actor in inside
                  if actor.state.ends_at is not None and actor.lot in self._episodes
                  and (untold := self._untold(actor, now))]
        for piece in _pieces(claims, PER_ROUND_TRIP):
            await self._claim_piece(piece, now)

    async def _claim_piece(self, piece: list[Claim], now: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for claim in piece:
                key = claim_key(claim.actor.lot, claim.episode)
                for bidder in claim.bidders:
                    pipe.sadd(key, bidder)
                pipe.pexpire(key, max(1, claim.ends_at - now) + CLAIM_SLACK_MS)
                pipe.pexpire(episode_key(claim.actor.lot), max(1, claim.ends_at - now) + CLAIM_SLACK_MS)
            replies = iter(await pipe.execute())
        notices: Notices = []
        for claim in piece:
            lot = claim.actor.lot
            added = [next(replies) for _ in claim.bidders]
            next(replies), next(replies)  # the PEXPIREs
            told = self._told.get(lot)
            if told is not None and told[0] == claim.episode:  # still the same episode
                told[1].update(claim.bidders)
            frame = ending_soon_frame(lot, claim.actor.spec.title, claim.ends_at, now)
            out = Outgoing(frame)
            for bidder, new in zip(claim.bidders, added, strict=True):
                if new:
                    notices.append((bidder, frame))
                    self.hub.to_bidder(bidder, out)
        if notices and self.announce is not None:
            self.announce(notices)

    def _forget(self, lot: str) -> None:
        self._episodes.pop(lot, None)
        self._told.pop(lot, None)
        self._watchers.pop(lot, None)
        self._quiet.pop(lot, None)


def _extended_out(state: LotState, now: int, window_ms: int) -> bool:
    return state.status == OPEN and state.ends_at is not None and state.ends_at - now > window_ms


def _pieces(claims: list[Claim], most: int) -> Iterable[list[Claim]]:
    """The claims cut into round trips of at most `most` bidders; a crowded lot's are split over several."""
    piece: list[Claim] = []
    size = 0
    for claim in claims:
        bidders = claim.bidders
        while bidders:
            take, bidders = bidders[: most - size], bidders[most - size:]
            piece.append(claim._replace(bidders=take))
            size += len(take)
            if size == most:
                yield piece
                piece, size = [], 0
    if piece:
        yield piece
