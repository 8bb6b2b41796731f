"""Mutated frames and bodies for scripts/fuzz.py: templates of PROTOCOL.md, bent at random.

A frame starts as a valid client frame (or lot spec, bidder, bid body), then gets 0-3 structural
mutations (a field's value swapped for another type, a field dropped, an unknown one added, the
map nested), is encoded for the connection's subprotocol or, sometimes, the other one, and then
gets 0-2 byte mutations (bit flips, truncation, insertion, padding past the 4 KiB limit).
Nothing here decides whether the engine's answer is right: the checks are in fuzz.py.
"""

from __future__ import annotations

import json
import random
from typing import Any

import msgpack

# Values a careless or hostile client puts where an amount, seq, id or type belongs.
ODD_NUMBERS: tuple[Any, ...] = (
    0, -1, 1, 1.5, -0.0, 1e308, 10**15, 10**15 + 1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63),
    float("nan"), float("inf"), float("-inf"), True, False, None,
)
ODD_STRINGS: tuple[str, ...] = (
    "", "100", "1e3", "NaN", "Infinity", "-Infinity", "0x10", " 5", "a\x00b", "\x00", "\x01\x02\x1f", "\x7f",
    "\u202eevil", "日本語", "😀" * 8, "a" * 65, "x" * 300, "floor:p1", "../../etc/passwd", "<script>alert(1)</script>",
    "=HYPERLINK(\"x\")", "\ud7ff", "lot\nbreak", "%00", "null",
)
ODD_CONTAINERS: tuple[Any, ...] = ([], [1], [[[]]], {}, {"a": 1}, {"amount": 100}, [None, {"x": [1.5]}])
# JSON spellings json.loads would take from a lax client; spliced into the text as they are.
RAW_JSON_TOKENS: tuple[str, ...] = (
    "NaN", "Infinity", "-Infinity", "1e999", "-0", "01", "1.0", "\"\\u0000\"", "\"\\ud800\"", "[" * 60 + "]" * 60,
)
FRAME_TYPES = ("subscribe", "unsubscribe", "bid", "bid", "bid", "buy_now", "ping")
HIDDEN_FLOOR = 9 * 10**14  # fuzz.py's hidden values sit above this; generated numbers avoid the band


def odd_value(rng: random.Random) -> Any:
    """One value of the wrong type or range, drawn from the tables above or at random."""
    pick = rng.random()
    if pick < 0.35:
        return rng.choice(ODD_NUMBERS)
    if pick < 0.65:
        return rng.choice(ODD_STRINGS)
    if pick < 0.8:
        return rng.choice(ODD_CONTAINERS)
    if pick < 0.9:
        return rng.randrange(-(10**6), 10**7)
    return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(1, 12))).replace("\ud800", "")


def amount(rng: random.Random) -> int:
    """A plausible amount: small, on or off the ladder, never in the band of the hidden values."""
    value = rng.choice((rng.randrange(1, 5000), rng.randrange(1, 10**7), rng.randrange(1, 10**12)))
    return value if value < HIDDEN_FLOOR else value // 1000


def client_frame(rng: random.Random, lots: list[str], tag: str) -> dict[str, Any]:
    """A valid client frame of PROTOCOL.md for one of `lots`; `tag` makes bid ids unique."""
    kind = rng.choice(FRAME_TYPES)
    lot = rng.choice(lots)
    if kind == "bid":
        return {"type": "bid", "lot": lot, rng.choice(("amount", "max")): amount(rng), "id": f"f{tag}"}
    if kind == "buy_now":
        return {"type": "buy_now", "lot": lot, "id": f"f{tag}"}
    if kind == "ping":
        return {"type": "ping", "t": rng.randrange(0, 2**40)}
    if kind == "subscribe" and rng.random() < 0.5:
        return {"type": "subscribe", "lot": lot, "since": rng.randrange(0, 50)}
    return {"type": kind, "lot": lot}


def mutate_map(rng: random.Random, data: dict[str, Any], rounds: int) -> Any:
    """Structural mutations: swap a value's type, drop or add a field, rename the type, nest."""
    for _ in range(rounds):
        op = rng.random()
        if op < 0.45 and data:
            data[rng.choice(list(data))] = odd_value(rng)
        elif op < 0.6 and data:
            data.pop(rng.choice(list(data)))
        elif op < 0.75:
            data[rng.choice(("extra", "bidder", "paddle", "role", "reserve", "__proto__", "spec", "t", "seq"))] = odd_value(rng)
        elif op < 0.85:
            data["type"] = rng.choice(("Bid", "bid ", "snapshot", "ack", "welcome", "", "x" * 100, "admin", "close"))
        elif op < 0.93:
            return rng.choice(([data], [data, data], {"frame": data}, "frame", 42, None))
        else:
            data = {**data, **{f"k{i}": i for i in range(rng.randrange(1, 40))}}
    return data


