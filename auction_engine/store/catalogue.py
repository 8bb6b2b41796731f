"""The lot catalogue: public lot states kept in SQL for search, filters and paging.

Each row holds the public state as last stored (`state`, returned as is) and columns derived
from it for filtering and sorting. Sorting uses the non-null `*_key` columns:

| sort | order | key |
| --- | --- | --- |
| `ending` | `ends_at` ascending, lots with no end last | `ending_key` = `ends_at`, or 2**62 |
| `price` / `-price` | current asking price | `price_key` = `price`, or `start_price` before a bid |
| `year` / `-year` | vehicle year | `year_key` = `year`, or 0 without one |
| `newest` | creation, newest first | `created_at` |

Ties break on the lot id in the same direction. Pages are keyset pages: the cursor is the
base64url of `[sort, key, lot]` of the last row, and the next page starts strictly after it.
`price_max` filters on `price_key`; `q` matches a substring of the lowered make, model, title,
VIN, location and colour.
"""

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bidding.makes import canonical_make, make_names, spellings

from .db import insert
from .errors import BadQuery
from .models import STATUSES
from .schema import lots

NO_END = 2**62
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
HIDDEN = ("reserve",)

SORTS: dict[str, tuple[sa.Column[int], bool]] = {
    "ending": (lots.c.ending_key, False),
    "price": (lots.c.price_key, False),
    "-price": (lots.c.price_key, True),
    "year": (lots.c.year_key, False),
    "-year": (lots.c.year_key, True),
    "newest": (lots.c.created_at, True),
}


def row_from_state(state: dict[str, Any], now: int) -> dict[str, Any]:
    """The column values for a public lot state. Hidden values (the reserve) are dropped, so
    the catalogue can never leak them whatever view it is handed."""
    state = {k: v for k, v in state.items() if k not in HIDDEN}
    vehicle = state.get("vehicle") or {}
    inspection = vehicle.get("inspection") or {}
    colour = vehicle.get("colour", vehicle.get("color"))
    start_price = int(state.get("start_price") or 0)
    price = state.get("price")
    year = vehicle.get("year")
    make = vehicle.get("make")
    text = (make, vehicle.get("model"), state.get("title"), vehicle.get("vin"), vehicle.get("location"), colour)
    return {
        "lot": str(state["lot"]),
        "title": str(state.get("title") or ""),
        "format": state.get("format") or "english",
        "mode": state.get("mode") or "timed",
        "status": state.get("status") or "scheduled",
        "result": state.get("result"),
        "currency": state.get("currency") or "CNY",
        "start_price": start_price,
        "price": price,
        "bids": int(state.get("bids") or 0),
        "starts_at": state.get("starts_at"),
        "ends_at": state.get("ends_at"),
        "seq": int(state.get("seq") or 0),
        "vin": vehicle.get("vin"),
        "make": make,
        "model": vehicle.get("model"),
        "year": year,
        "mileage_km": vehicle.get("mileage_km"),
        "colour": colour,
        "location": vehicle.get("location"),
        "inspection_grade": inspection.get("grade"),
        "inspection_report_url": inspection.get("report_url"),
        "photos": vehicle.get("photos"),
        "search_text": " ".join(str(t) for t in text if t).lower(),
        "make_key": canonical_make(make),  # Toyota, TOYOTA and 丰田 are one filter entry (bidding/makes.py)
        "ending_key": NO_END if state.get("ends_at") is None else int(state["ends_at"]),
        "price_key": start_price if price is None else int(price),
        "year_key": int(year) if year is not None else 0,
        "state": state,
        "created_at": now,
        "updated_at": now,
    }


async def upsert(conn: AsyncConnection, states: Iterable[dict[str, Any]], now: int) -> None:
    """Insert or replace lots by id; an older `seq` never overwrites a newer one."""
    rows = [row_from_state(s, now) for s in states]
    if not rows:
        return
    stmt = insert(conn, lots)
    updated = {c.name: stmt.excluded[c.name] for c in lots.c if c.name not in ("id", "lot", "created_at")}
    stmt = stmt.on_conflict_do_update(
        index_elements=[lots.c.lot], set_=updated, where=lots.c.seq <= stmt.excluded.seq
    )
    await conn.execute(stmt, rows)


async def update(conn: AsyncConnection, states: list[dict[str, Any]], now: int) -> None:
    """Merge partial or full states into stored lots, newest `seq` per lot winning.

    A full state (one with a `title`) for a lot not stored yet is inserted.
    """
    latest: dict[str, dict[str, Any]] = {}
    for s in states:
        key = str(s["lot"])
        if key not in latest or int(s.get("seq") or 0) >= int(latest[key].get("seq") or 0):
            latest[key] = s
    if not latest:
        return
    stored = dict(
        (await conn.execute(sa.select(lots.c.lot, lots.c.state).where(lots.c.lot.in_(list(latest))))).all()
    )
    changes = []
    inserts = []
    for key, s in latest.items():
        if key in stored:
            row = row_from_state({**stored[key], **s}, now)
            del row["created_at"]
            changes.append({**row, "k_lot": key, "k_seq": row["seq"]})
        elif "title" in s:
            inserts.append(s)
    if changes:
        kept = (c.name for c in lots.c if c.name not in ("id", "lot", "created_at"))
        values: dict[str, sa.BindParameter[Any]] = {name: sa.bindparam(name) for name in kept}
        stmt = (
            sa.update(lots)
            .where(lots.c.lot == sa.bindparam("k_lot"), lots.c.seq <= sa.bindparam("k_seq"))
            .values(values)
        )
        await conn.execute(stmt, changes)
    if inserts:
        await upsert(conn, inserts, now)


