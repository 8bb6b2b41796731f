"""Token buckets: bids per bidder, history reads per address or bidder."""

from __future__ import annotations


class RateLimiter:
    """A token bucket per key: `rate` a second, bursts of `burst`.

    A bucket left alone for `burst / rate` seconds is full again, the same as no bucket: such
    buckets are dropped, at most once per that time, so the memory follows the keys seen lately
    rather than every address that ever read history."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._refill_s = burst / rate if rate > 0 else float("inf")
        self._swept = float("-inf")

    def allow(self, key: str, now: float) -> bool:
        if now - self._swept >= self._refill_s:
            self._sweep(now)
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True

    def _sweep(self, now: float) -> None:
        refill = self._refill_s
        self._buckets = {key: bucket for key, bucket in self._buckets.items() if now - bucket[1] < refill}
        self._swept = now

    def __len__(self) -> int:
        return len(self._buckets)
