"""Client frames in, server frames out, for both subprotocols: every wire shape of PROTOCOL.md.

Parsing is strict because every frame is untrusted: anything that is not exactly a
frame of PROTOCOL.md becomes a typed error and changes nothing. Every server frame, close
code and HTTP error body is built here and nowhere else (`clients/frames.py` mirrors them;
`tests/test_frames_mirror.py` checks).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import msgpack

from bidding.ids import ID_RULE, is_id
from bidding.money import is_money
from bidding.notices import CounterOffer, Lost, Notice, Outbid, Won
from bidding.reasons import Reason

from .answers import Ack, Answer, Applied, Refusal, Unwritten
from .errors import BadFrame, TooLarge, UnknownType

JSON = "auction.v1.json"
MSGPACK = "auction.v1.msgpack"
SUBPROTOCOLS = (JSON, MSGPACK)

# Close codes (PROTOCOL.md "Closing")
SLOW_CONSUMER_CLOSE = 4008
UNAUTHORIZED_CLOSE = 4401
FORBIDDEN_ORIGIN_CLOSE = 4403  # before the handshake completes: the client sees HTTP 403
MAX_FRAME = 4096
MAX_ID = 64
MAX_PING_T = 2**53  # echoed in the pong: an integer every JSON reader holds exactly
# A conflated feed's period (docs/protocol.md): below 50 ms it saves a watcher little; above a
# minute a lot's clock would go stale on the watcher's screen.
MIN_CONFLATE_MS = 50
MAX_CONFLATE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Subscribe:
    lot: str
    since: int | None
    conflate_ms: int | None = None  # at most one `event` per this many ms, the latest (lotfeed.py)
    delta: bool = False  # events carry only the state's changed fields after the first (lotfeed.py)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    lot: str


@dataclass(frozen=True, slots=True)
class BidFrame:
    lot: str
    id: str
    amount: Any
    max: Any


@dataclass(frozen=True, slots=True)
class BuyNowFrame:
    lot: str
    id: str


@dataclass(frozen=True, slots=True)
class Ping:
    t: Any


@dataclass(frozen=True, slots=True)
class CommandFrame:
    """The auctioneer's command over the WebSocket: an HTTP lot action by name, and its fields."""

    lot: str
    id: str
    action: str
    fields: dict[str, Any]


ClientFrame = Subscribe | Unsubscribe | BidFrame | BuyNowFrame | Ping | CommandFrame


def reject_constant(name: str) -> None:
    """JSON's NaN and Infinity, which no frame or body may carry: `parse_constant` for a strict decode."""
    raise ValueError(f"{name} is not allowed")


# One decoder and one encoder for every frame: `json.loads` or `json.dumps` given any option builds a
# new one per call, its C scanner included, which was a tenth of the event loop's time at 8,000 bids/s.
_JSON_IN = json.JSONDecoder(parse_constant=reject_constant)
_JSON_OUT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def decode(raw: str | bytes, subprotocol: str) -> dict[str, Any]:
    if len(raw) > MAX_FRAME:
        raise TooLarge(f"frame of {len(raw)} bytes; the limit is {MAX_FRAME}")
    try:
        if subprotocol == MSGPACK:
            if isinstance(raw, str):
                raise BadFrame("auction.v1.msgpack takes binary frames")
            data = msgpack.unpackb(raw, raw=False, strict_map_key=True)
        else:
            if not isinstance(raw, str):
                raise BadFrame("auction.v1.json takes text frames")
            data = _JSON_IN.decode(raw)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError, RecursionError) as exc:
        raise BadFrame(f"not a valid frame: {exc}") from exc
    if not isinstance(data, dict):
        raise BadFrame("a frame is a map")
    return data


def _lot(data: dict[str, Any]) -> str:
    lot = data.get("lot")
    if not isinstance(lot, str) or not is_id(lot):
        raise BadFrame(f"`lot` must be an id: {ID_RULE}", "lot")
    return lot


def _id(data: dict[str, Any]) -> str:
    ident = data.get("id")
    if not isinstance(ident, str) or not is_id(ident):
        raise BadFrame(f"`id` must be an id: {ID_RULE}", "id")
    return ident


def _conflate_ms(data: dict[str, Any]) -> int | None:
    conflate = data.get("conflate_ms")
    if conflate is not None and (type(conflate) is not int or not MIN_CONFLATE_MS <= conflate <= MAX_CONFLATE_MS):
        raise BadFrame(f"`conflate_ms` must be an integer from {MIN_CONFLATE_MS} to {MAX_CONFLATE_MS}", "conflate_ms")
    return conflate


def _delta(data: dict[str, Any], conflate_ms: int | None) -> bool:
    delta = data.get("delta")
    if delta is None:
        return False
    if type(delta) is not bool:
        raise BadFrame("`delta` must be true or false", "delta")
    if delta and conflate_ms is not None:
        raise BadFrame("`delta` and `conflate_ms` do not go together: a conflated event is always whole", "delta")
    return delta


