"""`Database`: engines, sessions and transactions, as the guide uses them.

Engines are pooled and live only on the owner loop (see `runner`). They are
kept in a process-wide registry keyed by URL and options, so re-running a
notebook's setup cell reuses the pool instead of leaking one.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import threading
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from dashtam_nb import runner
from dashtam_nb.config import describe_target, masked, parse_database_url, settings
from dashtam_nb.errors import (
    ConfigError,
    ConflictError,
    DashtamError,
    ValidationError,
    translate,
)
from dashtam_nb.session import SessionScope
from dashtam_nb.softdelete import DashtamSession

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    import pandas as pd
    from sqlalchemy.engine import URL
    from sqlalchemy.sql import Executable

T = TypeVar("T")

_EngineKey = tuple[str, tuple[tuple[str, Any], ...]]
_ENGINES: dict[_EngineKey, AsyncEngine] = {}
_MAKERS: dict[_EngineKey, async_sessionmaker[AsyncSession]] = {}
_REGISTRY_LOCK = threading.Lock()
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


def _url_key(url: URL) -> str:
    """A registry key for a URL that does not hold its password.

    Registry keys show up in tracebacks that print locals; a digest of the
    full URL tells servers and credentials apart without revealing them.
    """
    full = url.render_as_string(hide_password=False).encode()
    return hashlib.sha256(full).hexdigest()


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
    ) -> None:
        for name, value in (
            ("pool_size", pool_size),
            ("max_overflow", max_overflow),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"{name} must be an integer >= 0", field=name)
        if pool_size < 1:
            raise ValidationError("pool_size must be >= 1", field="pool_size")
        _check_seconds("connect_timeout", connect_timeout)
        _check_seconds("pool_timeout", pool_timeout)
        if statement_timeout is not None:
            _check_seconds("statement_timeout", statement_timeout)
        try:
            self._url: URL | None = (
                parse_database_url(database_url) if database_url is not None else None
            )
        except DashtamError:
            # Tracebacks with locals (%xmode Verbose) would print the raw URL.
            del database_url
            raise
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
    def target(self) -> str:
        """A secret-free description of the database, for messages."""
        return describe_target(self.url)

    def _key(self) -> _EngineKey:
        options = tuple(sorted({**self._options, "echo": self._echo}.items()))
        return _url_key(self.url), options

    def _make_engine(self) -> AsyncEngine:
        opts = self._options
        # Sessions speak UTC whatever the server's default: date_trunc and
        # friends give the same answer everywhere, and psycopg returns
        # ``timezone.utc`` datetimes (4x faster into frames than zoneinfo).
        settings_ = ["-c TimeZone=UTC"]
        if opts["statement_timeout"]:
            ms = int(opts["statement_timeout"] * 1000)
            settings_.append(f"-c statement_timeout={ms}")
        connect_args: dict[str, Any] = {
            "connect_timeout": opts["connect_timeout"],
            "application_name": "dashtam_nb",
            "options": " ".join(settings_),
        }
        return create_async_engine(
            self.url,
            echo=self._echo,
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=opts["pool_size"],
            max_overflow=opts["max_overflow"],
            pool_timeout=opts["pool_timeout"],
            connect_args=connect_args,
        )

    def _engine_on_owner(self) -> AsyncEngine:
        key = self._key()
        with _REGISTRY_LOCK:
            engine = _ENGINES.get(key)
            if engine is None:
                engine = _ENGINES[key] = self._make_engine()
                # close_resets_only=False: a session used after its block
                # raises SessionClosedError instead of silently starting a
                # transaction that never commits and holds a connection.
                _MAKERS[key] = async_sessionmaker(
                    engine,
                    expire_on_commit=False,
                    sync_session_class=DashtamSession,
                    close_resets_only=False,
                )
            return engine

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
        return _MAKERS[self._key()]

    def get_session(self) -> SessionScope:
        """A session that commits on clean exit and rolls back on error.

        Use ``async with db.get_session() as session:`` (any loop, including a
        notebook cell's top level) or ``with db.get_session() as session:``.
        """
        return SessionScope(self._sessionmaker, self.target)

    def transaction(self) -> SessionScope:
        """One atomic unit across several repositories (same as get_session)."""
        return SessionScope(self._sessionmaker, self.target)

    async def run_transaction(
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

        async def attempt() -> T:
            async with self.transaction() as session:
                return await work(session)

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

        return await runner.arun(loop())

    async def _run_statement(
        self, sql: str | Executable, params: Mapping[str, Any] | None, how: str
    ) -> Any:
        async with self.get_session() as session:
            stmt = _as_statement(sql)
            result: Any = await session.execute(stmt, dict(params or {}))
            if how == "scalar":
                return result.scalar()
            if how == "frame":
                from dashtam_nb.frames import frame_from_result, statement_types

                return frame_from_result(result, statement_types(stmt))
            return result.rowcount if result.returns_rows is False else result.all()

    async def _guarded(
        self, sql: str | Executable, params: Mapping[str, Any] | None, how: str
    ) -> Any:
        if not isinstance(sql, str) and not hasattr(sql, "_execute_on_connection"):
            raise ValidationError(
                "sql must be a SQL string or a SQLAlchemy statement", field="sql"
            )
        if params is not None and not hasattr(params, "keys"):
            raise ValidationError("params must be a mapping", field="params")
        try:
            return await runner.arun(self._run_statement(sql, params, how))
        except Exception as exc:
            raise translate(exc, target=self.target) from None

    async def ascalar(
        self, sql: str | Executable, params: Mapping[str, Any] | None = None
    ) -> Any:
        """First column of the first row, in its own transaction."""
        return await self._guarded(sql, params, "scalar")

    def scalar(
        self, sql: str | Executable, params: Mapping[str, Any] | None = None
    ) -> Any:
        """Blocking `ascalar`, for cells and scripts that avoid ``await``."""
        return runner.run(self.ascalar(sql, params))

    async def aframe(
        self, sql: str | Executable, params: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run a query and return a DataFrame (bind values through ``params``)."""
        frame: pd.DataFrame = await self._guarded(sql, params, "frame")
        return frame

    def frame(
        self, sql: str | Executable, params: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Blocking `aframe`."""
        return runner.run(self.aframe(sql, params))

    async def aexecute(
        self, sql: str | Executable, params: Mapping[str, Any] | None = None
    ) -> Any:
        """Execute a statement and commit; returns rows or the row count."""
        return await self._guarded(sql, params, "execute")

    def execute(
        self, sql: str | Executable, params: Mapping[str, Any] | None = None
    ) -> Any:
        """Blocking `aexecute`."""
        return runner.run(self.aexecute(sql, params))

    async def close(self) -> None:
        """Dispose the pool; afterwards no connection of ours stays open."""
        if self._url is None:
            return
        key = self._key()
        with _REGISTRY_LOCK:
            engine = _ENGINES.pop(key, None)
            _MAKERS.pop(key, None)
        if engine is not None:
            await runner.arun(engine.dispose())

    def close_sync(self) -> None:
        """Blocking `close`."""
        runner.run(self.close())

    def pool_status(self) -> dict[str, int]:
        """Checked-out and idle connections of this database's pool."""
        engine = _ENGINES.get(self._key())
        if engine is None:
            return {"checked_out": 0, "idle": 0}
        pool: Any = engine.pool
        return {"checked_out": pool.checkedout(), "idle": pool.checkedin()}


async def _dispose_all() -> None:
    with _REGISTRY_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
        _MAKERS.clear()
    for engine in engines:
        await engine.dispose()


runner.on_shutdown(_dispose_all)

_DEFAULT: Database | None = None


def get_database() -> Database:
    """The process-wide `Database` (from settings, or the last `connect`)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Database()
    return _DEFAULT


def set_database(db: Database | None) -> None:
    """Make ``db`` what `get_database` returns (None: back to settings)."""
    global _DEFAULT
    _DEFAULT = db


async def get_db_session() -> AsyncIterator[AsyncSession]:
    """Async generator a FastAPI ``Depends`` can use: commit or roll back."""
    async with get_database().get_session() as session:
        yield session


def _check_db_name(name: object) -> str:
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 63
        or not (name[0].isalpha() or name[0] == "_")
        or not all(c.isalnum() or c == "_" for c in name)
        or not name.isascii()
    ):
        raise ValidationError(
            "database name must be 1-63 ASCII letters, digits or _ and start "
            "with a letter",
            field="database",
        )
    return name


async def _dispose_matching(url: URL) -> None:
    """Close our pools on a database about to be dropped."""
    wanted = _url_key(url)
    with _REGISTRY_LOCK:
        keys = [k for k in _ENGINES if k[0] == wanted]
        engines = [_ENGINES.pop(k) for k in keys]
        for k in keys:
            _MAKERS.pop(k, None)
    for engine in engines:
        await engine.dispose()


async def _recreate(admin: Database, name: str, fresh: bool) -> None:
    engine = admin.engine
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        exists = await conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        )
        # The name was validated to [A-Za-z0-9_] above; quoting keeps case.
        if exists and fresh:
            await _dispose_matching(admin.url.set(database=name))
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        if not exists or fresh:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))


def connect(
    database: str | None = None,
    *,
    fresh: bool = False,
    echo: bool | None = None,
    default: bool = True,
    **options: Any,
) -> Database:
    """Open (and make default) a database on the configured server.

    Args:
        database: a database name on the server; created if missing. None
            keeps the URL's own database.
        fresh: drop and recreate it first (a known, empty state).
        echo: log SQL.
        default: make it what `get_database()` returns from now on (set
            False to open a second database beside the current one).
        **options: passed to `Database` (pool_size, statement_timeout, ...).

    Returns:
        The `Database`.
    """
    name = _check_db_name(database) if database is not None else None
    if fresh and name is None:
        raise ConfigError("fresh=True needs a database name")
    base = settings.database_url
    # Built first, so bad options fail before any SQL (CREATE DATABASE) runs.
    db = Database(base if name is None else base.set(database=name), echo, **options)
    if name is not None:
        # A database cannot drop itself: administer from another one.
        admin = Database(
            base if base.database != name else base.set(database="postgres")
        )
        try:
            runner.run(_recreate(admin, name, fresh))
        except Exception as exc:
            raise translate(exc, target=admin.target) from None
    if default:
        set_database(db)
    return db


async def _drop(admin: Database, name: str) -> None:
    await _dispose_matching(admin.url.set(database=name))
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def drop_database(database: str) -> None:
    """Drop a database on the configured server (closing our pools on it)."""
    name = _check_db_name(database)
    admin = Database(settings.database_url)
    try:
        runner.run(_drop(admin, name))
    except Exception as exc:
        raise translate(exc, target=admin.target) from None
