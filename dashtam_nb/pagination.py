"""Offset pages (`Page`) and keyset pages (`KeysetPage`), validated and total.

Ordering is always total: the sort column, then ``id``, so rows that tie on
the sort value never repeat or vanish between pages. Keyset pages seek with a
row comparison ``(sort, id) > (:v, :id)`` that an index on ``(sort, id)``
serves directly, so page 50,000 costs what page 1 costs; OFFSET pages read and
discard every earlier row. Cursors are opaque and signed (HMAC-SHA256 over a
canonical encoding), so a modified cursor is rejected instead of silently
reading the wrong rows. Every argument is checked before any SQL runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from uuid import UUID

from sqlalchemy import func, literal, select, tuple_

from dashtam_nb.errors import ValidationError, echo
from dashtam_nb.pages import KeysetPage as KeysetPage
from dashtam_nb.pages import Page as Page
from dashtam_nb.pages import TotalKind as TotalKind
from dashtam_nb.softdelete import INCLUDE_DELETED, LIVE_ROWS

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import pandas as pd
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import Select

__all__ = [
    "AUTO_EXACT_LIMIT",
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "TotalMode",
    "check_page_args",
    "count_total",
    "decode_cursor",
    "encode_cursor",
    "keyset_page",
    "offset_page",
    "sort_column",
]

T = TypeVar("T")
MAX_PAGE_SIZE = 1000
"""Largest page a call may ask for; bigger reads belong in a frame read."""
MAX_PAGE = 10**9  # beyond it, OFFSET arithmetic stops being meaningful
AUTO_EXACT_LIMIT = 100_000
"""``total="auto"`` counts exactly up to this many (estimated) rows."""
TotalMode = Literal["exact", "estimate", "none", "auto"]

# Per-process unless set: a cursor outlives neither the key nor the process.
_KEY = os.environ.get("DASHTAM_CURSOR_KEY", "").encode() or secrets.token_bytes(32)
_MAC_BYTES = 16
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]{1,2048}")
_UNSORTABLE = frozenset({"password_hash"})


def _int_arg(value: object, name: str, low: int, high: int) -> int:
    # bool is an int subclass: page=True must not quietly mean page 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"{name} must be an integer, not {type(value).__name__}", field=name
        )
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}", field=name)
    return value


def _bool_arg(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be True or False", field=name)
    return value


def check_page_args(page: object, page_size: object) -> tuple[int, int]:
    """Validate offset paging arguments before any SQL."""
    return (
        _int_arg(page, "page", 1, MAX_PAGE),
        _int_arg(page_size, "page_size", 1, MAX_PAGE_SIZE),
    )


def sort_column(model: type[Any], sort: object, *, keyset: bool = False) -> Any:
    """The model column named ``sort``; user text never reaches SQL as text.

    Secrets are not sortable (ordering by a hash leaks comparisons). Keyset
    pages also need a NOT NULL column: a row comparison with NULL is NULL,
    so rows with a NULL sort value would silently drop out of the walk.
    """
    allowed = sorted(
        c.key
        for c in model.__table__.columns
        if c.key not in _UNSORTABLE and not (keyset and c.nullable)
    )
    if not isinstance(sort, str) or sort not in allowed:
        raise ValidationError(
            f"cannot sort by {echo(sort)}; allowed: {', '.join(allowed)}",
            field="sort",
        )
    return getattr(model, sort)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):  # tagged: a date-like str stays a str
        return {"t": value.isoformat()}
    if isinstance(value, UUID | Decimal):
        return {"u" if isinstance(value, UUID) else "d": str(value)}
    return value


_PARSE: Any = {"t": datetime.fromisoformat, "u": UUID, "d": Decimal}


def _unplain(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((tag, text),) = value.items()
    return _PARSE[tag](text)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _mac(body: bytes) -> bytes:
    return hmac.new(_KEY, body, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(
    scope: str,
    sort: str,
    direction: str,
    key: Sequence[Any],
    *,
    inclusive: bool = False,
) -> str:
    """Sign a position: listing, sort order, direction, last (sort value, id)."""
    data = {"s": scope, "o": sort, "d": direction, "i": inclusive}
    data["k"] = [_plain(v) for v in key]
    body = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return _b64(_mac(body) + body)


def decode_cursor(cursor: object, scope: str, sort: str) -> tuple[str, bool, list[Any]]:
    """Verify a cursor; return (direction, inclusive, key) or raise.

    Only the exact text `encode_cursor` made passes: a lenient base64
    decoder ignores stray characters and the last one's spare bits, so a
    modified cursor could keep a valid MAC; we re-encode and compare.

    Raises:
        ValidationError: modified, truncated, foreign, or from a process
            with another key (set ``DASHTAM_CURSOR_KEY`` to share cursors).
    """
    bad = ValidationError("invalid or modified cursor", field="cursor")
    if not isinstance(cursor, str) or not _CURSOR_CHARS.fullmatch(cursor):
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError:
        raise bad from None
    mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    if _b64(raw) != cursor or not hmac.compare_digest(mac, _mac(body)):
        raise bad
    data = json.loads(body)
    if data["s"] != scope or data["o"] != sort:
        raise ValidationError(
            "this cursor belongs to another listing or sort order", field="cursor"
        )
    return str(data["d"]), bool(data["i"]), [_unplain(v) for v in data["k"]]


def _estimate_sql(stmt: Select[Any], dialect: Any) -> tuple[str, dict[str, Any]]:
    query = stmt.order_by(None)
    # EXPLAIN runs on the Connection, past the Session hook: add the criterion.
    if not stmt.get_execution_options().get(INCLUDE_DELETED, False):
        query = query.options(LIVE_ROWS)
    compiled = query.compile(dialect=dialect)
    # Values stay bound parameters: only our own compiled SQL becomes text.
    return "EXPLAIN (FORMAT JSON) " + str(compiled), dict(compiled.params)


async def count_total(
    session: AsyncSession, stmt: Select[Any], mode: TotalMode
) -> tuple[int | None, TotalKind]:
    """The total of a listing and what kind of number it is.

    ``exact`` runs COUNT over the listing with its execution options (so
    ``include_deleted`` counts deleted rows); ``estimate`` asks the planner
    (EXPLAIN, no scan); ``auto`` counts exactly only up to `AUTO_EXACT_LIMIT`.
    """
    if mode == "none":
        return None, "none"
    if mode in ("estimate", "auto"):
        conn = await session.connection()
        sql, params = _estimate_sql(stmt, conn.dialect)
        plan: Any = (await conn.exec_driver_sql(sql, params)).scalar()
        guess = int(plan[0]["Plan"]["Plan Rows"])
        if mode == "estimate" or guess > AUTO_EXACT_LIMIT:
            return guess, "estimate"
    listing = stmt.order_by(None).limit(None).offset(None).subquery()
    counted = select(func.count()).select_from(listing)
    counted = counted.execution_options(**stmt.get_execution_options())
    return int(await session.scalar(counted) or 0), "exact"


def _check_total(total: object) -> TotalMode:
    # isinstance first: ``in`` would call a hostile value's __eq__.
    if not isinstance(total, str) or total not in ("exact", "estimate", "none", "auto"):
        raise ValidationError(
            "total must be 'exact', 'estimate', 'auto' or 'none'", field="total"
        )
    return cast("TotalMode", total)


async def offset_page(
    session: AsyncSession,
    model: type[Any],
    stmt: Select[Any],
    *,
    page: object,
    page_size: object,
    sort: object = "created_at",
    descending: object = False,
    total: object = "exact",
    to_item: Callable[[Any], T],
    to_frame: Callable[[list[T]], pd.DataFrame],
) -> Page[T]:
    """One OFFSET page of ``stmt`` (a select of ``model``), totally ordered."""
    number, size = check_page_args(page, page_size)
    col = sort_column(model, sort)
    desc = _bool_arg(descending, "descending")
    mode = _check_total(total)
    order = (col.desc(), model.id.desc()) if desc else (col, model.id)
    rows = await session.scalars(
        stmt.order_by(*order).offset((number - 1) * size).limit(size)
    )
    items = [to_item(r) for r in rows]
    count, kind = await count_total(session, stmt, mode)
    return Page(items, number, size, count, kind, lambda: to_frame(items))


async def keyset_page(
    session: AsyncSession,
    model: type[Any],
    stmt: Select[Any],
    *,
    cursor: object = None,
    page_size: object = 20,
    sort: object = "created_at",
    descending: object = False,
    scope: str | None = None,
    to_item: Callable[[Any], T],
    to_frame: Callable[[list[T]], pd.DataFrame],
) -> KeysetPage[T]:
    """One keyset page after (or before) ``cursor``, ordered by (sort, id).

    ``scope`` names the listing its cursors belong to (default: the table).
    """
    size = _int_arg(page_size, "page_size", 1, MAX_PAGE_SIZE)
    col = sort_column(model, sort, keyset=True)
    desc = _bool_arg(descending, "descending")
    name, where = str(sort), scope or model.__tablename__
    order_name = f"-{name}" if desc else name
    direction, inclusive, key = "next", False, None
    if cursor is not None:
        direction, inclusive, key = decode_cursor(cursor, where, order_name)
    forward = direction == "next"
    upward = forward != desc  # scan the index upwards?
    pos = tuple_(col, model.id)
    if key is not None:
        bound = tuple_(literal(key[0], col.type), literal(key[1], model.id.type))
        if upward:
            stmt = stmt.where(pos >= bound if inclusive else pos > bound)
        else:
            stmt = stmt.where(pos <= bound if inclusive else pos < bound)
    order = (col, model.id) if upward else (col.desc(), model.id.desc())
    rows = list(await session.scalars(stmt.order_by(*order).limit(size + 1)))
    more, rows = len(rows) > size, rows[:size]
    if not forward:
        rows.reverse()
    items = [to_item(r) for r in rows]

    def mark(d: str, k: Sequence[Any], incl: bool = False) -> str:
        return encode_cursor(where, order_name, d, k, inclusive=incl)

    def at(row: Any) -> tuple[Any, Any]:
        return getattr(row, name), row.id

    after = more if forward else key is not None
    before = key is not None if forward else more
    nxt = mark("next", at(rows[-1])) if rows and after else None
    prev = mark("prev", at(rows[0])) if rows and before else None
    if not rows and key is not None:
        # Stepped past an edge (rows vanished meanwhile): offer the way back,
        # including the cursor's own row if it is still there.
        if forward:
            prev = mark("prev", key, True)
        else:
            nxt = mark("next", key, True)
    return KeysetPage(items, size, name, nxt, prev, lambda: to_frame(items), desc)
