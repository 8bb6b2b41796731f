"""Catalogue benchmark: 100,000 used-car lots, then the catalogue's filtered, sorted, paged
queries, timed through `Store.query_lots` (SQL, row decoding and JSON state included).

    python scripts/bench_catalogue.py                       # SQLite (a temporary data dir)
    python scripts/bench_catalogue.py --pg postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    TEST_DATABASE_URL=... python scripts/bench_catalogue.py # SQLite, then PostgreSQL

For PostgreSQL it creates a scratch database next to the one in the URL and drops it afterwards.
"""

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from auction_engine.store import Store

CARS = {
    "BYD": ["Han EV", "Tang DM-i", "Song PLUS", "Qin PLUS", "Seal", "Dolphin", "Yuan PLUS"],
    "Geely": ["Boyue L", "Xingyue L", "Emgrand", "Coolray", "Monjaro"],
    "Changan": ["CS75 PLUS", "UNI-K", "Eado", "CS55 PLUS"],
    "Haval": ["H6", "Jolion", "H9"],
    "Chery": ["Tiggo 8", "Tiggo 7", "Arrizo 5"],
    "Toyota": ["Camry", "Corolla", "RAV4", "Highlander", "Levin"],
    "Honda": ["Accord", "Civic", "CR-V", "Odyssey"],
    "Volkswagen": ["Passat", "Lavida", "Sagitar", "Magotan", "Tiguan L", "Bora"],
    "Nissan": ["Sylphy", "X-Trail", "Teana"],
    "Buick": ["GL8", "LaCrosse", "Excelle GT", "Envision"],
    "Tesla": ["Model 3", "Model Y"],
    "NIO": ["ES6", "ET5", "ES8"],
    "Li Auto": ["L7", "L8", "L9", "ONE"],
    "XPeng": ["P7", "G6", "G9"],
    "BMW": ["3 Series", "5 Series", "X3", "X5"],
    "Mercedes-Benz": ["C-Class", "E-Class", "GLC"],
    "Audi": ["A4L", "A6L", "Q5L", "Q3"],
}
CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "重庆", "武汉", "南京", "苏州", "西安", "天津", "长沙", "郑州"]
COLOURS = ["白色", "黑色", "银色", "灰色", "蓝色", "红色", "棕色"]
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
NOW = 1_764_000_000_000
DAY = 86_400_000


def make_lots(n: int, rng: random.Random) -> list[dict]:
    lots = []
    for i in range(n):
        make = rng.choice(list(CARS))
        model = rng.choice(CARS[make])
        year = rng.choices(range(2010, 2025), weights=range(1, 16))[0]
        base = rng.randint(30_000, 450_000) * 100 * (year - 2005) // 15
        status = rng.choices(["open", "scheduled", "closed"], weights=[60, 15, 25])[0]
        price = None if status == "scheduled" or rng.random() < 0.3 else base + rng.randint(0, 40) * 100_000
        ends_at = None if status == "scheduled" and rng.random() < 0.5 else NOW + rng.randint(-3 * DAY, 7 * DAY)
        lots.append(
            {
                "lot": f"L{i:06d}",
                "title": f"{year} {make} {model}",
                "format": rng.choices(["english", "sealed_second", "dutch"], weights=[90, 7, 3])[0],
                "mode": rng.choice(["timed", "live"]),
                "status": status,
                "result": rng.choice(["sold", "unsold"]) if status == "closed" else None,
                "currency": "CNY",
                "start_price": base,
                "price": price,
                "next_min": (price or base) + 100_000,
                "leader": None,
                "bids": rng.randint(1, 60) if price else 0,
                "buy_now": None,
                "starts_at": NOW - rng.randint(0, 5) * DAY,
                "ends_at": ends_at,
                "extensions": 0,
                "seq": rng.randint(1, 200),
                "vehicle": {
                    "vin": "".join(rng.choice(VIN_CHARS) for _ in range(17)),
                    "make": make,
                    "model": model,
                    "year": year,
                    "mileage_km": rng.randint(3_000, 250_000),
                    "colour": rng.choice(COLOURS),
                    "location": rng.choice(CITIES),
                    "inspection": {"grade": rng.choice("ABCD"), "report_url": f"https://inspect.example/{i}"},
                    "photos": [f"https://img.example/{i}/{k}.jpg" for k in range(3)],
                },
            }
        )
    return lots


