# Size: one ADBC read (pool, snapshot, bound query, batches, cancel) in one place.
"""ADBC for the columnar read path: pooled connections, read-map types.

Opening an ADBC connection costs a backend start plus the driver's type
catalogue query, so a couple of idle connections per target are kept. Each
read runs in a worker thread (ADBC calls block), inside a REPEATABLE READ
transaction that imports the caller's exported snapshot, and is cancelled on
the server if the awaiting task is cancelled (a notebook interrupt), as
psycopg does for the session's own queries.

Parameters are bound by the server: the statement is prepared on the ADBC
connection, the server's inferred parameter types come back as an Arrow
schema and the values are sent as one Arrow row of those types. Each batch is
conformed to the read map (`conform`) on a second thread while ADBC reads the
next, so the conversion hides behind the read (timings: "Measured design
decisions" in benchmarks/README.md).

The second connection copies the session connection's parameters (host or
socket, port, database, user, password, TLS options, ``-c`` options such as
``statement_timeout``) from psycopg's ``ConnectionInfo``; the conninfo string
never leaves this module and error messages are reduced to the server's
first line, so no password can surface.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dashtam_nb.errors import (
    ConnectError,
    DatabaseError,
    QueryCancelledError,
    QueryTimeoutError,
)
from dashtam_nb.io.binds import Unbindable, bound
from dashtam_nb.io.conform import conform

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from psycopg import ConnectionInfo

    from dashtam_nb.io.readmap import ReadColumn

__all__ = ["Read", "Unbindable", "close_all", "read"]

_IDLE_PER_TARGET = 2
_COPIED = frozenset(
    {
        "host", "hostaddr", "port", "dbname", "user", "options", "passfile",
        "sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslnegotiation",
        "channel_binding", "gssencmode", "krbsrvname", "require_auth",
        "connect_timeout", "target_session_attrs", "service",
    }
)  # fmt: skip
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


class _Pool:
    """Idle ADBC connections by conninfo; forgotten (not closed) after fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[str, list[Any]] = {}
        self._pid = os.getpid()

    def take(self, conninfo: str) -> Any | None:
        with self._lock:
            if self._pid != os.getpid():
                # The parent's sockets are not ours to use or close.
                self._idle, self._pid = {}, os.getpid()
            idle = self._idle.get(conninfo)
            return idle.pop() if idle else None

    def give(self, conninfo: str, conn: Any) -> None:
        with self._lock:
            idle = self._idle.setdefault(conninfo, [])
            if len(idle) < _IDLE_PER_TARGET and self._pid == os.getpid():
                idle.append(conn)
                return
        _close(conn)

    def close_all(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle = {}
            mine = self._pid == os.getpid()
        if mine:
            for conn in conns:
                _close(conn)


def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()


_POOL = _Pool()
atexit.register(_POOL.close_all)


def close_all() -> None:
    """Close every idle ADBC connection (tests, servers about to stop)."""
    _POOL.close_all()


class _Conninfo(str):
    """A conninfo whose repr hides it.

    Tracebacks that print local variables (``%xmode Verbose``,
    ``pytest --showlocals``) use ``repr``; the password must not show there.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "<conninfo hidden>"


def conninfo_of(info: ConnectionInfo) -> str:
    """A libpq conninfo reaching what the session's connection reaches."""
    from psycopg.conninfo import make_conninfo

    params = {k: v for k, v in info.get_parameters().items() if k in _COPIED}
    if info.password:
        params["password"] = info.password
    return _Conninfo(make_conninfo(**params, application_name="dashtam_nb_columnar"))


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    match = re.search(r"ERROR:\s*(.*)", text)
    line = match.group(1) if match else text
    return line.strip().splitlines()[0][:300] if line.strip() else type(exc).__name__


def _mapped(exc: Exception, connecting: bool) -> Exception:
    if connecting:
        return ConnectError(
            "the columnar read path could not open its connection: " + _first_line(exc)
        )
    state = getattr(exc, "sqlstate", None)
    if state == "57014":
        if "statement timeout" in str(exc):
            return QueryTimeoutError("the statement ran past statement_timeout")
        return QueryCancelledError("the query was cancelled")
    return DatabaseError(_first_line(exc), sqlstate=state)


def _begin(conn: Any) -> Any:
    """A cursor in a new read-only REPEATABLE READ transaction on ``conn``."""
    cur = conn.cursor()
    cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    return cur


class Read:
    """One ADBC read in the caller's snapshot; every method blocks (threads).

    Used whole (`read`) or batch by batch (`open`/`next`/`close`, streams).
    """

    def __init__(
        self,
        info: ConnectionInfo,
        snapshot: str,
        query: str,
        params: Sequence[Any],
        columns: Sequence[ReadColumn],
    ) -> None:
        if not _SNAPSHOT_ID.fullmatch(snapshot or ""):
            raise DatabaseError("unexpected snapshot id from pg_export_snapshot()")
        self._conninfo = conninfo_of(info)
        self._snapshot, self._query, self._params = snapshot, query, params
        self.columns = list(columns)
        self._conn: Any = None
        self._cur: Any = None
        self._reader: Any = None

    def convert(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """A batch in the read map's types."""
        if batch.num_columns != len(self.columns):
            raise DatabaseError("the query returned unexpected columns")
        arrays = [
            conform(a, c) for a, c in zip(batch.columns, self.columns, strict=True)
        ]
        return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in self.columns])

    def empty(self) -> pa.RecordBatch:
        """The converted empty batch (a result without rows keeps its dtypes)."""
        schema = self._reader.schema
        # from_pylist cannot build lists of extension types; nulls(0) can.
        arrays = [pa.nulls(0, field.type) for field in schema]
        return self.convert(pa.RecordBatch.from_arrays(arrays, schema=schema))

    def open(self) -> None:
        """Connect (or take a pooled connection), import the snapshot, execute."""
        from adbc_driver_postgresql import dbapi

        conn, cur = _POOL.take(self._conninfo), None
        if conn is not None:
            try:
                cur = _begin(conn)
            except Exception:
                # It died while idle (a server restart): never reuse it.
                _close(conn)
                conn = None
        if conn is None:
            try:
                conn = dbapi.connect(self._conninfo, autocommit=True)
            except Exception as exc:
                raise _mapped(exc, connecting=True) from None
        self._conn = conn
        try:
            self._cur = cur if cur is not None else _begin(conn)
            # Must be the transaction's first statement; the id was checked.
            self._cur.execute(f"SET TRANSACTION SNAPSHOT '{self._snapshot}'")
            self._cur.execute(self._query, bound(self._cur, self._query, self._params))
            self._reader = self._cur.fetch_record_batch()
        except Unbindable:
            self.close(complete=False)
            raise
        except Exception as exc:
            self.close(complete=False)
            raise _mapped(exc, connecting=False) from None

    def next(self) -> pa.RecordBatch | None:
        """The next raw batch, or None at the end."""
        try:
            return self._reader.read_next_batch()
        except StopIteration:
            return None
        except Exception as exc:
            raise _mapped(exc, connecting=False) from None

    def cancel(self) -> None:
        """Cancel the running query on the server (any thread)."""
        if self._cur is not None:
            with contextlib.suppress(Exception):
                self._cur.adbc_cancel()

    def close(self, *, complete: bool) -> None:
        """End the read; a completed read's connection goes back to the pool."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        healthy = False
        if complete:
            with contextlib.suppress(Exception):
                self._cur.execute("COMMIT")
                healthy = True
        with contextlib.suppress(Exception):
            self._cur.close()
        if healthy:
            _POOL.give(self._conninfo, conn)
        else:
            _close(conn)

    def whole(self, on_rows: Callable[[int], object] | None = None) -> pa.Table:
        """The whole result; each batch converted while ADBC reads the next.

        Reading (C++, GIL released) and converting (NumPy/Arrow kernels) then
        overlap on two cores instead of running one after the other.
        ``on_rows`` hears each batch's row count (a progress bar).
        """
        self.open()
        complete = False
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = []
                while (batch := self.next()) is not None:
                    if on_rows is not None:
                        on_rows(batch.num_rows)
                    pending.append(pool.submit(self.convert, batch))
                batches = [job.result() for job in pending]
            table = pa.Table.from_batches(batches or [self.empty()])
            complete = True
            return table
        finally:
            self.close(complete=complete)


async def read(
    info: ConnectionInfo,
    snapshot: str,
    query: str,
    params: Sequence[Any],
    columns: Sequence[ReadColumn],
    on_rows: Callable[[int], object] | None = None,
) -> pa.Table:
    """Run ``query`` with ``params`` ($1, $2, ...) on a pooled ADBC connection.

    Args:
        info: the session connection's psycopg ``ConnectionInfo``.
        snapshot: an id from ``pg_export_snapshot()`` in the session, whose
            transaction must stay open until this returns.
        query: the SQL text with numbered placeholders.
        params: the values, bound by the server.
        columns: how each result column is read (`readmap`).
        on_rows: called with each batch's row count, from a worker thread.

    Returns:
        The result in the read map's Arrow types.

    Raises:
        Unbindable: a parameter ADBC cannot send (read on the row path).
        Refusal: a value no dtype of its column can hold.
    """
    reader = Read(info, snapshot, query, params, columns)
    work = asyncio.ensure_future(asyncio.to_thread(reader.whole, on_rows))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await work
        raise
