# Size: one class, the front door; every method delegates in a few lines.
"""`Database`: the front door (sessions, transactions, scalar/frame/execute).

Its pooled engine lives only on the owner loop and is kept in the registry
(`engines`), so re-running a notebook's setup cell reuses the pool. Creating
and dropping databases is `admin`; the process-wide default is `container`.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import random
from typing import TYPE_CHECKING, Any, Never, TypeVar

from sqlalchemy import text
from sqlalchemy.sql import Executable

from dashtam_nb import engines, runner
from dashtam_nb import schema as browse
from dashtam_nb.checks import check_params
from dashtam_nb.config import settings
from dashtam_nb.errors import ConflictError, DashtamError, ValidationError
from dashtam_nb.errors import echo as show
from dashtam_nb.io import write
from dashtam_nb.io.readmap import check_numeric_mode
from dashtam_nb.session import SessionScope
from dashtam_nb.urls import describe_target, masked, parse_database_url

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from types import TracebackType

    import pandas as pd
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from dashtam_nb.io.readmap import NumericMode

__all__ = ["Database", "check_database"]

T = TypeVar("T")

_MAX_POOL = 100
_BACKOFF = 0.05  # seconds before the first retry of a conflicted transaction


def _check_seconds(name: str, value: object) -> None:
    """A positive, finite number of seconds (not a bool or a string)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(
            f"{name} must be a positive number of seconds", field=name
        )


def _as_statement(sql: str | Executable) -> Executable:
    """Literal SQL text becomes ``text()``; values must go in ``params``."""
    return text(sql) if isinstance(sql, str) else sql


