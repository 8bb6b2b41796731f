"""Client frames in, server frames out, for both subprotocols.

Parsing is strict because every frame is untrusted: anything that is not exactly a
frame of PROTOCOL.md becomes a typed error and changes nothing.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import msgpack

from bidding.ids import ID_RULE, is_id

from .errors import BadFrame, TooLarge, UnknownType

JSON = "auction.v1.json"
MSGPACK = "auction.v1.msgpack"
SUBPROTOCOLS = (JSON, MSGPACK)
MAX_FRAME = 4096
MAX_ID = 64
MAX_AMOUNT = 10**15
MAX_PING_T = 2**53  # echoed in the pong: an integer every JSON reader holds exactly


@dataclass(frozen=True, slots=True)
class Subscribe:
    lot: str
    since: int | None


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


ClientFrame = Subscribe | Unsubscribe | BidFrame | BuyNowFrame | Ping


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


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
            data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError, RecursionError) as exc:
        raise BadFrame(f"not a valid frame: {exc}") from exc
    if not isinstance(data, dict):
        raise BadFrame("a frame is a map")
    return data


def _lot(data: dict[str, Any]) -> str:
    lot = data.get("lot")
    if not is_id(lot):
        raise BadFrame(f"`lot` must be an id: {ID_RULE}", "lot")
    return lot


def _id(data: dict[str, Any]) -> str:
    ident = data.get("id")
    if not is_id(ident):
        raise BadFrame(f"`id` must be an id: {ID_RULE}", "id")
    return ident


def parse(data: dict[str, Any]) -> ClientFrame:
    kind = data.get("type")
    if kind == "bid":
        return BidFrame(_lot(data), _id(data), data.get("amount"), data.get("max"))
    if kind == "subscribe":
        since = data.get("since")
        if since is not None and (type(since) is not int or since < 0):
            raise BadFrame("`since` must be a non-negative integer", "since")
        return Subscribe(_lot(data), since)
    if kind == "unsubscribe":
        return Unsubscribe(_lot(data))
    if kind == "buy_now":
        return BuyNowFrame(_lot(data), _id(data))
    if kind == "ping":
        t = data.get("t")
        if type(t) is not int or not -MAX_PING_T <= t <= MAX_PING_T:
            raise BadFrame(f"`t` must be an integer of magnitude at most {MAX_PING_T}", "t")
        return Ping(t)
    if not isinstance(kind, str):
        raise BadFrame("a frame needs a string `type`", "type")
    raise UnknownType(f"unknown frame type {kind!r}")


def valid_amount(value: Any) -> bool:
    return type(value) is int and 0 < value <= MAX_AMOUNT


def encode_json(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def encode_msgpack(frame: dict[str, Any]) -> bytes:
    return msgpack.packb(frame, use_bin_type=True)


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
            framed = self._wire[subprotocol] = ws_frame(data if isinstance(data, bytes) else data.encode(), isinstance(data, bytes))
        return framed

    def for_subprotocol(self, subprotocol: str) -> str | bytes:
        if subprotocol == MSGPACK:
            if self._msgpack is None:
                self._msgpack = encode_msgpack(self.frame)
            return self._msgpack
        if self._json is None:
            self._json = encode_json(self.frame)
        return self._json
