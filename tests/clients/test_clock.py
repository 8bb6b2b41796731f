"""Clock offset from ping/pong: NTP's midpoint formula, lowest round trip wins."""

from clients.clock import ClockSample, ClockSync, sample


def test_offset_corrects_for_half_the_round_trip():
    # sent at local 1000, server read its clock at 5050, answer back at local 1100:
    # the server read it at local ~1050, so the server is 4000 ms ahead.
    assert sample(1000, 5050, 1100) == ClockSample(offset=4000, rtt=100)


def test_server_behind_gives_negative_offset():
    assert sample(10_000, 7_010, 10_020) == ClockSample(offset=-3000, rtt=20)


def test_clock_running_backwards_between_send_and_receive_gives_rtt_zero():
    assert sample(1000, 1000, 990).rtt == 0


def test_best_sample_is_the_lowest_round_trip():
    sync = ClockSync()
    sync.add(sample(0, 4600, 400))   # offset 4400, rtt 400: queueing made it look later
    sync.add(sample(1000, 5010, 1020))  # offset 4000, rtt 20
    sync.add(sample(2000, 6100, 2200))  # offset 4000, rtt 200
    assert sync.best == ClockSample(offset=4000, rtt=20)
    assert sync.offset == 4000
    assert sync.server_now(local_ms=10_000) == 14_000


def test_window_forgets_old_samples():
    sync = ClockSync(window=2)
    sync.add(ClockSample(offset=1, rtt=1))
    sync.add(ClockSample(offset=2, rtt=50))
    sync.add(ClockSample(offset=3, rtt=60))
    assert sync.offset == 2


def test_coarse_offset_until_a_pong_arrives():
    sync = ClockSync()
    assert sync.offset == 0
    sync.add_coarse(server_time=9_000, received=8_000)
    assert sync.offset == 1000
    sync.add(ClockSample(offset=950, rtt=10))
    assert sync.offset == 950
