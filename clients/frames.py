"""Typed frames of wire protocol v1 (shared/PROTOCOL.md) and their codecs.

Parsing is strict where a mistake would cost money or order (amounts, seqs, ids must be ints or
strings of the right kind, never floats) and lenient about extra keys, which the project may add
without breaking v1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

JSON = "auction.v1.json"
MSGPACK = "auction.v1.msgpack"
SUBPROTOCOLS = (JSON, MSGPACK)
# Offered beside JSON or MSGPACK, the bearer token travels in the handshake, not in the URL
# (which access logs and proxies keep).
TOKEN_SUBPROTOCOL = "auction.token."

REFUSAL_REASONS = frozenset({
    "too_low", "already_leading", "lot_not_open", "lot_paused", "lot_closed", "credit_limit",
    "rate_limited", "not_allowed", "bad_amount", "unknown_lot", "budget",
})

LotState = Mapping[str, Any]
"""The public lot state: a map, since the project may add keys to it (PROTOCOL.md lists v1's)."""

STATIC_KEYS = ("vehicle", "increments")
"""State keys fixed at creation, which the engine may leave out of event states (they would
multiply the size of every frame); a client carries them over from the snapshot."""


def with_static(state: LotState, previous: LotState | None) -> LotState:
    missing = [k for k in STATIC_KEYS if k not in state and previous and k in previous]
    return {**state, **{k: previous[k] for k in missing}} if missing else state


class BadFrame(ValueError):
    """A server frame that does not follow the protocol (not a map, a missing or mistyped field)."""

    def __init__(self, message: str, raw: Any = None) -> None:
        super().__init__(message)
        self.raw = raw


class UnknownFrame(BadFrame):
    """A well-formed map whose `type` this client does not know (a later protocol version)."""


@dataclass(frozen=True, slots=True)
class Welcome:
    role: str
    server_time: int
    bidder: str | None = None
    paddle: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    lot: str
    seq: int
    state: LotState
    server_time: int


@dataclass(frozen=True, slots=True)
class Event:
    """A lot's event. From a delta feed (`subscribe` with `delta`), the frame carries only the
    fields that changed since seq `prev`: parsed, `state` holds just those and `changed` says so;
    the client (`client.py`) hands its readers the whole state, those fields laid over what it held."""

    lot: str
    seq: int
    kind: str
    at: int
    state: LotState
    prev: int | None = None
    changed: LotState | None = None


@dataclass(frozen=True, slots=True)
class Ack:
    """The answer to a bid or buy-now. `ok` false carries `reason` (RULES.md) and maybe `next_min`;
    in a sealed lot an accepted ack has `price` and `leading` None until the close."""

    id: str
    lot: str
    ok: bool
    seq: int | None = None
    leading: bool | None = None
    price: int | None = None
    your_max: int | None = None
    reason: str | None = None
    next_min: int | None = None


@dataclass(frozen=True, slots=True)
class Outbid:
    lot: str
    seq: int
    price: int
    next_min: int


@dataclass(frozen=True, slots=True)
class Won:
    lot: str
    price: int


@dataclass(frozen=True, slots=True)
class Lost:
    lot: str


@dataclass(frozen=True, slots=True)
class Counter:
    """The seller's counter-offer, to the high bidder of a lot pending approval (docs/rules.md)."""

    lot: str
    seq: int
    amount: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class Notice:
    """A private alert on the bidder's own channel. `kind` "ending_soon": a lot the bidder bid on or
    watches ends at `ends_at` (sent once per lot and end; an extension sends it again)."""

    kind: str
    lot: str
    ends_at: int | None
    title: str = ""
    server_time: int | None = None


@dataclass(frozen=True, slots=True)
class Me:
    """The answer to `subscribe` to `me`: each lot the bidder bid on (their view of it, with
    `standing` and, for a lot they won, `settlement`) and their watchlist."""

    lots: tuple[LotState, ...]
    watchlist: tuple[str, ...]
    server_time: int


@dataclass(frozen=True, slots=True)
class Pong:
    t: int
    server_time: int


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    message: str
    extra: Mapping[str, Any] = field(default_factory=dict)


Frame = Welcome | Snapshot | Event | Ack | Outbid | Won | Lost | Counter | Notice | Me | Pong | Error
LotFrame = Snapshot | Event
PrivateFrame = Outbid | Won | Lost | Counter | Notice


class _Fields:
    """Typed access to a frame's map; every miss is a BadFrame naming the field."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    def _get(self, key: str, optional: bool) -> Any:
        if key not in self.raw or self.raw[key] is None:
            if optional:
                return None
            raise BadFrame(f"{self.raw.get('type')}: missing {key!r}", self.raw)
        return self.raw[key]

    def integer(self, key: str, optional: bool = False) -> int | None:
        value = self._get(key, optional)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise BadFrame(f"{self.raw.get('type')}: {key!r} must be an integer, got {value!r}",
                           self.raw)
        return value

    def text(self, key: str, optional: bool = False) -> str | None:
        value = self._get(key, optional)
        if value is not None and not isinstance(value, str):
            raise BadFrame(f"{self.raw.get('type')}: {key!r} must be a string, got {value!r}",
                           self.raw)
        return value

    def flag(self, key: str, optional: bool = False) -> bool | None:
        value = self._get(key, optional)
        if value is not None and not isinstance(value, bool):
            raise BadFrame(f"{self.raw.get('type')}: {key!r} must be a boolean, got {value!r}",
                           self.raw)
        return value

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self._get(key, False)
        if not isinstance(value, Mapping):
            raise BadFrame(f"{self.raw.get('type')}: {key!r} must be a map", self.raw)
        return value

    def items(self, key: str, kind: type) -> tuple[Any, ...]:
        """A list whose every item is a `kind` (a map, a string)."""
        value = self._get(key, False)
        if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
            raise BadFrame(f"{self.raw.get('type')}: {key!r} must be a list of {kind.__name__}", self.raw)
        return tuple(value)


def _notice(f: _Fields) -> Notice:
    kind = f.text("kind")
    assert kind is not None
    return Notice(kind=kind, lot=f.text("lot"), ends_at=f.integer("ends_at", kind != "ending_soon"),
                  title=f.text("title", True) or "", server_time=f.integer("server_time", True))


def _ack(f: _Fields) -> Ack:
    ok = f.flag("ok")
    common = dict(id=f.text("id"), lot=f.text("lot"), ok=ok)
    if ok:  # a sealed lot hides price and leading until the close: null then
        return Ack(**common, seq=f.integer("seq"), leading=f.flag("leading", True),
                   price=f.integer("price", True), your_max=f.integer("your_max", True))
    return Ack(**common, reason=f.text("reason"), next_min=f.integer("next_min", True))


_PARSERS = {
    "welcome": lambda f: Welcome(role=f.text("role"), server_time=f.integer("server_time"),
                                 bidder=f.text("bidder", True), paddle=f.text("paddle", True)),
    "snapshot": lambda f: Snapshot(lot=f.text("lot"), seq=f.integer("seq"), state=f.mapping("state"),
                                   server_time=f.integer("server_time")),
    "event": lambda f: Event(lot=f.text("lot"), seq=f.integer("seq"), kind=f.text("kind"),
                             at=f.integer("at"), state=f.mapping("state"))
    if "changed" not in f.raw else Event(lot=f.text("lot"), seq=f.integer("seq"), kind=f.text("kind"),
                                         at=f.integer("at"), state=f.mapping("changed"), prev=f.integer("prev"),
                                         changed=f.mapping("changed")),
    "ack": _ack,
    "outbid": lambda f: Outbid(lot=f.text("lot"), seq=f.integer("seq"), price=f.integer("price"),
                               next_min=f.integer("next_min")),
    "won": lambda f: Won(lot=f.text("lot"), price=f.integer("price")),
    "lost": lambda f: Lost(lot=f.text("lot")),
    "counter": lambda f: Counter(lot=f.text("lot"), seq=f.integer("seq"), amount=f.integer("amount"),
                                 expires_at=f.integer("expires_at")),
    "notice": _notice,
    "me": lambda f: Me(lots=f.items("lots", Mapping), watchlist=f.items("watchlist", str),
                       server_time=f.integer("server_time")),
    "pong": lambda f: Pong(t=f.integer("t"), server_time=f.integer("server_time")),
    "error": lambda f: Error(code=f.text("code"), message=f.text("message", True) or "",
                             extra={k: v for k, v in f.raw.items()
                                    if k not in ("type", "code", "message")}),
}


def parse_frame(data: str | bytes | Mapping[str, Any]) -> Frame:
    """Decode one server frame (JSON text, msgpack bytes, or an already decoded map)."""
    raw = decode(data) if isinstance(data, (str, bytes, bytearray)) else data
    if not isinstance(raw, Mapping):
        raise BadFrame(f"a frame must be a map, got {type(raw).__name__}", raw)
    kind = raw.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise UnknownFrame(f"unknown frame type {kind!r}", raw)
    return parser(_Fields(raw))


def parse_ack(raw: Mapping[str, Any], lot: str = "", id: str = "") -> Ack:
    """An ack from an HTTP answer, which may leave out `type` (and `lot`/`id` the caller knows)."""
    if not isinstance(raw, Mapping):
        raise BadFrame("an ack must be a map", raw)
    return _ack(_Fields({"type": "ack", "lot": lot, "id": id, **raw}))


def decode(data: str | bytes | bytearray) -> Any:
    """Text frames are JSON, binary frames msgpack: the frame kind says which, not the caller."""
    try:
        if isinstance(data, str):
            return json.loads(data)
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise BadFrame(f"undecodable frame: {exc}", data) from exc


def encode(frame: Mapping[str, Any], subprotocol: str) -> str | bytes:
    if subprotocol == MSGPACK:
        return msgpack.packb(dict(frame), use_bin_type=True)
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
