"""The fast read path: large results as Arrow, then pandas, in bulk.

Building a frame from Python rows costs about a microsecond per value; a
million-row result is seconds of pure conversion. Two columnar routes were
measured here on 1M transactions: COPY through the session's own psycopg
connection (CSV or binary) and ADBC's PostgreSQL driver (binary COPY decoded
in C++ straight into Arrow). psycopg hands COPY data out one row per call, so
just *receiving* the rows took 4.5-10 s, against 2.3-3.9 s for ADBC's whole
read in the same runs; ADBC it is (``benchmarks/bench_frames.py``, "load").

ADBC reads on a second connection, so it must be made to see what the session
sees:

* **Same rows:** the statement is compiled by SQLAlchemy with the live-rows
  criterion added exactly as the session's hook adds it (`LIVE_ROWS`, unless
  ``include_deleted``).
* **Same snapshot:** the session exports its snapshot (``pg_export_snapshot``)
  and the ADBC transaction imports it (``SET TRANSACTION SNAPSHOT``) before
  reading. A session that has already *written* in its transaction is read
  on the small path instead: its uncommitted rows are invisible to any other
  connection, snapshot or not.
* **Same parameters:** values are bound by psycopg's client-side binding
  (``ClientCursor.mogrify``, the same quoting psycopg uses for COPY, which
  cannot take server-side parameters) on the session's connection, never by
  SQLAlchemy's ``literal_binds``. ADBC with server-side parameters skips its
  COPY reader and was ~1.5x slower.
* **Same dtypes and values:** the Arrow result is conformed to the frames
  contract (uuid to canonical text, numeric to ``decimal128(p, s)``, small
  ints to int64, ``real`` through its shortest decimal as psycopg reads it,
  JSON to compact sorted text and JSON ``null`` to missing); the tests assert
  exact equality with the small path.

Statements whose column types the contract does not pin down exactly (raw
``text()``, enums, naive timestamps, arrays) always take the small path.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import types as sa_types

from dashtam_nb import adbc_pool, runner
from dashtam_nb.errors import DashtamError, ValidationError, translate
from dashtam_nb.frames import build_table, result_type
from dashtam_nb.session import real_session
from dashtam_nb.softdelete import INCLUDE_DELETED, LIVE_ROWS

if TYPE_CHECKING:
    import polars as pl
    import psycopg
    import pyarrow as pa
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
    from sqlalchemy.sql import Select

    from dashtam_nb.session import HoppingSession

__all__ = [
    "FAST_PATH_MIN_ROWS",
    "compile_select",
    "driver_of",
    "estimate_rows",
    "fetch_arrow",
    "fetch_frame",
    "fetch_polars",
    "flatten",
]

FAST_PATH_MIN_ROWS = 1_000
"""Planner-estimated rows from which `fetch_frame` reads through ADBC.

Measured on the transactions table (11 columns): the two paths cross at
~200 rows (4.7 vs 4.8 ms); at 1,000 rows the columnar path is 1.9x faster,
at 10,000 7x. Below 1,000 the gain is a few milliseconds, not worth a second
connection, so tutorial-sized reads stay on the session's own connection.
"""

_EXACT = (
    sa_types.Uuid,
    sa_types.String,
    sa_types.Numeric,
    sa_types.Float,  # not a Numeric subclass in SQLAlchemy 2.1
    sa_types.Boolean,
    sa_types.Integer,
    sa_types.JSON,
)


def _types(stmt: Select[Any]) -> list[sa_types.TypeEngine[Any]] | None:
    """Column types when every one maps exactly; None means "small path"."""
    types = [result_type(c) for c in stmt.selected_columns]
    for typ in types:
        if isinstance(typ, sa_types.Enum | sa_types.ARRAY):
            return None
        if isinstance(typ, sa_types.DateTime) and typ.timezone:
            continue
        if not isinstance(typ, _EXACT):
            return None
    return types


def flatten(stmt: Select[Any]) -> Select[Any]:
    """Whole-entity selects (``select(UserModel)``) as their mapped columns.

    A frame has one column per attribute, never a column of ORM objects; the
    columns stay ORM attributes, so the live-rows criterion still applies.
    """
    columns: list[Any] = []
    for desc in stmt.column_descriptions:
        entity = desc.get("entity")
        if entity is not None and desc["expr"] is entity:
            mapper = sa_inspect(entity)
            columns += [getattr(entity, prop.key) for prop in mapper.column_attrs]
        else:
            columns.append(desc["expr"])
    if len(columns) == len(stmt.column_descriptions):
        return stmt
    return stmt.with_only_columns(*columns, maintain_column_froms=True)


def _with_criterion(stmt: Select[Any], include_deleted: bool) -> Select[Any]:
    if include_deleted:
        return stmt.execution_options(**{INCLUDE_DELETED: True})
    return stmt.options(LIVE_ROWS)


def compile_select(
    stmt: Select[Any], dialect: Any, *, include_deleted: bool = False
) -> tuple[str, dict[str, Any]]:
    """SQL text (psycopg ``%(name)s`` placeholders) and processed parameters.

    The same criterion and bind processing SQLAlchemy would apply; expanding
    ``IN`` lists are rendered as individual parameters.
    """
    compiled = _with_criterion(stmt, include_deleted).compile(
        dialect=dialect, compile_kwargs={"render_postcompile": True}
    )
    params = compiled.construct_params()
    # SQLAlchemy's own per-type bind processors (JSON serialisation, ...).
    processors = getattr(compiled, "_bind_processors", {})
    for name, value in params.items():
        if value is not None and name in processors:
            params[name] = processors[name](value)
    return str(compiled), dict(params)


async def driver_of(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under a SQLAlchemy connection (same transaction)."""
    raw = await conn.get_raw_connection()
    driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    return driver


