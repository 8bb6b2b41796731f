"""The server clock: the authority for every `at`. It never runs backwards, even if the
wall clock is stepped back, because anti-sniping and the close compare stamps."""

from __future__ import annotations

import time


class Clock:
    def __init__(self) -> None:
        self._last = 0

    def now_ms(self) -> int:
        now = time.time_ns() // 1_000_000
        if now < self._last:
            return self._last
        self._last = now
        return now
