"""common.js in chromium, without the engine: money formatting and parsing with no float
arithmetic, quick-bid steps, countdown text, clock offset. The files are served as the engine
serves them, under /static/."""

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .support import ROOT, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]
require_chromium()

WEB = ROOT / "clients" / "web"


class _Static(SimpleHTTPRequestHandler):
    def translate_path(self, path):
        return super().translate_path(path.removeprefix("/static"))

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def static_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Static, directory=str(WEB)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
async def common(new_page, static_url):
    page = await new_page(f"{static_url}/static/inspection.html")

    async def call(expression: str):
        return await page.evaluate(f"import('/static/common.js').then((m) => {expression})")

    return call


FORMAT = [
    (1234500, "¥12,345"), (1234550, "¥12,345.50"), (1234501, "¥12,345.01"), (0, "¥0"),
    (99, "¥0.99"), (100, "¥1"), (-150, "-¥1.50"), (123456789012345, "¥1,234,567,890,123.45"),
    (None, "—"),
]


async def test_format_money(common):
    args = ", ".join("null" if minor is None else str(minor) for minor, _ in FORMAT)
    assert await common(f"[{args}].map((v) => m.formatMoney(v))") == [text for _, text in FORMAT]


async def test_format_money_takes_bigint_beyond_2_53(common):
    assert await common("m.formatMoney(9007199254740993n)") == "¥90,071,992,547,409.93"


PARSE = [
    ("12345", 1234500), ("12,345.5", 1234550), ("¥12,345.50", 1234550), ("￥ 1 000", 100000),
    ("0.01", 1), ("0.1", 10), ("12345.", 1234500), ("  88  ", 8800),
    ("0", None), ("", None), ("-5", None), ("1.234", None), ("1e5", None), ("abc", None),
    ("12.3.4", None), ("99999999999999999", None),
]


async def test_parse_yuan(common):
    texts = json.dumps([text for text, _ in PARSE], ensure_ascii=False)
    got = await common(f"{texts}.map((t) => m.parseYuan(t))")
    assert dict(zip([t for t, _ in PARSE], got, strict=False)) == dict(PARSE)


async def test_parse_then_format_is_exact_where_floats_are_not(common):
    # 0.29 * 100 is 28.999999999999996 in floating point; strings make it 29.
    assert await common("m.parseYuan('1000.29')") == 100029
    assert await common("m.yuanInput(m.parseYuan('1000.29'))") == "1000.29"


STEPS = [
    ({"price": None, "next_min": 4_500_000}, [4_500_000, 4_520_000, 4_600_000]),
    # no ladder published: the first step is the last delta, the rest the RULES.md default ladder
    ({"price": 4_980_000, "next_min": 5_000_000}, [5_000_000, 5_020_000, 5_220_000]),
    ({"price": 100, "next_min": 200, "increments": [[0, 100], [10000, 500]]}, [200, 300, 700]),
    ({"price": 9_900, "next_min": 10_000, "increments": [[0, 100], [10000, 500]]}, [10_000, 10_500, 12_500]),
]


async def test_quick_bid_steps(common):
    for state, amounts in STEPS:
        got = await common(f"[0, 1, 5].map((n) => m.stepsAbove({json.dumps(state)}, n))")
        assert got == amounts, state


async def test_format_remaining(common):
    cases = {125_000: "2:05", 3_723_000: "1:02:03", -5: "0:00", 999: "0:01", 0: "0:00"}
    got = await common(f"{list(cases)}.map((ms) => m.formatRemaining(ms))")
    assert got == list(cases.values())


async def test_clock_keeps_the_lowest_round_trip(common):
    best = await common("""(() => {
        const c = new m.Clock();
        c.add(0, 4600, 400); c.add(1000, 5010, 1020); c.add(2000, 6100, 2200);
        return c.best;
    })()""")
    assert best == {"offset": 4000, "rtt": 20}


async def test_every_refusal_reason_has_a_message(common):
    reasons = ["too_low", "already_leading", "lot_not_open", "lot_paused", "lot_closed",
               "credit_limit", "rate_limited", "not_allowed", "bad_amount", "unknown_lot",
               "bad_frame", "too_large", "unknown_type", "slow_consumer", "unauthorized"]
    missing = await common(f"{reasons!r}.filter((r) => !(r in m.MESSAGES))")
    assert missing == []


