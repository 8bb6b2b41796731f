"""The engine's SQL side: bidders, the lot catalogue, the settlement ledger and the escrow outbox.

SQLite (`<data_dir>/auction.db`) by default, PostgreSQL with a `postgresql+asyncpg://` URL; see
docs/settlement.md for the ledger and the escrow contract.
"""

from .errors import BadQuery, BidderExists, NotPayable, StoreError, UnknownSettlement
from .ledger import export_settlements_csv
from .models import RESULTS, STATUSES, Bidder, Settlement
from .premium import DEFAULT_CNY, PremiumSchedule, Tier
from .signing import sign_body, verify_signature
from .store import Store

__all__ = [
    "BadQuery",
    "Bidder",
    "BidderExists",
    "DEFAULT_CNY",
    "NotPayable",
    "PremiumSchedule",
    "RESULTS",
    "STATUSES",
    "Settlement",
    "Store",
    "StoreError",
    "Tier",
    "UnknownSettlement",
    "export_settlements_csv",
    "sign_body",
    "verify_signature",
]
