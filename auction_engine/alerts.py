"""Ending-soon alerts, pushed by the server on each bidder's own channel (issue 13 item 10).

The room used to work them out itself from the clocks of the lots it kept subscribed, so a page
that was closed, asleep or watching other lots said nothing. Now the node that writes a lot (the
only one that runs its timers) checks its open lots twice a second and, for a lot whose `ends_at`
comes within `ending_soon_s`, tells every bidder with a bid on it and every watcher
(`bidding.notices.ending_soon` decides who) a `{type: "notice", kind: "ending_soon"}` frame, on
every connection of theirs here and, through the feed, on every other node.

Once per bidder, lot and `ends_at`: each bidder told is claimed in a Redis set keyed by the lot
and its end, so a lot handed to another node, or an engine restarted, tells no one twice; an
extension is a new `ends_at` and so a new alert. A scan, not a timer per lot: a pass costs about 0.4 ms per
thousand open lots plus one Redis read (the watchers) per lot inside its window, those in
parallel (docs/performance.md, "Ending-soon alerts"), so an alert is about half a second late at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from bidding.notices import ending_soon, ends_within
from bidding.spec import LotSpec
from bidding.state import LotState

from .bidder_lots import members, watchers_key
from .clock import Clock
from .fanout import Hub
from .frames import Outgoing, ending_soon_frame

logger = logging.getLogger(__name__)

SCAN_S = 0.5
AT_ONCE = 64  # lots whose Redis round trips a pass keeps in flight at once
CLAIM_SLACK_MS = 60_000  # the claims outlive their `ends_at` by this much, then Redis forgets them

Notices = list[tuple[str, dict[str, Any]]]
Announce = Callable[[Notices], None]


class Lot(Protocol):
    """What the scan reads of a lot's actor."""

    lot: str
    spec: LotSpec
    state: LotState


def claim_key(lot: str, ends_at: int) -> str:
    return f"auction:{{{lot}}}:ending:{ends_at}"


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
        self._told: dict[str, tuple[int, set[str]]] = {}  # lot -> (ends_at, bidders told or claimed elsewhere)
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
        """One pass: each lot now inside the window alerts whoever it has not told for this `ends_at`,
        up to `AT_ONCE` lots' Redis round trips in flight (one after another, 500 lots in the window
        took 1.7 s to alert: scripts/bench_alerts.py)."""
        now = self.clock.now_ms()
        due = [actor for actor in list(self.lots())
               if actor.state.ends_at is not None and ends_within(actor.state, now, self.window_ms)]
        gate = asyncio.Semaphore(AT_ONCE)

        async def alert(actor: Lot) -> None:
            async with gate:
                try:
                    assert actor.state.ends_at is not None
                    await self._alert(actor, actor.state.ends_at, now)
                except Exception:  # Redis did not answer: tried again next pass, the other lots go on
                    logger.warning("lot %s: ending-soon alert not sent yet", actor.lot, exc_info=True)

        if due:
            await asyncio.gather(*(alert(actor) for actor in due))
        self._forget(now)

    async def _alert(self, actor: Lot, ends_at: int, now: int) -> None:
        """Tell the lot's bidders and watchers not yet told of this end: a bidder who first bids, or
        starts watching, inside the window is told then. Each is claimed in Redis first (one set per
        lot and end), so a hand-over or a restart tells no one twice."""
        lot = actor.lot
        known = self._told.get(lot)
        if known is None or known[0] != ends_at:
            known = self._told[lot] = (ends_at, set())
        watchers = set(await members(self.redis, watchers_key(lot)))
        due = [n.bidder for n in ending_soon(actor.state, now, self.window_ms, watchers) if n.bidder not in known[1]]
        if not due:
            return
        key = claim_key(lot, ends_at)
        async with self.redis.pipeline(transaction=False) as pipe:
            for bidder in due:
                pipe.sadd(key, bidder)
            pipe.pexpire(key, max(1, ends_at - now) + CLAIM_SLACK_MS)
            added = (await pipe.execute())[:-1]
        known[1].update(due)
        frame = ending_soon_frame(lot, actor.spec.title, ends_at, now)
        notices: Notices = [(bidder, frame) for bidder, new in zip(due, added, strict=True) if new]
        out = Outgoing(frame)
        for bidder, _ in notices:
            self.hub.to_bidder(bidder, out)
        if notices and self.announce is not None:
            self.announce(notices)

    def _forget(self, now: int) -> None:
        """Drop what lots already ended: the map holds only lots inside their window."""
        for lot, (ends_at, _) in list(self._told.items()):
            if ends_at < now:
                del self._told[lot]
