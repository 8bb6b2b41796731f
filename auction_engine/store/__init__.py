"""The engine's SQL side: bidders, the lot catalogue, the settlement ledger and the escrow outbox.

SQLite (`<data_dir>/auction.db`) by default, PostgreSQL with a `postgresql+asyncpg://` URL; see
docs/settlement.md for the ledger and the escrow contract.
"""

from .errors import BadQuery, BidderExists, NotPayable, StoreError, UnknownSettlement
from .ledger import export_settlements_csv
from .models import RESULTS, STATUSES, Bidder, Settlement
from .premium import DEFAULT_CNY, PremiumSchedule, Tier
from .signing import PURPOSE_PAID, PURPOSE_SETTLEMENT, Reason, SignatureError, Signed, claim_nonce, sign, verify
from .store import Store

__all__ = [
    "BadQuery",
    "Bidder",
    "BidderExists",
    "DEFAULT_CNY",
    "NotPayable",
    "PURPOSE_PAID",
    "PURPOSE_SETTLEMENT",
    "PremiumSchedule",
    "RESULTS",
    "Reason",
    "STATUSES",
    "Settlement",
    "SignatureError",
    "Signed",
    "Store",
    "StoreError",
    "Tier",
    "UnknownSettlement",
    "claim_nonce",
    "export_settlements_csv",
    "sign",
    "verify",
]
