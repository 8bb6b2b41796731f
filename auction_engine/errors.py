"""Errors the engine answers with: each one a type with a wire code and an HTTP status
(`frames.error_body` and `frames.error_frame` put them on the wire)."""

from __future__ import annotations

from bidding.reasons import Reason


class EngineError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadRequest(EngineError):
    code = "bad_request"


class BadFrame(EngineError):
    code = "bad_frame"


class TooLarge(EngineError):
    code = "too_large"
    status = 413


class UnknownType(EngineError):
    code = "unknown_type"


class Unauthorized(EngineError):
    code = "unauthorized"
    status = 401


class Forbidden(EngineError):
    code: str = Reason.NOT_ALLOWED
    status = 403


class NotFound(EngineError):
    code: str = Reason.UNKNOWN_LOT
    status = 404


class Conflict(EngineError):
    code = "conflict"
    status = 409


class InvalidSpec(EngineError):
    code = "invalid_spec"
    status = 422


class BidderNotFound(EngineError):
    code = "unknown_bidder"
    status = 404


class InvalidId(EngineError):
    """An id (bidder, paddle, lot, bid id) outside the one pattern of `bidding/ids.py`."""

    code = "invalid_id"
    status = 422


class RateLimited(EngineError):
    code: str = Reason.RATE_LIMITED
    status = 429


class Unavailable(EngineError):
    code: str = Reason.UNAVAILABLE
    status = 503


class BadSignature(Unauthorized):
    """A signed escrow message was refused: missing, malformed, stale, bad or replayed."""

    code = "bad_signature"


class BadPayment(EngineError):
    """An escrow callback whose body is not the documented payment document."""

    code = "bad_payment"
    status = 422


class PaymentMismatch(Conflict):
    """A well-formed payment that does not match this lot's settlement (`field` names what)."""

    code = "payment_mismatch"


class NotSold(Conflict):
    """Payment reported for a lot whose settlement is not `sold` (unsold, withdrawn, pending)."""

    code = "not_sold"


class StepRefused(EngineError):
    """A store's refusal of a step after the hammer, carried to the wire with its own code."""

    def __init__(self, code: str, message: str, field: str | None = None, status: int = 409) -> None:
        super().__init__(message, field)
        self.code = code
        self.status = status
