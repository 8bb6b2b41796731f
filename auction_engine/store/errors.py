"""Exceptions the store raises; the HTTP layer maps each to one status code."""


class StoreError(Exception):
    """Base of every store error."""


class WriterClosed(StoreError):
    """A write was handed to the SQL writer thread after it closed (`offloop.py`): nothing was written."""


class BidderExists(StoreError):
    """The bidder id or the paddle is already registered (409)."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"{field} {value!r} is already registered")
        self.field = field
        self.value = value


class NoSuchBidder(StoreError, LookupError):
    """No bidder with that id is registered (404)."""

    def __init__(self, bidder: str) -> None:
        super().__init__(f"no bidder {bidder!r}")
        self.bidder = bidder


class UnknownSettlement(StoreError, LookupError):
    """No settlement is recorded for the lot (404)."""

    def __init__(self, lot: str) -> None:
        super().__init__(f"no settlement for lot {lot!r}")
        self.lot = lot


class NotPayable(StoreError, ValueError):
    """The settlement is not `sold`, so there is nothing to pay (409)."""

    def __init__(self, lot: str, result: str) -> None:
        super().__init__(f"lot {lot!r} is {result}, not sold")
        self.lot = lot
        self.result = result


class BadQuery(StoreError, ValueError):
    """A catalogue or ledger query parameter is invalid (400); `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class StepRefused(StoreError):
    """A step after the hammer (or a dealer's) that the records do not allow; `code` names why
    (e.g. `claim_window_closed`, `already_final`), `status` is its HTTP status. Nothing changed."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status
