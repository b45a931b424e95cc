"""Large results as a stream of DataFrames, with bounded memory.

SQL text or a select, with bound parameters, read in the dtypes of every
other read (`readmap`), on one of two routes:

* **Columnar** (plain queries from `fetch.FAST_PATH_MIN_ROWS` estimated
  rows): ADBC's record batch reader on a second connection in the session's
  snapshot, one batch per hop, each conformed in bulk (`conform`); no Python
  work per row.
* **Rows** (small results, other statements, a session that has written):
  a psycopg named cursor (``DECLARE``) in the session's transaction, FETCHed
  10,000 rows at a time (`rowtable`).

Either way only one batch is in flight and one chunk of Arrow data is held,
whatever the result's size; batches are joined into DataFrames of
``chunk_rows`` rows. Memory and speed figures: "Measured design decisions"
in benchmarks/README.md.

An unbounded ``numeric`` column's decimal scale is that of its first batch
with values; a later value needing more places is refused by column name
(cast it to ``numeric(p, s)`` or pass ``numeric="float"``).

A progress bar shows when the total is known (``total=``) or estimated (the
planner's estimate, ``EXPLAIN``), only in a terminal or notebook and never
under CI, nbval or pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dashtam_nb import runner
from dashtam_nb.checks import check_bool, check_params, check_session
from dashtam_nb.errors import ValidationError
from dashtam_nb.io import adbc
from dashtam_nb.io import fetch as reads
from dashtam_nb.io.chunks import Chunker
from dashtam_nb.io.readmap import NumericMode, check_numeric_mode
from dashtam_nb.io.rowtable import prepare_cursor, table_from_rows
from dashtam_nb.progress import Bar, progress_bar, would_show
from dashtam_nb.session import HoppingSession, SessionScope, real_session

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    import pandas as pd
    import psycopg
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import Executable

    from dashtam_nb.database import Database
    from dashtam_nb.io.readmap import ReadColumn

__all__ = ["astream_frames", "stream_frames"]

_BATCH_ROWS = 10_000
"""Rows per FETCH (one hop) on the row route: Python objects exist for one
batch at a time, while a chunk accumulates as compact Arrow columns."""


def _check_source(source: object) -> None:
    """A `Database` or a session: anything else is refused before SQL."""
    from dashtam_nb.database import Database

    if isinstance(source, Database):
        return
    try:
        check_session(source)
    except ValidationError:
        raise ValidationError(
            "source must be a dashtam_nb.Database or a session from `db.get_session()`",
            field="source",
        ) from None


def _check_total(total: object) -> None:
    if total is None:
        return
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ValidationError(
            "total must be a non-negative integer or None", field="total"
        )


def _check_chunk(chunk_rows: object) -> int:
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int):
        raise ValidationError("chunk_rows must be an integer", field="chunk_rows")
    if chunk_rows < 1:
        raise ValidationError("chunk_rows must be >= 1", field="chunk_rows")
    return chunk_rows


class _Cursor:
    """One stream's reader; every async method runs on the owner loop."""

    def __init__(
        self,
        source: Database | AsyncSession | HoppingSession,
        sql: str | Executable,
        params: Mapping[str, Any] | None,
        chunk_rows: int,
        include_deleted: bool,
        numeric: NumericMode,
    ) -> None:
        self.chunk = _check_chunk(chunk_rows)
        if not isinstance(sql, str) and not hasattr(sql, "_execute_on_connection"):
            raise ValidationError(
                "sql must be a SQL string or a SQLAlchemy statement", field="sql"
            )
        if params is not None and not hasattr(params, "keys"):
            raise ValidationError("params must be a mapping", field="params")
        self._source, self._sql, self._params = source, sql, params
        self._include_deleted = include_deleted
        self._numeric = numeric
        self._scope: SessionScope | None = None
        self._cursor: psycopg.AsyncServerCursor[Any] | None = None
        self._adbc: adbc.Read | None = None
        self._ahead: asyncio.Future[pa.RecordBatch | None] | None = None
        self.columns: list[ReadColumn] = []

    async def open(self, estimate: bool, fast: bool | None) -> int | None:
        """Start the read; returns the planner's row estimate if asked."""
        if hasattr(self._source, "get_session"):
            self._scope = self._source.get_session()
            session = await self._scope.__aenter__()
        else:
            session = real_session(self._source)
        await session.flush()
        conn = await session.connection()
        query = reads.compile_query(
            self._sql, self._params, conn.dialect, include_deleted=self._include_deleted
        )
        driver = await reads.driver_of(conn)
        columns, snapshot, guess = await reads._route(
            session, query, fast, self._numeric, estimate=estimate
        )
        if columns is not None and snapshot is not None:
            sql, values = query.numbered()
            if await self._open_columnar(
                adbc.Read(driver.info, snapshot, sql, values, columns)
            ):
                return guess
        # A named cursor is DECLAREd on the server, in the session's
        # transaction: rows arrive only as FETCHed, whatever the result size.
        cursor = driver.cursor(name=f"dashtam_stream_{uuid.uuid4().hex[:12]}")
        prepare_cursor(cursor, self._numeric)
        self._cursor = cursor
        await reads._execute(cursor, query)
        names = [c.name for c in cursor.description or ()]
        self.columns = await reads._read_columns(
            driver, cursor.pgresult, names, self._numeric
        )
        return guess

    async def _open_columnar(self, reader: adbc.Read) -> bool:
        try:
            await asyncio.to_thread(reader.open)
        except adbc.Unbindable:
            return False
        self._adbc, self.columns = reader, list(reader.columns)
        return True

    async def fetch(self) -> pa.Table | None:
        """The next batch in the read map's types (None at the end).

        On the columnar route the batch after it is read and converted in a
        worker thread meanwhile (one batch ahead), so reading overlaps the
        caller's work on this one.
        """
        if self._adbc is not None:
            ahead = self._ahead or self._read_ahead(self._adbc)
            self._ahead = None
            batch = await ahead
            if batch is None:
                return None
            self._ahead = self._read_ahead(self._adbc)
            return pa.Table.from_batches([batch])
        assert self._cursor is not None
        rows = await self._cursor.fetchmany(min(self.chunk, _BATCH_ROWS))
        if not rows:
            return None
        table = table_from_rows(self.columns, rows)
        self._pin(table)
        return table

    def _read_ahead(self, reader: adbc.Read) -> asyncio.Future[pa.RecordBatch | None]:
        return asyncio.ensure_future(asyncio.to_thread(self._next_adbc, reader))

    def _next_adbc(self, reader: adbc.Read) -> pa.RecordBatch | None:
        batch = reader.next()
        if batch is None:
            return None
        converted = reader.convert(batch)
        self._pin(pa.Table.from_batches([converted]))
        return converted

    def _pin(self, table: pa.Table) -> None:
        """Fix an unbounded numeric column's scale at its first values."""
        for i, col in enumerate(self.columns):
            if col.arrow is None and table.column(i).null_count < table.num_rows:
                typ = table.schema.field(i).type
                self.columns[i] = dataclasses.replace(col, arrow=typ)
                if self._adbc is not None:
                    self._adbc.columns[i] = self.columns[i]

    def schema(self) -> pa.Schema | None:
        """The stream's types once every column's type is fixed."""
        if any(c.arrow is None for c in self.columns):
            return None
        return pa.schema([(c.name, c.arrow) for c in self.columns])

    async def close(self, failed: bool) -> None:
        """Close the reader, then the session if the stream opened one."""
        try:
            if self._adbc is not None:
                complete = not failed and self._ahead is None
                if not complete:
                    self._adbc.cancel()
                if self._ahead is not None:
                    with contextlib.suppress(BaseException):
                        await self._ahead
                await asyncio.to_thread(self._adbc.close, complete=complete)
            if self._cursor is not None and not failed:
                await self._cursor.close()
        finally:
            if self._scope is not None:
                error = RuntimeError("stream failed") if failed else None
                await self._scope.__aexit__(
                    None if error is None else RuntimeError, error, None
                )


