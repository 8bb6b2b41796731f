"""One make, one filter entry (issue 13 item 14): Toyota, TOYOTA and 丰田 list as one make with its
English and Chinese names, and filtering by any spelling finds all three."""

from __future__ import annotations

import asyncio

from bidding.makes import canonical_make, make_names, spellings
from tests.schema_check import check_response

from .helpers import api, new_lot


def test_spellings_of_a_make_share_one_key() -> None:
    assert {canonical_make(m) for m in ("Toyota", "TOYOTA", " toyota ", "丰田", "豐田")} == {"toyota"}
    assert canonical_make("Mercedes  Benz") == "mercedes benz"  # not in the table: kept, folded
    assert canonical_make("Benz") == canonical_make("奔驰") == "mercedes-benz"
    assert canonical_make(None) == canonical_make("") == ""
    assert make_names("toyota") == ("Toyota", "丰田") and make_names("foo motors", "Foo Motors") == ("Foo Motors", "Foo Motors")
    assert {"li auto", "理想", "li-auto"} <= spellings("Li Auto")  # rows keyed "li auto" before the table still match


async def test_the_catalogue_lists_each_make_once_and_filters_by_any_spelling(engine) -> None:
    made = {}
    for make in ("Toyota", "TOYOTA", "丰田", "Honda", "Foo Motors"):
        made[make] = (await new_lot(engine, vehicle={"make": make, "year": 2020}))["lot"]
    toyotas = {made["Toyota"], made["TOYOTA"], made["丰田"]}
    async with api(engine, "watcher") as client:
        for _ in range(100):  # the catalogue is written just after each lot changes
            reply = await client.get("/api/makes")
            if sum(m["lots"] for m in reply.json()["makes"]) == 5:
                break
            await asyncio.sleep(0.05)
        check_response(reply)
        assert reply.json()["makes"] == [
            {"make": "foo motors", "en": "Foo Motors", "zh": "Foo Motors", "lots": 1},
            {"make": "honda", "en": "Honda", "zh": "本田", "lots": 1},
            {"make": "toyota", "en": "Toyota", "zh": "丰田", "lots": 3},
        ]
        for spelling in ("toyota", "TOYOTA", "丰田"):
            listed = (await client.get("/api/lots", params={"make": spelling})).json()["lots"]
            assert {s["lot"] for s in listed} == toyotas, spelling
        foo = (await client.get("/api/lots", params={"make": "Foo  motors"})).json()["lots"]
        assert [s["lot"] for s in foo] == [made["Foo Motors"]]
