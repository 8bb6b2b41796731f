"""A sample sale of used cars sold in China, and simulated bidders to bring it to life.

`run_demo` registers bidders, creates and opens the lots, then lets the bidders bid for a few
minutes with mixed strategies (steady increments, proxy maxima, last-second snipes, sealed bids,
taking a Dutch price) through `clients.client`, as real browsers would. Prices are in fen.

    python -m clients.demo --url http://127.0.0.1:8000 --token <auctioneer token>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .aftersale_demo import follow
from .client import AuctionClient, ClientError

log = logging.getLogger("auction.demo")

YUAN = 100  # fen

_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9), strict=True)), **dict(zip("JKLMN", range(1, 6), strict=True)),
               "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin(draft: str) -> str:
    """A 17-character VIN with its ISO 3779 check digit (position 9), as GB 16735 requires."""
    assert len(draft) == 17 and not set(draft) & set("IOQ"), draft
    total = sum(_VIN_VALUES[c] * w for c, w in zip(draft, _VIN_WEIGHTS, strict=True))
    check = "X" if total % 11 == 10 else str(total % 11)
    return draft[:8] + check + draft[9:]


PHOTOS = ["/static/photos/side.svg", "/static/photos/front.svg", "/static/photos/rear.svg"]
EVS = {"Tesla", "Li Auto"}  # battery state of health in their reports
_DAMAGE = [("front bumper", "scratch", 50, 4), ("left rear door", "dent", 28, 62), ("right wing", "paint", 74, 22),
           ("rear bumper", "scuff", 50, 96)]


def _report(code: str, make: str, grade: str) -> dict[str, Any]:
    """A structured condition report (bidding/inspection.py), the same for the same VIN."""
    seed = sum(ord(c) for c in code)
    damage = [{"part": p, "kind": k, "x": x, "y": y} for p, k, x, y in _DAMAGE[: seed % 3]]
    report: dict[str, Any] = {
        "grade": grade, "report_url": f"/static/inspection.html?vin={code}", "report_date": "2026-11-20", "version": 1,
        "checks": {"accident": False, "flood": False, "fire": False}, "damage": damage,
        "tyres": [{"position": pos, "tread_mm": 4 + (seed + i) % 4} for i, pos in enumerate(("FL", "FR", "RL", "RR"))],
        "obd_codes": ["P0420"] if seed % 5 == 0 else [],
    }
    if make in EVS:
        report["battery_soh"] = 88 + seed % 10
    return report


def _car(make: str, model: str, year: int, km: int, draft_vin: str, city: str, grade: str,
         **extra: Any) -> dict[str, Any]:
    code = vin(draft_vin)
    return {"make": make, "model": model, "year": year, "mileage_km": km, "vin": code,
            "location": city, "inspection": _report(code, make, grade), "photos": PHOTOS, **extra}


ANTI_SNIPE = {"window_s": 30, "extend_s": 30, "max_extensions": 6}
_TIMED = {"mode": "timed", "anti_snipe": ANTI_SNIPE}

SAMPLE_SALE: list[dict[str, Any]] = [
    {"title": "BYD Qin PLUS DM-i 2022 55km Flagship", "format": "english", **_TIMED,
     "start_price": 68_000 * YUAN, "reserve": 78_000 * YUAN, "duration_share": 0.7,
     "vehicle": _car("BYD", "Qin PLUS DM-i", 2022, 38_400, "LGXC16DG0N0123456", "深圳 Shenzhen, Guangdong",
                     "A", fuel="plug-in hybrid", color="Time Grey", transmission="E-CVT")},
    {"title": "Toyota Camry 2.0G 2019 Deluxe", "format": "english", **_TIMED,
     "start_price": 95_000 * YUAN, "duration_share": 0.8,
     "vehicle": _car("Toyota", "Camry 2.0G", 2019, 72_150, "LVGBE40K0KG012345", "广州 Guangzhou, Guangdong",
                     "B+", fuel="petrol", color="Pearl White", transmission="CVT")},
    {"title": "Volkswagen Lavida 1.5L 2020 Comfortline", "format": "english", **_TIMED,
     "start_price": 52_000 * YUAN, "buy_now": 72_000 * YUAN, "duration_share": 0.9,
     "vehicle": _car("Volkswagen", "Lavida 1.5L", 2020, 55_300, "LSVAX60E0L2034567", "成都 Chengdu, Sichuan",
                     "B", fuel="petrol", color="Silver", transmission="6AT")},
    {"title": "Honda CR-V 240TURBO 2021 4WD", "format": "english", **_TIMED,
     "start_price": 135_000 * YUAN, "reserve": 150_000 * YUAN, "duration_share": 1.0,
     "vehicle": _car("Honda", "CR-V 240TURBO", 2021, 41_020, "LVHRW5850M6045678", "杭州 Hangzhou, Zhejiang",
                     "A-", fuel="petrol", color="Crystal Black", transmission="CVT")},
    {"title": "Tesla Model 3 RWD 2021 (Shanghai-built)", "format": "english", **_TIMED,
     "start_price": 160_000 * YUAN, "reserve": 175_000 * YUAN, "duration_share": 1.0,
     "vehicle": _car("Tesla", "Model 3 RWD", 2021, 46_800, "LRW3E7EA0MC056789", "上海 Shanghai",
                     "4.5", fuel="electric", color="Midnight Silver", battery_soh_pct=93)},
    {"title": "Geely Xingyue L 2.0TD 2022 (sealed bids)", "format": "sealed_second", "mode": "timed",
     "start_price": 118_000 * YUAN, "duration_share": 0.85,
     "vehicle": _car("Geely", "Xingyue L 2.0TD", 2022, 28_300, "L6T7944Z0NN067890", "宁波 Ningbo, Zhejiang",
                     "A", fuel="petrol", color="Blue", transmission="8AT")},
    {"title": "Haval H6 1.5T 2020 (Dutch, falling price)", "format": "dutch", "mode": "timed",
     "start_price": 85_000 * YUAN, "duration_share": 1.0,
     "dutch": {"step": 1_000 * YUAN, "tick_s": 10, "floor": 60_000 * YUAN},
     "vehicle": _car("Haval", "H6 1.5T", 2020, 68_900, "LGWEF6A50LH078901", "保定 Baoding, Hebei",
                     "B", fuel="petrol", color="Red", transmission="7DCT")},
    {"title": "Nissan Sylphy 1.6 XL 2019", "format": "english", **_TIMED,
     "start_price": 45_000 * YUAN, "duration_share": 0.6,
     "vehicle": _car("Nissan", "Sylphy 1.6 XL", 2019, 83_600, "LGBH52E00KY089012", "武汉 Wuhan, Hubei",
                     "B-", fuel="petrol", color="White", transmission="CVT")},
    {"title": "BMW 3 Series 325Li M Sport 2020 (live lane)", "format": "english", "mode": "live",
     "start_price": 210_000 * YUAN, "reserve": 235_000 * YUAN, "fair_warning_s": 10,
     "auto_fair_warning_s": 20,
     "vehicle": _car("BMW", "325Li M Sport", 2020, 52_700, "LBV5S3102LS090123", "北京 Beijing",
                     "4", fuel="petrol", color="Mineral White", transmission="8AT")},
    {"title": "Mercedes-Benz C260L 2021 Sport", "format": "english", **_TIMED,
     "start_price": 225_000 * YUAN, "reserve": 248_000 * YUAN, "duration_share": 0.95,
     "vehicle": _car("Mercedes-Benz", "C260L Sport", 2021, 39_100, "LE4ZG8DB0ML101234", "南京 Nanjing, Jiangsu",
                     "A", fuel="petrol mild hybrid", color="Obsidian Black", transmission="9AT")},
    {"title": "Changan CS75 PLUS 2.0T 2022", "format": "english", **_TIMED,
     "start_price": 92_000 * YUAN, "duration_share": 0.75,
     "vehicle": _car("Changan", "CS75 PLUS 2.0T", 2022, 25_400, "LS5A3DKR0NA112345", "重庆 Chongqing",
                     "A-", fuel="petrol", color="Grey", transmission="8AT")},
    {"title": "Li Auto ONE 2020 extended-range 6-seat", "format": "english", **_TIMED,
     "start_price": 150_000 * YUAN, "reserve": 165_000 * YUAN, "buy_now": 198_000 * YUAN,
     "duration_share": 0.9,
     "vehicle": _car("Li Auto", "ONE", 2020, 61_200, "LW433B120L1123456", "常州 Changzhou, Jiangsu",
                     "B+", fuel="extended-range electric", color="Lime", battery_soh_pct=90)},
]


def lot_specs(run: str, minutes: float) -> list[dict[str, Any]]:
    """SAMPLE_SALE as lot specs for one run: unique lot ids, durations scaled to `minutes`."""
    specs = []
    for i, item in enumerate(SAMPLE_SALE, 1):
        spec = {k: v for k, v in item.items() if k != "duration_share"}
        spec["lot"] = f"D{run}-{i:02d}"
        spec["currency"] = "CNY"
        if spec.get("mode", "timed") == "timed":
            spec["duration_s"] = max(30, int(minutes * 60 * item.get("duration_share", 1.0)))
        specs.append(spec)
    return specs


# -- simulated bidders --------------------------------------------------------------------------

STRATEGIES = ("increment", "proxy", "sniper")


@dataclass
class Bidder:
    name: str
    paddle: str
    token: str
    strategy: str
    rng: random.Random
    valuations: dict[str, int] = field(default_factory=dict)
    placed: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)

    def value(self, lot: str, state: Mapping[str, Any]) -> int:
        """What this bidder would pay: 95%–135% of the start price, or 70%–98% of a Dutch
        lot's (which starts high and falls)."""
        if lot not in self.valuations:
            low, high = (70, 98) if state["format"] == "dutch" else (95, 135)
            percent = self.rng.randint(low, high)
            self.valuations[lot] = state["start_price"] * percent // 100 // YUAN * YUAN
        return self.valuations[lot]


