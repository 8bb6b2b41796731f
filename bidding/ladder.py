"""Increment ladders: tiers of (from_price, step), the first from 0, ascending."""

from bisect import bisect_right
from math import inf

Ladder = tuple[tuple[int, int], ...]

# RULES.md default, in fen: a step of 100 yuan below 10,000 yuan, and so on.
DEFAULT_LADDER: Ladder = (
    (0, 10000),
    (1000000, 20000),
    (5000000, 50000),
    (10000000, 100000),
    (50000000, 200000),
)


def step(ladder: Ladder, price: int) -> int:
    """The step of the last tier whose from_price <= price."""
    # (price, inf) sorts after every tier starting at price, whatever its step.
    return ladder[bisect_right(ladder, (price, inf)) - 1][1]
