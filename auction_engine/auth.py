"""Signed bearer tokens: the bidder is whoever the token says, never what a frame claims.

A token carries `exp`, `iat` and `jti`, so a leaked one stops working by itself (12 hours by
default); a bidder token is also checked against the bidders the database knows (`BidderAccess`):
an unknown or suspended bidder is refused at once, whatever the token's signature says.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from .errors import Forbidden, Unauthorized
from .secret_file import load_or_create, private_dir

DEFAULT_TTL_S = 12 * 3600
SECRET_FILE = "auth-secret"

ROLES = ("bidder", "auctioneer", "auditor", "watcher")


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    bidder: str | None = None
    paddle: str | None = None
    issued_ms: int = 0

    def require(self, *roles: str) -> Principal:
        if self.role not in roles and self.role == "watcher":
            raise Unauthorized(f"a token is needed: this takes the {' or '.join(roles)} role")
        if self.role not in roles:
            raise Forbidden(f"role {self.role} may not do this; needs {' or '.join(roles)}")
        return self


WATCHER = Principal("watcher")


class UnknownBidder(Unauthorized):
    code = "unknown_bidder"


class Suspended(Unauthorized):
    code = "suspended"


class TokenSigner:
    """HS256 tokens with a lifetime per role (`ttl_s`, staff = auctioneer and auditor)."""

    def __init__(self, secret: str, bidder_ttl_s: int = DEFAULT_TTL_S, staff_ttl_s: int = DEFAULT_TTL_S) -> None:
        if len(secret) < 32:
            raise ValueError("AUTH_SECRET must be at least 32 characters")
        self._secret = secret
        self.bidder_ttl_s = bidder_ttl_s
        self.staff_ttl_s = staff_ttl_s

    def issue(self, role: str, bidder: str | None = None, paddle: str | None = None,
              ttl_s: int | None = None) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if role == "bidder" and not bidder:
            raise ValueError("a bidder token needs a bidder id")
        ttl = ttl_s or (self.bidder_ttl_s if role == "bidder" else self.staff_ttl_s)
        # `iat` to the millisecond (a NumericDate may be fractional), so a suspension cuts off every
        # token issued before it, and a token minted after a reinstatement works at once.
        now = time.time()
        claims: dict[str, str | float | int] = {
            "role": role, "iat": round(now, 3), "exp": int(now + ttl), "jti": secrets.token_urlsafe(12),
        }
        if bidder:
            claims["sub"] = bidder
            claims["paddle"] = paddle or bidder
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def read(self, token: str | None) -> Principal:
        """No token is a watcher; a bad or expired token is refused, never downgraded."""
        if not token:
            return WATCHER
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"],
                                options={"require": ["exp", "iat", "jti"]})
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the token has expired: ask the auctioneer for a new one") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"bad token: {exc}") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthorized("token has no valid role")
        if role == "bidder" and not claims.get("sub"):
            raise Unauthorized("bidder token has no bidder id")
        return Principal(role, claims.get("sub"), claims.get("paddle"), int(float(claims["iat"]) * 1000))


@dataclass(slots=True)
class Access:
    suspended: bool
    tokens_after: int  # epoch ms: tokens issued before this are refused (set at each suspension)


class BidderAccess:
    """Which bidders exist and may act, mirrored from the `bidders` table (loaded at start,
    changed with it). A bidder token is only as good as this says."""

    def __init__(self) -> None:
        self._bidders: dict[str, Access] = {}

    def set(self, bidder: str, suspended: bool = False, tokens_after: int | None = None) -> None:
        self._bidders[bidder] = Access(suspended, tokens_after or 0)

    def known(self, bidder: str) -> bool:
        return bidder in self._bidders

    def suspended(self, bidder: str) -> bool:
        access = self._bidders.get(bidder)
        return access is not None and access.suspended

    def check(self, principal: Principal) -> Principal:
        """The principal, if it may act. Raises UnknownBidder (the database has no such bidder,
        say after `auction.db` was lost) or Suspended (suspended, or a token from before the
        last suspension)."""
        if principal.role != "bidder" or principal.bidder is None:
            return principal
        access = self._bidders.get(principal.bidder)
        if access is None:
            raise UnknownBidder(f"bidder {principal.bidder!r} is not registered here")
        if access.suspended:
            raise Suspended(f"bidder {principal.bidder!r} is suspended")
        if principal.issued_ms < access.tokens_after:
            raise Suspended("this token was issued before a suspension: ask the auctioneer for a new one")
        return principal


_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&])(?:access_)?token=)[^&\s\"]*", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Blank `?token=` values in log records (uvicorn's access and error loggers print the
    request target with its query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "token=" in a.lower() for a in record.args):
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = _TOKEN_IN_QUERY.sub(r"\1[redacted]", record.msg)
        return True


def redact_tokens_in_logs(names: tuple[str, ...] = ("uvicorn.access", "uvicorn.error")) -> None:
    for name in names:
        logging.getLogger(name).addFilter(RedactTokens())


def load_secret(env_secret: str | None, data_dir: Path) -> str:
    """AUTH_SECRET if set, else the secret kept in the data dir (created 0600 the first time):
    `serve` uses this; `token` and `verify` use `find_secret`, which never creates one."""
    if env_secret:
        return env_secret
    return load_or_create(private_dir(data_dir) / SECRET_FILE)


class SecretNotFound(Exception):
    """Neither AUTH_SECRET nor `<data-dir>/auth-secret`: a new secret would sign tokens no engine accepts."""


def find_secret(env_secret: str | None, data_dir: Path) -> tuple[str, str]:
    """(secret, where it came from) for `token` and `verify`. Raises SecretNotFound naming the data dir."""
    if env_secret:
        return env_secret, "AUTH_SECRET"
    path = data_dir / SECRET_FILE
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        raise SecretNotFound(
            f"no token secret: AUTH_SECRET is unset and {path} does not exist. Pass the engine's --data-dir "
            f"(or set AUCTION_DATA_DIR or AUTH_SECRET) as `serve` was given; a new secret would sign tokens "
            f"the engine refuses."
        ) from None
    if not value:
        raise SecretNotFound(f"the secret file {path} is empty")
    return value, str(path)