def _dutch_price(state: Mapping[str, Any], now: int) -> int | None:
    dutch, opened = state.get("dutch"), state.get("opened_at")
    if not dutch or not opened:
        return state.get("price")
    ticks = max(0, (now - opened) // (dutch["tick_s"] * 1000))
    return max(dutch["floor"], state["start_price"] - dutch["step"] * ticks)


async def _act(client: AuctionClient, bidder: Bidder, lot: str, state: Mapping[str, Any]) -> None:
    """One decision on one open lot."""
    now = client.server_now()
    value = bidder.value(lot, state)
    fmt = state["format"]
    if fmt == "dutch":
        price = _dutch_price(state, now)
        if price is not None and price <= value:
            await _place(client, bidder, lot, amount=price)
        return
    if fmt.startswith("sealed"):
        await _place(client, bidder, lot, amount=value)
        bidder.done.add(lot)
        return
    if state.get("leader") == bidder.paddle:
        return
    next_min = state.get("next_min")
    if next_min is None or next_min > value:
        return
    if state.get("buy_now") and state["buy_now"] <= value and bidder.rng.random() < 0.15:
        ack = await client.buy_now(lot)
        bidder.placed += ack.ok
        return
    ends_at = state.get("ends_at")
    left = ends_at - now if ends_at else None
    if bidder.strategy == "proxy":
        await _place(client, bidder, lot, max=value)
        bidder.done.add(lot)
    elif bidder.strategy == "sniper":
        if left is not None and left < 8_000:
            await _place(client, bidder, lot, amount=next_min)
    elif bidder.rng.random() < 0.5:
        await _place(client, bidder, lot, amount=next_min)


async def _place(client: AuctionClient, bidder: Bidder, lot: str, **amount: int) -> None:
    try:
        ack = await client.bid(lot, **amount)
    except ClientError as exc:
        bidder.refused[exc.code] = bidder.refused.get(exc.code, 0) + 1
        return
    if ack.ok:
        bidder.placed += 1
        return
    bidder.refused[ack.reason or "?"] = bidder.refused.get(ack.reason or "?", 0) + 1
    if ack.reason in ("credit_limit", "not_allowed", "unknown_lot"):
        bidder.done.add(lot)
    elif ack.reason == "rate_limited":
        await asyncio.sleep(1.0)


async def _run_bidder(base_url: str, bidder: Bidder, lots: list[str], stop: asyncio.Event) -> None:
    async with AuctionClient(base_url, bidder.token) as client:
        for lot in lots:
            await client.subscribe(lot, keep_frames=False)
        while not stop.is_set():
            open_lots = [lot for lot in lots if lot not in bidder.done
                         and (client.state(lot) or {}).get("status") == "open"]
            snipe_soon = [lot for lot in open_lots if _ending_within(client, lot, 10_000)]
            pick = snipe_soon if bidder.strategy == "sniper" and snipe_soon else open_lots
            if pick:
                lot = bidder.rng.choice(pick)
                await _act(client, bidder, lot, client.state(lot))
            pause = 0.3 if bidder.strategy == "sniper" and snipe_soon else bidder.rng.uniform(1, 4)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)


