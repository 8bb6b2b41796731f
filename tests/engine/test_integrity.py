"""`integrity.check_database`: when Redis's lots and the database disagree, the engine refuses to start."""

from __future__ import annotations

import pytest

from auction_engine.integrity import DatabaseMismatch, check_database


def test_a_new_database_beside_lots_in_redis_refuses_to_start() -> None:
    with pytest.raises(DatabaseMismatch, match=r"Redis holds 2 lots but the database at db is new \(L1, L2\)"):
        check_database({"L1": 5, "L2": 1}, set(), "db")


def test_a_database_missing_a_lot_with_bids_refuses_to_start_naming_it() -> None:
    with pytest.raises(DatabaseMismatch, match=r"does not know 1 of them \(L2\)"):
        check_database({"L1": 5, "L2": 9}, {"L1"}, "db")


def test_a_lot_created_just_before_a_crash_is_written_to_the_catalogue_again() -> None:
    assert check_database({"L1": 5, "L2": 1}, {"L1"}, "db") == ["L2"]


def test_matching_stores_start() -> None:
    assert check_database({"L1": 5}, {"L1", "L0"}, "db") == []
    assert check_database({}, set(), "db") == []
