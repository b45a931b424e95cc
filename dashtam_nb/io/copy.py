"""The SQL side of bulk loads: COPY, the upsert merge, errors mapped to rows.

Everything here runs on the owner loop, on the psycopg connection under the
caller's session, so the rows share its transaction. Kept apart from
`bulk` (planning and validation, which never touch the database).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pyarrow as pa
from psycopg import sql
from sqlalchemy.dialects import postgresql as pg

from dashtam_nb.errors import DashtamError, ValidationError, translate
from dashtam_nb.io.pgbinary import HEADER, TRAILER, encode_rows, fixed16, uuid_strings
from dashtam_nb.io.pgtext import ROW_WISE, text_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import pandas as pd
    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncSession

    from dashtam_nb.io.coerce import Target

__all__ = ["write"]

CHUNK_ROWS = 100_000
"""Rows encoded per COPY write: bounds memory, keeps a progress bar moving."""

_LINE = re.compile(r"COPY \S+, line (\d+)")
_COLUMN = re.compile(r"COPY \S+, line \d+, column (.+?)(?::|$)")
_KEY = re.compile(r"Key \(([^)]+)\)=\((.*)\) (?:is not present|already exists)")
_FAILING = re.compile(r"Failing row contains \(([^,)]*)")
_DIALECT = pg.dialect()  # type: ignore[no-untyped-call]


async def _driver(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under the session's current transaction."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    return driver


def _ident(table: Table, name: str | None = None) -> sql.Composable:
    if name is not None:
        return sql.Identifier(name)
    if table.schema:
        return sql.Identifier(table.schema, table.name)
    return sql.Identifier(table.name)


async def _copy(
    cur: psycopg.AsyncCursor[Any],
    into: sql.Composable,
    targets: Sequence[Target],
    arrays: Sequence[pa.Array],
    on_rows: Callable[[int], object] | None,
) -> None:
    columns = sql.SQL(", ").join(sql.Identifier(t.name) for t in targets)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(into, columns)
    n = len(arrays[0]) if arrays else 0
    if any(t.kind in ROW_WISE for t in targets):
        # Types without a vectorised encoder (inet, arrays, wide numeric,
        # others): a text COPY of the exact text of every converted value,
        # so the server parses each field as its column's type.
        text_stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(into, columns)
        texts = [text_of(t.kind, a) for t, a in zip(targets, arrays, strict=True)]
        async with cur.copy(text_stmt) as copy:
            for row in zip(*texts, strict=True):
                await copy.write_row(row)
        if on_rows:
            on_rows(n)
        return
    async with cur.copy(stmt) as copy:
        await copy.write(HEADER)
        kinds = [t.kind for t in targets]
        for start in range(0, n, CHUNK_ROWS):
            chunk = [a.slice(start, CHUNK_ROWS) for a in arrays]
            await copy.write(encode_rows(kinds, chunk))
            if on_rows:
                on_rows(len(chunk[0]))
        await copy.write(TRAILER)


def _row_of(
    exc: psycopg.Error,
    index: pd.Index,
    targets: Sequence[Target],
    arrays: Sequence[pa.Array],
) -> object | None:
    """The index label of the row a server error is about, when knowable."""
    diag = exc.diag
    line = _LINE.search(diag.context or "")
    if line:
        label: object = index[int(line.group(1)) - 1]
        return label
    found = _KEY.search(diag.message_detail or "")
    column, value = (found.group(1), found.group(2)) if found else (None, None)
    if column is None:
        failing = _FAILING.search(diag.message_detail or "")
        if failing and targets and targets[0].column.primary_key:
            column, value = targets[0].name, failing.group(1)
    by_name = {t.name: (t, a) for t, a in zip(targets, arrays, strict=True)}
    if column not in by_name:
        return None
    target, arr = by_name[column]
    if target.kind == "uuid":
        text = uuid_strings(fixed16(arr))
    else:
        text = arr.cast(pa.string())
    hits = text.to_numpy(zero_copy_only=False) == value
    return index[int(hits.argmax())] if hits.any() else None


def _with_row(exc: psycopg.Error, label: object | None) -> BaseException:
    # By hand: only here is the failing COPY line known, to name the frame row.
    mapped = translate(exc)
    column = _COLUMN.search(exc.diag.context or "")
    if (exc.sqlstate or "").startswith("22") and column and label is not None:
        # A value the server could not take (a data exception): the frame's
        # fault, reported like the client-side refusals.
        name = column.group(1)
        reason = (exc.diag.message_primary or "invalid value").splitlines()[0]
        refused = ValidationError(
            f"column {name!r}, row {label!r}: {reason}", field=name
        )
        refused.row = label  # type: ignore[attr-defined]
        return refused
    if label is not None and isinstance(mapped, DashtamError):
        mapped.args = (f"{mapped.message} (frame row {label!r})",)
        mapped.row = label  # type: ignore[attr-defined]
    return mapped


async def _merge(
    cur: psycopg.AsyncCursor[Any],
    table: Table,
    targets: Sequence[Target],
    arrays: Sequence[pa.Array],
    key: Sequence[str],
    on_rows: Callable[[int], object] | None,
) -> int:
    temp = f"_dashtam_load_{uuid.uuid4().hex[:12]}"
    # LIKE copies types, NOT NULL and defaults (not CHECKs: the final row,
    # not the partial staged one, is what the target's constraints judge).
    await cur.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
        ).format(sql.Identifier(temp), _ident(table))
    )
    await _copy(cur, sql.Identifier(temp), targets, arrays, on_rows)
    names = [t.name for t in targets]
    sets = [
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n))
        for n in names
        if n not in key
    ]
    for column in table.columns:
        # Mirror SQLAlchemy's onupdate (updated_at = clock_timestamp()).
        onupdate = column.onupdate
        if (
            column.name not in names
            and onupdate is not None
            and hasattr(onupdate, "arg")
        ):
            expr = str(onupdate.arg.compile(dialect=_DIALECT))
            sets.append(sql.SQL("{} = " + expr).format(sql.Identifier(column.name)))
    action = (
        sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(sets))
        if sets
        else sql.SQL("DO NOTHING")
    )
    cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    await cur.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
            _ident(table),
            cols,
            cols,
            sql.Identifier(temp),
            sql.SQL(", ").join(sql.Identifier(k) for k in key),
            action,
        )
    )
    merged = cur.rowcount
    await cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(temp)))
    return merged


async def write(
    session: AsyncSession,
    table: Table,
    targets: list[Target],
    arrays: list[pa.Array],
    index: pd.Index,
    mode: str,
    key: Sequence[str],
    on_rows: Callable[[int], object] | None,
) -> int:
    """COPY (append) or COPY + merge (upsert) converted columns; rows written.

    Server errors leave as `DashtamError` naming the frame row (``index``
    label) when PostgreSQL says which row failed.
    """
    # Pending ORM objects (e.g. the accounts these rows point to) must reach
    # the database first, as they would before any ORM query.
    await session.flush()
    conn = await _driver(session)
    async with conn.cursor() as cur:
        try:
            if mode == "upsert":
                return await _merge(cur, table, targets, arrays, key, on_rows)
            await _copy(cur, _ident(table), targets, arrays, on_rows)
            return len(index)
        except psycopg.Error as exc:
            raise _with_row(exc, _row_of(exc, index, targets, arrays)) from None
