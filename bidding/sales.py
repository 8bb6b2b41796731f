"""Sales of lots that end one after another (docs/rules.md "Sales"): where each lot's end falls,
and which later lots a lot's own anti-sniping extension moves under group soft close.

Pure helpers for the engine and the tests; the lot-side effect is the `join_sale` and `extend_by`
commands, decided by `rules.py` like any other, so each lot's log holds its part of the sale.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_SALE_LOTS = 500
MAX_STAGGER_S = 86_400  # a day between two lots' ends at most
MAX_EXTENSION_MS = 30 * 86_400_000  # an `extend_by` total beyond 30 days is no anti-sniping


def staggered_ends(first_end_at: int, stagger_s: int, count: int) -> list[int]:
    """The i-th lot (from 0) ends at `first_end_at + i * stagger_s * 1000`."""
    return [first_end_at + i * stagger_s * 1000 for i in range(count)]


def group_extensions(lots: Sequence[str], source: str, total_ms: int) -> list[tuple[str, int]]:
    """Group soft close: the later lots of the sale that `source`'s own extensions (`total_ms` in
    all so far) move, each with the total to send it in `extend_by`. A lot not in the sale, or
    no extension yet, moves nothing. Each later lot takes only what it has not taken already, so
    sending the running total (not the last step) makes a retried or reordered send harmless."""
    if source not in lots or total_ms <= 0:
        return []
    later = list(lots)[list(lots).index(source) + 1:]
    return [(lot, total_ms) for lot in later]


def is_earlier(lots: Sequence[str], source: str, lot: str) -> bool:
    """Is `source` before `lot` in the sale's closing order?"""
    return source in lots and lot in lots and list(lots).index(source) < list(lots).index(lot)
