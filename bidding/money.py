"""Money is an int in minor units; bool is an int to Python but never money to us."""

# Far above any car price in fen, far below msgpack's 64-bit limit.
MAX_AMOUNT = 10**15


def is_money(value: object, minimum: int = 0) -> bool:
    """True for an int (not a bool) in [minimum, MAX_AMOUNT]."""
    return type(value) is int and minimum <= value <= MAX_AMOUNT
