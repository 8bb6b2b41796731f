"""The sample sale is valid data (17-character VINs with a correct check digit, money in fen),
and it runs against the real engine."""

import asyncio

from clients.demo import SAMPLE_SALE, lot_specs, vin


def test_vin_check_digit_matches_the_iso_3779_worked_example():
    assert vin("1M8GDM9A0KP042788") == "1M8GDM9AXKP042788"


def test_sample_sale_is_a_dozen_cars_with_valid_vins():
    assert len(SAMPLE_SALE) >= 12
    vins = [item["vehicle"]["vin"] for item in SAMPLE_SALE]
    assert len(set(vins)) == len(vins)
    for code in vins:
        assert len(code) == 17 and not set(code) & set("IOQ") and vin(code) == code


def test_money_is_integer_fen_and_reserves_sit_below_buy_now():
    for spec in lot_specs("T", minutes=5):
        for key in ("start_price", "reserve", "buy_now"):
            assert spec.get(key) is None or (type(spec[key]) is int and spec[key] > 0)
        if spec.get("reserve") and spec.get("buy_now"):
            assert spec["buy_now"] >= spec["reserve"]
        assert spec["currency"] == "CNY"


def test_the_sale_mixes_formats_and_modes():
    specs = lot_specs("T", minutes=3)
    formats = [s["format"] for s in specs]
    assert {"english", "sealed_second", "dutch"} <= set(formats)
    assert any(s.get("mode") == "live" for s in specs)
    assert any(s.get("buy_now") for s in specs)
    assert all(s["duration_s"] <= 180 for s in specs if "duration_s" in s)
    assert len({s["lot"] for s in specs}) == len(specs)


async def test_the_demo_sale_runs_against_the_engine(engine):
    from clients.demo import run_demo

    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(12, stop.set)
    lines = []
    final = await run_demo(engine.url, engine.auctioneer_token, bidders=6, minutes=1,
                           stop_event=stop, seed=7, report=lines.append)
    assert len(final) == len(SAMPLE_SALE)
    assert sum(state["bids"] for state in final.values()) >= 5
    assert all(state["status"] in ("open", "closed") for state in final.values())
    assert lines[0].startswith("your bidder room (paddle ")