def encode(rng: random.Random, data: Any, binary: bool) -> bytes:
    """JSON text (with raw NaN/Infinity spellings sometimes) or msgpack; huge ints fall back to JSON."""
    if binary:
        try:
            return msgpack.packb(data, use_bin_type=True)
        except (OverflowError, TypeError, ValueError):
            pass
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=rng.random() < 0.5, allow_nan=True)
    if rng.random() < 0.05:
        cut = rng.randrange(len(text) + 1)
        text = text[:cut] + rng.choice(RAW_JSON_TOKENS) + text[cut:]
    return text.encode("utf-8", "surrogatepass")


def mutate_bytes(rng: random.Random, raw: bytes, keep_utf8: bool) -> bytes:
    """Byte mutations. `keep_utf8` flips only the low 7 bits of ASCII bytes (a text frame that
    is not UTF-8 closes the connection with 1007, which costs a reconnect: done rarely)."""
    buf = bytearray(raw)
    op = rng.random()
    if op < 0.4 and buf:
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(buf))
            if keep_utf8:
                if buf[i] < 0x80:
                    buf[i] = (buf[i] ^ (1 << rng.randrange(7))) or 0x20
            else:
                buf[i] ^= 1 << rng.randrange(8)
    elif op < 0.65:
        del buf[rng.randrange(len(buf) + 1):]
    elif op < 0.85:
        i = rng.randrange(len(buf) + 1)
        buf[i:i] = rng.choice((b"\x00", b",", b"{", b"}", b"\"", b"[", b"\\", b"9" * 30, b"-", b"\x1f"))
    elif op < 0.97:
        buf += b" " * rng.randrange(0, 600)
    else:
        buf = bytearray(buf * rng.randrange(2, 8))
    return bytes(buf)


def too_large(rng: random.Random, binary: bool) -> bytes:
    """A frame over the 4 KiB limit (rarely over the 64 KiB WebSocket limit, which closes the socket)."""
    size = rng.randrange(4097, 9000) if rng.random() < 0.98 else 70_000
    body = {"type": "bid", "lot": "X", "id": "big", "pad": "p" * size}
    return msgpack.packb(body) if binary else json.dumps(body).encode()


def ws_frame(rng: random.Random, lots: list[str], tag: str, binary: bool) -> tuple[bytes, bool]:
    """One mutated frame and whether it goes as a binary frame."""
    roll = rng.random()
    if roll < 0.004:
        return too_large(rng, binary), binary
    data = mutate_map(rng, client_frame(rng, lots, tag), rng.choice((0, 1, 1, 2, 3)))
    wrong_encoding = rng.random() < 0.05
    raw = encode(rng, data, binary != wrong_encoding)
    send_binary = binary if rng.random() < 0.97 else not binary
    if rng.random() < 0.5:
        raw = mutate_bytes(rng, raw, keep_utf8=not send_binary)
    if not send_binary and rng.random() > 0.0005:
        raw = raw.decode("utf-8", "replace").encode("utf-8")  # else a 1007 close and a reconnect
    return raw, send_binary


def lot_spec(rng: random.Random, lot: str) -> dict[str, Any]:
    """A valid lot spec of PROTOCOL.md, with a vehicle sometimes."""
    spec: dict[str, Any] = {"lot": lot, "title": "fuzz lot", "currency": "EUR", "start_price": rng.randrange(1, 10**6),
                            "duration_s": rng.randrange(60, 7200)}
    if rng.random() < 0.5:
        spec["reserve"] = spec["start_price"] + rng.randrange(0, 10**6)
    if rng.random() < 0.3:
        spec["format"] = rng.choice(("english", "sealed_first", "sealed_second", "dutch"))
        if spec["format"] == "dutch":
            spec["dutch"] = {"step": 100, "tick_s": 5, "floor": 1}
    if rng.random() < 0.3:
        spec["vehicle"] = {"vin": "WVWZZZ1JZXW000001", "make": "VW", "model": "Golf", "year": 2019, "mileage_km": 42_000,
                           "inspection": {"grade": "B", "report_url": "https://example.invalid/r.pdf"}}
    if rng.random() < 0.2:
        spec["anti_snipe"] = {"window_s": 30, "extend_s": 30, "max_extensions": 3}
    if rng.random() < 0.2:
        spec["increments"] = [[0, 100], [10_000, 500]]
    return spec


def deep_mutate(rng: random.Random, data: Any, rounds: int) -> Any:
    """Structural mutations that also reach into nested maps (vehicle, anti_snipe, dutch)."""
    for _ in range(rounds):
        nested = [v for v in data.values() if isinstance(v, dict)] if isinstance(data, dict) else []
        target = rng.choice(nested) if nested and rng.random() < 0.4 else data
        if not isinstance(target, dict):
            break
        result = mutate_map(rng, target, 1)
        if target is data:
            data = result
    return data
