"""The lot's log: one entry per accepted command, hash-chained, in canonical msgpack.

entry_bytes = msgpack({"seq", "cmd", "events"}) with fixed key order; hash = sha256(prev_hash +
entry_bytes). Replaying the commands through the rules must give byte-identical events: `verify`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import msgpack

from .commands import Command, Create, command_from_dict, command_to_dict
from .events import Created, Event, event_from_dict, event_to_dict
from .rules import Accepted, apply, decide, initial_state
from .spec import LotSpec
from .state import GENESIS_HASH, LotState

__all__ = [
    "GENESIS_HASH",
    "Entry",
    "LogError",
    "VerifyReport",
    "apply_entry",
    "chain",
    "create_lot",
    "decode_entry",
    "encode_entry",
    "make_entry",
    "replay",
    "resume",
    "verify",
]


class LogError(ValueError):
    """A log that does not replay: bad bytes, a gap, a broken chain, an entry out of place."""

    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(f"entry {seq}: {problem}")
        self.seq = seq
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Entry:
    """`prev_hash` is None when decoded from bytes alone (the bytes do not hold it)."""

    seq: int
    command: Command
    events: tuple[Event, ...]
    prev_hash: bytes | None
    hash: bytes


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    entries: int
    first_bad_seq: int | None
    problem: str | None
    spec: LotSpec | None
    state: LotState | None


_packer = msgpack.Packer(use_bin_type=True)


def encode_entry(seq: int, command: Command, events: tuple[Event, ...]) -> bytes:
    packed: bytes = _packer.pack({"seq": seq, "cmd": command_to_dict(command), "events": [event_to_dict(e) for e in events]})
    return packed


def chain(prev_hash: bytes, entry_bytes: bytes) -> bytes:
    return sha256(prev_hash + entry_bytes).digest()


def make_entry(state: LotState, command: Command, events: tuple[Event, ...]) -> tuple[Entry, bytes]:
    """The next entry after `state` (not yet applied: call apply_entry once it is stored)."""
    seq = state.seq + 1
    raw = encode_entry(seq, command, events)
    return Entry(seq, command, events, state.head_hash, chain(state.head_hash, raw)), raw


def apply_entry(spec: LotSpec, state: LotState, entry: Entry) -> LotState:
    if entry.seq != state.seq + 1:
        raise LogError(entry.seq, f"expected seq {state.seq + 1}")
    if entry.prev_hash is not None and entry.prev_hash != state.head_hash:
        raise LogError(entry.seq, "prev_hash is not the head hash")
    for event in entry.events:
        apply(spec, state, event)
    state.seq = entry.seq
    state.head_hash = entry.hash
    return state


def decode_entry(entry_bytes: bytes, hash: bytes, prev_hash: bytes | None = None) -> Entry:
    """Parse stored bytes; raises LogError when they are not a well-formed entry."""
    try:
        d: Any = msgpack.unpackb(entry_bytes, raw=False, strict_map_key=True, use_list=True)
        if not isinstance(d, dict) or list(d) != ["seq", "cmd", "events"]:
            raise ValueError("not an entry map")
        seq = d["seq"]
        if type(seq) is not int or seq < 1:
            raise ValueError("bad seq")
        if not isinstance(d["events"], list):
            raise ValueError("events is not a list")
        command = command_from_dict(d["cmd"])
        events = tuple(event_from_dict(e) for e in d["events"])
    except LogError:
        raise
    except Exception as exc:  # msgpack, record and spec errors alike mean "not an entry"
        raise LogError(None, f"undecodable: {exc}") from exc
    return Entry(seq, command, events, prev_hash, bytes(hash))


def create_lot(spec: LotSpec, at: int) -> tuple[LotSpec, LotState, Entry, bytes]:
    """Seq 1 of a lot's log: the Create command and its Created event, already applied."""
    state = initial_state(spec)
    entry, raw = make_entry(state, Create(at=at, spec=spec), (Created(at=at),))
    apply_entry(spec, state, entry)
    return spec, state, entry, raw


def _next(state: LotState | None, raw: bytes, stored: bytes, position: int) -> Entry:
    """Decode the entry at `position` and check its place in the chain."""
    prev = GENESIS_HASH if state is None else state.head_hash
    try:
        entry = decode_entry(raw, stored, prev)
    except LogError as exc:
        raise LogError(position, exc.problem) from exc
    if entry.seq != position:
        raise LogError(position, f"seq {entry.seq} where {position} was expected")
    if chain(prev, raw) != entry.hash:
        raise LogError(position, "hash does not match the chain")
    if (position == 1) != (type(entry.command) is Create):
        raise LogError(position, _CREATE_FIRST)
    return entry


_CREATE_FIRST = "create must be exactly the first entry"


def _spec_of(first: Entry) -> LotSpec:
    """The lot's spec, from its first entry (which `_next` has checked is the Create)."""
    if type(first.command) is not Create:
        raise LogError(first.seq, _CREATE_FIRST)
    return first.command.spec


def replay(raw: Iterable[tuple[bytes, bytes]]) -> tuple[LotSpec, LotState]:
    """Fold a whole log (from seq 1) into its state, checking seq and hash chain, not the rules."""
    spec: LotSpec | None = None
    state: LotState | None = None
    for position, (entry_bytes, stored) in enumerate(raw, start=1):
        entry = _next(state, entry_bytes, stored, position)
        if spec is None or state is None:
            spec = _spec_of(entry)
            state = initial_state(spec)
        apply_entry(spec, state, entry)
    if spec is None or state is None:
        raise LogError(1, "empty log")
    return spec, state


def resume(spec: LotSpec, snapshot_state: LotState, raw_tail: Iterable[tuple[bytes, bytes]]) -> LotState:
    """A snapshot (left untouched) plus the entries after it."""
    state = snapshot_state.copy()
    for entry_bytes, stored in raw_tail:
        entry = _next(state, entry_bytes, stored, state.seq + 1)
        apply_entry(spec, state, entry)
    return state


def verify(raw: Iterable[tuple[bytes, bytes]]) -> VerifyReport:
    """Re-decide every logged command against the rebuilt state; report the first bad entry."""
    spec: LotSpec | None = None
    state: LotState | None = None
    count = 0
    for position, (entry_bytes, stored) in enumerate(raw, start=1):
        try:
            entry = _next(state, entry_bytes, stored, position)
            if encode_entry(entry.seq, entry.command, entry.events) != entry_bytes:
                raise LogError(position, "not in canonical encoding")
            if spec is None or state is None:
                spec = _spec_of(entry)
                state = initial_state(spec)
                expected: tuple[Event, ...] = (Created(at=entry.command.at),)
            else:
                decision = decide(spec, state, entry.command)
                if not isinstance(decision, Accepted):
                    raise LogError(position, f"the rules refuse this command: {decision.reason}")
                expected = decision.events
            if encode_entry(position, entry.command, expected) != entry_bytes:
                raise LogError(position, "logged events differ from what the rules decide")
            apply_entry(spec, state, entry)
        except LogError as exc:
            return VerifyReport(False, count, position, exc.problem, spec, state)
        count += 1
    if state is None:
        return VerifyReport(False, 0, 1, "empty log", None, None)
    return VerifyReport(True, count, None, None, spec, state)
