"""Staff mark a sold lot paid from the console (`staff_paid.py`, issue 13 item 17): who and when
are recorded, a repeat changes nothing, an unsold lot or a bad body is refused and changes nothing."""

from __future__ import annotations

import asyncio

from tests.schema_check import check_response

from .helpers import api, new_lot


async def _settlement(client, lot: str) -> dict:
    for _ in range(100):
        reply = await client.get(f"/api/settlements/{lot}")
        if reply.status_code == 200:
            return reply.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no settlement for {lot}")


async def test_the_auctioneer_marks_a_sale_paid_once_with_who_and_when(engine) -> None:
    sold = (await new_lot(engine))["lot"]
    unsold = (await new_lot(engine))["lot"]
    async with api(engine, "bidder", "payer") as client:
        assert (await client.post(f"/api/lots/{sold}/bids", json={"amount": 5000, "id": "p-1"})).json()["ok"]
    async with api(engine) as staff:
        for lot in (sold, unsold):
            assert (await staff.post(f"/api/lots/{lot}/close")).status_code == 200
        await _settlement(staff, sold)
        await _settlement(staff, unsold)
        path = f"/api/settlements/{sold}/mark_paid"
        assert (await staff.post(path, json={})).json()["error"]["field"] == "by"
        assert (await staff.post(path, json={"by": "li", "amount": 1})).json()["error"]["field"] == "amount"
        refused = await staff.post(f"/api/settlements/{unsold}/mark_paid", json={"by": "clerk Li"})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_sold"
        assert (await staff.post("/api/settlements/NOPE/mark_paid", json={"by": "clerk Li"})).status_code == 404

        first = await staff.post(path, json={"by": "clerk Li"})
        assert first.status_code == 200, first.text
        check_response(first)
        paid_at = first.json()["paid_at"]
        assert isinstance(paid_at, int)
        again = await staff.post(path, json={"by": "clerk Wang"})
        assert again.status_code == 200 and again.json()["paid_at"] == paid_at  # the first stays
        history = (await _settlement(staff, sold))["history"]
        assert [(h["by"], h["at"]) for h in history if h["kind"] == "marked_paid"] == [("clerk Li", paid_at)]
        listed = (await staff.get("/api/settlements", params={"paid": "true"})).json()["settlements"]
        assert [s["lot"] for s in listed] == [sold]
    async with api(engine, "bidder", "payer") as client:
        assert (await client.post(path, json={"by": "me"})).status_code == 403