def query_kinds(rare_vin: str) -> list[tuple[str, dict, int]]:
    """(name, filters, pages deep): a deep page is fetched through the cursors before it."""
    return [
        ("open, ending soonest", {"status": "open", "sort": "ending"}, 0),
        ("open, ending, page 20", {"status": "open", "sort": "ending"}, 20),
        ("all, newest", {"sort": "newest"}, 0),
        ("make BYD, price asc", {"make": "BYD", "sort": "price"}, 0),
        ("make BYD, price asc, page 10", {"make": "BYD", "sort": "price"}, 10),
        ("open, price <= 100k yuan, -price", {"status": "open", "price_max": 10_000_000, "sort": "-price"}, 0),
        ("year 2018-2021, -year", {"year_min": 2018, "year_max": 2021, "sort": "-year"}, 0),
        ("open, Toyota, 2016+, ending", {"status": "open", "make": "toyota", "year_min": 2016}, 0),
        ("q 'camry' (common), ending", {"q": "camry"}, 0),
        ("q '上海' + open, price", {"q": "上海", "status": "open", "sort": "price"}, 0),
        ("q VIN fragment (rare)", {"q": rare_vin}, 0),
        ("q no match", {"q": "zzzzqq"}, 0),
    ]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def bench(label: str, database_url: str | None, lots: list[dict], runs: int) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(database_url, Path(tmp))
        try:
            t0 = time.perf_counter()
            for i in range(0, len(lots), 5_000):
                await store.upsert_lots(lots[i : i + 5_000])
            load_s = time.perf_counter() - t0
            if store.engine.dialect.name == "postgresql":
                async with store.engine.connect() as conn:
                    await conn.exec_driver_sql("ANALYZE lots")
            print(f"{label}: inserted {len(lots):,} lots in {load_s:.1f}s")
            rare = lots[len(lots) // 3]["vehicle"]["vin"][5:12].lower()
            rows = []
            for name, filters, depth in query_kinds(rare):
                cursor = None
                for _ in range(depth):
                    _, cursor = await store.query_lots(**filters, limit=50, cursor=cursor)
                for _ in range(3):
                    await store.query_lots(**filters, limit=50, cursor=cursor)
                times = []
                for _ in range(runs):
                    t = time.perf_counter()
                    page, _ = await store.query_lots(**filters, limit=50, cursor=cursor)
                    times.append((time.perf_counter() - t) * 1000)
                rows.append((label, name, len(page), statistics.median(times), pct(times, 99)))
            return rows
        finally:
            await store.close()


async def scratch_pg(url: str) -> tuple[str, str, str]:
    base = make_url(url)
    name = f"bench_catalogue_{uuid.uuid4().hex[:8]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return base.set(database=name).render_as_string(hide_password=False), admin, name


async def drop_pg(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lots", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200, help="timed runs per query kind")
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL"), help="a postgresql+asyncpg:// URL")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()

    lots = make_lots(args.lots, random.Random(7))
    rows = []
    if not args.no_sqlite:
        rows += await bench("sqlite", None, lots, args.runs)
    if args.pg:
        url, admin, name = await scratch_pg(args.pg)
        try:
            rows += await bench("postgresql", url, lots, args.runs)
        finally:
            await drop_pg(admin, name)

    print(f"\n{args.lots:,} lots, limit 50, {args.runs} timed runs per query (after 3 warm-up runs)")
    print(f"{'database':<11} {'query':<36} {'rows':>4} {'p50 ms':>8} {'p99 ms':>8}")
    for label, name, n, p50, p99 in rows:
        flag = "" if p99 < 20 else "  > 20 ms"
        print(f"{label:<11} {name:<36} {n:>4} {p50:>8.2f} {p99:>8.2f}{flag}")


if __name__ == "__main__":
    asyncio.run(main())