async def astream_frames(
    source: Database | AsyncSession | HoppingSession,
    sql: str | Executable,
    params: Mapping[str, Any] | int | None = None,
    chunk_rows: int = 100_000,
    *,
    include_deleted: bool = False,
    total: int | None = None,
    progress: bool | None = None,
    numeric: NumericMode | None = None,
    fast: bool | None = None,
) -> AsyncIterator[pd.DataFrame]:
    """Yield a query's result as DataFrames of at most ``chunk_rows`` rows.

    ``async for`` form; `stream_frames` is the plain ``for`` twin. Each batch
    is one hop to the owner loop, so memory stays around one chunk.

    Args:
        source: a `Database` (the stream opens and closes its own session)
            or a session (the stream reads inside its transaction).
        sql: SQL text (``:name`` placeholders) or a SQLAlchemy statement;
            soft-deleted rows of a model select are hidden.
        params: values for the placeholders, bound by the server. An integer
            here is taken as ``chunk_rows`` (the form before SQL text).
        chunk_rows: rows per DataFrame.
        include_deleted: also yield soft-deleted rows.
        total: the expected row count for the progress bar; None asks the
            planner for an estimate when a bar would be shown.
        progress: True/False force the bar on/off; None shows it only in a
            terminal or notebook, never under CI, nbval or pytest.
        numeric: ``"exact"`` or ``"float"``; None means the database's
            default for a `Database` source, else ``"exact"``.
        fast: None picks the route by the planner's estimate; True/False
            force the columnar/row route.
    """
    _check_source(source)
    binds: Mapping[str, Any] | None = None
    if isinstance(params, int) and not isinstance(params, bool):
        chunk_rows = params
    else:
        binds = check_params(params)
    check_bool(include_deleted, "include_deleted")
    _check_total(total)
    for flag, name in ((progress, "progress"), (fast, "fast")):
        if flag is not None:
            check_bool(flag, name)
    default = getattr(source, "numeric", "exact")
    mode = check_numeric_mode(default if numeric is None else numeric)
    cursor = _Cursor(source, sql, binds, chunk_rows, include_deleted, mode)
    shown = would_show(progress)
    bar: Bar = progress_bar(None, "rows", show=False)
    failed = False
    try:
        guess = await runner.arun(
            cursor.open(estimate=shown and total is None, fast=fast)
        )
        bar = progress_bar(total or guess, "rows", show=progress)
        chunker = Chunker(cursor.chunk, cursor.schema)
        while (table := await runner.arun(cursor.fetch())) is not None:
            bar.update(table.num_rows)
            for frame in chunker.add(table):
                yield frame
        if (last := chunker.flush()) is not None:
            yield last
    except BaseException:
        failed = True
        raise
    finally:
        bar.close()
        with contextlib.suppress(Exception):
            await runner.arun(cursor.close(failed))


stream_frames = runner.blocking(astream_frames)