async def test_safe_href_refuses_javascript_urls(common):
    assert await common("m.safeHref('javascript:alert(1)')") is None
    assert (await common("m.safeHref('/static/inspection.html?vin=X')")).endswith("/static/inspection.html?vin=X")


async def test_a_conflated_lot_takes_skipped_seqs_and_switching_feeds_resumes_from_the_seq_held(common):
    """AuctionSocket without a server: what it would send, and which events it hands on."""
    script = """(() => {
      const sent = [], seen = [];
      const s = new m.AuctionSocket(null, { onLot: (f) => seen.push(f.seq) });
      s.send = (f) => { sent.push(f); return true; };
      const event = (lot, seq) => s.receive(JSON.stringify({ type: "event", lot, seq, kind: "bid", at: 1, state: { seq } }));
      s.subscribe("L1", { conflateMs: 100 });
      s.subscribe("L2");
      s.receive(JSON.stringify({ type: "snapshot", lot: "L1", seq: 3, state: { seq: 3 }, server_time: 1 }));
      s.receive(JSON.stringify({ type: "snapshot", lot: "L2", seq: 3, state: { seq: 3 }, server_time: 1 }));
      event("L1", 7); event("L1", 5); event("L1", 9);
      event("L2", 6);
      s.subscribe("L1", { conflateMs: 100 });
      s.subscribe("L1");
      return { sent, seen };
    })()"""
    out = await common(f"({script})")
    assert out["seen"] == [3, 3, 7, 9]  # L1's skips taken, its older 5 dropped; L2's gap not handed on
    assert out["sent"] == [
        {"type": "subscribe", "lot": "L1", "conflate_ms": 100},
        {"type": "subscribe", "lot": "L2"},
        {"type": "unsubscribe", "lot": "L2"}, {"type": "subscribe", "lot": "L2"},  # a gap on the full feed: resync
        {"type": "subscribe", "lot": "L1", "since": 9},  # the open lot's full feed, from the seq held
    ]


async def test_a_delta_lot_lays_each_change_over_the_state_held_and_resyncs_when_it_does_not_hold_prev(common):
    script = """(() => {
      const sent = [], seen = [];
      const s = new m.AuctionSocket(null, { onLot: (f, state) => seen.push([f.seq, state]) });
      s.send = (f) => { sent.push(f); return true; };
      const whole = (seq, state) => s.receive(JSON.stringify({ type: "event", lot: "L1", seq, kind: "bid", at: 1, state }));
      const delta = (seq, prev, changed) => s.receive(JSON.stringify(
        { type: "event", lot: "L1", seq, prev, kind: "bid", at: 1, changed }));
      s.subscribe("L1", { delta: true });
      s.receive(JSON.stringify({ type: "snapshot", lot: "L1", seq: 3, server_time: 1,
        state: { seq: 3, price: 100, leader: "7", your_max: 900, vehicle: { make: "Kia" } } }));
      whole(4, { seq: 4, price: 200, leader: "8" });
      delta(5, 4, { seq: 5, price: 300 });
      delta(7, 6, { seq: 7, price: 500 });
      return { sent, seen, held: s.state("L1") };
    })()"""
    out = await common(f"({script})")
    assert out["seen"] == [
        [3, {"seq": 3, "price": 100, "leader": "7", "your_max": 900, "vehicle": {"make": "Kia"}}],
        [4, {"seq": 4, "price": 200, "leader": "8", "vehicle": {"make": "Kia"}}],  # whole: the bidder's own fields go
        [5, {"seq": 5, "price": 300, "leader": "8", "vehicle": {"make": "Kia"}}],  # the change laid over seq 4
    ]
    assert out["held"] == {"seq": 5, "price": 300, "leader": "8", "vehicle": {"make": "Kia"}}  # seq 7 not on 5: dropped
    assert out["sent"] == [
        {"type": "subscribe", "lot": "L1", "delta": True},
        {"type": "unsubscribe", "lot": "L1"}, {"type": "subscribe", "lot": "L1", "delta": True},  # resync from a snapshot
    ]
