"""What leaves a lot. The only functions that turn state into data for others to see.

public_view never holds the reserve amount or any bidder's maximum; bidder_view adds that bidder's
own maximum; auctioneer_view adds the reserve and everyone's maxima.
"""

from __future__ import annotations

from typing import Any

from .rules import approve_by, dutch_price, next_min, suspended
from .spec import LotSpec
from .state import CLOSED, OPEN, PENDING_APPROVAL, SCHEDULED, SOLD, LotState


def _revealed(spec: LotSpec, state: LotState) -> bool:
    """Sealed lots reveal price and leader only once closed."""
    return state.status == CLOSED or not spec.sealed


def public_view(spec: LotSpec, state: LotState, now: int | None = None, static: bool = True) -> dict[str, Any]:
    """PROTOCOL.md "Public lot state", plus opened_at, closed_at, fair_warning, remaining_ms, dutch,
    outage_ms (time without a writer, given back), pre_bids (how many wait for the open), correction
    (the auctioneer's last correction: retraction with its reason, reopen or asking amount;
    docs/rules.md), inspection_version (the current condition report), sale (the sale the lot ends
    in, docs/rules.md "Sales") and the increment ladder.

    `static=False` leaves out what never changes (the vehicle, the ladder): event frames go to
    every watcher on every bid, and a vehicle with its photos would multiply their size."""
    revealed = _revealed(spec, state)
    price = state.price if revealed else None
    if spec.format == "dutch" and state.status == OPEN and now is not None:
        price = dutch_price(spec, state, now)
    view: dict[str, Any] = {
        "lot": spec.lot,
        "title": spec.title,
        "format": spec.format,
        "mode": spec.mode,
        "status": state.status,
        "result": state.result,
        "currency": spec.currency,
        "start_price": spec.start_price,
        "price": price,
        "next_min": next_min(spec, state, now) if revealed else None,
        "leader": state.leader_paddle if revealed else None,
        "bids": state.bids,
        "buy_now": spec.buy_now if state.buy_now_offered and state.status != CLOSED else None,
        "starts_at": spec.starts_at,
        "opened_at": state.opened_at,
        "ends_at": state.ends_at,
        "remaining_ms": state.remaining_ms,
        "closed_at": state.closed_at,
        "extensions": state.extensions,
        "fair_warning": state.fair_warning,
        "outage_ms": state.outage_ms,
        "correction": state.correction,
        "pre_bids": len(state.pre_bids),
        "inspection_version": state.inspection_version,
        "approve_by": approve_by(spec, state),
        "sale": None if state.sale is None else state.sale["sale"],
        "dutch": None
        if spec.dutch is None
        else {"step": spec.dutch.step, "tick_s": spec.dutch.tick_s, "floor": spec.dutch.floor},
        "seq": state.seq,
    }
    if static:
        view["vehicle"] = spec.vehicle_dict()
        view["increments"] = [list(tier) for tier in spec.increments]
    if spec.reserve is not None:
        view["reserve_met"] = (price is not None and price >= spec.reserve) if revealed else None
    return view


def bidder_view(spec: LotSpec, state: LotState, bidder: str, now: int | None = None) -> dict[str, Any]:
    """Public state plus `your_max` (this bidder's own maximum or sealed bid), `leading`
    (None in a sealed lot until the close), `counter` (a counter-offer made to them, else None) and
    `suspended` (their maximum awaits a reconfirm on a newer report)."""
    view = public_view(spec, state, now)
    view["your_max"] = state.maxima.get(bidder) if state.status != SCHEDULED else _own_pre_bid(state, bidder)
    view["leading"] = state.leader == bidder if _revealed(spec, state) else None
    view["counter"] = _counter(state) if state.leader == bidder else None
    view["suspended"] = bidder in state.maxima and suspended(state, bidder)
    return view


def _own_pre_bid(state: LotState, bidder: str) -> int | None:
    return max((record[3] for record in state.pre_bids if record[0] == bidder), default=None)


def auctioneer_view(spec: LotSpec, state: LotState, now: int | None = None) -> dict[str, Any]:
    view = public_view(spec, state, now)
    view["reserve"] = spec.reserve
    view["leader_bidder"] = state.leader
    view["maxima"] = dict(state.maxima)
    view["counter"] = _counter(state)
    view["seen"] = dict(state.seen)
    return view


def _counter(state: LotState) -> dict[str, int] | None:
    """A standing counter-offer, for the high bidder and the auctioneer only."""
    amount, until = state.counter, state.counter_until
    return None if amount is None or until is None else {"amount": amount, "expires_at": until}


def exposure(spec: LotSpec, state: LotState) -> dict[str, int]:
    """What each bidder stands to owe on this lot (RULES.md "Credit limits").

    A pending_approval lot keeps its provisional winner's price reserved until approve or reject."""
    if state.status == CLOSED:
        if state.leader is not None and state.price is not None and state.result in (SOLD, PENDING_APPROVAL):
            return {state.leader: state.price}
        return {}
    if state.status == SCHEDULED:  # docs/rules.md "Pre-bids": reserved when placed
        held: dict[str, int] = {}
        for bidder, _, _, maximum in state.pre_bids:
            held[bidder] = max(held.get(bidder, 0), maximum)
        return held
    if spec.sealed:
        return dict(state.maxima)
    if spec.format == "english" and state.leader is not None:
        return {state.leader: state.maxima[state.leader]}
    return {}
