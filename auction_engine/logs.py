"""The engine's logs: text for a terminal, or one JSON object per line for a log pipeline.

`serve --log-format json` (or AUCTION_LOG_FORMAT=json) gives every line `ts`, `level`, `logger`,
`msg` and, where they apply, `request_id`, `lot`, `bidder`, `node` and `seq`: from the record's
`extra`, else from the request's context (`bind`, set by `RequestIds` and the routes), else read
off the message (`"lot %s"` in the engine's own messages). Whatever the format, a token never
reaches a line (`auth.RedactTokens`) and no query string does: the access log keeps the path
only, as `?token=` is how older clients authenticate and a query may hold a bidder's search.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import RedactTokens

FORMATS = ("text", "json")
FIELDS = ("request_id", "lot", "bidder", "node", "seq")
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # a caller's id is kept only if it is this tame
_LOT_PLACEHOLDER = re.compile(r"%[sdr]|\blot %s")
_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("auction_log_context", default=None)


_NOTHING: dict[str, Any] = {}


class bind:  # noqa: N801 - used as a function: `with bind(request_id=...)`
    """Add fields (request_id, lot, bidder, seq) to every line logged inside, in this task.

    A class, not a generator-based context manager: a WebSocket holds its request id bound for the
    connection's life, and the generator and its frame were ~0.5 KiB of each idle watcher."""

    __slots__ = ("fields", "token")

    def __init__(self, **fields: Any) -> None:
        self.fields = fields
        self.token: contextvars.Token[dict[str, Any] | None] | None = None

    def __enter__(self) -> None:
        bound = {k: v for k, v in self.fields.items() if v is not None}
        self.token = _CONTEXT.set({**(_CONTEXT.get() or {}), **bound})
        self.fields = _NOTHING  # the bound copy is in the context now

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            _CONTEXT.reset(self.token)
            self.token = None


def add(**fields: Any) -> None:
    """Add fields to the current request's context (until the request ends)."""
    current = _CONTEXT.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v is not None})


def _lot_in_message(record: logging.LogRecord) -> Any:
    """The argument a `"lot %s"` in the message stands for, if there is one."""
    if not isinstance(record.msg, str) or "lot %s" not in record.msg or not isinstance(record.args, tuple):
        return None
    for index, match in enumerate(_LOT_PLACEHOLDER.finditer(record.msg)):
        if match.group(0) == "lot %s":
            return record.args[index] if index < len(record.args) else None
    return None


class StripQuery(logging.Filter):
    """A path logged as an argument (uvicorn's access line, its `"WebSocket %s" [accepted]`) keeps
    the path and drops the query string (`?token=`, a bidder's search)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(a.split("?", 1)[0] if isinstance(a, str) and a.startswith("/") else a for a in record.args)
        return True


class ConciseInvalidText(logging.Filter):
    """A client's text frame that is not UTF-8 is the client's fault, not the engine's: one warning
    line instead of uvicorn's traceback per frame (scripts/fuzz.py sends thousands)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, UnicodeDecodeError) or (exc is not None and "invalid UTF-8" in str(exc)):
            record.msg, record.args = "invalid UTF-8 in a text frame from a client: %s; connection closed", (exc,)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ms), level, logger, msg, the context fields, exc."""

    def __init__(self, node: str | None = None) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        context = _CONTEXT.get() or {}
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = context.get(name)
            if value is None and name == "lot":
                value = _lot_in_message(record)
            if value is None and name == "node":
                value = self.node
            if value is not None:
                line[name] = value
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            line.update(client=client, method=method, path=path, http_version=version, status=status)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def logging_config(fmt: str, level: str = "warning", node: str | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` for `serve` (handed to uvicorn as its `log_config`): the engine's
    and uvicorn's loggers to stderr in `fmt`, tokens and query strings filtered out."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    formatter: dict[str, Any] = (
        {"()": JsonFormatter, "node": node} if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s" + (f" [node {node}]" if node else "")}
    )
    filters = {"tokens": {"()": RedactTokens}, "query": {"()": StripQuery}, "utf8": {"()": ConciseInvalidText}}
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "main",
               "filters": ["tokens", "query", "utf8"]}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "filters": filters,
        "handlers": {"main": handler},
        "loggers": {
            "uvicorn": {"handlers": ["main"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": ["main"], "level": upper, "propagate": False},
            "auction_engine": {"handlers": ["main"], "level": upper, "propagate": False},
        },
    }


def request_id_of(scope: Scope) -> str:
    """The caller's `X-Request-Id` if tame, else a new id."""
    given = dict(scope.get("headers", ())).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]


class RequestIds:
    """Give each HTTP request and WebSocket an id: the caller's `X-Request-Id` if tame, else a new
    one; it is in every line logged while the request runs and in the answer's `X-Request-Id`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        path: str = scope.get("path", "")
        parts = path.split("/")
        lot = parts[3] if len(parts) > 3 and parts[1:3] == ["api", "lots"] else None

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", request_id.encode())]}
            await send(message)

        with bind(request_id=request_id, lot=lot):
            await self.app(scope, receive, tagged if scope["type"] == "http" else send)
