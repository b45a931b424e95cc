"""Large results as a stream of DataFrames, with bounded memory.

A psycopg named cursor (``DECLARE ... CURSOR``, a server-side cursor) is
opened on the session's own connection, inside its transaction, for the
whole stream. Rows are FETCHed 10,000 at a time, one hop to the owner loop
per batch; each batch becomes Arrow columns on the caller's side
(`frames.build_table`, the dtypes of every other read) and batches are
joined into DataFrames of ``chunk_rows`` rows. So only one batch of Python
objects and one chunk of compact Arrow data exist at a time, whatever the
result's size: measured peak RSS growth for 2M rows in 100k chunks is in
``benchmarks/bench_frames.py``.

The SQL is the one the session would run (`columnar.compile_select`: the
live-rows criterion, bound parameters), read with the session's snapshot and
its own uncommitted rows. SQLAlchemy's ``stream()``/``yield_per`` was the
first design; its per-row result processing made fetching 3-4x slower than
the plain named cursor, for no change in values.

A progress bar shows when the total is known (``total=``) or estimated (the
planner's estimate, ``EXPLAIN``), only in a terminal or notebook and never
under CI, nbval or pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from dashtam_nb import runner
from dashtam_nb.columnar import compile_select, driver_of, estimate_rows, flatten
from dashtam_nb.errors import DashtamError, ValidationError, translate
from dashtam_nb.frames import build_table, statement_types
from dashtam_nb.progress import Bar, progress_bar, would_show
from dashtam_nb.session import HoppingSession, SessionScope, real_session

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import psycopg
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import Select

    from dashtam_nb.database import Database

__all__ = ["astream_frames", "stream_frames"]

_BATCH_ROWS = 10_000
"""Rows per FETCH (one hop): Python objects exist for one batch at a time,
while a chunk accumulates as compact Arrow columns."""


class _Cursor:
    """One psycopg named cursor; every async method runs on the owner loop."""

    def __init__(
        self,
        source: Database | AsyncSession | HoppingSession,
        stmt: Select[Any],
        chunk_rows: int,
        include_deleted: bool,
    ) -> None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int):
            raise ValidationError("chunk_rows must be an integer", field="chunk_rows")
        if chunk_rows < 1:
            raise ValidationError("chunk_rows must be >= 1", field="chunk_rows")
        if not hasattr(stmt, "column_descriptions"):
            raise ValidationError("stmt must be a SQLAlchemy select()", field="stmt")
        self._source = source
        self._stmt = flatten(stmt)
        self.chunk = chunk_rows
        self._include_deleted = include_deleted
        self._scope: SessionScope | None = None
        self._cursor: psycopg.AsyncServerCursor[Any] | None = None
        self.columns: list[str] = []
        self.types: list[pa.DataType | None] | None = statement_types(self._stmt)

    async def open(self, estimate: bool) -> int | None:
        """Declare the cursor; returns the planner's row estimate if asked."""
        if hasattr(self._source, "get_session"):
            self._scope = self._source.get_session()
            session = await self._scope.__aenter__()
        else:
            session = real_session(self._source)
        await session.flush()
        conn = await session.connection()
        sql, params = compile_select(
            self._stmt, conn.dialect, include_deleted=self._include_deleted
        )
        guess = await estimate_rows(session, sql, params) if estimate else None
        driver = await driver_of(conn)
        # A named cursor is DECLAREd on the server, in the session's
        # transaction: rows arrive only as FETCHed, whatever the result size.
        self._cursor = driver.cursor(name=f"dashtam_stream_{uuid.uuid4().hex[:12]}")
        await self._cursor.execute(sql, params)
        self.columns = [c.name for c in self._cursor.description or ()]
        return guess

    async def fetch(self) -> list[tuple[Any, ...]]:
        """The next batch of rows (empty at the end)."""
        assert self._cursor is not None
        return await self._cursor.fetchmany(min(self.chunk, _BATCH_ROWS))

    async def close(self, failed: bool) -> None:
        """Close the cursor, then the session if the stream opened one."""
        try:
            if self._cursor is not None and not failed:
                await self._cursor.close()
        finally:
            if self._scope is not None:
                error = RuntimeError("stream failed") if failed else None
                await self._scope.__aexit__(
                    None if error is None else RuntimeError, error, None
                )

    def table(self, rows: list[tuple[Any, ...]]) -> pa.Table:
        """A batch as Arrow, in the frames contract's types."""
        return build_table(self.columns, rows, self.types)


