"""Signed escrow messages: the engine's hand-off and escrow's paid callback, as Stripe signs webhooks.

Header: `X-Signature: t=<ms>,n=<nonce>,v1=<hex>` with
`v1 = HMAC-SHA256(secret, purpose + "\\n" + t + "\\n" + nonce + "\\n" + body)`.

Why each part. The old scheme signed the bare body with whatever secret it was given, which by
default was the token secret: an HS256 JWT is HMAC(secret, header.payload), so every bidder held a
valid (body, signature) pair, and one captured signature worked for every lot, forever. Now:
- the purpose (`escrow.settlement` out, `escrow.paid` in) is signed, so the engine's own hand-off
  can never be replayed as a callback, nor a callback as a hand-off;
- `t` is the sender's clock in ms; a message more than `TOLERANCE_MS` away from ours, either
  direction, is refused (`stale`), which bounds how long a nonce must be remembered;
- the nonce makes each message usable once: `claim_nonce` remembers it in Redis for the whole
  window (`NONCE_TTL_MS`), so a replay to any node of the engine is refused (`replayed`);
- digests are compared with `hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

HEADER = "X-Signature"
PURPOSE_SETTLEMENT = "escrow.settlement"
PURPOSE_PAID = "escrow.paid"
# After the hammer (issue 15, docs/settlement.md): what each signed message authorizes.
PURPOSE_RELEASE = "escrow.release"  # out: pay the seller
PURPOSE_REFUND = "escrow.refund"  # out: return the buyer's payment in full
PURPOSE_PARTIAL_REFUND = "escrow.partial_refund"  # out: return part of it
PURPOSE_DEPOSIT = "escrow.deposit"  # out: collect a dealer's deposit
PURPOSE_DEPOSIT_PAID = "escrow.deposit_paid"  # in: the deposit is held (its own secret)
PURPOSE_DEPOSIT_REFUND = "escrow.deposit_refund"  # out: give a deposit back
PURPOSE_TRANSPORT = "logistics.order"  # out: move a paid car (the logistics secret)
PURPOSE_TRANSPORT_STATUS = "logistics.status"  # in: picked_up, in_transit, delivered
TOLERANCE_MS = 5 * 60 * 1000
# A message stamped up to TOLERANCE_MS ahead stays acceptable until TOLERANCE_MS after its stamp,
# so a nonce is remembered for both halves of the window plus a minute of margin.
NONCE_TTL_MS = 2 * TOLERANCE_MS + 60 * 1000
MAX_HEADER = 512

_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TIME = re.compile(r"[0-9]{1,15}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class Reason(StrEnum):
    MISSING = "missing"
    MALFORMED = "malformed"
    STALE = "stale"
    BAD = "bad"
    REPLAYED = "replayed"


class SignatureError(Exception):
    """A signed message was refused; `reason` says why (never which secret was expected)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(f"signature {reason.value}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Signed:
    """What a valid header vouches for besides the body: when it was signed and its nonce."""

    t_ms: int
    nonce: str


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _digest(secret: str | bytes, purpose: str, t_ms: int, nonce: str, body: bytes) -> str:
    signed = f"{purpose}\n{t_ms}\n{nonce}\n".encode() + body
    return hmac.new(_key(secret), signed, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def sign(secret: str | bytes, purpose: str, body: bytes, *, now_ms: int, nonce: str | None = None) -> str:
    """The `X-Signature` header value for `body` sent for `purpose` at `now_ms`."""
    if not secret:
        raise ValueError("an empty secret signs nothing")
    nonce = nonce or new_nonce()
    if not _NONCE.fullmatch(nonce):
        raise ValueError("a nonce is 16-64 characters of [A-Za-z0-9_-]")
    return f"t={now_ms},n={nonce},v1={_digest(secret, purpose, now_ms, nonce, body)}"


def parse(header: str | None) -> tuple[int, str, str]:
    """(t_ms, nonce, digest) of a header, or SignatureError(MISSING | MALFORMED)."""
    if not header or not header.strip():
        raise SignatureError(Reason.MISSING)
    if len(header) > MAX_HEADER:
        raise SignatureError(Reason.MALFORMED)
    fields: dict[str, str] = {}
    for part in header.strip().split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name in fields:
            raise SignatureError(Reason.MALFORMED)
        fields[name] = value
    if set(fields) != {"t", "n", "v1"}:
        raise SignatureError(Reason.MALFORMED)
    t, nonce, digest = fields["t"], fields["n"], fields["v1"]
    if not (_TIME.fullmatch(t) and _NONCE.fullmatch(nonce) and _DIGEST.fullmatch(digest)):
        raise SignatureError(Reason.MALFORMED)
    return int(t), nonce, digest


def verify(
    secret: str | bytes,
    purpose: str,
    body: bytes,
    header: str | None,
    *,
    now_ms: int,
    tolerance_ms: int = TOLERANCE_MS,
) -> Signed:
    """Check `header` signs `body` for `purpose` under `secret`, within `tolerance_ms` of `now_ms`.

    Raises SignatureError (missing, malformed, stale, bad). It does not see replays: the caller
    then calls `claim_nonce`, which needs shared storage."""
    t_ms, nonce, digest = parse(header)
    if abs(now_ms - t_ms) > tolerance_ms:
        raise SignatureError(Reason.STALE)
    if not secret or not hmac.compare_digest(_digest(secret, purpose, t_ms, nonce, body), digest):
        raise SignatureError(Reason.BAD)
    return Signed(t_ms, nonce)


def nonce_key(purpose: str, nonce: str) -> str:
    return f"escrow:nonce:{purpose}:{nonce}"


async def claim_nonce(redis: Redis | RedisCluster, purpose: str, signed: Signed) -> None:
    """Remember `signed.nonce` for the whole acceptance window, or SignatureError(REPLAYED) if it
    was seen before. `SET NX PX` is one atomic step, so two nodes racing on one message agree."""
    if not await redis.set(nonce_key(purpose, signed.nonce), str(signed.t_ms), nx=True, px=NONCE_TTL_MS):
        raise SignatureError(Reason.REPLAYED)
