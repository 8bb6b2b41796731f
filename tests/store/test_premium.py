import pytest
from hypothesis import given
from hypothesis import strategies as st

from auction_engine.store import DEFAULT_CNY, PremiumSchedule, Tier

# Default CNY schedule, in fen: 5% to 50k yuan, 3% to 200k, 2% to 500k, 1% above (marginal),
# plus 300 / 500 / 800 / 1,000 yuan by the band of the whole hammer price.
DEFAULT_EXAMPLES = [
    # hammer price, premium, why
    (0, 30_000, "fixed fee only"),
    (1_000_000, 80_000, "10k yuan: 5% = 500 yuan + 300"),
    (4_999_999, 280_000, "249,999.95 rounds half up to 250,000, + 30,000"),
    (5_000_000, 300_000, "250,000 + the second band's 50,000"),
    (10_000_000, 450_000, "250,000 + 3% of 5,000,000 + 50,000"),
    (30_000_000, 980_000, "250,000 + 450,000 + 2% of 10,000,000 + 80,000"),
    (60_000_000, 1_500_000, "250,000 + 450,000 + 600,000 + 1% of 10,000,000 + 100,000"),
]


@pytest.mark.parametrize("price, premium, why", DEFAULT_EXAMPLES)
def test_default_schedule_examples(price, premium, why):
    assert DEFAULT_CNY.premium(price) == premium, why
    assert DEFAULT_CNY.total_due(price) == price + premium


@pytest.mark.parametrize(
    "bps, price, premium",
    [
        (250, 20, 1),  # 0.5 rounds up
        (250, 19, 0),  # 0.475 rounds down
        (250, 60, 2),  # 1.5 rounds up
        (1, 5_000, 1),  # 0.5
        (1, 4_999, 0),  # 0.4999
        (10_000, 123, 123),  # 100%
    ],
)
def test_rounding_is_half_up_to_the_minor_unit(bps, price, premium):
    assert PremiumSchedule((Tier(0, bps),)).premium(price) == premium


def test_marginal_rates_round_once_on_the_sum():
    # 0.5 + 0.5 from two bands would round to 2 if each were rounded; summed exactly it is 1.
    schedule = PremiumSchedule((Tier(0, 5_000), Tier(1, 5_000)))
    assert schedule.premium(2) == 1


def test_cap_bounds_the_premium():
    schedule = PremiumSchedule((Tier(0, 1_000, 500),), cap=10_000)
    assert schedule.premium(50_000) == 5_500
    assert schedule.premium(1_000_000) == 10_000


def test_from_list_round_trips():
    rows = [[0, 500, 30_000], [5_000_000, 300, 50_000]]
    assert PremiumSchedule.from_list(rows).to_list() == rows


@pytest.mark.parametrize(
    "tiers, cap",
    [
        ((), None),
        ((Tier(100, 500),), None),  # does not start at 0
        ((Tier(0, 500), Tier(0, 300)), None),  # not ascending
        ((Tier(0, 500, 100), Tier(10, 300, 50)), None),  # fixed fee falls
        ((Tier(0, -1),), None),
        ((Tier(0, 1.5),), None),
        ((Tier(0, 100),), -1),
    ],
)
def test_invalid_schedules_are_refused(tiers, cap):
    with pytest.raises(ValueError):
        PremiumSchedule(tiers, cap)


@pytest.mark.parametrize("price", [-1, 1.0, "100", True, None])
def test_price_must_be_a_non_negative_integer(price):
    with pytest.raises(ValueError):
        DEFAULT_CNY.premium(price)


@st.composite
def schedules(draw):
    starts = sorted(draw(st.sets(st.integers(1, 10**9), max_size=5)))
    fixed = sorted(draw(st.lists(st.integers(0, 10**6), min_size=len(starts) + 1, max_size=len(starts) + 1)))
    rates = draw(st.lists(st.integers(0, 10_000), min_size=len(starts) + 1, max_size=len(starts) + 1))
    cap = draw(st.none() | st.integers(0, 10**8))
    return PremiumSchedule(tuple(Tier(f, b, x) for f, b, x in zip([0, *starts], rates, fixed, strict=False)), cap)


prices = st.integers(0, 10**11)


@given(schedules(), prices, prices)
def test_premium_never_falls_as_the_price_rises(schedule, a, b):
    low, high = sorted((a, b))
    assert schedule.premium(low) <= schedule.premium(high)


@given(schedules(), prices)
def test_premium_is_an_integer_within_half_a_unit_of_the_exact_amount(schedule, price):
    premium = schedule.premium(price)
    assert isinstance(premium, int) and premium >= 0
    bands = [*schedule.tiers, Tier(10**12 + 1, 0)]
    exact_times_10000 = sum(
        t.bps * max(0, min(price, nxt.from_price) - t.from_price) for t, nxt in zip(bands, bands[1:], strict=False)
    )
    fixed = max(t.fixed for t in schedule.tiers if t.from_price <= price)
    uncapped = premium if schedule.cap is None or premium < schedule.cap else None
    if uncapped is not None:
        assert abs((uncapped - fixed) * 10_000 - exact_times_10000) <= 5_000
    if schedule.cap is not None:
        assert premium <= schedule.cap


@given(prices)
def test_default_schedule_stays_between_one_and_five_percent_plus_fees(price):
    premium = DEFAULT_CNY.premium(price) - 100_000
    assert premium <= price * 5 // 100 + 1
