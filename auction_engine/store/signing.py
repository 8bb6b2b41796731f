"""HMAC-SHA256 signatures shared by the escrow hand-off and the paid callback.

The header value is `sha256=<hex digest of HMAC-SHA256(secret, body)>`, computed over the exact
bytes sent, as GitHub webhooks do.
"""

import hashlib
import hmac

PREFIX = "sha256="


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign_body(secret: str | bytes, body: bytes) -> str:
    """The `X-Signature` header value for `body`."""
    return PREFIX + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body` under `secret` (constant-time compare)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(sign_body(secret, body).encode(), header.strip().encode())