def _ending_within(client: AuctionClient, lot: str, ms: int) -> bool:
    ends_at = (client.state(lot) or {}).get("ends_at")
    return ends_at is not None and 0 < ends_at - client.server_now() < ms


async def _register(admin: AuctionClient, run: str, count: int, rng: random.Random) -> list[Bidder]:
    bidders = []
    for i in range(count):
        name = f"demo-{run}-{i + 1:02d}"
        credit = rng.choice([None, 400_000 * YUAN, 800_000 * YUAN])
        for _ in range(20):
            paddle = str(rng.randint(100, 999))
            try:
                answer = await admin.register_bidder(name, paddle, credit)
                break
            except ClientError as exc:
                if exc.status != 409:  # bidder names are unique per run: a clash is the paddle
                    raise
        else:
            raise ClientError("conflict", "no free paddle found")
        bidders.append(Bidder(name, answer["paddle"], answer["token"], STRATEGIES[i % 3],
                              random.Random(rng.random())))
    return bidders


async def _decide(admin: AuctionClient, state: Mapping[str, Any],
                  report: Callable[[str], None]) -> None:
    """The seller's call on a lot that closed under its reserve: accept within 5% of it."""
    reserve = (await admin.lot(state["lot"])).get("reserve") or 0
    action = "approve" if state["price"] * 100 >= reserve * 95 else "reject"
    with contextlib.suppress(ClientError):
        await admin.action(state["lot"], action)
        report(f"demo: {state['lot']} under reserve at ¥{state['price'] // YUAN:,}: {action}")


