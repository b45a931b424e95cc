"""Offset pages (`Page`) and keyset pages (`KeysetPage`), validated and total.

Ordering is always total: the sort column, then ``id``, so rows that tie on
the sort value never repeat or vanish between pages. Keyset pages seek with a
row comparison ``(sort, id) > (:v, :id)`` that an index on ``(sort, id)``
serves directly, so page 50,000 costs what page 1 costs; OFFSET pages read and
discard every earlier row. Cursors are opaque and signed (HMAC), so a modified
cursor is rejected instead of silently reading the wrong rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import math
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar
from uuid import UUID

from sqlalchemy import func, select, tuple_

from dashtam_nb.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import pandas as pd
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import Select

T = TypeVar("T")
MAX_PAGE_SIZE = 1000
"""Largest page a call may ask for; larger reads belong to `stream_frames`."""
TotalMode = Literal["exact", "estimate", "none"]

_KEY = os.environ.get("DASHTAM_CURSOR_KEY", "").encode() or secrets.token_bytes(32)


def _int_arg(value: object, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"{name} must be an integer, not {type(value).__name__}", field=name
        )
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValidationError(f"{name} must be {bound}", field=name)
    return value


def check_page_args(page: object, page_size: object) -> tuple[int, int]:
    """Validate offset paging arguments before any SQL."""
    return _int_arg(page, "page", 1, 10**9), _int_arg(
        page_size, "page_size", 1, MAX_PAGE_SIZE
    )


def sort_column(model: type[Any], sort: object) -> Any:
    """The model column named ``sort``; user text never reaches SQL as text."""
    allowed = sorted(c.key for c in model.__table__.columns)
    if not isinstance(sort, str) or sort not in allowed:
        shown = repr(sort)[:40]
        raise ValidationError(
            f"cannot sort by {shown}; allowed: {', '.join(allowed)}", field="sort"
        )
    return getattr(model, sort)


def _display_frame(frame: pd.DataFrame, caption: str) -> str:
    return (
        f"<div><p><b>{html.escape(caption)}</b></p>"
        f"{frame.to_html(index=False, max_rows=50)}</div>"
    )


@dataclass(frozen=True)
class Page(Generic[T]):
    """One offset page: entities, their frame, and where it sits."""

    items: list[T]
    page: int
    page_size: int
    total: int | None
    total_kind: TotalMode
    _frame: Callable[[], pd.DataFrame] = field(repr=False, compare=False)

    @property
    def frame(self) -> pd.DataFrame:
        """The items as a DataFrame (same columns and dtypes when empty)."""
        return self._frame()

    @property
    def pages(self) -> int | None:
        """Number of pages, when a total is known (an estimate if so marked)."""
        if self.total is None:
            return None
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def has_prev(self) -> bool:
        """Whether a previous page exists."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether a next page exists (exact only with an exact total)."""
        if self.total is not None and self.total_kind == "exact":
            return self.page * self.page_size < self.total
        return len(self.items) == self.page_size

    def caption(self) -> str:
        """``page 3 of 50 · 1,000 rows`` (the total says if it is estimated)."""
        if self.total is None:
            return f"page {self.page} · {len(self.items)} rows shown"
        approx = "~" if self.total_kind == "estimate" else ""
        return (
            f"page {self.page} of {approx}{self.pages:,} · {approx}{self.total:,} rows"
        )

    def _repr_html_(self) -> str:
        return _display_frame(self.frame, self.caption())

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    """One keyset page with opaque cursors for the pages around it."""

    items: list[T]
    page_size: int
    sort: str
    next_cursor: str | None
    prev_cursor: str | None
    _frame: Callable[[], pd.DataFrame] = field(repr=False, compare=False)

    @property
    def frame(self) -> pd.DataFrame:
        """The items as a DataFrame (same columns and dtypes when empty)."""
        return self._frame()

    @property
    def has_next(self) -> bool:
        """Whether rows follow this page."""
        return self.next_cursor is not None

    @property
    def has_prev(self) -> bool:
        """Whether rows precede this page."""
        return self.prev_cursor is not None

    def caption(self) -> str:
        """Rows shown and which directions can be followed (no cursor text)."""
        more = [
            d for d, ok in (("previous", self.has_prev), ("next", self.has_next)) if ok
        ]
        where = f"; cursors: {', '.join(more)}" if more else "; no more pages"
        return f"{len(self.items)} rows by {self.sort}{where}"

    def _repr_html_(self) -> str:
        return _display_frame(self.frame, self.caption())

    def __len__(self) -> int:
        return len(self.items)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, UUID):
        return {"u": str(value)}
    if isinstance(value, Decimal):
        return {"d": str(value)}
    return value


def _unplain(value: Any) -> Any:
    if isinstance(value, dict):
        if "t" in value:
            return datetime.fromisoformat(value["t"])
        if "u" in value:
            return UUID(value["u"])
        if "d" in value:
            return Decimal(value["d"])
    return value


