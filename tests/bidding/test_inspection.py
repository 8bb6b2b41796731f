"""The structured condition report (bidding/inspection.py, issue 13 item 13): a good one is kept
as given; each bad field is a SpecError naming it, and nothing is created."""

import pytest

from bidding.spec import LotSpec, SpecError

GOOD_REPORT = {
    "grade": "A-", "report_url": "/static/inspection.html?vin=X", "report_date": "2026-11-20", "version": 2,
    "checks": {"accident": False, "flood": False, "fire": False},
    "damage": [{"part": "front bumper", "kind": "scratch", "x": 50, "y": 4}],
    "tyres": [{"position": "FL", "tread_mm": 6}, {"position": "FR", "tread_mm": 5}],
    "obd_codes": ["P0301"], "battery_soh": 93,
}
SPEC = {"lot": "I1", "title": "Tesla Model 3 2021", "start_price": 100, "duration_s": 60}


def spec_with(**report):
    return {**SPEC, "vehicle": {"make": "Tesla", "inspection": {**GOOD_REPORT, **report}}}


def test_a_full_report_is_kept_as_given():
    assert LotSpec.from_dict(spec_with()).vehicle_dict()["inspection"] == GOOD_REPORT


BAD = [
    ({"checks": {"accident": "no"}},                      "vehicle.inspection.checks.accident"),
    ({"checks": {"smoke": False}},                        "vehicle.inspection.checks"),
    ({"damage": [{"part": "door", "kind": "dent", "x": 101, "y": 5}]}, "vehicle.inspection.damage.0.x"),
    ({"damage": [{"part": "", "kind": "dent", "x": 1, "y": 5}]},      "vehicle.inspection.damage.0.part"),
    ({"damage": "front"},                                 "vehicle.inspection.damage"),
    ({"tyres": [{"position": "FL", "tread_mm": 6.5}]},    "vehicle.inspection.tyres.0.tread_mm"),
    ({"tyres": [{"position": "FL", "tread_mm": 5}] * 7},  "vehicle.inspection.tyres"),
    ({"obd_codes": ["P03"]},                              "vehicle.inspection.obd_codes.0"),
    ({"battery_soh": 101},                                "vehicle.inspection.battery_soh"),
    ({"battery_soh": True},                               "vehicle.inspection.battery_soh"),
    ({"report_date": "20/11/2026"},                       "vehicle.inspection.report_date"),
    ({"version": 0},                                      "vehicle.inspection.version"),
]


@pytest.mark.parametrize("report, field", BAD, ids=[f for _, f in BAD])
def test_a_bad_report_field_is_named(report, field):
    with pytest.raises(SpecError) as err:
        LotSpec.from_dict(spec_with(**report))
    assert err.value.field == field and err.value.message
