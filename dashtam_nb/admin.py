"""Database administration: create, drop, and `connect` to a database by name.

A database is never administered from itself (PostgreSQL cannot drop the
database it is connected to), so each call opens the server's ``postgres``
database, or the URL's own when another name is asked for. Names are checked
to ``[A-Za-z_][A-Za-z0-9_]*`` before any SQL, so quoting them is safe.

Creating and dropping run as the owner role (`owner_url`), so the
databases, and the tables migrations make in them, belong to the owner and
not to the app role that `connect` hands out.

A notebook's database (a name starting ``nb_``, one per notebook by the
hygiene rule) is private to the process that opens it: `private_name` adds
``__<host>_<pid>``, so two kernels running the same notebook, or two people
sharing one data directory, never drop each other's database with
``fresh=True``. Outputs stay the same (no notebook shows the name;
``db.url.database`` has the real one). A fresh open also drops this host's
copies left by processes that are gone. Every other name is used as given.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from typing import TYPE_CHECKING, Any

import psutil
from sqlalchemy import text

from dashtam_nb import engines, roles, runner
from dashtam_nb.config import settings
from dashtam_nb.container import set_database
from dashtam_nb.database import Database, check_database
from dashtam_nb.errors import ConfigError, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = [
    "check_name",
    "connect",
    "create_database",
    "drop_database",
    "owner_database",
    "owner_url",
    "private_name",
]

NOTEBOOK_PREFIX = "nb_"
_MAX_NAME = 63


def check_name(name: object) -> str:
    """A database name we can quote safely, or `ValidationError`."""
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


def _private_stem(name: str) -> str:
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
    tag = f"__{host}_"
    return name[: _MAX_NAME - len(tag) - 7] + tag  # 7: room for any pid


def private_name(name: str) -> str:
    """The database ``name`` stands for in this process (see the module doc)."""
    if not name.startswith(NOTEBOOK_PREFIX):
        return name
    return f"{_private_stem(name)}{os.getpid()}"


async def _sweep(admin: Database, name: str) -> None:
    """Drop this host's private copies of ``name`` whose process is gone.

    Best effort: a copy that cannot be dropped (another role's) stays.
    """
    stem = _private_stem(name)
    owner, _ = _as_owner(admin)
    async with owner.engine.connect() as conn:
        names = (
            await conn.execute(
                text(
                    "SELECT datname FROM pg_database "
                    "WHERE left(datname, length(:stem)) = :stem"
                ),
                {"stem": stem},
            )
        ).scalars()
        gone = [
            str(n)
            for n in names
            if str(n)[len(stem) :].isdigit()
            and not psutil.pid_exists(int(str(n)[len(stem) :]))
        ]
    for old in gone:
        with contextlib.suppress(Exception):
            await _drop(admin, old)


def owner_url(url: URL) -> URL:
    """The owner role's URL for ``url``'s database (see `roles.owner_url`)."""
    return roles.owner_url(url, settings.owner_url)


def owner_database(db: Database) -> Database:
    """``db`` as the owner role: migrations, ``CREATE DATABASE``, test cleanup.

    ``db`` itself when the owner's URL is the same (one role setups). The
    owner's pool is small: it runs one command at a time.
    """
    check_database(db)
    url = owner_url(db.url)
    if url == db.url:
        return db
    return Database(url, pool_size=1, max_overflow=2)


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be True or False", field=name)
    return value


def _admin_for(url: URL, name: str) -> Database:
    """A `Database` on the same server, never the one named ``name``."""
    return Database(url if url.database != name else url.set(database="postgres"))


async def _dispose_on(app: URL, owner: URL, name: str) -> None:
    """Close our pools on ``name``: the owner role's and the app role's."""
    for url in {app.set(database=name), owner.set(database=name)}:
        await engines.dispose_url(url)


def _as_owner(admin: Database) -> tuple[Database, URL]:
    """``admin`` as its owner role, and the app role's URL it came from."""
    owner = owner_url(admin.url)
    return (admin if owner == admin.url else Database(owner)), admin.url


async def recreate(admin: Database, name: str, fresh: bool) -> None:
    """Create ``name`` if missing; with ``fresh``, drop it first.

    ``admin`` is the app role's `Database` on the server (not on ``name``):
    the work is done as its owner role (`owner_url`), and a database it
    creates gives the app role its privileges (`roles.grants`).
    """
    admin, app = _as_owner(admin)
    owner = admin.url
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        exists = await conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        )
        if exists and fresh:
            await _dispose_on(app, owner, name)
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        if not exists or fresh:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
            if app.username and app.username != owner.username:
                await _grant_app(owner.set(database=name), app.username, name)


async def _grant_app(owner: URL, app: str, name: str) -> None:
    """In a new database, what the owner creates is usable by the app role.

    On the embedded server ``template1`` already holds these; elsewhere this
    is what makes migrated tables usable by ``DATABASE_URL``'s role.
    """
    db = Database(owner, pool_size=1, max_overflow=0)
    try:
        async with db.engine.begin() as conn:
            version = int(await conn.scalar(text("SHOW server_version_num")) or 0)
            for statement in roles.grants(app, version, database=name):
                await conn.execute(text(statement.as_string()))
    finally:
        await db.close()


async def _drop(admin: Database, name: str) -> None:
    admin, app = _as_owner(admin)
    await _dispose_on(app, admin.url, name)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def create_database(database: str, *, fresh: bool = False) -> None:
    """Create a database on the configured server if it does not exist.

    Args:
        database: the name (checked before any SQL).
        fresh: drop it first if it exists (closing our pools on it), so it
            starts empty.
    """
    name = private_name(check_name(database))
    fresh = _check_flag("fresh", fresh)
    admin = _admin_for(settings.database_url, name)
    runner.run(recreate(admin, name, fresh), target=admin.target)


def drop_database(database: str) -> None:
    """Drop a database on the configured server (closing our pools on it)."""
    name = private_name(check_name(database))
    admin = _admin_for(settings.database_url, name)
    runner.run(_drop(admin, name), target=admin.target)


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
    asked = check_name(database) if database is not None else None
    name = private_name(asked) if asked is not None else None
    _check_flag("default", default)
    if _check_flag("fresh", fresh) and name is None:
        raise ConfigError("fresh=True needs a database name")
    base = settings.database_url
    # Built first, so bad options fail before any SQL (CREATE DATABASE) runs.
    db = Database(base if name is None else base.set(database=name), echo, **options)
    if name is not None:
        admin = _admin_for(base, name)
        if fresh and asked is not None and name != asked:
            with contextlib.suppress(Exception):
                runner.run(_sweep(admin, asked), target=admin.target)
        runner.run(recreate(admin, name, fresh), target=admin.target)
    if default:
        set_database(db)
    return db