def parse(data: dict[str, Any]) -> ClientFrame:
    kind = data.get("type")
    if kind == "bid":
        return BidFrame(_lot(data), _id(data), data.get("amount"), data.get("max"))
    if kind == "subscribe":
        since = data.get("since")
        if since is not None and (type(since) is not int or since < 0):
            raise BadFrame("`since` must be a non-negative integer", "since")
        conflate_ms = _conflate_ms(data)
        return Subscribe(_lot(data), since, conflate_ms, _delta(data, conflate_ms))
    if kind == "unsubscribe":
        return Unsubscribe(_lot(data))
    if kind == "buy_now":
        return BuyNowFrame(_lot(data), _id(data))
    if kind == "command":
        action = data.get("action")
        if not isinstance(action, str):
            raise BadFrame("`action` must be a string", "action")
        fields = {k: v for k, v in data.items() if k not in ("type", "lot", "id", "action")}
        return CommandFrame(_lot(data), _id(data), action, fields)
    if kind == "ping":
        t = data.get("t")
        if type(t) is not int or not -MAX_PING_T <= t <= MAX_PING_T:
            raise BadFrame(f"`t` must be an integer of magnitude at most {MAX_PING_T}", "t")
        return Ping(t)
    if not isinstance(kind, str):
        raise BadFrame("a frame needs a string `type`", "type")
    raise UnknownType(f"unknown frame type {kind!r}")


def valid_amount(value: Any) -> bool:
    return is_money(value, 1)


# -- server frames -------------------------------------------------------------------------------


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


def error_body(code: str, message: str, field: str | None = None, **extra: int | str) -> dict[str, Any]:
    """An HTTP error response's body: `{"error": {"code", "message", "field"?, ...}}`."""
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return {"error": body}


def welcome_frame(role: str, bidder: str | None, paddle: str | None, server_time: int) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "welcome", "role": role, "server_time": server_time}
    if bidder:
        frame["bidder"] = bidder
        frame["paddle"] = paddle
    return frame


def pong_frame(t: int, server_time: int) -> dict[str, Any]:
    return {"type": "pong", "t": t, "server_time": server_time}


def snapshot_frame(lot: str, state: dict[str, Any], server_time: int) -> dict[str, Any]:
    return {"type": "snapshot", "lot": lot, "seq": state["seq"], "state": state, "server_time": server_time}


def slow_consumer_frame(limit: int) -> dict[str, Any]:
    return error_frame("slow_consumer", f"more than {limit} frames waiting; resubscribe with `since` to resume")


