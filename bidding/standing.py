"""Where one bidder stands on one lot: what "My auctions" lists and the room shows beside the price.

A function of the lot's spec and state, so every device (and every node) says the same thing; the
room's idea of "mine" used to live in browser memory and was lost on a reload (issue 13, item 1).
"""

from __future__ import annotations

from enum import StrEnum

from .spec import LotSpec
from .state import CLOSED, PENDING_APPROVAL, SOLD, LotState


class Standing(StrEnum):
    LEADING = "leading"
    OUTBID = "outbid"
    BIDDING = "bidding"  # a sealed bid is in; who leads is hidden until the close
    WON = "won"
    LOST = "lost"
    PENDING = "pending"  # the high bid at the close, below the reserve: the seller decides


def standing(spec: LotSpec, state: LotState, bidder: str) -> Standing | None:
    """None for a bidder who never had a bid accepted on the lot."""
    leads = state.leader == bidder
    if not leads and bidder not in state.maxima:
        return None
    if state.status == CLOSED:
        if leads and state.result == SOLD:
            return Standing.WON
        if leads and state.result == PENDING_APPROVAL:
            return Standing.PENDING
        return Standing.LOST
    if spec.sealed:
        return Standing.BIDDING
    return Standing.LEADING if leads else Standing.OUTBID