async def run_demo(base_url: str, auctioneer_token: str, bidders: int = 8, minutes: float = 5,
                   stop_event: asyncio.Event | None = None, seed: int | None = None,
                   report: Callable[[str], None] = print) -> dict[str, Any]:
    """Run a sample sale to its end (or `stop_event`); returns `{lot: final public state}`.
    Also registers one bidder for a human and reports the room link that signs them in."""
    rng = random.Random(seed)
    run = time.strftime("%H%M%S")
    stop = stop_event or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        admin = AuctionClient(base_url, auctioneer_token)
        stack.push_async_callback(admin.close)
        people = await _register(admin, run, bidders + 1, rng)
        you = people.pop()
        report(f"your bidder room (paddle {you.paddle}): {base_url}/?token={you.token}")
        lots = []
        for spec in lot_specs(run, minutes):
            state = await admin.create_lot(spec)
            if state["status"] == "scheduled":
                await admin.action(state["lot"], "open")
            lots.append(state["lot"])
        report(f"demo: {len(lots)} lots open, {len(people)} bidders "
               f"({', '.join(f'{b.paddle}:{b.strategy}' for b in people)})")
        await admin.connect()
        for lot in lots:
            await admin.subscribe(lot, keep_frames=False)
        tasks = [asyncio.create_task(_run_bidder(base_url, b, lots, stop)) for b in people]
        longest = minutes * 60 + ANTI_SNIPE["max_extensions"] * ANTI_SNIPE["extend_s"]
        deadline = time.monotonic() + longest + 60
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                states = [admin.state(lot) or {} for lot in lots]
                for state in states:
                    if state.get("result") == "pending_approval":
                        await _decide(admin, state, report)
                if all(s.get("status") == "closed" and s.get("result") != "pending_approval"
                       for s in states):
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for b, outcome in zip(people, results, strict=True):
            if isinstance(outcome, Exception):
                log.warning("bidder %s ended with %r", b.name, outcome)
        # The auctioneer's live view, not HTTP: after Ctrl-C the engine may already be gone.
        final = {lot: dict(admin.state(lot) or {"lot": lot, "title": "?", "status": "?"})
                 for lot in lots}
    for lot, state in final.items():
        price = state.get("price")
        report(f"  {lot}  {state['title'][:40]:40}  {state['status']:8} {state.get('result') or '':16} "
               f"{'' if price is None else f'¥{price // YUAN:,}'}  paddle {state.get('leader') or '-'}")
    return final


