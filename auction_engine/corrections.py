"""The auctioneer's corrections of a live sale (docs/rules.md "Clerk corrections"): the commands
that carry a body (`retract_last {reason}`, `asking {amount}`), and the engine's part of `reopen`.

The rules decide each; what the engine adds is the settlement: a lot closed in its reopen window
has its escrow hand-off held until the window ends, plus a second for a reopen stamped just
before the end and still queued (`Engine.lot_result`, `hold_until`), and `reopen` first removes the
unsent record (`Store.void_settlement`), so escrow never hears of a sale that was taken back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bidding.commands import (
    AcceptCounter,
    Approve,
    Asking,
    Command,
    Counter,
    DeclineCounter,
    FairWarning,
    Hammer,
    Open,
    Pause,
    PublishInspection,
    Reconfirm,
    Reject,
    Reopen,
    Resume,
    RetractLast,
    Withdraw,
)
from bidding.reasons import Reason
from bidding.rules import MAX_REASON
from bidding.state import CLOSED

from .actor import LotActor
from .answers import Ack, Answer, Applied, Refusal, Unwritten
from .auth import Principal
from .engine import REOPEN_HOLD_MARGIN_MS, Engine
from .errors import BadRequest, EngineError, NotFound
from .frames import CommandFrame
from .stream import SETTLED_KEY

_RUNNING: set[asyncio.Task[None]] = set()  # WebSocket commands awaiting their lot

def _retract(at: int, body: dict[str, Any]) -> Command:
    reason = body.get("reason")
    if not isinstance(reason, str) or not 0 < len(reason) <= MAX_REASON:
        raise BadRequest(f"`reason` must be a string of 1 to {MAX_REASON} characters", "reason")
    return RetractLast(at=at, reason=reason)


def _asking(at: int, body: dict[str, Any]) -> Command:
    amount: Any = body.get("amount")
    return Asking(at=at, amount=amount)  # the rules refuse a bad amount `bad_amount`


def _reopen(at: int, body: dict[str, Any]) -> Command:
    return Reopen(at=at)


def _counter(at: int, body: dict[str, Any]) -> Command:
    amount: Any = body.get("amount")
    return Counter(at=at, amount=amount)  # the rules refuse a bad amount `bad_amount`


def _inspection(at: int, body: dict[str, Any]) -> Command:
    version: Any = body.get("version")
    url: Any = body.get("report_url")
    return PublishInspection(at=at, version=version, report_url=url)  # the rules refuse bad values `not_allowed`


# The auctioneer's lot actions that carry a body, or need the engine's help (`reopen`).
CORRECTIONS: dict[str, Callable[[int, dict[str, Any]], Command]] = {
    "retract_last": _retract, "asking": _asking, "reopen": _reopen, "counter": _counter, "inspection": _inspection,
}
# A bidder's own lot actions: the high bidder's answers to a counter-offer (docs/rules.md
# "Counter-offers") and standing by a maximum on a newer report ("Inspection versions").
BIDDER_ACTIONS = ("accept_counter", "decline_counter", "reconfirm")
# The plain lot actions over the WebSocket: the HTTP action names are these commands' kinds.
PLAIN: dict[str, Callable[..., Command]] = {
    cls.kind: cls for cls in (Open, Pause, Resume, FairWarning, Hammer, Withdraw, Approve, Reject)
}
FIELDS = {"retract_last": {"reason"}, "asking": {"amount"}, "reopen": set(), "counter": {"amount"},
          "inspection": {"version", "report_url"}}


def command_for(action: str, at: int, body: dict[str, Any]) -> Command:
    """The correction `action` names, stamped `at`. Raises BadRequest naming a bad or unknown field."""
    unknown = set(body) - FIELDS[action] - {"type", "lot", "action", "id"}
    if unknown:
        name = sorted(unknown)[0]
        raise BadRequest(f"unknown field {name!r}", name)
    return CORRECTIONS[action](at, body)


async def bidder_action(engine: Engine, principal: Principal, lot: str, action: str) -> Answer:
    """A bidder's `accept_counter`, `decline_counter` or `reconfirm`, as `engine.call`. One the
    bidder's credit limit cannot cover (taking a counter-offer, or a reconfirmed maximum placed
    again as a bid) is refused `credit_limit` here, as a bid would be."""
    bidder = principal.bidder
    if principal.role != "bidder" or not bidder:
        return Refusal(lot, None, Reason.NOT_ALLOWED)
    at = engine.clock.now_ms()
    command: AcceptCounter | DeclineCounter | Reconfirm
    if action == "reconfirm":
        command = Reconfirm(at=at, bidder=bidder, paddle=principal.paddle or bidder, id=f"reconfirm-{at}")
    else:
        command = (AcceptCounter if action == "accept_counter" else DeclineCounter)(at=at, bidder=bidder)
    actor = engine.lots.get(lot)
    if isinstance(actor, LotActor) and isinstance(command, AcceptCounter | Reconfirm):
        state = actor.state
        held = state.counter if isinstance(command, AcceptCounter) else state.maxima.get(bidder)
        if held is not None and (isinstance(command, AcceptCounter) or state.leader != bidder) \
                and not engine.credit.allows(bidder, lot, held):
            return Refusal(lot, None, Reason.CREDIT_LIMIT)
    return await engine.call(lot, command)


async def run_correction(engine: Engine, lot: str, command: Command) -> Answer:
    """A correction through the lot, as `engine.call`; a `reopen` voids the unsent settlement first."""
    if not isinstance(command, Reopen):
        return await engine.call(lot, command)
    actor = await engine.actor(lot)
    if not isinstance(actor, LotActor):
        # Scaled out, another node writes the lot and its settlement is not voided from here:
        # send the reopen to the owner (GET /api/lots/{lot}/owner).
        return Refusal(lot, None, Reason.NOT_ALLOWED)
    return await _reopen_here(engine, actor, command)


async def _reopen_here(engine: Engine, actor: LotActor, command: Reopen) -> Answer:
    state, lot = actor.state, actor.lot
    if state.status != CLOSED or state.reopen_by is None or command.at >= state.reopen_by:
        return await engine.call(lot, command)  # the rules refuse it; nothing to undo
    await engine.settlement_written(lot, timeout=5)
    # Not settled first: a lot left out of the set is only woken at the next start, harmless.
    await engine.redis.srem(SETTLED_KEY, lot)
    if not await engine.store.void_settlement(lot, state.reopen_by + REOPEN_HOLD_MARGIN_MS):
        engine.lot_result(actor)  # idempotent: marks it settled again
        return Refusal(lot, None, Reason.NOT_ALLOWED)  # escrow may have it: too late to reopen
    engine.keep_awake(lot)  # an open lot is never put back to sleep
    try:
        return await engine.call(lot, command)
    finally:
        if actor.state.status == CLOSED:
            engine.lot_result(actor)  # refused or unwritten after all: the record is written again, as it was


Reply = Callable[[Answer], None]
Error = Callable[[str, str], None]


def staff_command(engine: Engine, principal: Principal, frame: CommandFrame, reply: Reply, error: Error) -> None:
    """A WebSocket `command` frame: the auctioneer's lot action by name (or a bidder's
    `accept_counter`, `decline_counter`, `reconfirm`), answered with an `ack`
    (`leading` false, `price` the lot's price; the lot's `event` frame follows), or an `error` frame for a bad
    field (`bad_request`, naming it). Runs beside the connection's reading, as an HTTP action would."""
    task = asyncio.create_task(_staff(engine, principal, frame, reply, error), name=f"command:{frame.lot}")
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)


