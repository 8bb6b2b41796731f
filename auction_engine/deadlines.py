"""Many connections' keepalive deadlines on one loop timer.

Every open WebSocket waits for the time of its next ping and, after a ping, for the pong. A loop
timer each (`call_later`: the handle, its bound method, a context) was ~0.5 KiB of every idle
watcher (docs/performance.md, "Idle watchers"), for deadlines that need only be right to a tenth
of a second. Here each deadline falls into a slot of `RESOLUTION_S`, and one timer per event loop,
armed only while some deadline is pending, runs the slots that are due.
"""

from __future__ import annotations

import asyncio
import logging
import math
import weakref
from typing import Protocol

logger = logging.getLogger(__name__)

RESOLUTION_S = 0.1


class Waiter(Protocol):
    def deadline_passed(self) -> None: ...


class Deadlines:
    """The pending deadlines of one event loop, by slot."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, set[Waiter]] = {}
        self.timer: asyncio.TimerHandle | None = None

    def add(self, waiter: Waiter, delay: float) -> int:
        """`waiter.deadline_passed()` in `delay` seconds (up to `RESOLUTION_S` later); the slot,
        for `remove`."""
        slot = math.ceil((self.loop.time() + delay) / RESOLUTION_S)
        self.slots.setdefault(slot, set()).add(waiter)
        if self.timer is None:
            self.timer = self.loop.call_later(RESOLUTION_S, self._run)
        return slot

    def remove(self, waiter: Waiter, slot: int) -> None:
        waiting = self.slots.get(slot)
        if waiting is not None:
            waiting.discard(waiter)
            if not waiting:
                del self.slots[slot]

    def _run(self) -> None:
        self.timer = None
        now = math.floor(self.loop.time() / RESOLUTION_S)
        for slot in sorted(s for s in self.slots if s <= now):
            for waiter in self.slots.pop(slot, ()):
                try:
                    waiter.deadline_passed()
                except Exception:
                    logger.exception("a keepalive deadline failed")
        if self.slots:
            self.timer = self.loop.call_later(RESOLUTION_S, self._run)


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = weakref.WeakKeyDictionary()


def deadlines() -> Deadlines:
    """The running loop's deadlines."""
    loop = asyncio.get_running_loop()
    found = _BY_LOOP.get(loop)
    if found is None:
        found = _BY_LOOP[loop] = Deadlines(loop)
    return found