def event_frame(lot: str, seq: int, kind: str, at: int, state: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event", "lot": lot, "seq": seq, "kind": kind, "at": at, "state": state}


def delta_frame(prev: int, before: Outgoing, after: Outgoing) -> Outgoing | None:
    """`after` as the fields of its state that differ from `before`'s (docs/protocol.md, "Delta
    feeds"), for a watcher who holds the state at seq `prev`; None if the two are not both event
    states of the same keys, when only the whole frame will do."""
    old, new = before.frame.get("state"), after.frame.get("state")
    if not isinstance(old, dict) or not isinstance(new, dict) or old.keys() != new.keys():
        return None
    frame = after.frame
    changed = {k: v for k, v in new.items() if old[k] != v}
    return Outgoing({"type": "event", "lot": frame["lot"], "seq": frame["seq"], "prev": prev, "kind": frame["kind"],
                     "at": frame["at"], "changed": changed})


def pack_public(kind: str, at: int, state: dict[str, Any]) -> bytes:
    """What the stream (and the ring) keep of an event frame for watchers who resume: its public face."""
    packed: bytes = msgpack.packb({"kind": kind, "at": at, "state": state})
    return packed


def event_from_public(lot: str, seq: int, public: bytes) -> Outgoing:
    """An event frame again, from the public face the stream (and the ring) keep of an entry."""
    return Outgoing({"type": "event", "lot": lot, "seq": seq, **msgpack.unpackb(public, raw=False)})


def notice_frame(lot: str, seq: int, notice: Notice) -> dict[str, Any]:
    """A bidder's private `outbid`, `won` or `lost` (bidding/notices.py says who is told)."""
    if isinstance(notice, Outbid):
        return {"type": "outbid", "lot": lot, "seq": seq, "price": notice.price, "next_min": notice.next_min}
    if isinstance(notice, Won):
        return {"type": "won", "lot": lot, "price": notice.price}
    if isinstance(notice, CounterOffer):
        return {"type": "counter", "lot": lot, "seq": seq, "amount": notice.amount, "expires_at": notice.expires_at}
    assert isinstance(notice, Lost)
    return {"type": "lost", "lot": lot}


def me_frame(lots: list[dict[str, Any]], watchlist: list[str], server_time: int) -> dict[str, Any]:
    """A bidder's private channel, on `subscribe` to `me`: their lots (each with `standing`) and watchlist."""
    return {"type": "me", "lots": lots, "watchlist": watchlist, "server_time": server_time}


def ending_soon_frame(lot: str, title: str, ends_at: int, server_time: int) -> dict[str, Any]:
    """A bidder's private alert, on their own channel, that a lot they bid on or watch ends soon
    (`alerts.py` sends it once per lot and `ends_at`); the title lets a page that does not watch
    the lot say which car it is."""
    return {"type": "notice", "kind": "ending_soon", "lot": lot, "title": title, "ends_at": ends_at,
            "server_time": server_time}


def ack_frame(answer: Ack | Refusal) -> dict[str, Any]:
    if isinstance(answer, Refusal):
        frame: dict[str, Any] = {"type": "ack", "id": answer.id, "lot": answer.lot, "ok": False, "reason": answer.reason.value}
        if answer.next_min is not None:
            frame["next_min"] = answer.next_min
        return frame
    frame = {"type": "ack", "id": answer.id, "lot": answer.lot, "ok": True, "seq": answer.seq,
             "leading": answer.leading, "price": answer.price}
    if answer.your_max is not None:
        frame["your_max"] = answer.your_max
    return frame


def answer_frame(answer: Answer) -> dict[str, Any]:
    """The frame a WebSocket bidder gets for its command."""
    if isinstance(answer, Unwritten):
        return error_frame("unavailable", answer.message)
    if isinstance(answer, Applied):
        return {"ok": True, "seq": answer.seq, "kind": answer.kind}
    return ack_frame(answer)


def answer_record(answer: Answer) -> dict[str, Any]:
    """An answer as plain data, the one form it is kept and passed in: the log's id index, the
    refusal memory and a forwarded command's reply. A bid's answer is its ack frame."""
    if isinstance(answer, Applied):
        return {"type": "applied", "seq": answer.seq, "kind": answer.kind}
    if isinstance(answer, Unwritten):
        return {"type": "unwritten", "message": answer.message}
    return ack_frame(answer)


def answer_of(record: dict[str, Any] | None) -> Answer:
    """`answer_record` read back. Anything else (no reply, a node's error) is `Unwritten`: nothing
    is known to be decided, so the client retries with the same id."""
    kind = record.get("type") if record else None
    if record is None or kind not in ("ack", "applied"):
        message = record.get("message") if record else None
        return Unwritten(str(message or "no node holding the lot answered in time; retry with the same id"))
    if kind == "applied":
        return Applied(record["seq"], record["kind"])
    if record["ok"]:
        return Ack(record["lot"], record["id"], record["seq"], record["leading"], record["price"], record.get("your_max"))
    return Refusal(record["lot"], record["id"], Reason(record["reason"]), record.get("next_min"))


def pack_answer(answer: Answer) -> bytes:
    packed: bytes = msgpack.packb(answer_record(answer))
    return packed


def unpack_answer(blob: bytes) -> Answer:
    return answer_of(msgpack.unpackb(blob, raw=False))


def encode_json(frame: dict[str, Any]) -> str:
    return _JSON_OUT.encode(frame)


def encode_msgpack(frame: dict[str, Any]) -> bytes:
    packed: bytes = msgpack.packb(frame, use_bin_type=True)
    return packed


def ws_frame(payload: bytes, binary: bool) -> bytes:
    """One unfragmented, unmasked server frame (RFC 6455 section 5.2) with no extension."""
    n = len(payload)
    first = 0x82 if binary else 0x81
    if n < 126:
        head = struct.pack("!BB", first, n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 126, n)
    else:
        head = struct.pack("!BBQ", first, 127, n)
    return head + payload


class Run(list["Outgoing"]):
    """The same frames written to many watchers in one turn (a lot's feed flush, lotfeed.py): their
    wire bytes joined once per subprotocol and shared, not listed and joined again per watcher. A
    hot lot's flush of ~100 frames to 1,000 watchers built 100,000 list items and 1,000 joins of the
    same bytes (docs/performance.md, "Round eight")."""

    __slots__ = ("_joined",)

    def __init__(self, frames: list[Outgoing]) -> None:
        super().__init__(frames)
        self._joined: dict[str, bytes] = {}

    def joined(self, subprotocol: str) -> bytes:
        blob = self._joined.get(subprotocol)
        if blob is None:
            blob = self._joined[subprotocol] = b"".join([out.wire(subprotocol) for out in self])
        return blob


class Outgoing:
    """A server frame encoded at most once per subprotocol, however many watchers get it."""

    __slots__ = ("frame", "_json", "_msgpack", "_wire")

    def __init__(self, frame: dict[str, Any]) -> None:
        self.frame = frame
        self._json: str | None = None
        self._msgpack: bytes | None = None
        self._wire: dict[str, bytes] | None = None

    def wire(self, subprotocol: str) -> bytes:
        """The whole WebSocket frame, for connections without extensions: framed once, not per watcher."""
        if self._wire is None:
            self._wire = {}
        framed = self._wire.get(subprotocol)
        if framed is None:
            data = self.for_subprotocol(subprotocol)
            payload = data if isinstance(data, bytes) else data.encode()
            framed = self._wire[subprotocol] = ws_frame(payload, isinstance(data, bytes))
        return framed

    def for_subprotocol(self, subprotocol: str) -> str | bytes:
        if subprotocol == MSGPACK:
            if self._msgpack is None:
                self._msgpack = encode_msgpack(self.frame)
            return self._msgpack
        if self._json is None:
            self._json = encode_json(self.frame)
        return self._json
