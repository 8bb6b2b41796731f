"""LotSpec.from_dict: every bad spec is refused with the field that is wrong."""

import pytest

from bidding import DEFAULT_LADDER, AntiSnipe, DutchSpec, LotSpec, SpecError

GOOD = {"lot": "L17", "title": "2018 Honda Accord 2.0T", "start_price": 5000000, "duration_s": 600}

BAD_SPECS = [
    # change to the good spec                                           field named
    ({"lot": None},                                                     "lot"),
    ({"lot": ""},                                                       "lot"),
    ({"lot": "a{b}"},                                                   "lot"),
    ({"lot": "x" * 65},                                                 "lot"),
    ({"title": None},                                                   "title"),
    ({"title": "   "},                                                  "title"),
    ({"title": "t" * 201},                                              "title"),
    ({"title": 7},                                                      "title"),
    ({"currency": "yuan"},                                              "currency"),
    ({"format": "vickrey"},                                             "format"),
    ({"mode": "phone"},                                                 "mode"),
    ({"start_price": None},                                             "start_price"),
    ({"start_price": -1},                                               "start_price"),
    ({"start_price": 5000.0},                                           "start_price"),
    ({"start_price": True},                                             "start_price"),
    ({"start_price": "5000"},                                           "start_price"),
    ({"reserve": -5},                                                   "reserve"),
    ({"reserve": 1.5},                                                  "reserve"),
    ({"reserve": False},                                                "reserve"),
    ({"buy_now": 0},                                                    "buy_now"),
    ({"reserve": 9000000, "buy_now": 8000000},                          "buy_now"),
    ({"buy_now": 4000000},                                              "buy_now"),
    ({"increments": []},                                                "increments"),
    ({"increments": [[100, 10]]},                                       "increments"),
    ({"increments": [[0, 10], [0, 20]]},                                "increments"),
    ({"increments": [[0, 10], [500, 20], [400, 30]]},                   "increments"),
    ({"increments": [[0, 0]]},                                          "increments"),
    ({"increments": [[0, -10]]},                                        "increments"),
    ({"increments": [[0, 10.0]]},                                       "increments"),
    ({"increments": [[0, True]]},                                       "increments"),
    ({"increments": [[0, 10, 5]]},                                      "increments"),
    ({"increments": "0:10"},                                            "increments"),
    ({"duration_s": None},                                              "duration_s"),
    ({"duration_s": 0},                                                 "duration_s"),
    ({"duration_s": 60.0},                                              "duration_s"),
    ({"starts_at": -1},                                                 "starts_at"),
    ({"anti_snipe": {"window_s": 0, "extend_s": 60}},                   "anti_snipe.window_s"),
    ({"anti_snipe": {"window_s": 60}},                                  "anti_snipe.extend_s"),
    ({"anti_snipe": {"window_s": 60, "extend_s": 60, "max_extensions": -1}}, "anti_snipe.max_extensions"),
    ({"anti_snipe": {"window_s": 60, "extend_s": 60, "until": 3}},      "anti_snipe.until"),
    ({"anti_snipe": [60, 60]},                                          "anti_snipe"),
    ({"fair_warning_s": 0},                                             "fair_warning_s"),
    ({"auto_fair_warning_s": 30},                                       "auto_fair_warning_s"),  # timed lot
    ({"mode": "live"},                                                  "duration_s"),
    ({"mode": "live", "duration_s": None, "format": "sealed_first"},    "mode"),
    ({"mode": "live", "duration_s": None, "format": "dutch",
      "dutch": {"step": 1, "tick_s": 1, "floor": 0}},                   "mode"),
    ({"format": "dutch"},                                               "dutch"),
    ({"format": "dutch", "dutch": {"step": 0, "tick_s": 10, "floor": 0}}, "dutch.step"),
    ({"format": "dutch", "dutch": {"step": 100, "tick_s": 10}},         "dutch.floor"),
    ({"format": "dutch", "dutch": {"step": 100, "tick_s": 10, "floor": 6000000}}, "dutch.floor"),
    ({"format": "dutch", "dutch": {"step": 100, "tick_s": 10, "floor": 0}, "reserve": 10}, "reserve"),
    ({"format": "dutch", "duration_s": None, "dutch": {"step": 100, "tick_s": 10, "floor": 0}}, "duration_s"),
    ({"dutch": {"step": 100, "tick_s": 10, "floor": 0}},                "dutch"),
    ({"format": "sealed_first", "anti_snipe": {"window_s": 60, "extend_s": 60}}, "anti_snipe"),
    ({"vehicle": "a car"},                                              "vehicle"),
    ({"vehicle": {"year": float("nan")}},                               "vehicle.year"),
    ({"vehicle": {"notes": "x" * 20000}},                               "vehicle"),
    ({"vehicle": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}},          "vehicle.a.b.c.d.e.f"),
    ({"reserved": 1},                                                   "reserved"),
    ({"lot": "L\x001"},                                                 "lot"),
    ({"lot": "L 1"},                                                    "lot"),
    # the vehicle fields the catalogue reads (issue 9 item 5)
    ({"vehicle": {"year": "abc"}},                                      "vehicle.year"),
    ({"vehicle": {"year": 2020.0}},                                     "vehicle.year"),
    ({"vehicle": {"year": True}},                                       "vehicle.year"),
    ({"vehicle": {"year": 20200}},                                      "vehicle.year"),
    ({"vehicle": {"mileage_km": -1}},                                   "vehicle.mileage_km"),
    ({"vehicle": {"mileage_km": "38k"}},                                "vehicle.mileage_km"),
    ({"vehicle": {"make": 7}},                                          "vehicle.make"),
    ({"vehicle": {"make": "m" * 65}},                                   "vehicle.make"),
    ({"vehicle": {"vin": "V" * 33}},                                    "vehicle.vin"),
    ({"vehicle": {"model": ["Camry"]}},                                 "vehicle.model"),
    ({"vehicle": {"colour": "red\nblue"}},                              "vehicle.colour"),
    ({"vehicle": {"location": "l" * 129}},                              "vehicle.location"),
    ({"vehicle": {"inspection": "A"}},                                  "vehicle.inspection"),
    ({"vehicle": {"inspection": {"grade": 4}}},                         "vehicle.inspection.grade"),
    ({"vehicle": {"inspection": {"report_url": "javascript:alert(1)"}}}, "vehicle.inspection.report_url"),
    ({"vehicle": {"photos": "https://img.example/1.jpg"}},              "vehicle.photos"),
    ({"vehicle": {"photos": ["https://img.example/1.jpg", "//evil.example/x"]}}, "vehicle.photos.1"),
    ({"vehicle": {"photos": ["https://img.example/1.jpg"] * 51}},       "vehicle.photos"),
]


