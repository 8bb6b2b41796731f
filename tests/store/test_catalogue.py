import random

import pytest
import sqlalchemy as sa

from auction_engine.store import BadQuery
from auction_engine.store.catalogue import NO_END, encode_cursor
from auction_engine.store.schema import lots

from .conftest import lot_state


async def ids(store, **kw):
    states, _ = await store.query_lots(**kw)
    return [s["lot"] for s in states]


@pytest.fixture
async def showroom(store):
    cars = [
        lot_state("L1", make="BYD", model="Han EV", year=2021, location="上海", colour="white", ends_at=3000, price=9_000_000),
        lot_state("L2", make="Toyota", model="Camry", year=2018, location="北京", colour="black", ends_at=1000),
        lot_state("L3", make="Volkswagen", model="Passat", year=2016, location="广州", colour="silver", ends_at=None),
        lot_state("L4", make="byd", model="Tang DM", year=2023, location="深圳", colour="blue", ends_at=2000,
                  start_price=15_000_000),
        lot_state("L5", make="Honda", model="Accord 100%_off", year=2019, location="上海", colour="red", ends_at=4000,
                  status="closed", result="sold", price=7_000_000),
        lot_state("L6", make="Tesla", model="Model 3", year=2020, vin="5YJ3E1EA7LF000316", location="杭州",
                  colour="white", status="scheduled", ends_at=None, start_price=12_000_000),
    ]
    for car in cars:
        await store.upsert_lot(car)
    return store


async def test_filters(showroom):
    s = showroom
    assert await ids(s, status="open") == ["L2", "L4", "L1", "L3"]
    assert await ids(s, status="open,scheduled") == ["L2", "L4", "L1", "L3", "L6"]
    assert await ids(s, make="BYD") == ["L4", "L1"]
    assert await ids(s, make=" byd ") == ["L4", "L1"]
    assert await ids(s, year_min=2019, year_max=2021) == ["L1", "L5", "L6"]
    assert await ids(s, price_max=7_000_000) == ["L2", "L5", "L3"]
    assert await ids(s, make="BYD", year_min=2022) == ["L4"]


@pytest.mark.parametrize(
    "q, expected",
    [
        ("han", ["L1"]),
        ("HAN ev", ["L1"]),
        ("上海", ["L1", "L5"]),
        ("white", ["L1", "L6"]),
        ("lf000316", ["L6"]),  # a VIN fragment
        ("2018 toyota", ["L2"]),  # the title
        ("100%_", ["L5"]),  # LIKE wildcards are literal
        ("%", ["L5"]),  # not "everything"
        ("_", ["L5"]),
        ("   ", ["L2", "L4", "L1", "L5", "L3", "L6"]),
    ],
)
async def test_text_search(showroom, q, expected):
    assert await ids(showroom, q=q) == expected


async def test_text_search_follows_changes(store):
    await store.upsert_lot(lot_state("L1", model="Qin PLUS", seq=1))
    assert await ids(store, q="qin plus") == ["L1"]
    await store.upsert_lot(lot_state("L1", model="Seal", title="Seal 07", seq=2))
    assert await ids(store, q="qin plus") == []
    assert await ids(store, q="seal 0") == ["L1"]
    await store.update_lots([{"lot": "L1", "seq": 3, "title": "BYD Seal 06 DM-i"}])
    assert await ids(store, q="06 dm") == ["L1"]
    assert await ids(store, q='"06') == []


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("ending", ["L2", "L4", "L1", "L5", "L3", "L6"]),  # no end last
        ("price", ["L2", "L3", "L5", "L1", "L6", "L4"]),  # price, or start price before a bid
        ("-price", ["L4", "L6", "L1", "L5", "L3", "L2"]),
        ("year", ["L3", "L2", "L5", "L6", "L1", "L4"]),
        ("-year", ["L4", "L1", "L6", "L5", "L2", "L3"]),
        ("newest", ["L6", "L5", "L4", "L3", "L2", "L1"]),
    ],
)
async def test_sorts(showroom, sort, expected):
    if sort == "newest":
        async with showroom.engine.begin() as conn:
            for i in range(1, 7):
                await conn.execute(sa.update(lots).where(lots.c.lot == f"L{i}").values(created_at=i))
    assert await ids(showroom, sort=sort) == expected


async def test_states_come_back_as_stored_without_hidden_values(store):
    state = lot_state("L1", reserve=8_000_000, reserve_met=False)
    await store.upsert_lot(state)
    (stored,), _ = await store.query_lots()
    assert "reserve" not in stored and stored["reserve_met"] is False
    assert stored == {k: v for k, v in state.items() if k != "reserve"}
    assert await store.get_lot("L1") == stored