async def estimate_rows(session: AsyncSession, sql: str, params: dict[str, Any]) -> int:
    """The planner's row estimate for a compiled query (one round trip)."""
    driver = await driver_of(await session.connection())
    cur = await driver.execute(("EXPLAIN (FORMAT JSON) " + sql).encode(), params)
    row = await cur.fetchone()
    plan = row[0] if row else [{}]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0].get("Plan", {}).get("Plan Rows", 0))


async def _small_path(
    session: AsyncSession, stmt: Select[Any], include_deleted: bool
) -> pa.Table:
    from dashtam_nb.frames import gc_paused, statement_types

    opts = {INCLUDE_DELETED: True} if include_deleted else {}
    result = await session.execute(stmt.execution_options(**opts))
    columns = list(result.keys())
    # Synchronous from here on: no other task of the loop runs with GC off.
    with gc_paused():
        rows = [tuple(r) for r in result.all()]
        return build_table(columns, rows, statement_types(stmt))


async def _read(
    session: AsyncSession, stmt: Select[Any], include_deleted: bool, fast: bool | None
) -> pa.Table:
    if not hasattr(stmt, "column_descriptions"):
        raise ValidationError("stmt must be a SQLAlchemy select()", field="stmt")
    stmt = flatten(stmt)
    types = _types(stmt)
    await session.flush()
    conn = await session.connection()
    if types is None or fast is False:
        return await _small_path(session, stmt, include_deleted)
    sql, params = compile_select(stmt, conn.dialect, include_deleted=include_deleted)
    driver = await driver_of(conn)
    if fast is None and await estimate_rows(session, sql, params) < FAST_PATH_MIN_ROWS:
        return await _small_path(session, stmt, include_deleted)
    cur = await driver.execute(
        "SELECT pg_current_xact_id_if_assigned() IS NOT NULL, pg_export_snapshot()"
    )
    wrote, snapshot = await cur.fetchone() or (True, None)
    if wrote or not isinstance(snapshot, str):
        # Our own uncommitted writes: invisible to a second connection.
        return await _small_path(session, stmt, include_deleted)
    import psycopg

    query = psycopg.AsyncClientCursor(driver).mogrify(sql, params)
    return await adbc_pool.read(driver.info, snapshot, query, types)


async def fetch_arrow(
    session: AsyncSession | HoppingSession,
    stmt: Select[Any],
    *,
    include_deleted: bool = False,
    fast: bool | None = None,
) -> pa.Table:
    """A select's result as an Arrow table with the frames-contract types.

    Args:
        session: the caller's session; the read sees its snapshot.
        stmt: a SQLAlchemy ``select()`` (ORM or Core).
        include_deleted: also return soft-deleted rows.
        fast: None picks the path by the planner's row estimate
            (`FAST_PATH_MIN_ROWS`); True/False force the columnar/small path.
    """
    try:
        return await runner.arun(
            _read(real_session(session), stmt, include_deleted, fast)
        )
    except DashtamError:
        raise
    except Exception as exc:
        raise translate(exc) from None


async def fetch_frame(
    session: AsyncSession | HoppingSession,
    stmt: Select[Any],
    *,
    include_deleted: bool = False,
    fast: bool | None = None,
) -> pd.DataFrame:
    """A select's result as a DataFrame, identical to the small path's.

    Every ``*_frame`` read can call this: small results take the row path,
    large ones the columnar path, with the same values and dtypes.
    """
    table = await fetch_arrow(session, stmt, include_deleted=include_deleted, fast=fast)
    frame: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
    return frame


async def fetch_polars(
    session: AsyncSession | HoppingSession,
    stmt: Select[Any],
    *,
    include_deleted: bool = False,
    fast: bool | None = None,
) -> pl.DataFrame:
    """A select's result as a polars DataFrame (needs ``polars`` installed)."""
    import polars as pl

    table = await fetch_arrow(session, stmt, include_deleted=include_deleted, fast=fast)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame
