"""Signed bearer tokens: the bidder is whoever the token says, never what a frame claims."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import jwt

from .errors import Forbidden, Unauthorized

ROLES = ("bidder", "auctioneer", "auditor", "watcher")


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    bidder: str | None = None
    paddle: str | None = None

    def require(self, *roles: str) -> "Principal":
        if self.role not in roles and self.role == "watcher":
            raise Unauthorized(f"a token is needed: this takes the {' or '.join(roles)} role")
        if self.role not in roles:
            raise Forbidden(f"role {self.role} may not do this; needs {' or '.join(roles)}")
        return self


WATCHER = Principal("watcher")


class TokenSigner:
    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("AUTH_SECRET must be at least 32 characters")
        self._secret = secret

    def issue(self, role: str, bidder: str | None = None, paddle: str | None = None) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if role == "bidder" and not bidder:
            raise ValueError("a bidder token needs a bidder id")
        claims: dict[str, str] = {"role": role}
        if bidder:
            claims["sub"] = bidder
            claims["paddle"] = paddle or bidder
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def read(self, token: str | None) -> Principal:
        """No token is a watcher; a bad token is refused, never downgraded."""
        if not token:
            return WATCHER
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"])
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"bad token: {exc}") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthorized("token has no valid role")
        if role == "bidder" and not claims.get("sub"):
            raise Unauthorized("bidder token has no bidder id")
        return Principal(role, claims.get("sub"), claims.get("paddle"))


def load_secret(env_secret: str | None, data_dir: Path) -> str:
    """AUTH_SECRET if set, else a secret kept in the data dir so `token` and `serve` agree."""
    if env_secret:
        return env_secret
    path = data_dir / "auth-secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret
