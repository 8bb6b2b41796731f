"""Throughput of the bidding rules on one core: a hot timed English lot with proxy bids.

    python scripts/bench_rules.py [--bids 200000] [--bidders 50] [--repeat 5]

Prints the best of --repeat runs for each stage, so the table compares like with like:
decide alone, apply alone (events only), decide+apply (what the lot actor does per bid),
decide+apply+log entry (msgpack encoding + sha256 chain, what the actor appends), and reading
the log back: replay (recovery) and verify (the auditor's re-decision of every entry).
Stdlib timing only (time.perf_counter_ns).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bidding import Accepted, AntiSnipe, Bid, Event, LotSpec, LotState, Open, apply, decide, next_min  # noqa: E402
from bidding.log import apply_entry, create_lot, make_entry, replay, verify  # noqa: E402

TARGET = 100_000


def make_spec() -> LotSpec:
    return LotSpec(
        lot="BENCH-1",
        title="2019 Toyota Camry 2.5G",
        start_price=5_000_000,
        reserve=9_000_000,
        duration_s=60,  # every bid lands in the anti-sniping window and moves ends_at
        anti_snipe=AntiSnipe(window_s=120, extend_s=120),
        vehicle={"make": "Toyota", "model": "Camry", "year": 2019},
    )


def make_commands(spec: LotSpec, n: int, bidders: int, seed: int = 7) -> list[Bid]:
    """A plausible hot lot: mostly proxies a few steps over next_min, some straight bids, about
    one in six too low (a bidder acting on a stale price)."""
    rng = random.Random(seed)
    state = fresh(spec)
    commands = []
    for i in range(n):
        at = 2_000 + i * 3
        nm = next_min(spec, state)
        assert nm is not None  # the lot stays open
        who = f"b{rng.randrange(bidders)}"
        roll = rng.random()
        if roll < 0.15:
            cmd = Bid(at=at, bidder=who, paddle=who.upper(), id=str(i), amount=max(1, nm - 10_000))
        elif roll < 0.35:
            cmd = Bid(at=at, bidder=who, paddle=who.upper(), id=str(i), amount=nm + 10_000 * rng.randrange(3))
        else:
            cmd = Bid(at=at, bidder=who, paddle=who.upper(), id=str(i), max=nm + 10_000 * rng.randrange(1, 8))
        decision = decide(spec, state, cmd)
        if type(decision) is Accepted:
            for event in decision.events:
                apply(spec, state, event)
        commands.append(cmd)
    return commands


def fresh(spec: LotSpec) -> LotState:
    _, state, _, _ = create_lot(spec, 0)
    opened = decide(spec, state, Open(at=1_000))
    assert isinstance(opened, Accepted), opened
    for event in opened.events:
        apply(spec, state, event)
    return state


def run_decide_apply(spec, commands):
    state = fresh(spec)
    t0 = time.perf_counter_ns()
    for cmd in commands:
        d = decide(spec, state, cmd)
        if type(d) is Accepted:
            for event in d.events:
                apply(spec, state, event)
    return time.perf_counter_ns() - t0, state


def run_decide_only(spec, commands):
    """Each command decided against the state it met in the live run, without the fold timed."""
    state = fresh(spec)
    total = 0
    for cmd in commands:
        t0 = time.perf_counter_ns()
        d = decide(spec, state, cmd)
        total += time.perf_counter_ns() - t0
        if type(d) is Accepted:
            for event in d.events:
                apply(spec, state, event)
    return total, state


def run_apply_only(spec, events):
    state = fresh(spec)
    t0 = time.perf_counter_ns()
    for event in events:
        apply(spec, state, event)
    return time.perf_counter_ns() - t0, state


def run_with_log(spec, commands):
    state = fresh(spec)
    t0 = time.perf_counter_ns()
    for cmd in commands:
        d = decide(spec, state, cmd)
        if type(d) is Accepted:
            entry, _raw = make_entry(state, cmd, d.events)
            apply_entry(spec, state, entry)
    return time.perf_counter_ns() - t0, state


def build_log(spec, commands):
    _, state, entry, raw = create_lot(spec, 0)
    log = [(raw, entry.hash)]
    for cmd in [Open(at=1_000), *commands]:
        d = decide(spec, state, cmd)
        if type(d) is Accepted:
            entry, raw = make_entry(state, cmd, d.events)
            apply_entry(spec, state, entry)
            log.append((raw, entry.hash))
    return log


def run_replay(spec, log):
    t0 = time.perf_counter_ns()
    replay(log)
    return time.perf_counter_ns() - t0, None


def run_verify(spec, log):
    t0 = time.perf_counter_ns()
    report = verify(log)
    assert report.ok, report
    return time.perf_counter_ns() - t0, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bids", type=int, default=200_000)
    ap.add_argument("--bidders", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    spec = make_spec()
    commands = make_commands(spec, args.bids, args.bidders)
    _, final = run_decide_apply(spec, commands)
    events: list[Event] = []
    state = fresh(spec)
    for cmd in commands:
        d = decide(spec, state, cmd)
        if type(d) is Accepted:
            events.extend(d.events)
            for event in d.events:
                apply(spec, state, event)
    accepted = final.bids
    n = len(commands)

    def best(fn, arg):
        return min(fn(spec, arg)[0] for _ in range(args.repeat))

    rows = [
        ("decide only (per-call timed)", best(run_decide_only, commands), n),
        ("apply only (replay of events)", best(run_apply_only, events), len(events)),
        ("decide + apply", best(run_decide_apply, commands), n),
        ("decide + apply + log entry", best(run_with_log, commands), n),
    ]
    log = build_log(spec, commands)
    rows += [
        ("replay log (decode + chain + apply)", best(run_replay, log), len(log)),
        ("verify log (+ re-decide, re-encode)", best(run_verify, log), len(log)),
    ]
    print(f"hot timed english lot, proxy bids: {n} commands, {accepted} accepted "
          f"({100 * accepted / n:.0f}%), {args.bidders} bidders, final price {final.price}, "
          f"extensions {final.extensions}; best of {args.repeat}; Python {sys.version.split()[0]}")
    print(f"{'stage':<38}{'ops':>10}{'ops/s':>14}{'us/op':>9}")
    for name, ns, ops in rows:
        print(f"{name:<38}{ops:>10}{ops / (ns / 1e9):>14,.0f}{ns / ops / 1000:>9.2f}")
    rate = n / (rows[2][1] / 1e9)
    verdict = "meets" if rate >= TARGET else "MISSES"
    print(f"decide + apply: {rate:,.0f}/s {verdict} the {TARGET:,}/s target")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
