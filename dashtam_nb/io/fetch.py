# Size: the read front door: path choice, both paths and the public twins.
"""The one read path: SQL text or a select, as Arrow, then pandas.

Every frame read (`Database.frame`, `fetch_frame`, `fetch_arrow`, the
repositories' ``*_frame`` reads) comes here. Column types come from the
server's RowDescription through `readmap` on both routes; the route only
decides how the values travel:

* **Row path** (small results, statements that are not plain queries, a
  session that has written): a psycopg cursor on the session's connection,
  parameters bound by the server, values conformed by `rowtable`.
* **Columnar path** (from `FAST_PATH_MIN_ROWS` planner-estimated rows): ADBC's
  PostgreSQL driver on a second connection, in the session's snapshot
  (``pg_export_snapshot`` / ``SET TRANSACTION SNAPSHOT``), with the live-rows
  criterion compiled in exactly as the session's hook adds it, and the
  parameters bound by the server through ADBC's prepared statement (never
  interpolated). Batches are conformed by `conform`; the tests assert equal
  values and dtypes on both routes.

Why ADBC and the threshold: see "Measured design decisions" in
benchmarks/README.md.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pandas as pd

from dashtam_nb import runner
from dashtam_nb.checks import check_bool, check_params, check_session
from dashtam_nb.errors import ConfigError
from dashtam_nb.frames import gc_paused
from dashtam_nb.io import adbc as adbc_pool
from dashtam_nb.io import columns as result_columns
from dashtam_nb.io.query import Query, compile_query, compile_select, flatten
from dashtam_nb.io.readmap import NumericMode, check_numeric_mode
from dashtam_nb.io.rowtable import prepare_cursor, table_from_rows
from dashtam_nb.progress import progress_bar
from dashtam_nb.session import real_session

if TYPE_CHECKING:
    from collections.abc import Mapping

    import polars as pl
    import psycopg
    import pyarrow as pa
    from psycopg.pq.abc import PGresult
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
    from sqlalchemy.sql import Executable

    from dashtam_nb.io.readmap import ReadColumn
    from dashtam_nb.session import HoppingSession

__all__ = [
    "FAST_PATH_MIN_ROWS",
    "Query",
    "afetch_arrow",
    "afetch_frame",
    "afetch_polars",
    "compile_query",
    "compile_select",
    "driver_of",
    "estimate_rows",
    "fetch_arrow",
    "fetch_frame",
    "fetch_polars",
    "flatten",
]

FAST_PATH_MIN_ROWS = 1_000
"""Planner-estimated rows from which reads take the columnar (ADBC) path.

Why 1,000: "Measured design decisions" in benchmarks/README.md.
"""


async def driver_of(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under a SQLAlchemy connection (same transaction)."""
    raw = await conn.get_raw_connection()
    driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    return driver


async def _query_plan(session: AsyncSession, sql: str, params: dict[str, Any]) -> Any:
    """The planner's plan (``EXPLAIN (FORMAT JSON)``) of a compiled query."""
    driver = await driver_of(await session.connection())
    cur = await driver.execute(("EXPLAIN (FORMAT JSON) " + sql).encode(), params)
    row = await cur.fetchone()
    plan = row[0] if row else [{}]
    return json.loads(plan) if isinstance(plan, str) else plan


async def estimate_rows(session: AsyncSession, sql: str, params: dict[str, Any]) -> int:
    """The planner's row estimate for a compiled query (one round trip)."""
    plan = await _query_plan(session, sql, params)
    return int(plan[0].get("Plan", {}).get("Plan Rows", 0))


def _modifies_rows(plan: Any) -> bool:
    """A plan writing rows (a data-modifying WITH) is no read for ADBC."""
    return '"ModifyTable"' in json.dumps(plan)