async def main_demo(base_url: str, auctioneer_token: str, *, bidders: int = 8, minutes: float = 5,
                    stop_event: asyncio.Event | None = None,
                    stop_when: asyncio.Future | None = None, seed: int | None = None,
                    data_dir: Path | None = None) -> int:
    """The `auction-engine demo` entry point once the engine serves at `base_url`: prints where
    to look, runs the sale, prints the results. The sale stops early on `stop_event` or when
    `stop_when` (say, the server's task) is done. With the engine's `data_dir` (and no webhook
    URLs), simulated escrow, carrier and buyers then take each sold car to delivered and paid out
    (`clients/aftersale_demo.py`). Returns a process exit code."""
    stop_event = stop_event or asyncio.Event()
    if stop_when is not None:
        stop_when.add_done_callback(lambda _: stop_event.set())
    print(f"bidder room:        {base_url}/")
    print(f"auctioneer console: {base_url}/console?token={auctioneer_token}")
    try:
        final = await run_demo(base_url, auctioneer_token, bidders=bidders, minutes=minutes,
                               stop_event=stop_event, seed=seed)
    except ClientError as exc:
        print(f"demo failed: {exc}")
        return 1
    sold = [lot for lot, state in final.items() if state.get("result") == "sold"]
    server_up = stop_when is None or not stop_when.done()
    if data_dir is not None and sold and server_up and not (
            os.environ.get("ESCROW_URL") or os.environ.get("LOGISTICS_URL")):
        print("after the hammer: escrow, carrier and buyers (simulated)")
        try:
            await follow(base_url, auctioneer_token, data_dir, sold)
        except (httpx.HTTPError, TimeoutError) as exc:
            print(f"after-sale demo stopped: {exc!r}")
            return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default=os.environ.get("AUCTIONEER_TOKEN"),
                        help="auctioneer token (or AUCTIONEER_TOKEN)")
    parser.add_argument("--bidders", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    if not args.token:
        parser.error("--token is required (auction-engine token --role auctioneer)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    raise SystemExit(asyncio.run(main_demo(args.url, args.token, bidders=args.bidders,
                                           minutes=args.minutes, seed=args.seed)))


if __name__ == "__main__":
    main()