async def _staff(engine: Engine, principal: Principal, frame: CommandFrame, reply: Reply, error: Error) -> None:
    lot, ident, action = frame.lot, frame.id, frame.action
    staff = action in PLAIN or action in CORRECTIONS
    if (staff and principal.role != "auctioneer") or (not staff and action not in BIDDER_ACTIONS):
        reply(Refusal(lot, ident, Reason.NOT_ALLOWED))
        return
    now = engine.clock.now_ms()
    try:
        if action in BIDDER_ACTIONS:
            if frame.fields:
                raise BadRequest(f"unknown field {sorted(frame.fields)[0]!r}")
            await engine.actor(lot)
            answer = await bidder_action(engine, principal, lot, action)
        elif action in PLAIN:
            if frame.fields:
                raise BadRequest(f"unknown field {sorted(frame.fields)[0]!r}")
            answer = await engine.call(lot, PLAIN[action](at=now))
        else:
            answer = await run_correction(engine, lot, command_for(action, now, frame.fields))
    except NotFound:
        answer = Refusal(lot, ident, Reason.UNKNOWN_LOT)
    except BadRequest as exc:
        error(exc.code, exc.message)
        return
    except EngineError as exc:
        answer = Unwritten(exc.message)
    if isinstance(answer, Applied):  # `leading` is false: a staff command leads nothing
        actor = engine.lots.get(lot)
        answer = Ack(lot, ident, answer.seq, False, actor.state.price if isinstance(actor, LotActor) else None)
    elif isinstance(answer, Refusal):
        answer = Refusal(lot, ident, answer.reason, answer.next_min)
    reply(answer)