async def _execute(cur: psycopg.AsyncCursor[Any], query: Query) -> None:
    """Run ``query`` on ``cur``; a failure keeps the statement it was about.

    The boundary maps the error (`errors.translate`) and, for a syntax
    error, says the line and column in the text as the caller typed it,
    from the statement carried here (never its parameters).
    """
    import psycopg
    from sqlalchemy import exc as sa_exc

    try:
        await cur.execute(query.sql, query.params)
    except psycopg.Error as error:
        raise sa_exc.DBAPIError.instance(
            query.sql, None, error, psycopg.Error, hide_parameters=True
        ) from error


async def _read_rows(
    driver: psycopg.AsyncConnection[Any], query: Query, numeric: NumericMode
) -> pa.Table:
    """The row path: run ``query`` once on the session's connection."""
    import pyarrow as pa

    cur = driver.cursor()
    prepare_cursor(cur, numeric)
    await _execute(cur, query)
    if cur.description is None:
        return pa.table({})
    rows = await cur.fetchall()
    names = [c.name for c in cur.description]
    columns = await _read_columns(driver, cur.pgresult, names, numeric)
    # Synchronous from here on: no other task of the loop runs with GC off.
    with gc_paused():
        return table_from_rows(columns, rows)


async def _read_columns(
    driver: psycopg.AsyncConnection[Any],
    result: PGresult | None,
    names: list[str],
    numeric: NumericMode,
) -> list[ReadColumn]:
    """The read map of a result's RowDescription (catalogue asked if needed)."""
    if result is None:
        return []
    described = [(result.ftype(i), result.fmod(i)) for i in range(result.nfields)]
    catalogue: list[tuple[int, str, str, str]] = []
    if unknown := result_columns.unknown_oids(described):
        cur = driver.cursor()
        await cur.execute(result_columns.CATALOGUE, [unknown])
        catalogue = await cur.fetchall()
    return result_columns.read_columns(names, described, catalogue, numeric)


async def _describe(
    driver: psycopg.AsyncConnection[Any], query: Query, numeric: NumericMode
) -> list[ReadColumn]:
    """The result's columns without running it (``LIMIT 0`` around it)."""
    cur = driver.cursor()
    body = query.sql.rstrip().rstrip(";")
    await cur.execute(
        f"SELECT * FROM (\n{body}\n) AS _dn_described LIMIT 0", query.params
    )
    names = [c.name for c in cur.description or ()]
    return await _read_columns(driver, cur.pgresult, names, numeric)


async def _route(
    session: AsyncSession,
    query: Query,
    fast: bool | None,
    numeric: NumericMode,
    *,
    estimate: bool = False,
) -> tuple[list[ReadColumn] | None, str | None, int | None]:
    """Which path reads ``query``: (columns, snapshot) for ADBC, else Nones.

    The planner's estimate (`FAST_PATH_MIN_ROWS`) and the result's columns
    are asked inside a savepoint: a statement the probes cannot take (a
    syntax error, ``SELECT ... INTO``) leaves the transaction usable, and
    the row path then runs it as typed, so its error points into the text
    the caller wrote. The third item is the estimate, when one was made.
    """
    driver = await driver_of(await session.connection())
    if not query.plain or (fast is False and not estimate):
        return None, None, None
    import psycopg

    guess: int | None = None
    await driver.execute("SAVEPOINT dashtam_route")
    try:
        if fast is None or estimate:
            plan = await _query_plan(session, query.sql, query.params)
            guess = int(plan[0].get("Plan", {}).get("Plan Rows", 0))
            small = guess < FAST_PATH_MIN_ROWS or _modifies_rows(plan)
            if fast is False or (fast is None and small):
                return None, None, guess
        columns = await _describe(driver, query, numeric)
    except psycopg.Error:
        await driver.execute("ROLLBACK TO SAVEPOINT dashtam_route")
        return None, None, guess
    finally:
        if driver.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            await driver.execute("RELEASE SAVEPOINT dashtam_route")
    cur = await driver.execute(
        "SELECT pg_current_xact_id_if_assigned() IS NOT NULL, pg_export_snapshot()"
    )
    wrote, snapshot = await cur.fetchone() or (True, None)
    if wrote or not isinstance(snapshot, str):
        # Our own uncommitted writes: invisible to a second connection.
        return None, None, guess
    return columns, snapshot, guess


