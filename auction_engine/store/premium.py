"""Buyer's premium: a published schedule of price tiers, in integer minor units.

Each tier is `(from_price, bps, fixed)`. The percentage part is marginal, like a tax band or an
auction house's "25% up to 1,000,000, 20% above": the part of the hammer price that falls in a tier
is charged at that tier's rate in basis points (1 bp = 0.01%). The fixed fee is the one of the tier
the whole hammer price falls in. An optional `cap` bounds the total premium.

Rounding: the percentage parts are summed exactly as `sum(bps * portion)` and divided by 10,000
once, rounding half up to the minor unit with integer arithmetic: `(n + 5000) // 10000`. No float
is ever involved.

Because rates are non-negative and fixed fees may not fall from one tier to the next, the premium
never decreases as the hammer price rises.
"""

from collections.abc import Iterable
from dataclasses import dataclass

BPS = 10_000


@dataclass(frozen=True, slots=True)
class Tier:
    from_price: int
    bps: int
    fixed: int = 0


@dataclass(frozen=True, slots=True)
class PremiumSchedule:
    tiers: tuple[Tier, ...]
    cap: int | None = None

    def __post_init__(self) -> None:
        tiers = tuple(t if isinstance(t, Tier) else Tier(*t) for t in self.tiers)
        object.__setattr__(self, "tiers", tiers)
        if not tiers or tiers[0].from_price != 0:
            raise ValueError("the first tier must start at 0")
        for t in tiers:
            for name in ("from_price", "bps", "fixed"):
                v = getattr(t, name)
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise ValueError(f"tier {name} must be a non-negative integer, got {v!r}")
        for a, b in zip(tiers, tiers[1:], strict=False):
            if b.from_price <= a.from_price:
                raise ValueError("tiers must be strictly ascending by from_price")
            if b.fixed < a.fixed:
                raise ValueError("a tier's fixed fee may not be lower than the one before")
        if self.cap is not None and (not isinstance(self.cap, int) or self.cap < 0):
            raise ValueError("cap must be a non-negative integer")

    @classmethod
    def from_list(cls, rows: Iterable[Iterable[int]], cap: int | None = None) -> "PremiumSchedule":
        """From `[[from_price, bps, fixed], ...]`, the shape used in configuration files."""
        return cls(tuple(Tier(*row) for row in rows), cap)

    def to_list(self) -> list[list[int]]:
        return [[t.from_price, t.bps, t.fixed] for t in self.tiers]

    def premium(self, price: int) -> int:
        """The buyer's premium on a hammer price, in the same minor units."""
        if not isinstance(price, int) or isinstance(price, bool) or price < 0:
            raise ValueError(f"price must be a non-negative integer, got {price!r}")
        numerator = 0
        fixed = 0
        for i, tier in enumerate(self.tiers):
            if price < tier.from_price:
                break
            upper = self.tiers[i + 1].from_price if i + 1 < len(self.tiers) else price
            numerator += tier.bps * (min(price, upper) - tier.from_price)
            fixed = tier.fixed
        total = (numerator + BPS // 2) // BPS + fixed
        return total if self.cap is None else min(total, self.cap)

    def total_due(self, price: int) -> int:
        return price + self.premium(price)


# CNY, in fen: 5% of the first 50,000 yuan, 3% up to 200,000, 2% up to 500,000, 1% above, plus a
# handling fee of 300 / 500 / 800 / 1,000 yuan by the band the hammer price falls in.
DEFAULT_CNY = PremiumSchedule(
    (
        Tier(0, 500, 30_000),
        Tier(5_000_000, 300, 50_000),
        Tier(20_000_000, 200, 80_000),
        Tier(50_000_000, 100, 100_000),
    )
)
