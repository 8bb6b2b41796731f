"""The bidding rules, sans-I/O: a lot's spec and state, commands in, events or a refusal out.

RULES.md states the rules; docs/rules.md says how this package reads them. Nothing here reads a
clock, draws a random number or does I/O, so a lot's log always replays to the same state.
"""

from .commands import (
    Approve,
    Bid,
    BuyNow,
    Command,
    Create,
    FairWarning,
    Hammer,
    Open,
    Pause,
    Reject,
    Resume,
    Tick,
    Withdraw,
    command_from_dict,
    command_to_dict,
)
from .events import (
    Approved,
    BidPlaced,
    BuyNowTaken,
    Closed,
    Created,
    Event,
    FairWarningGiven,
    Opened,
    Paused,
    Rejected,
    Resumed,
    event_from_dict,
    event_to_dict,
)
from .ladder import DEFAULT_LADDER, step
from .reasons import Reason
from .rules import Accepted, Refused, apply, decide, dutch_price, initial_state, next_deadline, next_min
from .spec import AntiSnipe, DutchSpec, LotSpec, SpecError
from .state import LotState
from .views import auctioneer_view, bidder_view, exposure, public_view

__all__ = [
    "DEFAULT_LADDER",
    "Accepted",
    "AntiSnipe",
    "Approve",
    "Approved",
    "Bid",
    "BidPlaced",
    "BuyNow",
    "BuyNowTaken",
    "Closed",
    "Command",
    "Create",
    "Created",
    "DutchSpec",
    "Event",
    "FairWarning",
    "FairWarningGiven",
    "Hammer",
    "LotSpec",
    "LotState",
    "Open",
    "Opened",
    "Pause",
    "Paused",
    "Reason",
    "Refused",
    "Reject",
    "Rejected",
    "Resume",
    "Resumed",
    "SpecError",
    "Tick",
    "Withdraw",
    "apply",
    "auctioneer_view",
    "bidder_view",
    "command_from_dict",
    "command_to_dict",
    "decide",
    "dutch_price",
    "event_from_dict",
    "event_to_dict",
    "exposure",
    "initial_state",
    "next_deadline",
    "next_min",
    "public_view",
    "step",
]
