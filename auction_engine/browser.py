"""What browsers are told and asked: security headers on every HTTP response, and whose
pages may open `/ws` (issue 9, item 16).

The pages load their scripts and styles from /static only (no inline script, no handler
attributes), so the policy allows nothing else; no other site may frame them, and no URL
(with its `?token=`) leaks in a Referer. A page on another site could otherwise open a
WebSocket to the engine from a visitor's browser: the `Origin` a browser sends must be the
engine's own or one configured; clients that send none (Python, curl) are not browsers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def policy(host: str) -> bytes:
    """The Content-Security-Policy; WebSocket URLs are named since 'self' covers them only in CSP 3."""
    sockets = f" ws://{host} wss://{host}" if host else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{sockets}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ).encode()


FIXED = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host: str = value.decode("latin-1")
            return host if all(c.isalnum() or c in ".-:[]" for c in host) else ""
    return ""


class SecurityHeaders:
    """Adds the browser headers to every HTTP response the app sends, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [*FIXED, (b"content-security-policy", policy(_host(scope)))]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


def origin_allowed(headers: Mapping[str, str], scheme: str, allowed: Iterable[str]) -> bool:
    """No Origin (not a browser), the engine's own (`scheme://Host`), or one configured."""
    origin = headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    web = "https" if scheme in ("wss", "https") else "http"
    own = f"{web}://{headers.get('host', '')}"
    return origin == own or origin in allowed
