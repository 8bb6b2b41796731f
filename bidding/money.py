"""Money is an int in minor units; bool is an int to Python but never money to us."""

# Far above any car price in fen, far below msgpack's 64-bit limit.
MAX_AMOUNT = 10**15


def is_money(value: object, minimum: int = 0) -> bool:
    """True for an int (not a bool) in [minimum, MAX_AMOUNT]."""
    return type(value) is int and minimum <= value <= MAX_AMOUNT


def is_bid_value(amount: object, maximum: object) -> bool:
    """A bid names exactly one of `amount` and `max`, and it is money above zero; otherwise the
    rules refuse it `bad_amount` (and the engine refuses it before it reaches the lot)."""
    if (amount is None) == (maximum is None):
        return False
    return is_money(amount if maximum is None else maximum, 1)