async def test_update_lots_merges_and_never_goes_back_in_seq(store):
    await store.upsert_lot(lot_state("L1", seq=1))
    await store.upsert_lot(lot_state("L2", seq=1))
    await store.update_lots(
        [
            {"lot": "L1", "seq": 5, "price": 5_100_000, "bids": 2, "ends_at": 9_000},
            {"lot": "L1", "seq": 4, "price": 5_000_000, "bids": 1},  # older, in the same batch
            {"lot": "L2", "seq": 3, "status": "closed", "result": "unsold"},
            {"lot": "L9", "seq": 3, "price": 1},  # partial state of an unknown lot: ignored
            lot_state("L3", seq=2),  # full state of a new lot: inserted
        ]
    )
    await store.update_lots([{"lot": "L1", "seq": 3, "price": 1}])  # stale
    l1 = await store.get_lot("L1")
    assert (l1["seq"], l1["price"], l1["bids"], l1["ends_at"]) == (5, 5_100_000, 2, 9_000)
    assert l1["vehicle"]["make"] == "BYD"
    assert await ids(store, status="closed") == ["L2"]
    assert await ids(store, sort="price", price_max=5_100_000) == ["L2", "L3", "L1"]
    assert await store.get_lot("L9") is None
    assert await store.lot_ids() == ["L1", "L3"]
    assert await store.lot_ids(open_only=False) == ["L1", "L2", "L3"]

    await store.upsert_lot(lot_state("L1", seq=2, price=1))  # an older full state loses too
    assert (await store.get_lot("L1"))["price"] == 5_100_000


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(cursor="not base64 !!"), "cursor"),
        (dict(cursor="bm90IGpzb24"), "cursor"),
        (dict(cursor=encode_cursor("price", 1, "L1")), "cursor"),  # made for another sort
        (dict(cursor=encode_cursor("ending", 1, "L1")[:-3]), "cursor"),
        (dict(sort="cheapest"), "sort"),
        (dict(limit=0), "limit"),
        (dict(limit="ten"), "limit"),
        (dict(status="sold"), "status"),
        (dict(year_min="new"), "year_min"),
        (dict(price_max=1.5), "price_max"),
    ],
)
async def test_bad_queries(showroom, kw, field):
    with pytest.raises(BadQuery) as exc:
        await showroom.query_lots(**kw)
    assert exc.value.field == field
    assert isinstance(exc.value, ValueError)


async def test_limit_is_capped(store):
    await store.upsert_lots([lot_state(f"L{i:03}") for i in range(250)])
    page, cursor = await store.query_lots(limit=1000)
    assert len(page) == 200 and cursor is not None
    page, cursor = await store.query_lots(limit="60")
    assert len(page) == 60


def expected_order(rows, sort):
    key = {
        "ending": lambda r: (r["ends_at"] if r["ends_at"] is not None else NO_END, r["lot"]),
        "price": lambda r: (r["price"] if r["price"] is not None else r["start_price"], r["lot"]),
        "year": lambda r: (r["vehicle"]["year"], r["lot"]),
    }
    base = sort.lstrip("-")
    return [r["lot"] for r in sorted(rows, key=key[base], reverse=sort.startswith("-"))]


async def test_keyset_pages_visit_every_row_exactly_once(store):
    rng = random.Random(20251125)
    makes = ["BYD", "Geely", "Toyota", "Honda", "Volkswagen"]
    rows = [
        lot_state(
            f"L{i:04}",
            make=rng.choice(makes),
            year=rng.randint(2012, 2024),
            ends_at=rng.choice([None, *range(1_000, 1_020)]),  # many ties and NULLs
            price=rng.choice([None, *range(5_000_000, 5_000_050, 5)]),
            start_price=rng.choice([4_000_000, 5_000_000]),
            status=rng.choice(["open", "scheduled", "closed"]),
        )
        for i in range(400)
    ]
    await store.upsert_lots(rows)
    for sort in ["ending", "price", "-price", "year", "-year"]:
        for filters in [{}, {"status": "open"}, {"make": "byd", "year_min": 2016}]:
            wanted = [
                r
                for r in rows
                if (not filters.get("status") or r["status"] == filters["status"])
                and (not filters.get("make") or r["vehicle"]["make"].lower() == filters["make"])
                and r["vehicle"]["year"] >= filters.get("year_min", 0)
            ]
            limit = rng.randint(1, 40)
            seen, cursor = [], None
            while True:
                page, cursor = await store.query_lots(sort=sort, limit=limit, cursor=cursor, **filters)
                seen += [s["lot"] for s in page]
                if cursor is None:
                    break
            assert seen == expected_order(wanted, sort), (sort, filters, limit)


async def test_new_lots_during_paging_never_repeat_a_row(store):
    await store.upsert_lots([lot_state(f"L{i:03}", ends_at=10_000 + i) for i in range(30)])
    page, cursor = await store.query_lots(limit=10)
    seen = [s["lot"] for s in page]
    await store.upsert_lots([lot_state(f"E{i:03}", ends_at=i) for i in range(5)])  # sort before the cursor
    while cursor:
        page, cursor = await store.query_lots(limit=10, cursor=cursor)
        seen += [s["lot"] for s in page]
    assert seen == [f"L{i:03}" for i in range(30)]
