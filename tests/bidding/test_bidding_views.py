"""bidding.views: what leaves a lot. The reserve and the maxima never reach the public."""

from dataclasses import replace

from bidding import AntiSnipe, DutchSpec, auctioneer_view, bidder_view, exposure, public_view
from tests.bidding.bidding_harness import RULES_LADDER, Lot

PUBLIC_KEYS = {
    "lot", "title", "format", "mode", "status", "result", "currency", "start_price", "price", "next_min",
    "leader", "bids", "buy_now", "starts_at", "opened_at", "ends_at", "remaining_ms", "closed_at",
    "extensions", "fair_warning", "outage_ms", "correction", "pre_bids", "inspection_version", "approve_by", "sale",
    "dutch", "seq",
    "vehicle", "increments",
}
HIDDEN_KEYS = {"reserve", "maxima", "your_max", "leader_bidder", "leader_max", "max", "counter", "seen"}


def english() -> Lot:
    lot = Lot(increments=RULES_LADDER, reserve=12000, anti_snipe=AntiSnipe(window_s=60, extend_s=60),
              vehicle={"make": "NIO", "year": 2022})
    lot.open(0)
    lot.bid(1, "A", max=9000)
    lot.bid(2, "B", amount=6000)
    return lot


def test_public_view_has_exactly_the_protocol_keys():
    lot = english()
    view = lot.view()
    assert set(view) == PUBLIC_KEYS | {"reserve_met"}
    assert (view["price"], view["leader"], view["next_min"], view["reserve_met"], view["bids"]) == (
        6100, "P-A", 6200, False, 2
    )
    assert set(Lot().view()) == PUBLIC_KEYS   # no reserve: no reserve_met key


def test_bidder_view_shows_only_their_own_maximum():
    lot = english()
    a = bidder_view(lot.spec, lot.state, "A")
    b = bidder_view(lot.spec, lot.state, "B")
    c = bidder_view(lot.spec, lot.state, "C")
    assert set(a) == PUBLIC_KEYS | {"reserve_met", "your_max", "leading", "counter", "suspended"}
    assert (a["your_max"], a["leading"]) == (9000, True)
    assert (b["your_max"], b["leading"]) == (6000, False)
    assert (c["your_max"], c["leading"]) == (None, False)


def test_auctioneer_view_adds_reserve_and_maxima():
    lot = english()
    view = auctioneer_view(lot.spec, lot.state)
    assert (view["reserve"], view["leader_bidder"], view["maxima"]) == (12000, "A", {"A": 9000, "B": 6000})
    view["maxima"]["A"] = 1
    assert lot.state.maxima["A"] == 9000


def test_public_view_does_not_depend_on_hidden_values():
    lot = english()
    other_state = lot.state.copy()
    other_state.maxima = {b: m * 3 + 7 for b, m in other_state.maxima.items()}
    other_spec = replace(lot.spec, reserve=11000)   # still not met at 6100
    assert public_view(other_spec, other_state) == lot.view()


def test_views_do_not_share_the_vehicle_dict():
    lot = english()
    lot.view()["vehicle"]["make"] = "changed"
    assert lot.spec.vehicle["make"] == "NIO"


def test_exposure_english_is_the_leaders_maximum():
    lot = english()
    assert exposure(lot.spec, lot.state) == {"A": 9000}
    lot.hammer(10)
    assert exposure(lot.spec, lot.state) == {"A": 6100}  # pending approval: the price stays reserved
    lot2 = Lot(increments=RULES_LADDER)
    lot2.open(0)
    lot2.bid(1, "A", max=9000)
    lot2.hammer(2)
    assert exposure(lot2.spec, lot2.state) == {"A": 5000}


def test_dutch_view_prices_on_the_clock():
    lot = Lot(format="dutch", start_price=10000, dutch=DutchSpec(step=100, tick_s=1, floor=5000))
    lot.open(0)
    view = lot.view(now=2500)
    assert (view["price"], view["next_min"], view["dutch"]) == (9800, 9800, {"step": 100, "tick_s": 1, "floor": 5000})
    assert lot.view()["price"] is None
