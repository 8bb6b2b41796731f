"""Server clock estimate from ping/pong round trips (NTP's offset formula, best sample wins)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class ClockSample:
    """`offset` = server clock - local clock, in ms, assuming the pong's `server_time` was read
    half way through the round trip; the error is at most `rtt / 2`."""

    offset: int
    rtt: int


def sample(sent: int, server_time: int, received: int) -> ClockSample:
    rtt = max(0, received - sent)
    return ClockSample(offset=server_time - (sent + received) // 2, rtt=rtt)


class ClockSync:
    """Keeps the last `window` samples and trusts the one with the smallest round trip: queueing
    delay only ever adds to rtt, so the fastest exchange has the tightest error bound. A sliding
    window (rather than the best ever) lets the estimate follow a drifting local clock."""

    def __init__(self, window: int = 8) -> None:
        self._samples: deque[ClockSample] = deque(maxlen=window)
        self._coarse: int | None = None

    def add(self, s: ClockSample) -> ClockSample:
        self._samples.append(s)
        return s

    def add_coarse(self, server_time: int, received: int) -> None:
        """A `server_time` without a round trip (welcome, snapshot): used until a pong arrives."""
        self._coarse = server_time - received

    @property
    def best(self) -> ClockSample | None:
        return min(self._samples, key=lambda s: s.rtt, default=None)

    @property
    def offset(self) -> int:
        best = self.best
        if best is not None:
            return best.offset
        return self._coarse or 0

    def server_now(self, local_ms: int | None = None) -> int:
        return (wall_ms() if local_ms is None else local_ms) + self.offset