async def _read(
    session: AsyncSession,
    source: str | Executable,
    params: Mapping[str, Any] | None,
    include_deleted: bool,
    fast: bool | None,
    numeric: NumericMode,
) -> pa.Table:
    await session.flush()
    conn = await session.connection()
    query = compile_query(source, params, conn.dialect, include_deleted=include_deleted)
    driver = await driver_of(conn)
    columns, snapshot, guess = await _route(session, query, fast, numeric)
    if columns is None or snapshot is None:
        return await _read_rows(driver, query, numeric)
    sql, values = query.numbered()
    # A long read (the planner expects many rows) shows a bar that ends as
    # one green line; small reads, tests and nbval show nothing (`progress`).
    bar = progress_bar(guess, "rows") if guess is not None else None
    try:
        hear = bar.update if bar is not None else None
        return await adbc_pool.read(driver.info, snapshot, sql, values, columns, hear)
    except adbc_pool.Unbindable:
        return await _read_rows(driver, query, numeric)
    finally:
        if bar is not None:
            bar.close()


def _mode(numeric: object) -> NumericMode:
    return check_numeric_mode("exact" if numeric is None else numeric)


async def afetch_arrow(
    session: AsyncSession | HoppingSession,
    sql: str | Executable,
    params: Mapping[str, Any] | None = None,
    *,
    include_deleted: bool = False,
    fast: bool | None = None,
    numeric: NumericMode | None = None,
) -> pa.Table:
    """A query's result as an Arrow table in the read map's types.

    Args:
        session: the caller's session; the read sees its snapshot.
        sql: SQL text (``:name`` placeholders) or a SQLAlchemy statement;
            a ``select()`` of whole entities gives their columns.
        params: values for the placeholders, bound by the server.
        include_deleted: also return soft-deleted rows (selects of models).
        fast: None picks the path by the planner's row estimate
            (`FAST_PATH_MIN_ROWS`); True/False force the columnar/row path.
        numeric: ``"exact"`` (default: decimals) or ``"float"`` (float64).
    """
    check_session(session)
    values = check_params(params)
    check_bool(include_deleted, "include_deleted")
    if fast is not None:
        check_bool(fast, "fast")
    mode = _mode(numeric)
    real = real_session(session)
    return await runner.arun(_read(real, sql, values, include_deleted, fast, mode))


async def afetch_frame(
    session: AsyncSession | HoppingSession,
    sql: str | Executable,
    params: Mapping[str, Any] | None = None,
    *,
    include_deleted: bool = False,
    fast: bool | None = None,
    numeric: NumericMode | None = None,
) -> pd.DataFrame:
    """A query's result as a DataFrame, identical on both paths (`afetch_arrow`).

    Every ``*_frame`` read can call this: small results take the row path,
    large ones the columnar path, with the same values and dtypes.
    """
    table = await afetch_arrow(
        session,
        sql,
        params,
        include_deleted=include_deleted,
        fast=fast,
        numeric=numeric,
    )
    frame: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
    return frame


async def afetch_polars(
    session: AsyncSession | HoppingSession,
    sql: str | Executable,
    params: Mapping[str, Any] | None = None,
    *,
    include_deleted: bool = False,
    fast: bool | None = None,
    numeric: NumericMode | None = None,
) -> pl.DataFrame:
    """A query's result as a polars DataFrame (the ``[polars]`` extra).

    Raises:
        ConfigError: polars is not installed (``pip install dashtam_nb[polars]``);
            raised before any SQL runs.
    """
    try:
        import polars as pl
    except ImportError:
        raise ConfigError(
            "fetch_polars needs polars: pip install dashtam_nb[polars]"
        ) from None

    table = await afetch_arrow(
        session,
        sql,
        params,
        include_deleted=include_deleted,
        fast=fast,
        numeric=numeric,
    )
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


fetch_arrow = runner.blocking(afetch_arrow)
fetch_frame = runner.blocking(afetch_frame)
fetch_polars = runner.blocking(afetch_polars)