def encode_cursor(sort: str, key: int, lot: str) -> str:
    raw = json.dumps([sort, key, lot], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, sort: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, key, lot = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadQuery("cursor", "not a cursor this server made") from exc
    if made_for != sort:
        raise BadQuery("cursor", f"made for sort {made_for!r}, not {sort!r}")
    # A key past 64 bits was an unhandled 500 from the database's bind.
    if not isinstance(key, int) or isinstance(key, bool) or not -(2**62) <= key <= 2**62 or not isinstance(lot, str):
        raise BadQuery("cursor", "not a cursor this server made")
    return key, lot


def _int(field: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (bool, float)):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise BadQuery(field, "must be an integer") from None


def build_query(
    *,
    status: str | Iterable[str] | None = None,
    make: str | None = None,
    year_min: Any = None,
    year_max: Any = None,
    price_max: Any = None,
    q: str | None = None,
    sort: str = "ending",
    limit: Any = DEFAULT_LIMIT,
    cursor: str | None = None,
    dialect: str = "sqlite",
) -> tuple[sa.Select[Any], str, int]:
    """The SELECT for one page (one row more than `limit`, to know whether there is another)."""
    if sort not in SORTS:
        raise BadQuery("sort", f"one of {', '.join(SORTS)}")
    limit = DEFAULT_LIMIT if limit is None or limit == "" else _int("limit", limit)
    if limit < 1:
        raise BadQuery("limit", "must be at least 1")
    limit = min(limit, MAX_LIMIT)
    column, descending = SORTS[sort]
    stmt = sa.select(lots.c.lot, lots.c.state, column.label("sort_key"))
    if status:
        wanted = status.split(",") if isinstance(status, str) else list(status)
        bad = [s for s in wanted if s not in STATUSES]
        if bad:
            raise BadQuery("status", f"unknown status {bad[0]!r}")
        stmt = stmt.where(lots.c.status == wanted[0] if len(wanted) == 1 else lots.c.status.in_(wanted))
    if make:  # any spelling of the make, also in rows keyed before the spelling joined the table
        keys = sorted(spellings(make))
        stmt = stmt.where(lots.c.make_key == keys[0] if len(keys) == 1 else lots.c.make_key.in_(keys))
    # On year_key, so a year range is a range of the year indexes; 0 (no year) never matches.
    if (v := _int("year_min", year_min)) is not None:
        stmt = stmt.where(lots.c.year_key >= max(v, 1))
    if (v := _int("year_max", year_max)) is not None:
        stmt = stmt.where(lots.c.year_key <= v, lots.c.year_key >= 1)
    if (v := _int("price_max", price_max)) is not None:
        stmt = stmt.where(lots.c.price_key <= v)
    if q and q.strip():
        stmt = stmt.where(_text_match(q.strip().lower(), dialect))
    if cursor:
        key, lot = decode_cursor(cursor, sort)
        after = sa.tuple_(column, lots.c.lot)
        stmt = stmt.where(after < sa.tuple_(key, lot) if descending else after > sa.tuple_(key, lot))
    order = (column.desc(), lots.c.lot.desc()) if descending else (column.asc(), lots.c.lot.asc())
    return stmt.order_by(*order).limit(limit + 1), sort, limit


def _text_match(needle: str, dialect: str) -> sa.ColumnElement[bool]:
    """Substring match on `search_text`, through the trigram index where one can serve.

    Trigram indexes need three characters. Shorter needles (two-character city names, say)
    match many lots, so walking the sort index and testing each row finds a page quickly; on
    PostgreSQL `strpos` keeps the planner from a GIN scan that would recheck every row.
    """
    if len(needle) >= 3 and dialect == "sqlite":
        fts = sa.table("lots_fts", sa.column("rowid"))
        phrase = '"' + needle.replace('"', '""') + '"'
        return lots.c.id.in_(sa.select(fts.c.rowid).where(sa.text("lots_fts MATCH :phrase").bindparams(phrase=phrase)))
    if len(needle) < 3 and dialect == "postgresql":
        return sa.func.strpos(lots.c.search_text, needle) > 0
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return lots.c.search_text.like(f"%{escaped}%", escape="\\")


async def query(conn: AsyncConnection, **filters: Any) -> tuple[list[dict[str, Any]], str | None]:
    stmt, sort, limit = build_query(**filters, dialect=conn.dialect.name)
    rows = (await conn.execute(stmt)).all()
    if len(rows) <= limit:
        return [r.state for r in rows], None
    rows = rows[:limit]
    return [r.state for r in rows], encode_cursor(sort, rows[-1].sort_key, rows[-1].lot)


async def makes(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Each make in the catalogue once, `{make, en, zh, lots}`, by its canonical key (rows keyed
    by an older spelling fold in), sorted by English name."""
    stmt = (sa.select(lots.c.make_key, sa.func.min(lots.c.make), sa.func.count()).where(lots.c.make_key != "")
            .group_by(lots.c.make_key))
    found: dict[str, dict[str, Any]] = {}
    for key, typed, count in (await conn.execute(stmt)).all():
        canonical = canonical_make(key)
        entry = found.get(canonical)
        if entry is None:
            en, zh = make_names(canonical, typed)
            entry = found[canonical] = {"make": canonical, "en": en, "zh": zh, "lots": 0}
        entry["lots"] += int(count)
    return sorted(found.values(), key=lambda m: (m["en"].casefold(), m["make"]))


async def lot_ids(conn: AsyncConnection, open_only: bool = True) -> list[str]:
    stmt = sa.select(lots.c.lot).order_by(lots.c.lot)
    if open_only:
        stmt = stmt.where(lots.c.status != "closed")
    return list((await conn.execute(stmt)).scalars())