def encode_cursor(scope: str, sort: str, direction: str, key: Sequence[Any]) -> str:
    """Sign a position: (table, sort column, direction, last sort value and id)."""
    body = json.dumps(
        {"s": scope, "o": sort, "d": direction, "k": [_plain(v) for v in key]},
        separators=(",", ":"),
    ).encode()
    mac = hmac.new(_KEY, body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")


def decode_cursor(cursor: object, scope: str, sort: str) -> tuple[str, list[Any]]:
    """Verify a cursor and return (direction, key); ValidationError if tampered."""
    bad = ValidationError("invalid or modified cursor", field="cursor")
    if not isinstance(cursor, str) or not 0 < len(cursor) < 2048:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise bad from None
    mac, body = raw[:16], raw[16:]
    if not hmac.compare_digest(mac, hmac.new(_KEY, body, hashlib.sha256).digest()[:16]):
        raise bad
    data = json.loads(body)
    if data["s"] != scope or data["o"] != sort:
        raise ValidationError(
            "this cursor belongs to another listing or sort order", field="cursor"
        )
    return str(data["d"]), [_unplain(v) for v in data["k"]]


async def count_rows(
    session: AsyncSession, stmt: Select[Any], mode: TotalMode
) -> int | None:
    """Exact count, planner estimate, or nothing, for a listing query."""
    if mode == "none":
        return None
    counted = select(func.count()).select_from(stmt.order_by(None).subquery())
    if mode == "exact":
        return int(await session.scalar(counted) or 0)
    from dashtam_nb.softdelete import INCLUDE_DELETED, LIVE_ROWS

    query = stmt.order_by(None)
    if not stmt.get_execution_options().get(INCLUDE_DELETED, False):
        query = query.options(LIVE_ROWS)
    conn = await session.connection()
    compiled = query.compile(dialect=conn.dialect)
    # Values stay bound parameters: only our own compiled SQL becomes text.
    result = await conn.exec_driver_sql(
        "EXPLAIN (FORMAT JSON) " + str(compiled), dict(compiled.params)
    )
    plan: Any = result.scalar()
    return int(plan[0]["Plan"]["Plan Rows"])


async def offset_page(
    session: AsyncSession,
    model: type[Any],
    stmt: Select[Any],
    *,
    page: object,
    page_size: object,
    sort: object = "created_at",
    descending: bool = False,
    total: TotalMode = "exact",
    to_item: Callable[[Any], T],
    to_frame: Callable[[list[T]], pd.DataFrame],
) -> Page[T]:
    """One OFFSET page of ``stmt`` (a select of ``model``), totally ordered."""
    number, size = check_page_args(page, page_size)
    col = sort_column(model, sort)
    if total not in ("exact", "estimate", "none"):
        raise ValidationError(
            "total must be 'exact', 'estimate' or 'none'", field="total"
        )
    order = (col.desc(), model.id.desc()) if descending else (col, model.id)
    rows = await session.scalars(
        stmt.order_by(*order).offset((number - 1) * size).limit(size)
    )
    items = [to_item(r) for r in rows]
    count = await count_rows(session, stmt, total)
    return Page(items, number, size, count, total, lambda: to_frame(items))


async def keyset_page(
    session: AsyncSession,
    model: type[Any],
    stmt: Select[Any],
    *,
    cursor: object = None,
    page_size: object = 20,
    sort: object = "created_at",
    to_item: Callable[[Any], T],
    to_frame: Callable[[list[T]], pd.DataFrame],
) -> KeysetPage[T]:
    """One keyset page after (or before) ``cursor``, ascending by (sort, id)."""
    size = _int_arg(page_size, "page_size", 1, MAX_PAGE_SIZE)
    col = sort_column(model, sort)
    name = str(sort)
    scope = model.__tablename__
    direction, key = (
        ("next", []) if cursor is None else decode_cursor(cursor, scope, name)
    )
    pos = tuple_(col, model.id)
    if direction == "next":
        query = stmt.where(pos > tuple_(*key)) if key else stmt
        query = query.order_by(col, model.id)
    else:
        query = stmt.where(pos < tuple_(*key)).order_by(col.desc(), model.id.desc())
    models = list(await session.scalars(query.limit(size + 1)))
    more = len(models) > size
    models = models[:size]
    if direction == "prev":
        models.reverse()
    items = [to_item(m) for m in models]

    def mark(m: Any, d: str) -> str:
        return encode_cursor(scope, name, d, (getattr(m, name), m.id))

    has_after = more if direction == "next" else bool(key)
    has_before = bool(key) if direction == "next" else more
    return KeysetPage(
        items,
        size,
        name,
        mark(models[-1], "next") if models and has_after else None,
        mark(models[0], "prev") if models and has_before else None,
        lambda: to_frame(items),
    )