class _Chunker:
    """Collects Arrow batches into DataFrames of exactly ``chunk`` rows."""

    def __init__(self, chunk: int) -> None:
        self._chunk = chunk
        self._parts: list[pa.Table] = []
        self._rows = 0

    def add(self, table: pa.Table) -> pd.DataFrame | None:
        self._parts.append(table)
        self._rows += table.num_rows
        return self.flush() if self._rows >= self._chunk else None

    def flush(self) -> pd.DataFrame | None:
        if not self._parts:
            return None
        table = pa.concat_tables(self._parts).combine_chunks()
        self._parts, self._rows = [], 0
        frame: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
        return frame


_CLOSING: set[asyncio.Future[None]] = set()


def _close_from_anywhere(cursor: _Cursor, failed: bool) -> None:
    if runner.on_owner_loop():
        # A generator finalised by GC on the owner loop: cannot block here.
        task = asyncio.ensure_future(cursor.close(failed))
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)
    else:
        runner.run(cursor.close(failed))


def stream_frames(
    source: Database | AsyncSession | HoppingSession,
    stmt: Select[Any],
    chunk_rows: int = 100_000,
    *,
    include_deleted: bool = False,
    total: int | None = None,
    progress: bool | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield a select's result as DataFrames of at most ``chunk_rows`` rows.

    Args:
        source: a `Database` (the stream opens and closes its own session)
            or a session (the stream reads inside its transaction).
        stmt: a SQLAlchemy ``select()``; soft-deleted rows are hidden.
        chunk_rows: rows per DataFrame; memory stays around one chunk.
        include_deleted: also yield soft-deleted rows.
        total: the expected row count for the progress bar; None asks the
            planner for an estimate when a bar would be shown.
        progress: True/False force the bar on/off; None shows it only in a
            terminal or notebook, never under CI, nbval or pytest.
    """
    cursor = _Cursor(source, stmt, chunk_rows, include_deleted)
    shown = would_show(progress)
    bar: Bar = progress_bar(None, "rows", show=False)
    failed = False
    try:
        guess = runner.run(cursor.open(estimate=shown and total is None))
        bar = progress_bar(total or guess, "rows", show=progress)
        chunker = _Chunker(cursor.chunk)
        while rows := runner.run(cursor.fetch()):
            bar.update(len(rows))
            if (frame := chunker.add(cursor.table(rows))) is not None:
                yield frame
        if (frame := chunker.flush()) is not None:
            yield frame
    except BaseException as exc:
        failed = True
        if isinstance(exc, Exception) and not isinstance(exc, DashtamError):
            raise translate(exc) from None
        raise
    finally:
        bar.close()
        with contextlib.suppress(Exception):
            _close_from_anywhere(cursor, failed)


async def astream_frames(
    source: Database | AsyncSession | HoppingSession,
    stmt: Select[Any],
    chunk_rows: int = 100_000,
    *,
    include_deleted: bool = False,
    total: int | None = None,
    progress: bool | None = None,
) -> AsyncIterator[pd.DataFrame]:
    """`stream_frames` for ``async for``: each chunk is one awaited hop."""
    cursor = _Cursor(source, stmt, chunk_rows, include_deleted)
    shown = would_show(progress)
    bar: Bar = progress_bar(None, "rows", show=False)
    failed = False
    try:
        guess = await runner.arun(cursor.open(estimate=shown and total is None))
        bar = progress_bar(total or guess, "rows", show=progress)
        chunker = _Chunker(cursor.chunk)
        while rows := await runner.arun(cursor.fetch()):
            bar.update(len(rows))
            if (frame := chunker.add(cursor.table(rows))) is not None:
                yield frame
        if (frame := chunker.flush()) is not None:
            yield frame
    except BaseException as exc:
        failed = True
        if isinstance(exc, Exception) and not isinstance(exc, DashtamError):
            raise translate(exc) from None
        raise
    finally:
        bar.close()
        with contextlib.suppress(Exception):
            await runner.arun(cursor.close(failed))
