"""The records the store hands out (`models.py`): status and result names are bidding's own, a
settlement read from its row is the one written, and every record's `to_dict` is JSON as is."""

import json

from auction_engine.store.models import RESULTS, STATUSES, Bidder, Settlement
from bidding.state import CLOSED, OPEN, PAUSED, PENDING_APPROVAL, SCHEDULED, SOLD, UNSOLD, WITHDRAWN

from .test_ledger import HASH, sale


def test_the_status_and_result_names_are_biddings() -> None:
    assert STATUSES == (SCHEDULED, OPEN, PAUSED, CLOSED)
    assert RESULTS == (SOLD, UNSOLD, WITHDRAWN, PENDING_APPROVAL)


def test_a_bidder_is_json_as_is_and_comes_back_from_its_dict() -> None:
    bidder = Bidder("b1", "101", 5_000_000, 1_700_000_000_000, suspended_at=None, tokens_after=None)
    assert Bidder(**json.loads(json.dumps(bidder.to_dict()))) == bidder


async def test_a_settlement_read_from_its_row_is_the_one_written_and_json_as_is(store) -> None:
    written = await store.record_settlement(**sale("M1"))
    read = await store.get_settlement("M1")
    assert read == written and read.head_hash == HASH and not read.paid
    assert Settlement(**json.loads(json.dumps(read.to_dict()))) == read
    paid = await store.mark_paid("M1")
    assert paid.paid and paid.paid_at is not None