@pytest.mark.parametrize("change, field", BAD_SPECS, ids=[f for _, f in BAD_SPECS])
def test_bad_spec_names_the_field(change, field):
    with pytest.raises(SpecError) as err:
        LotSpec.from_dict({**GOOD, **change})
    assert err.value.field == field
    assert err.value.message


def test_spec_not_a_mapping():
    with pytest.raises(SpecError):
        LotSpec.from_dict(["lot"])


GOOD_SPECS = [
    GOOD,
    {**GOOD, "reserve": 9000000, "buy_now": 12000000, "anti_snipe": {"window_s": 120, "extend_s": 120}},
    {**GOOD, "mode": "live", "duration_s": None, "auto_fair_warning_s": 30, "fair_warning_s": 5},
    {**GOOD, "format": "sealed_second", "increments": [[0, 100], [10000, 500]], "starts_at": 1700000000000},
    {**GOOD, "format": "dutch", "dutch": {"step": 10000, "tick_s": 30, "floor": 3000000}},
    {**GOOD, "vehicle": {"vin": "LVSHCAMB1CE012345", "make": "Honda", "year": 2018,
                         "inspection": {"grade": "4.5", "report_url": "https://x/y"}, "engine_l": 2.0}},
]


@pytest.mark.parametrize("d", GOOD_SPECS)
def test_good_spec_round_trips(d):
    spec = LotSpec.from_dict(d)
    assert LotSpec.from_dict(spec.to_dict()) == spec
    # Fields added later are written only when set, so the Create entries of older logs re-encode byte for byte.
    later = {"counter_window_s", "approval_window_s"}
    assert list(spec.to_dict()) == [f for f in LotSpec.__dataclass_fields__ if f not in later or getattr(spec, f) is not None]


def test_defaults():
    spec = LotSpec.from_dict(GOOD)
    assert (spec.currency, spec.format, spec.mode, spec.increments, spec.fair_warning_s) == (
        "CNY", "english", "timed", DEFAULT_LADDER, 10
    )


def test_vehicle_is_canonical_whatever_the_key_order():
    a = LotSpec.from_dict({**GOOD, "vehicle": {"make": "BYD", "year": 2021}})
    b = LotSpec.from_dict({**GOOD, "vehicle": {"year": 2021, "make": "BYD"}})
    assert list(a.to_dict()["vehicle"]) == list(b.to_dict()["vehicle"]) == ["make", "year"]


def test_direct_construction_is_validated_too():
    with pytest.raises(SpecError) as err:
        LotSpec(lot="L1", title="t", start_price=1, duration_s=60, anti_snipe=AntiSnipe(window_s=1, extend_s=0))
    assert err.value.field == "anti_snipe.extend_s"
    with pytest.raises(SpecError):
        DutchSpec(step=1, tick_s=0, floor=0)
    assert hash(LotSpec.from_dict(GOOD_SPECS[-1]))  # hashable despite the vehicle dict


def test_a_full_vehicle_as_the_catalogue_reads_it_is_accepted():
    vehicle = {"vin": "LGXC16DG0N0123456", "make": "BYD", "model": "Qin PLUS", "year": 2022,
               "mileage_km": 38400, "colour": "white", "location": "深圳 Shenzhen",
               "inspection": {"grade": "A", "report_url": "/static/inspection.html?vin=LGXC16DG0N0123456"},
               "photos": ["https://img.example/1.jpg", "/static/p/2.jpg"], "notes": "free text stays"}
    assert LotSpec.from_dict({**GOOD, "vehicle": vehicle}).vehicle == vehicle


def test_a_lot_id_may_hold_cjk_characters():
    assert LotSpec.from_dict({**GOOD, "lot": "深圳-12"}).lot == "深圳-12"