class Database:
    """A PostgreSQL database reached through the owner loop.

    Args:
        database_url: any PostgreSQL URL (``postgresql://`` is normalised to
            psycopg); ``None`` means ``settings.database_url`` (``DATABASE_URL``
            or the embedded server).
        echo: log SQL (never parameters: ``hide_parameters`` is always on).
        pool_size: pooled connections kept open.
        max_overflow: extra connections allowed under load.
        connect_timeout: seconds before a connection attempt fails.
        statement_timeout: server-side limit per statement in seconds, or None.
        pool_timeout: seconds to wait for a free pooled connection.
        numeric: how `frame` reads ``numeric`` columns unless told per call:
            ``"exact"`` (decimals, the default) or ``"float"`` (float64, for
            analysis; NaN/Infinity kept). See docs/type-map.md.
    """

    def __init__(
        self,
        database_url: str | URL | None = None,
        echo: bool | None = None,
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
        connect_timeout: float = 10,
        statement_timeout: float | None = None,
        pool_timeout: float = 30,
        numeric: NumericMode = "exact",
        **unknown: Never,
    ) -> None:
        # The URL first, and its raw text gone before any check can raise:
        # tracebacks with locals (%xmode Verbose) print every frame variable.
        try:
            self._url: URL | None = (
                parse_database_url(database_url) if database_url is not None else None
            )
        except DashtamError:
            del database_url
            raise
        del database_url
        if unknown:
            # ``Never`` makes a misspelt option a type error for mypy too; at
            # run time it is ours, not Python's TypeError (``connect(**opts)``).
            raise ValidationError(
                f"unknown option {show(next(iter(unknown)))}; options are: "
                "echo, pool_size, max_overflow, connect_timeout, "
                "statement_timeout, pool_timeout, numeric",
                field="options",
            )
        if echo is not None and not isinstance(echo, bool):
            raise ValidationError("echo must be True, False or None", field="echo")
        for name, value in (
            ("pool_size", pool_size),
            ("max_overflow", max_overflow),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"{name} must be an integer >= 0", field=name)
            if value > _MAX_POOL:
                # PostgreSQL's default max_connections is 100 for everyone.
                raise ValidationError(f"{name} must be <= {_MAX_POOL}", field=name)
        if pool_size < 1:
            raise ValidationError("pool_size must be >= 1", field="pool_size")
        self._numeric = check_numeric_mode(numeric)
        _check_seconds("connect_timeout", connect_timeout)
        _check_seconds("pool_timeout", pool_timeout)
        if statement_timeout is not None:
            _check_seconds("statement_timeout", statement_timeout)
        self._echo = settings.db_echo if echo is None else bool(echo)
        self._options: dict[str, Any] = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "connect_timeout": max(1, round(connect_timeout)),
            "statement_timeout": statement_timeout,
            "pool_timeout": pool_timeout,
        }

    @property
    def url(self) -> URL:
        """The server URL (its repr masks the password)."""
        if self._url is None:
            self._url = settings.database_url
        return self._url

    def __repr__(self) -> str:
        if not hasattr(self, "_options"):  # failed in __init__ (shown by tracebacks)
            return "Database(<not initialised>)"
        return f"Database({masked(self.url)!r})"

    def __reduce__(self) -> str | tuple[Any, ...]:
        # The URL inside holds the plaintext password (IPython %store, joblib).
        raise TypeError("a Database holds a password and cannot be pickled")

    @property
    def numeric(self) -> NumericMode:
        """How `frame` reads ``numeric`` columns by default (``Database(numeric=)``)."""
        return self._numeric

    @property
    def target(self) -> str:
        """A secret-free description of the database, for messages."""
        return describe_target(self.url)

    def _key(self) -> engines.EngineKey:
        options = tuple(sorted({**self._options, "echo": self._echo}.items()))
        return engines.url_key(self.url), options

    def _engine_on_owner(self) -> AsyncEngine:
        return engines.engine_for(
            self._key(), lambda: engines.create(self.url, self._echo, self._options)
        )

    @property
    def engine(self) -> AsyncEngine:
        """The pooled engine; usable only on the owner loop.

        Raises:
            RuntimeError: when touched from another running event loop, where
                sharing the pool would fail later under load.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._engine_on_owner()
        if not runner.on_owner_loop():
            raise RuntimeError(
                "this AsyncEngine belongs to the dashtam_nb database loop; use "
                "`async with db.get_session() as session`, `await db.aframe(...)` "
                "or `dashtam_nb.run(coro)` instead of the raw engine"
            )
        return self._engine_on_owner()

    async def _sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        self._engine_on_owner()
        return engines.maker_for(self._key())

    def get_session(self) -> SessionScope:
        """A session that commits on clean exit and rolls back on error.

        Use ``async with db.get_session() as session:`` (any loop, including a
        notebook cell's top level) or ``with db.get_session() as session:``.
        """
        return SessionScope(self._sessionmaker, self.target)

    def transaction(self) -> SessionScope:
        """One atomic unit across several repositories (same as get_session)."""
        return SessionScope(self._sessionmaker, self.target)

    async def arun_transaction(
        self,
        work: Callable[[AsyncSession], Awaitable[T]],
        *,
        retries: int = 0,
    ) -> T:
        """Run ``await work(session)`` in one transaction, re-running on conflict.

        Serialization failures and deadlocks roll the whole unit back; it is
        run again up to ``retries`` times (after a short jittered back-off), then
        `ConflictError` is raised. A
        connection lost during COMMIT is never retried (the outcome is unknown).
        """
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValidationError("retries must be an integer >= 0", field="retries")
        if not callable(work):
            raise ValidationError(
                "work must be an async function taking the session", field="work"
            )

        async def attempt() -> T:
            async with self.transaction() as session:
                pending = work(session)
                if not inspect.isawaitable(pending):
                    raise ValidationError(
                        "work must be an async function taking the session "
                        "(it returned no awaitable)",
                        field="work",
                    )
                return await pending

        async def loop() -> T:
            for tries_left in range(retries, -1, -1):
                try:
                    return await attempt()
                except ConflictError:
                    if tries_left == 0:
                        raise
                    # Back off with jitter, so the transaction we collided
                    # with can finish instead of colliding again at once.
                    done = retries - tries_left
                    await asyncio.sleep(_BACKOFF * 2**done * random.uniform(0.5, 1.5))
            raise AssertionError("unreachable")

        return await runner.arun(loop(), target=self.target)

    run_transaction = runner.blocking(arun_transaction)

    async def _run_statement(
        self, sql: str | Executable, params: Mapping[str, Any] | None, how: str
    ) -> Any:
        async with self.get_session() as session:
            stmt = _as_statement(sql)
            result: Any = await session.execute(stmt, dict(params or {}))
            if how == "scalar":
                return result.scalar()
            return result.rowcount if result.returns_rows is False else result.all()

    async def _guarded(
        self, sql: str | Executable, params: Mapping[str, Any] | None, how: str
    ) -> Any:
        if not isinstance(sql, str | Executable):
            raise ValidationError(
                "sql must be a SQL string or a SQLAlchemy statement", field="sql"
            )
        return await runner.arun(
            self._run_statement(sql, check_params(params), how), target=self.target
        )

    async def ascalar(
        self, sql: str | Executable, params: Mapping[str, Any] | None = None
    ) -> Any:
        """First column of the first row, in its own transaction."""
        return await self._guarded(sql, params, "scalar")

    scalar = runner.blocking(ascalar)

    async def aframe(
        self,
        sql: str | Executable,
        params: Mapping[str, Any] | None = None,
        *,
        numeric: NumericMode | None = None,
    ) -> pd.DataFrame:
        """Run a query in its own transaction and return a DataFrame.

        SQL text binds ``:name`` values from ``params`` on the server; a
        ``select(Model)`` gives the model's columns. Dtypes come from the
        server's column types (docs/type-map.md); large results take the
        columnar path (`dashtam_nb.fetch_frame`), with identical dtypes.

        Args:
            sql: SQL text or a SQLAlchemy statement.
            params: values for the placeholders.
            numeric: ``"exact"`` or ``"float"``; None means the database's
                default (``Database(numeric=...)``).
        """
        from dashtam_nb.io.fetch import afetch_frame

        mode = check_numeric_mode(self._numeric if numeric is None else numeric)
        if not isinstance(sql, str) and not hasattr(sql, "_execute_on_connection"):
            raise ValidationError(
                "sql must be a SQL string or a SQLAlchemy statement", field="sql"
            )
        binds = check_params(params)

        async def read() -> pd.DataFrame:
            async with self.get_session() as session:
                return await afetch_frame(session, sql, binds, numeric=mode)

        return await runner.arun(read(), target=self.target)

    frame = runner.blocking(aframe)

    async def aexecute(
        self, sql: str | Executable, params: Mapping[str, Any] | None = None
    ) -> Any:
        """Execute a statement and commit; returns rows or the row count."""
        return await self._guarded(sql, params, "execute")

    execute = runner.blocking(aexecute)

    async def close(self) -> None:
        """Dispose the pool; afterwards no connection of ours stays open.

        The guide's ``await db.close()``; without ``await`` use a ``with db:``
        block or ``dn.run(db.close())``.
        """
        if self._url is None:
            return
        await runner.arun(engines.dispose(self._key()))

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        runner.run(self.close())

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def pool_status(self) -> dict[str, int]:
        """Checked-out and idle connections of this database's pool."""
        engine = engines.peek(self._key())
        if engine is None:
            return {"checked_out": 0, "idle": 0}
        pool: Any = engine.pool
        return {"checked_out": pool.checkedout(), "idle": pool.checkedin()}

    async def atables(
        self, schema: str | None = None, *, sizes: bool = True
    ) -> pd.DataFrame:
        """Tables and views of the user schemas (`dashtam_nb.schema.atables`)."""
        return await self.arun_transaction(
            lambda s: browse.atables(s, schema, sizes=sizes)
        )

    tables = runner.blocking(atables)

    async def adescribe(self, name: str) -> browse.TableDescription:
        """The columns of one table or view (`dashtam_nb.schema.adescribe`)."""
        return await self.arun_transaction(lambda s: browse.adescribe(s, name))

    describe = runner.blocking(adescribe)

    async def awrite_frame(
        self,
        df: pd.DataFrame,
        name: str,
        if_exists: write.IfExists = "fail",
        *,
        schema: str | None = None,
        primary_key: str | Sequence[str] | None = None,
    ) -> int:
        """Write ``df`` to a table in one transaction (`dashtam_nb.io.write`)."""
        return await self.arun_transaction(
            lambda s: write.awrite_frame(
                s, df, name, if_exists, schema=schema, primary_key=primary_key
            )
        )

    write_frame = runner.blocking(awrite_frame)


def check_database(db: object) -> None:
    """A `Database` (what `connect` and `get_database` return), before any SQL."""
    if not isinstance(db, Database):
        raise ValidationError("db must be a dashtam_nb.Database", field="db")
