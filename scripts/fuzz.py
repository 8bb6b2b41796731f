"""Fuzz a live engine with mutated WebSocket frames and HTTP bodies, mixed with valid bids, then check it.

    .venv/bin/python scripts/fuzz.py [--frames N] [--quick] [--seed S] [--workers 2] [--keep]

Starts its own redis-server and `auction-engine serve` on loopback (scripts/bench.py's helpers,
rate limits and per-address caps raised), registers bidders as the auctioneer, creates clean lots
(a hidden reserve, one proxy bidder holding a hidden maximum, valid bidders at next_min) and fuzz
lots (fuzz bidders bid anything there), then runs worker processes (scripts/_fuzz_worker.py) that
send mutated frames over both subprotocols and mutated bodies (scripts/_fuzz_http.py).

Checks afterwards, each a row of the summary; any failure exits 1: the engine is alive and
/healthz answers 200; no HTTP 500; no traceback in the engine's log; no hidden value (reserve,
another bidder's maximum) in any frame or body a non-owner received; `verify` passes on every lot;
every acknowledged bid is in its lot's log at its seq, with its id.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import multiprocessing as mp
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(ROOT))

import _fuzz_worker  # noqa: E402
from bench import CHILDREN, SECRET, Engine, machine, register_bidder  # noqa: E402

from auction_engine.auth import TokenSigner  # noqa: E402
from auction_engine.redis_server import RedisServer  # noqa: E402

CLEAN_LOTS = 4
FUZZ_LOTS = 4
VALID_BIDDERS_PER_WORKER = 3
FUZZ_BIDDERS = 6
RESERVE_BASE = 987_654_321_012_300  # 15 digits: no server time or generated amount holds them
MAX_BASE = 978_654_321_098_700  # below every reserve: the reserve jump never shows a reserve


def setup(url: str) -> dict[str, Any]:
    """Lots, bidders and hidden values; the proxy owners bid once over HTTP and never connect."""
    signer = TokenSigner(SECRET)
    auctioneer = signer.issue("auctioneer")
    http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {auctioneer}"}, timeout=30)
    hidden: list[int] = []
    clean, fuzz = [f"CLEAN-{i}" for i in range(CLEAN_LOTS)], [f"FUZZ-{i}" for i in range(FUZZ_LOTS)]
    for i, lot in enumerate(clean + fuzz):
        reserve = RESERVE_BASE + 11 * i + 3
        if lot in clean:  # on fuzz lots a fuzz bidder's max of 10^15 legitimately jumps the price to it
            hidden.append(reserve)
        http.post("/api/lots", json={"lot": lot, "title": "fuzz", "currency": "EUR", "start_price": 1000,
                                     "reserve": reserve, "duration_s": 7200}).raise_for_status()
        http.post(f"/api/lots/{lot}/open").raise_for_status()
    for i, lot in enumerate(clean):
        token = register_bidder(http, f"owner-{i}", f"OWN{i}")
        top = MAX_BASE + 13 * i + 5
        hidden.append(top)
        reply = httpx.post(f"{url}/api/lots/{lot}/bids", json={"max": top, "id": "owner-max"},
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert reply.status_code == 200 and reply.json()["ok"], reply.text
    fuzzers = {f"fuzzer-{i}": register_bidder(http, f"fuzzer-{i}", f"FZ{i}") for i in range(FUZZ_BIDDERS)}
    register_bidder(http, "floor-bidder", "FB0")
    http.close()
    return {"auctioneer": auctioneer, "clean": clean, "fuzz": fuzz, "hidden": hidden, "fuzzers": fuzzers}


def plans(url: str, made: dict[str, Any], args: argparse.Namespace) -> list[_fuzz_worker.Plan]:
    """One plan per worker: its share of frames and bodies, its own valid bidders."""
    http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {made['auctioneer']}"}, timeout=30)
    out = []
    for w in range(args.workers):
        valid = {f"valid-{w}-{i}": register_bidder(http, f"valid-{w}-{i}", f"V{w}P{i}") for i in range(VALID_BIDDERS_PER_WORKER)}
        out.append(_fuzz_worker.Plan(
            url=url, clean_lots=made["clean"], fuzz_lots=made["fuzz"], auctioneer=made["auctioneer"], valid_bidders=valid,
            fuzz_bidders=made["fuzzers"], hidden=made["hidden"], frames=args.frames // args.workers,
            bodies=max(200, args.frames // 40 // args.workers), connections=args.connections, seed=args.seed, worker=w,
            deadline_s=args.deadline))
    http.close()
    return out


def merge(tallies: list[_fuzz_worker.Tally]) -> _fuzz_worker.Tally:
    total = _fuzz_worker.Tally()
    for t in tallies:
        elapsed = max(total.counts["elapsed ms"], t.counts["elapsed ms"])
        total.counts.update(t.counts)
        total.counts["elapsed ms"] = elapsed
        total.acks += t.acks
        for name in ("leaks", "server_errors", "oddities"):
            for item in getattr(t, name):
                total.note(getattr(total, name), item)
    return total


def all_lots(http: httpx.Client) -> list[str]:
    """Every lot the engine knows, fuzz-created ones included (paged by cursor)."""
    lots: list[str] = []
    cursor: str | None = None
    for _ in range(10_000):
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        body = http.get("/api/lots", params=params).raise_for_status().json()
        lots += [row["lot"] for row in body["lots"]]
        cursor = body.get("cursor")
        if not cursor or not body["lots"]:
            break
    return lots


def log_index(http: httpx.Client, lot: str) -> dict[int, dict[str, Any]]:
    """seq -> the logged command, from the full history an auditor reads."""
    out: dict[int, dict[str, Any]] = {}
    since = 0
    for _ in range(1000):
        body = http.get(f"/api/lots/{lot}/events", params={"since": since, "limit": 10000}).raise_for_status().json()
        for item in body["events"]:
            out[item["seq"]] = item.get("command") or {}
        if not body["events"] or body["next"] >= body["head"]:
            break
        since = body["next"]
    return out


def verify_lots(url: str, token: str, lots: list[str]) -> list[str]:
    """`auction-engine verify` (cli.cmd_verify) on each lot, in this process; the failures."""
    from auction_engine import cli

    failed = []
    for lot in lots:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli.cmd_verify(argparse.Namespace(lot=lot, url=url, token=token, data_dir=None))
        if code != 0:
            failed.append(f"{lot}: exit {code} {out.getvalue().strip()[:300]}")
    return failed


def missing_acks(http: httpx.Client, acks: list[tuple[str, int, str, str]]) -> list[str]:
    """Each ok ack must name a bid (or buy-now) entry at its seq with the same id."""
    by_lot: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for lot, seq, bid_id, _ in acks:
        by_lot[lot].append((seq, bid_id))
    missing = []
    for lot, items in by_lot.items():
        logged = log_index(http, lot)
        for seq, bid_id in items:
            if logged.get(seq, {}).get("id") != bid_id:
                missing.append(f"{lot} seq {seq} id {bid_id!r}: log has {logged.get(seq)}")
    return missing


UVICORN_BAD_UTF8 = "ERROR:    Invalid UTF-8 sequence received from client.\nTraceback"


def engine_log_problems(log: Path) -> tuple[list[str], int]:
    """Tracebacks in the engine's log, and apart from them how many are uvicorn's own report of a
    text frame that is not UTF-8 (it logs the exception, then closes 1007 as it should)."""
    text = log.read_text(errors="replace")
    bad_utf8 = text.count(UVICORN_BAD_UTF8)
    text = text.replace(UVICORN_BAD_UTF8, "")
    crash = r"(Traceback|Exception in ASGI|connection handler failed)[^\n]*\n(?:.*\n){0,12}"
    found = [m.group(0)[:300] for m in re.finditer(crash, text)]
    return found[:5] + ([f"... {len(found) - 5} more"] if len(found) > 5 else []), bad_utf8


def check(engine: Engine, log: Path, total: _fuzz_worker.Tally, auditor: str) -> list[tuple[str, str, bool]]:
    """The rows of the verdict: (check, figure, ok)."""
    alive = engine.proc.poll() is None
    health = httpx.get(f"{engine.url}/healthz", timeout=10).status_code if alive else 0
    http = httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {auditor}"}, timeout=60)
    lots = all_lots(http)
    failed = verify_lots(engine.url, auditor, lots)
    missing = missing_acks(http, total.acks)
    http.close()
    problems, bad_utf8 = engine_log_problems(log)
    five = sum(n for k, n in total.counts.items() if k.startswith("http 5") and k != "http 503")
    rows = [
        ("engine alive, /healthz", f"{'alive' if alive else 'DEAD'}, {health}", alive and health == 200),
        ("HTTP 500s", f"{five}", five == 0 and not total.server_errors),
        ("tracebacks in the engine log", f"{len(problems)}", not problems),
        ("uvicorn: bad UTF-8 text frames logged as ERROR + traceback (not failed)", f"{bad_utf8}", True),
        ("hidden values leaked to non-owners", f"{len(total.leaks)}", not total.leaks),
        ("verify on every lot", f"{len(lots) - len(failed)} / {len(lots)} OK", not failed),
        ("acknowledged bids in the log", f"{len(total.acks) - len(missing)} / {len(total.acks)}", not missing),
        ("valid bids unanswered, retried ids re-decided",
         f"{total.counts['valid bid unanswered']}, {total.counts['idempotency mismatch']}",
         total.counts["valid bid unanswered"] == 0 and total.counts["idempotency mismatch"] == 0),
        ("late pongs, worker task failures", f"{total.counts['ws pong late']}, {total.counts['worker task failed']}",
         total.counts["ws pong late"] == 0 and total.counts["worker task failed"] == 0),
    ]
    for label, items in (("verify", failed), ("missing ack", missing), ("engine log", problems), ("500", total.server_errors),
                         ("leak", total.leaks), ("oddity", total.oddities)):
        for item in items[:5]:
            print(f"  {label}: {item}")
    return rows


def print_summary(total: _fuzz_worker.Tally, rows: list[tuple[str, str, bool]], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    m = machine()
    seconds = total.counts["elapsed ms"] / 1000
    frames = total.counts["ws frames sent (mutated)"]
    t = Table(title=f"auction-engine fuzz: {frames:,} mutated frames in {seconds:.1f}s "
                    f"({frames / max(seconds, 1e-9):,.0f}/s), seed {args.seed}",
              caption=f"engine, redis-server and {args.workers} fuzz workers share {m['nproc']} cores "
                      f"({m['cpu']}), Python {m['python']}")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for key in sorted(total.counts):
        if key != "elapsed ms":
            t.add_row(key, f"{total.counts[key]:,}")
    t.add_section()
    for name, figure, ok in rows:
        t.add_row(f"[{'green' if ok else 'red'}]{'PASS' if ok else 'FAIL'}[/] {name}", figure)
    Console(width=140).print(t)
    print(f"summary: frames={frames} bodies={total.counts['http bodies sent (mutated)']} "
          f"http500={sum(n for k, n in total.counts.items() if k.startswith('http 5') and k != 'http 503')} "
          f"leaks={len(total.leaks)} failed_checks={sum(1 for *_, ok in rows if not ok)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=1_000_000, help="mutated WebSocket frames to send (all workers)")
    p.add_argument("--quick", action="store_true", help="20,000 frames: a smoke run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--connections", type=int, default=24, help="pipelined fuzz connections per worker")
    p.add_argument("--deadline", type=float, default=900.0, help="stop sending after this many seconds")
    p.add_argument("--keep", action="store_true", help="keep the work dir with the engine log")
    args = p.parse_args(argv)
    if args.quick:
        args.frames, args.connections = 20_000, 8
    work = Path(tempfile.mkdtemp(prefix="auction-fuzz-"))
    (work / "redis").mkdir()
    redis = RedisServer(work / "redis", fsync="everysec")
    redis.start()
    try:
        engine = Engine(redis.url, work)
        made = setup(engine.url)
        with mp.get_context("spawn").Pool(args.workers) as pool:
            total = merge(pool.map(_fuzz_worker.run, plans(engine.url, made, args)))
        auditor = TokenSigner(SECRET).issue("auditor")
        rows = check(engine, work / f"engine-{engine.port}.log", total, auditor)
        engine.stop()
    finally:
        for child in CHILDREN:
            if child.poll() is None:
                child.kill()
                child.wait()
        redis.stop()
    print_summary(total, rows, args)
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
