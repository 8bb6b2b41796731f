"""The rules as pure functions: decide(spec, state, command) -> Accepted | Refused, and
apply(spec, state, event) folds an event into the state in place.

decide never mutates; apply never decides. Every time is the command's server stamp `at` or a
deadline (`next_deadline`) that fell due by then, so the same log always gives the same events
(the verifier depends on it), however late the engine's timer ran.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .commands import (
    AcceptCounter,
    Approve,
    Asking,
    Bid,
    BuyNow,
    Command,
    Counter,
    Create,
    DeclineCounter,
    ExtendBy,
    FairWarning,
    Hammer,
    JoinSale,
    Open,
    Outage,
    Pause,
    PublishInspection,
    Reconfirm,
    Reject,
    Reopen,
    Resume,
    RetractLast,
    Tick,
    Withdraw,
    WithdrawMax,
)
from .events import (
    Approved,
    AskingSet,
    BidPlaced,
    BuyNowTaken,
    Closed,
    CounterAccepted,
    CounterDeclined,
    Countered,
    Created,
    Event,
    Extended,
    FairWarningGiven,
    InspectionPublished,
    MaxWithdrawn,
    Opened,
    OutageExtended,
    OutagePaused,
    Paused,
    PreBidPlaced,
    Reconfirmed,
    Rejected,
    Reopened,
    Resumed,
    Retracted,
    SaleJoined,
)
from .ladder import step
from .money import is_bid_value, is_money
from .reasons import Reason
from .sales import MAX_EXTENSION_MS, is_earlier
from .spec import LotSpec
from .state import (
    CLOSED,
    OPEN,
    PAUSED,
    PENDING_APPROVAL,
    RETRACT_DEPTH,
    SCHEDULED,
    SOLD,
    UNSOLD,
    WITHDRAWN,
    LotState,
)


@dataclass(frozen=True, slots=True)
class Accepted:
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Reason
    next_min: int | None = None


Decision = Accepted | Refused

_BAD_AMOUNT = Refused(Reason.BAD_AMOUNT)
_NOT_ALLOWED = Refused(Reason.NOT_ALLOWED)
_LOT_CLOSED = Refused(Reason.LOT_CLOSED)
_LOT_PAUSED = Refused(Reason.LOT_PAUSED)
_LOT_NOT_OPEN = Refused(Reason.LOT_NOT_OPEN)

# Clerk corrections (docs/rules.md): how many bids a lot can take back in a row, how long after
# its close a live lot may be reopened, and the longest reason a retraction may give.
REOPEN_MS = 60_000
MAX_REASON = 200
MAX_REPORT_VERSION = 1000  # as bidding/inspection.py checks vehicle.inspection.version
MAX_REPORT_URL = 1000


def initial_state(spec: LotSpec) -> LotState:
    state = LotState(buy_now_offered=spec.buy_now is not None)
    state.inspection_version = spec.report_version
    return state


def suspended(state: LotState, bidder: str) -> bool:
    """Was the bidder's standing maximum placed on an older report than the current one?
    (docs/rules.md "Inspection versions": the proxy bids nothing for it until they reconfirm.)"""
    current = state.inspection_version
    return state.seen.get(bidder, current) < current


def winning_report(state: LotState) -> int | None:
    """The report version the winning bid saw (docs/rules.md "Inspection versions"): the version
    the leader's standing maximum was placed on, else (a buy-now, no bid before it) the current
    one; None without a leader."""
    leader = state.leader
    return None if leader is None else state.seen.get(leader, state.inspection_version)


def dutch_price(spec: LotSpec, state: LotState, t: int) -> int:
    """RULES.md: max(floor, start_price - step * floor_div(t - opened_at, tick_s * 1000))."""
    d = spec.dutch
    opened = state.opened_at
    if d is None or opened is None or t <= opened:
        return spec.start_price
    return max(d.floor, spec.start_price - d.step * ((t - opened) // (d.tick_s * 1000)))


def next_min(spec: LotSpec, state: LotState, now: int | None = None) -> int | None:
    """The least acceptable bid; for a Dutch lot the clock price at `now` (None without it).

    In a sealed lot this is start_price (each bidder's own later bid must also beat their own);
    views hide it until the close."""
    if state.status == CLOSED:
        return None
    fmt = spec.format
    if fmt == "english":
        p = state.price
        nm = spec.start_price if p is None else p + step(spec.increments, p)
        asking = state.asking
        return nm if asking is None or asking < nm else asking
    if fmt == "dutch":
        return None if now is None else dutch_price(spec, state, now)
    return spec.start_price


def next_deadline(spec: LotSpec, state: LotState) -> int | None:
    """The earliest `at` at which a Tick is accepted, so the engine arms a single timer."""
    status = state.status
    if status == SCHEDULED:
        return spec.starts_at
    if status == CLOSED:  # a counter-offer lapses, else the seller's time to decide runs out
        return state.counter_until if state.counter_until is not None else approve_by(spec, state)
    if status != OPEN:
        return None
    deadline = state.ends_at
    auto = spec.auto_fair_warning_s
    if auto is not None and not state.fair_warning:
        quiet_since = state.quiet_since
        assert quiet_since is not None  # an open lot has one: set by Opened and Resumed
        due = quiet_since + auto * 1000
        if deadline is None or due < deadline:
            deadline = due
    return deadline


def approve_by(spec: LotSpec, state: LotState) -> int | None:
    """docs/rules.md "Approval window": until when the seller may decide a close below the reserve
    (approve, reject or counter); silence until then is a rejection. None without a window, once
    decided, or while a counter-offer stands (its own deadline runs)."""
    window = spec.approval_window_s
    if window is None or state.status != CLOSED or state.result != PENDING_APPROVAL:
        return None
    if state.counter_until is not None or state.closed_at is None:
        return None
    return state.closed_at + window * 1000


def due_tick(spec: LotSpec, state: LotState, at: int) -> Tick | None:
    """The Tick the lot owes before a command stamped `at`: the next deadline's, if it is `<= at`.

    The engine logs it (as its own entry, stamped with the deadline) before the command, so the
    log is the same whether the timer fired on time, late or never."""
    deadline = next_deadline(spec, state)
    return None if deadline is None or deadline > at else Tick(at=deadline)


def due_by(cmd: Command) -> int:
    """The time up to which a command first takes the lot's deadlines: its `at`, but an Outage's
    `began_at` (a deadline that fell while the lot had no writer is given back, not taken).
    The engine logs the Ticks `due_tick(spec, state, due_by(cmd))` names before `cmd`."""
    return cmd.began_at if type(cmd) is Outage else cmd.at


def decide(spec: LotSpec, state: LotState, cmd: Command) -> Decision:
    """Accepted(events) or Refused(reason). Never mutates `state`.

    Any command first takes the transitions due by its `at` (`due_by`; docs/rules.md "How time is
    handled"); they lead its events. A command refused after them leaves them to the next Tick."""
    deadline = next_deadline(spec, state)
    upto = due_by(cmd)
    if deadline is not None and deadline <= upto and type(cmd) is not Tick:
        caught, due = _catch_up(spec, state, upto)
        decision = _DECIDE[type(cmd)](spec, caught, cmd)
        if type(decision) is Accepted:
            return Accepted(due + decision.events)
        return decision
    return _DECIDE[type(cmd)](spec, state, cmd)


def apply(spec: LotSpec, state: LotState, event: Event) -> LotState:
    """Fold one event into `state` in place and return it."""
    _APPLY[type(event)](spec, state, event)
    return state


# -- bids ------------------------------------------------------------------------------------------


def _bid(spec: LotSpec, st: LotState, cmd: Bid) -> Decision:
    if not is_bid_value(cmd.amount, cmd.max):
        return _BAD_AMOUNT
    proxy = cmd.max is not None
    v = cmd.max if proxy else cmd.amount
    assert v is not None  # is_bid_value: exactly one of them is money
    floor = cmd.floor
    if floor is not False:
        if floor is not True or spec.format != "english":
            return _NOT_ALLOWED
        if proxy:
            return _BAD_AMOUNT
    if st.status != OPEN:
        if st.status == SCHEDULED and proxy and floor is False and spec.format == "english":
            return _pre_bid(spec, st, cmd, v)
        return _not_open(spec, st, cmd)
    ends_at = st.ends_at
    if ends_at is not None and cmd.at >= ends_at:
        return _LOT_CLOSED
    fmt = spec.format
    if fmt == "english":
        return _english(spec, st, cmd, v, proxy)
    if fmt == "dutch":
        return _dutch(spec, st, cmd, v)
    return _sealed(spec, st, cmd, v)


def _english(spec: LotSpec, st: LotState, cmd: Bid, v: int, proxy: bool) -> Decision:
    ladder = spec.increments
    bidder = cmd.bidder
    leader = st.leader
    asking = st.asking or 0  # the auctioneer's asking amount (0: none stands)
    if leader is None:
        nm = max(spec.start_price, asking)
        if v < nm:
            return Refused(Reason.TOO_LOW, nm)
        price = nm if proxy else v
        leader, leader_paddle, leader_max = bidder, cmd.paddle, v
    else:
        p, paddle = st.price, st.leader_paddle
        assert p is not None and paddle is not None  # every BidPlaced sets them with the leader
        nm = max(p + step(ladder, p), asking)
        if bidder == leader:
            if not proxy:
                return Refused(Reason.ALREADY_LEADING, nm)
            if v < nm or v <= st.maxima[leader]:
                return Refused(Reason.TOO_LOW, nm)
            price, leader_paddle, leader_max = p, paddle, v
        else:
            if v < nm:
                return Refused(Reason.TOO_LOW, nm)
            e = p if suspended(st, leader) else st.maxima[leader]  # a suspended maximum counts as the price
            if v > e:
                price = min(v, max(e + step(ladder, e), asking)) if proxy else v
                leader, leader_paddle, leader_max = bidder, cmd.paddle, v
            else:
                # The earlier maximum wins a tie; the challenger still moved the price.
                price = min(e, v + step(ladder, v))
                leader_paddle, leader_max = paddle, e
    reserve = spec.reserve
    if reserve is not None and price < reserve <= leader_max:
        price = reserve
    ends_at, extensions = _extend(spec, st, cmd.at)
    return Accepted((_placed(cmd, price, leader, leader_paddle, leader_max, ends_at, extensions),))


def _placed(cmd: Bid, price: int | None, leader: str, leader_paddle: str, leader_max: int,
            ends_at: int | None, extensions: int) -> BidPlaced:
    """The one BidPlaced builder: the bid as received (copied from `cmd`), then the lot after it."""
    return BidPlaced(
        at=cmd.at,
        bidder=cmd.bidder,
        paddle=cmd.paddle,
        id=cmd.id,
        amount=cmd.amount,
        max=cmd.max,
        floor=cmd.floor,
        price=price,
        leader=leader,
        leader_paddle=leader_paddle,
        leader_max=leader_max,
        ends_at=ends_at,
        extensions=extensions,
    )


def _pre_bid(spec: LotSpec, st: LotState, cmd: Bid, v: int) -> Decision:
    """docs/rules.md "Pre-bids": a scheduled English lot keeps proxy maxima for its open."""
    if v < spec.start_price:
        return Refused(Reason.TOO_LOW, spec.start_price)
    own = max((record[3] for record in st.pre_bids if record[0] == cmd.bidder), default=None)
    if own is not None and v <= own:
        return Refused(Reason.TOO_LOW, own + 1)
    return Accepted((PreBidPlaced(at=cmd.at, bidder=cmd.bidder, paddle=cmd.paddle, id=cmd.id, max=v),))


def _opening(spec: LotSpec, st: LotState, at: int) -> tuple[Event, ...]:
    """The open at `at`, then each pre-bid placed as a proxy bid at `at`, in the order they were
    accepted, through the ordinary rules (one the earlier ones passed has no effect). They never
    extend the lot: anti-sniping answers late bids, and these were placed before it opened."""
    opened = _opened(spec, st, at)
    if not st.pre_bids:
        return (opened,)
    events: list[Event] = [opened]
    lot = apply(spec, st.copy(), opened)
    for bidder, paddle, bid_id, maximum in st.pre_bids:
        decision = _english(spec, lot, Bid(at=at, bidder=bidder, paddle=paddle, id=bid_id, max=maximum), maximum, True)
        if type(decision) is Accepted:
            for event in decision.events:
                if type(event) is BidPlaced:
                    event = replace(event, ends_at=opened.ends_at, extensions=0)
                apply(spec, lot, event)
                events.append(event)
    return tuple(events)


def _extend(spec: LotSpec, st: LotState, at: int) -> tuple[int | None, int]:
    """ends_at and extensions after a bid accepted at `at`: fair warning or anti-sniping."""
    ends_at = st.ends_at
    extensions = st.extensions
    if ends_at is None:
        return ends_at, extensions
    if spec.mode == "live":
        later = at + spec.fair_warning_s * 1000
        return (later if later > ends_at else ends_at), extensions
    a = spec.anti_snipe
    if (
        a is not None
        and ends_at - at < a.window_s * 1000
        and (a.max_extensions is None or extensions < a.max_extensions)
    ):
        later = at + a.extend_s * 1000
        if later > ends_at:
            return later, extensions + 1
    return ends_at, extensions


def _sealed(spec: LotSpec, st: LotState, cmd: Bid, v: int) -> Decision:
    if v < spec.start_price:
        return Refused(Reason.TOO_LOW, spec.start_price)
    bidder = cmd.bidder
    own = st.maxima.get(bidder)
    if own is not None and v <= own:
        return Refused(Reason.TOO_LOW, own + 1)
    leader = st.leader
    if leader is None or leader == bidder or v > st.maxima[leader]:
        leader, leader_paddle, leader_max = bidder, cmd.paddle, v
    else:
        paddle = st.leader_paddle
        assert paddle is not None  # every BidPlaced sets it with the leader
        leader_paddle, leader_max = paddle, st.maxima[leader]
    return Accepted((_placed(cmd, None, leader, leader_paddle, leader_max, st.ends_at, st.extensions),))


def _dutch(spec: LotSpec, st: LotState, cmd: Bid, v: int) -> Decision:
    at = cmd.at
    price = dutch_price(spec, st, at)
    if v < price:
        return Refused(Reason.TOO_LOW, price)
    bid = _placed(cmd, price, cmd.bidder, cmd.paddle, v, st.ends_at, st.extensions)
    closed = Closed(at=at, result=SOLD, price=price, winner=cmd.bidder, winner_paddle=cmd.paddle, closed_at=at)
    return Accepted((bid, closed))


def _buy_now(spec: LotSpec, st: LotState, cmd: BuyNow) -> Decision:
    price = spec.buy_now
    if price is None:
        return _NOT_ALLOWED
    if st.status != OPEN:
        return _not_open(spec, st, cmd)
    if st.ends_at is not None and cmd.at >= st.ends_at:
        return _LOT_CLOSED
    if not st.buy_now_offered:
        return _NOT_ALLOWED
    taken = BuyNowTaken(at=cmd.at, bidder=cmd.bidder, paddle=cmd.paddle, id=cmd.id, price=price)
    closed = Closed(at=cmd.at, result=SOLD, price=price, winner=cmd.bidder, winner_paddle=cmd.paddle, closed_at=cmd.at)
    return Accepted((taken, closed))


def _not_open(spec: LotSpec, st: LotState, cmd: Bid | BuyNow) -> Decision:
    """A bidder's command on a lot that is not open (a due opening was taken by `decide`)."""
    status = st.status
    if status == CLOSED:
        return _LOT_CLOSED
    if status == PAUSED:
        return _LOT_PAUSED
    return _LOT_NOT_OPEN


# -- the auctioneer and the clock ------------------------------------------------------------------


def _opened(spec: LotSpec, st: LotState, at: int) -> Opened:
    """A lot in a sale ends at its slot (at once if opened at or after it: unsold, as a lot whose
    whole window passed); any other timed lot `duration_s` after the open."""
    slot = st.sale_end
    if slot is not None:
        return Opened(at=at, ends_at=slot if slot > at else at)
    duration_s = spec.duration_s  # a timed lot's, None for a live lot (LotSpec checks both)
    return Opened(at=at, ends_at=None if duration_s is None else at + duration_s * 1000)


def _closing(spec: LotSpec, st: LotState, closed_at: int) -> Closed:
    """The close and its result, RULES.md "Close and result"."""
    leader = st.leader
    if leader is None:
        return Closed(at=closed_at, result=UNSOLD, price=st.price, winner=None, winner_paddle=None, closed_at=closed_at)
    price = _sealed_price(spec, st, leader) if spec.sealed else st.price
    assert price is not None  # every BidPlaced sets it with the leader
    reserve = spec.reserve
    result = SOLD if reserve is None or price >= reserve else PENDING_APPROVAL
    return Closed(
        at=closed_at, result=result, price=price, winner=leader, winner_paddle=st.leader_paddle, closed_at=closed_at
    )


def _sealed_price(spec: LotSpec, st: LotState, winner: str) -> int:
    top = st.maxima[winner]
    if spec.format == "sealed_first":
        return top
    others = [m for b, m in st.maxima.items() if b != winner]
    if others:
        second = max(others)
        price = max(spec.start_price, min(top, second + step(spec.increments, second)))
    else:
        price = spec.start_price
    reserve = spec.reserve
    if reserve is not None and price < reserve <= top:
        price = reserve
    return price


def _live_gate(st: LotState, at: int) -> Refused | None:
    """Refusal for an auctioneer command that needs a running lot (open or paused)."""
    status = st.status
    if status == CLOSED:
        return _LOT_CLOSED
    if status == SCHEDULED:
        return _NOT_ALLOWED
    if status == OPEN and st.ends_at is not None and at >= st.ends_at:
        return _LOT_CLOSED
    return None


def _open(spec: LotSpec, st: LotState, cmd: Open) -> Decision:
    if st.status == SCHEDULED:
        return Accepted(_opening(spec, st, cmd.at))
    return _LOT_CLOSED if st.status == CLOSED else _NOT_ALLOWED


def _pause(spec: LotSpec, st: LotState, cmd: Pause) -> Decision:
    refused = _live_gate(st, cmd.at)
    if refused is not None:
        return refused
    if st.status != OPEN or spec.format == "dutch":
        return _NOT_ALLOWED
    ends_at = st.ends_at
    return Accepted((Paused(at=cmd.at, remaining_ms=None if ends_at is None else ends_at - cmd.at),))


def _resume(spec: LotSpec, st: LotState, cmd: Resume) -> Decision:
    refused = _live_gate(st, cmd.at)
    if refused is not None:
        return refused
    if st.status != PAUSED:
        return _NOT_ALLOWED
    remaining = st.remaining_ms
    return Accepted((Resumed(at=cmd.at, ends_at=None if remaining is None else cmd.at + remaining),))


def _fair_warning(spec: LotSpec, st: LotState, cmd: FairWarning) -> Decision:
    refused = _live_gate(st, cmd.at)
    if refused is not None:
        return refused
    if st.status != OPEN or spec.mode != "live" or st.fair_warning:
        return _NOT_ALLOWED
    return Accepted((FairWarningGiven(at=cmd.at, ends_at=cmd.at + spec.fair_warning_s * 1000),))


def _hammer(spec: LotSpec, st: LotState, cmd: Hammer) -> Decision:
    refused = _live_gate(st, cmd.at)
    if refused is not None:
        return refused
    return Accepted((_closing(spec, st, cmd.at),))


def _withdraw(spec: LotSpec, st: LotState, cmd: Withdraw) -> Decision:
    if st.status != SCHEDULED:
        refused = _live_gate(st, cmd.at)
        if refused is not None:
            return refused
    closed = Closed(at=cmd.at, result=WITHDRAWN, price=st.price, winner=None, winner_paddle=None, closed_at=cmd.at)
    return Accepted((closed,))


def _approve(spec: LotSpec, st: LotState, cmd: Approve) -> Decision:
    if st.status != CLOSED or st.result != PENDING_APPROVAL:
        return _NOT_ALLOWED
    price, winner, paddle = st.price, st.leader, st.leader_paddle
    assert price is not None and winner is not None and paddle is not None  # pending approval has a provisional winner
    return Accepted((Approved(at=cmd.at, price=price, winner=winner, winner_paddle=paddle),))


def _reject(spec: LotSpec, st: LotState, cmd: Reject) -> Decision:
    if st.status != CLOSED or st.result != PENDING_APPROVAL:
        return _NOT_ALLOWED
    return Accepted((Rejected(at=cmd.at),))


def _retract_last(spec: LotSpec, st: LotState, cmd: RetractLast) -> Decision:
    """docs/rules.md "Clerk corrections": the lot as it stood before its last standing bid."""
    refused = _live_gate(st, cmd.at)
    if refused is not None:
        return refused
    reason = cmd.reason
    if spec.format != "english" or not st.undo or not isinstance(reason, str) or not 0 < len(reason) <= MAX_REASON:
        return _NOT_ALLOWED
    bidder, paddle, bid_id, _, _, price, leader, leader_paddle = st.undo[-1][:8]
    if leader is not None and leader != bidder and leader not in st.maxima:
        return _NOT_ALLOWED  # the earlier leader's maximum was withdrawn (docs/rules.md "Budgets")
    return Accepted((Retracted(at=cmd.at, reason=reason, bidder=bidder, paddle=paddle, id=bid_id, price=price,
                               leader=leader, leader_paddle=leader_paddle),))


def _asking(spec: LotSpec, st: LotState, cmd: Asking) -> Decision:
    """The next asking amount of a live lot: at least the ladder's next_min (a standing asking
    amount aside, so the auctioneer may lower it again)."""
    refused = _live_gate(st, cmd.at)
    if refused is not None:
        return refused
    if spec.mode != "live":
        return _NOT_ALLOWED
    amount = cmd.amount
    if not is_money(amount, 1):
        return _BAD_AMOUNT
    p = st.price
    nm = spec.start_price if p is None else p + step(spec.increments, p)
    if amount < nm:
        return Refused(Reason.TOO_LOW, nm)
    return Accepted((AskingSet(at=cmd.at, amount=amount),))


def _reopen(spec: LotSpec, st: LotState, cmd: Reopen) -> Decision:
    """A live lot closed by mistake opens again as it stood, within REOPEN_MS of its close."""
    reopen_by = st.reopen_by
    if st.status != CLOSED or reopen_by is None or cmd.at >= reopen_by:
        return _NOT_ALLOWED
    return Accepted((Reopened(at=cmd.at),))


def _counter(spec: LotSpec, st: LotState, cmd: Counter) -> Decision:
    """docs/rules.md "Counter-offers": one, above the high bid and at most the reserve."""
    if st.status != CLOSED or st.result != PENDING_APPROVAL or st.counter is not None:
        return _NOT_ALLOWED
    amount, price, reserve = cmd.amount, st.price, spec.reserve
    assert price is not None and reserve is not None  # pending approval: a high bid below the reserve
    if not is_money(amount, 1):
        return _BAD_AMOUNT
    if amount <= price:
        return Refused(Reason.TOO_LOW, price + 1)
    if amount > reserve:
        return _NOT_ALLOWED
    return Accepted((Countered(at=cmd.at, amount=amount, expires_at=cmd.at + spec.counter_window_ms),))


def _answering(st: LotState, cmd: AcceptCounter | DeclineCounter) -> bool:
    """May this bidder answer a counter-offer now? The high bidder, while one stands."""
    until = st.counter_until
    return st.counter is not None and until is not None and cmd.at < until and cmd.bidder == st.leader


def _accept_counter(spec: LotSpec, st: LotState, cmd: AcceptCounter) -> Decision:
    if not _answering(st, cmd):
        return _NOT_ALLOWED
    price, winner, paddle = st.counter, st.leader, st.leader_paddle
    assert price is not None and winner is not None and paddle is not None  # checked by _answering
    return Accepted((CounterAccepted(at=cmd.at, price=price, winner=winner, winner_paddle=paddle),))


def _decline_counter(spec: LotSpec, st: LotState, cmd: DeclineCounter) -> Decision:
    if not _answering(st, cmd):
        return _NOT_ALLOWED
    return Accepted((CounterDeclined(at=cmd.at, lapsed=False),))


def _publish_inspection(spec: LotSpec, st: LotState, cmd: PublishInspection) -> Decision:
    """A newer condition report, on a lot not yet closed (docs/rules.md "Inspection versions")."""
    status = st.status
    if status == CLOSED or (status == OPEN and st.ends_at is not None and cmd.at >= st.ends_at):
        return _LOT_CLOSED
    version, url = cmd.version, cmd.report_url
    if type(version) is not int or not st.inspection_version < version <= MAX_REPORT_VERSION:
        return _NOT_ALLOWED
    if url is not None and (not isinstance(url, str) or not 0 < len(url) <= MAX_REPORT_URL):
        return _NOT_ALLOWED
    return Accepted((InspectionPublished(at=cmd.at, version=version, report_url=url),))


def _reconfirm(spec: LotSpec, st: LotState, cmd: Reconfirm) -> Decision:
    """The bidder's standing maximum placed again on the current report: the leader's is active
    again; a non-leader's that reaches next_min is placed as a proxy bid; a lower one is marked."""
    if st.status != OPEN:
        return _LOT_CLOSED if st.status == CLOSED else _NOT_ALLOWED
    if st.ends_at is not None and cmd.at >= st.ends_at:
        return _LOT_CLOSED
    bidder = cmd.bidder
    own = st.maxima.get(bidder)
    if spec.format != "english" or own is None or not suspended(st, bidder):
        return _NOT_ALLOWED
    if bidder != st.leader:
        nm = next_min(spec, st)
        if nm is not None and own >= nm:
            return _english(spec, st, Bid(at=cmd.at, bidder=bidder, paddle=cmd.paddle, id=cmd.id, max=own), own, True)
    return Accepted((Reconfirmed(at=cmd.at, bidder=bidder, version=st.inspection_version),))


def _join_sale(spec: LotSpec, st: LotState, cmd: JoinSale) -> Decision:
    """docs/rules.md "Sales": a timed, not Dutch, lot in no other sale, scheduled or open, takes its
    slot; an open lot's end never moves earlier."""
    status, ends_at, slot = st.status, st.ends_at, cmd.ends_at
    if status == CLOSED or (status == OPEN and ends_at is not None and cmd.at >= ends_at):
        return _LOT_CLOSED
    if spec.mode != "timed" or spec.format == "dutch" or st.sale is not None or status == PAUSED:
        return _NOT_ALLOWED
    if type(slot) is not int or slot <= cmd.at or spec.lot not in cmd.lots or len(set(cmd.lots)) != len(cmd.lots):
        return _NOT_ALLOWED
    if status == OPEN and ends_at is not None and slot < ends_at:
        return _NOT_ALLOWED
    if status == SCHEDULED and spec.starts_at is not None and slot <= spec.starts_at:
        return _NOT_ALLOWED
    return Accepted((SaleJoined(at=cmd.at, sale=cmd.sale, ends_at=slot, group=cmd.group is True, lots=tuple(cmd.lots)),))


def _extend_by(spec: LotSpec, st: LotState, cmd: ExtendBy) -> Decision:
    """Group soft close: move by what `source` has extended itself and this lot not yet taken."""
    status = st.status
    if status == CLOSED or (status == OPEN and st.ends_at is not None and cmd.at >= st.ends_at):
        return _LOT_CLOSED
    sale, total = st.sale, cmd.total
    if sale is None or not sale["group"] or not is_earlier(sale["lots"], cmd.source, spec.lot):
        return _NOT_ALLOWED
    ms = total - st.group_in.get(cmd.source, 0) if type(total) is int else 0
    if ms <= 0 or total > MAX_EXTENSION_MS:
        return _NOT_ALLOWED
    ends_at = st.ends_at + ms if status == OPEN and st.ends_at is not None else None
    return Accepted((Extended(at=cmd.at, source=cmd.source, total=total, ms=ms, ends_at=ends_at),))


def _withdraw_max(spec: LotSpec, st: LotState, cmd: WithdrawMax) -> Decision:
    """docs/rules.md "Budgets": the bidder's maximum, sealed bid or pre-bids, where they do not lead."""
    status, bidder = st.status, cmd.bidder
    if status == CLOSED or (status == OPEN and st.ends_at is not None and cmd.at >= st.ends_at):
        return _LOT_CLOSED
    holds = bidder in st.maxima or any(record[0] == bidder for record in st.pre_bids)
    if bidder == st.leader or not holds:
        return _NOT_ALLOWED
    return Accepted((MaxWithdrawn(at=cmd.at, bidder=bidder),))


def _tick(spec: LotSpec, st: LotState, cmd: Tick) -> Decision:
    """Everything due by cmd.at, each stamped with when it fell due rather than when the timer
    fired: a lot whose end passed while the engine was down closes as of its ends_at."""
    _, events = _catch_up(spec, st, cmd.at)
    return Accepted(events) if events else _NOT_ALLOWED


def _catch_up(spec: LotSpec, st: LotState, at: int) -> tuple[LotState, tuple[Event, ...]]:
    """The lot after every transition whose deadline is `<= at`, in deadline order, and their
    events. `st` is left as it is (a copy is folded once anything is due)."""
    events: list[Event] = []
    deadline = next_deadline(spec, st)
    while deadline is not None and deadline <= at:
        if not events:
            st = st.copy()
        for event in _fall_due(spec, st, deadline):
            apply(spec, st, event)
            events.append(event)
        deadline = next_deadline(spec, st)
    return st, tuple(events)


def _fall_due(spec: LotSpec, st: LotState, deadline: int) -> tuple[Event, ...]:
    """The transition that `next_deadline` names (a new deadline kind goes in both): the
    scheduled opening, the close at ends_at, else the automatic fair warning. Each moves the
    lot on (opens it, closes it, or starts its one fair warning), so catching up ends."""
    if st.status == SCHEDULED:
        return _opening(spec, st, deadline)
    if st.status == CLOSED:  # a closed lot's deadline: its counter-offer lapses, or the seller's time to decide
        return (CounterDeclined(at=deadline, lapsed=True),) if st.counter_until == deadline else (Rejected(at=deadline),)
    if st.ends_at == deadline:
        return (_closing(spec, st, deadline),)
    auto = spec.auto_fair_warning_s
    if auto is not None and not st.fair_warning and st.quiet_since is not None and st.quiet_since + auto * 1000 == deadline:
        return (FairWarningGiven(at=deadline, ends_at=deadline + spec.fair_warning_s * 1000),)
    raise RuntimeError(f"next_deadline names {deadline} but no transition is due then")


# Longest grace an Outage may give: a day (the engine's default is 10 s).
MAX_GRACE_MS = 86_400_000


def _outage(spec: LotSpec, st: LotState, cmd: Outage) -> Decision:
    """docs/rules.md "Outage fairness". `st` is the lot as of `began_at` (`due_by`). A lot open
    then, or opened by its schedule during the outage, was open without a writer for `lost` ms:
    a timed lot's ends_at moves by `lost + grace_ms`, a live lot pauses. Else not_allowed."""
    outage, grace, began = cmd.outage_ms, cmd.grace_ms, cmd.began_at
    if not 0 < outage <= cmd.at or not 0 <= grace <= MAX_GRACE_MS:
        return _NOT_ALLOWED
    lead: tuple[Event, ...] = ()
    starts_at = spec.starts_at
    if st.status == SCHEDULED and starts_at is not None and began < starts_at <= cmd.at:
        lead = _opening(spec, st, starts_at)
        st = st.copy()
        for event in lead:
            apply(spec, st, event)
        began = starts_at
    ends_at = st.ends_at
    if st.status != OPEN:
        return _NOT_ALLOWED
    if spec.mode == "live":
        remaining = None if ends_at is None else ends_at - began
        return Accepted(lead + (OutagePaused(at=cmd.at, outage_ms=outage, remaining_ms=remaining),))
    if ends_at is None:
        return _NOT_ALLOWED
    lost = cmd.at - began
    return Accepted(lead + (OutageExtended(at=cmd.at, outage_ms=outage, ends_at=ends_at + lost + grace),))


def _create(spec: LotSpec, st: LotState, cmd: Create) -> Decision:
    """A lot is created once, by bidding.log.create_lot; never again through decide."""
    return _NOT_ALLOWED


# Each entry takes its own command (or event) type; the tables are keyed by that type.
_DECIDE: dict[type, Callable[[LotSpec, LotState, Any], Decision]] = {
    Bid: _bid,
    BuyNow: _buy_now,
    Tick: _tick,
    Open: _open,
    Pause: _pause,
    Resume: _resume,
    FairWarning: _fair_warning,
    Hammer: _hammer,
    Withdraw: _withdraw,
    Approve: _approve,
    Reject: _reject,
    Create: _create,
    Outage: _outage,
    RetractLast: _retract_last,
    Asking: _asking,
    Reopen: _reopen,
    Counter: _counter,
    AcceptCounter: _accept_counter,
    DeclineCounter: _decline_counter,
    PublishInspection: _publish_inspection,
    Reconfirm: _reconfirm,
    JoinSale: _join_sale,
    ExtendBy: _extend_by,
    WithdrawMax: _withdraw_max,
}


# -- apply -----------------------------------------------------------------------------------------


def _apply_created(spec: LotSpec, st: LotState, ev: Created) -> None:
    pass


def _apply_opened(spec: LotSpec, st: LotState, ev: Opened) -> None:
    st.pre_bids = []  # placed as bids by the events that follow in the same entry
    st.status = OPEN
    st.opened_at = ev.at
    st.ends_at = ev.ends_at
    st.quiet_since = ev.at


def _apply_bid(spec: LotSpec, st: LotState, ev: BidPlaced) -> None:
    bidder = ev.bidder
    v = ev.amount if ev.max is None else ev.max
    assert v is not None  # a bid carries an amount, a maximum or both
    maxima = st.maxima
    seen = st.seen
    st.undo.append((bidder, ev.paddle, ev.id, maxima.get(bidder), st.paddles.get(bidder), st.price, st.leader,
                    st.leader_paddle, st.buy_now_offered, seen.get(bidder)))  # a deque of RETRACT_DEPTH: the oldest falls off
    seen[bidder] = st.inspection_version
    if v > maxima.get(bidder, 0):
        maxima[bidder] = v
    st.paddles[bidder] = ev.paddle
    st.price = ev.price
    asking = st.asking
    if asking is not None and ev.price is not None and ev.price >= asking:
        st.asking = None
    st.leader = ev.leader
    st.leader_paddle = ev.leader_paddle
    if ev.extensions > st.extensions and ev.ends_at is not None and st.ends_at is not None:
        st.snipe_ms += ev.ends_at - st.ends_at  # its own anti-sniping: what group soft close passes on
    st.ends_at = ev.ends_at
    st.extensions = ev.extensions
    st.bids += 1
    st.last_bid_at = ev.at
    st.quiet_since = ev.at
    st.buy_now_offered = False


def _apply_inspection(spec: LotSpec, st: LotState, ev: InspectionPublished) -> None:
    st.inspection_version = ev.version


def _apply_reconfirmed(spec: LotSpec, st: LotState, ev: Reconfirmed) -> None:
    st.seen[ev.bidder] = ev.version


def _apply_pre_bid(spec: LotSpec, st: LotState, ev: PreBidPlaced) -> None:
    st.pre_bids.append([ev.bidder, ev.paddle, ev.id, ev.max])


def _apply_buy_now(spec: LotSpec, st: LotState, ev: BuyNowTaken) -> None:
    bidder = ev.bidder
    if ev.price > st.maxima.get(bidder, 0):
        st.maxima[bidder] = ev.price
    st.paddles[bidder] = ev.paddle
    st.price = ev.price
    st.leader = bidder
    st.leader_paddle = ev.paddle
    st.buy_now_offered = False


def _apply_paused(spec: LotSpec, st: LotState, ev: Paused) -> None:
    st.status = PAUSED
    st.remaining_ms = ev.remaining_ms
    st.ends_at = None


def _apply_resumed(spec: LotSpec, st: LotState, ev: Resumed) -> None:
    st.status = OPEN
    st.ends_at = ev.ends_at
    st.remaining_ms = None
    st.quiet_since = ev.at


def _apply_fair_warning(spec: LotSpec, st: LotState, ev: FairWarningGiven) -> None:
    st.fair_warning = True
    st.ends_at = ev.ends_at


def _apply_closed(spec: LotSpec, st: LotState, ev: Closed) -> None:
    st.status = CLOSED
    st.result = ev.result
    st.price = ev.price
    st.closed_at = ev.closed_at
    st.remaining_ms = None
    st.fair_warning = False
    st.buy_now_offered = False
    st.asking = None
    st.reopen_by = ev.closed_at + REOPEN_MS if spec.mode == "live" and ev.result != WITHDRAWN else None


def _apply_approved(spec: LotSpec, st: LotState, ev: Approved) -> None:
    st.result = SOLD
    st.price = ev.price
    st.reopen_by = st.counter = st.counter_until = None


def _apply_rejected(spec: LotSpec, st: LotState, ev: Rejected) -> None:
    st.result = UNSOLD
    st.reopen_by = st.counter = st.counter_until = None


def _apply_countered(spec: LotSpec, st: LotState, ev: Countered) -> None:
    st.counter = ev.amount
    st.counter_until = ev.expires_at
    st.reopen_by = None


def _apply_counter_accepted(spec: LotSpec, st: LotState, ev: CounterAccepted) -> None:
    st.result = SOLD
    st.price = ev.price
    st.counter = st.counter_until = None


def _apply_counter_declined(spec: LotSpec, st: LotState, ev: CounterDeclined) -> None:
    st.result = UNSOLD
    st.counter = st.counter_until = None


def _apply_retracted(spec: LotSpec, st: LotState, ev: Retracted) -> None:
    record = st.undo.pop()
    bidder, previous_max, previous_paddle, buy_now_offered = record[0], record[3], record[4], record[8]
    previous_seen = record[9] if len(record) > 9 else None
    if previous_seen is None:
        st.seen.pop(bidder, None)
    else:
        st.seen[bidder] = previous_seen
    if previous_max is None:
        st.maxima.pop(bidder, None)
    else:
        st.maxima[bidder] = previous_max
    if previous_paddle is None:
        st.paddles.pop(bidder, None)
    else:
        st.paddles[bidder] = previous_paddle
    st.price = ev.price
    st.leader = ev.leader
    st.leader_paddle = ev.leader_paddle
    st.buy_now_offered = buy_now_offered
    st.bids -= 1
    st.asking = None
    st.correction = {"kind": ev.kind, "at": ev.at, "reason": ev.reason}


def _apply_reopened(spec: LotSpec, st: LotState, ev: Reopened) -> None:
    st.status = OPEN
    st.result = None
    st.closed_at = None
    st.ends_at = None
    st.remaining_ms = None
    st.fair_warning = False
    st.quiet_since = ev.at
    st.reopen_by = None
    st.correction = {"kind": ev.kind, "at": ev.at}


def _apply_asking(spec: LotSpec, st: LotState, ev: AskingSet) -> None:
    st.asking = ev.amount
    st.correction = {"kind": ev.kind, "at": ev.at, "amount": ev.amount}


def _apply_outage_extended(spec: LotSpec, st: LotState, ev: OutageExtended) -> None:
    st.ends_at = ev.ends_at
    st.outage_ms += ev.outage_ms


def _apply_outage_paused(spec: LotSpec, st: LotState, ev: OutagePaused) -> None:
    st.status = PAUSED
    st.remaining_ms = ev.remaining_ms
    st.ends_at = None
    st.outage_ms += ev.outage_ms


def _apply_sale_joined(spec: LotSpec, st: LotState, ev: SaleJoined) -> None:
    st.sale = {"sale": ev.sale, "group": ev.group, "lots": list(ev.lots)}
    if st.status == OPEN:
        st.ends_at = ev.ends_at
    else:
        st.sale_end = ev.ends_at


def _apply_extended(spec: LotSpec, st: LotState, ev: Extended) -> None:
    st.group_in[ev.source] = ev.total
    ms = ev.ms
    if st.status == OPEN and st.ends_at is not None:
        st.ends_at += ms
    elif st.status == PAUSED and st.remaining_ms is not None:
        st.remaining_ms += ms
    elif st.status == SCHEDULED and st.sale_end is not None:
        st.sale_end += ms


def _apply_max_withdrawn(spec: LotSpec, st: LotState, ev: MaxWithdrawn) -> None:
    bidder = ev.bidder
    st.maxima.pop(bidder, None)
    st.seen.pop(bidder, None)
    st.pre_bids = [record for record in st.pre_bids if record[0] != bidder]
    # No retraction may bring it back: each kept bid's record forgets the bidder's earlier maximum.
    st.undo = deque((tuple(r[:3]) + (None,) + tuple(r[4:]) if r[0] == bidder else r for r in st.undo), RETRACT_DEPTH)


_APPLY: dict[type, Callable[[LotSpec, LotState, Any], None]] = {
    BidPlaced: _apply_bid,
    Created: _apply_created,
    Opened: _apply_opened,
    BuyNowTaken: _apply_buy_now,
    Paused: _apply_paused,
    Resumed: _apply_resumed,
    FairWarningGiven: _apply_fair_warning,
    Closed: _apply_closed,
    Approved: _apply_approved,
    Rejected: _apply_rejected,
    OutageExtended: _apply_outage_extended,
    OutagePaused: _apply_outage_paused,
    Retracted: _apply_retracted,
    Reopened: _apply_reopened,
    AskingSet: _apply_asking,
    Countered: _apply_countered,
    CounterAccepted: _apply_counter_accepted,
    CounterDeclined: _apply_counter_declined,
    PreBidPlaced: _apply_pre_bid,
    InspectionPublished: _apply_inspection,
    Reconfirmed: _apply_reconfirmed,
    SaleJoined: _apply_sale_joined,
    Extended: _apply_extended,
    MaxWithdrawn: _apply_max_withdrawn,
}
