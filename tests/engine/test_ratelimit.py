"""ratelimit.py: a token bucket per bidder; the engine passes its clock's time in seconds."""

from __future__ import annotations

from auction_engine.ratelimit import RateLimiter


def test_a_burst_is_allowed_then_the_next_bid_waits_for_a_token():
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.allow("ana", 100.0) for _ in range(4)] == [True, True, True, False]
    assert not limiter.allow("ana", 100.4)
    assert limiter.allow("ana", 100.5)
    assert not limiter.allow("ana", 100.5)


def test_each_bidder_has_a_bucket_of_their_own():
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.allow("ana", 5.0)
    assert not limiter.allow("ana", 5.0)
    assert limiter.allow("ben", 5.0)


def test_an_idle_bidder_saves_up_no_more_than_the_burst():
    limiter = RateLimiter(rate=10.0, burst=2)
    assert limiter.allow("ana", 0.0)
    assert [limiter.allow("ana", 3_600.0) for _ in range(3)] == [True, True, False]


def test_refused_bids_spend_nothing():
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.allow("ana", 0.0)
    for t in (0.1, 0.2, 0.3, 0.9):
        assert not limiter.allow("ana", t)
    assert limiter.allow("ana", 1.0)



def test_buckets_full_again_are_forgotten_so_memory_follows_the_keys_seen_lately():
    limiter = RateLimiter(rate=10.0, burst=2)  # full again 0.2 s after its last use
    for i in range(1_000):
        assert limiter.allow(f"10.0.{i // 256}.{i % 256}", 0.0)
    assert not [limiter.allow("ana", 0.1) for _ in range(3)][-1]  # ana spent her burst
    assert len(limiter) == 1_001
    assert not limiter.allow("ana", 0.15)  # swept? no: too soon, and ana's bucket is not full yet
    assert limiter.allow("ben", 0.25)  # the first call after 0.2 s sweeps
    assert len(limiter) == 2  # ana (used at 0.15) and ben
    assert [limiter.allow("ana", 0.25) for _ in range(2)] == [True, False]  # ana's bucket kept its state
