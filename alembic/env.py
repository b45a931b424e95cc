"""Alembic environment for dashtam_nb: a shared connection or the CLI's own engine.

Two paths, one ``do_run_migrations``:

* Shared connection (``config.attributes["connection"]``): how
  ``dashtam_nb.migrations`` calls Alembic. It passes a sync ``Connection``
  obtained with ``AsyncConnection.run_sync`` on the package's owner loop, so
  migrations run from a notebook cell, a script or pytest without starting a
  second event loop. Logging is left alone, so nothing reaches a cell's stderr.
* CLI (``alembic upgrade head`` from a shell): builds its own engine from the
  same settings as the package (``DATABASE_URL`` or the embedded server), as
  the owner role (``dashtam_nb.admin.owner_url``), and runs it on the owner
  loop through ``dashtam_nb.runner.run``. Never ``asyncio.run()``: it fails
  inside a running kernel (alembic#1353).

Both paths hold the migration advisory lock (`dashtam_nb.migrations.lock`):
the package around its whole command, the CLI path here, so a shell and a
kernel migrating one database take turns.

The URL is never written into the Alembic config (``set_main_option``): a
``%`` in a password breaks ConfigParser, whose error prints the whole URL.
"""

from __future__ import annotations

import logging.config
from typing import TYPE_CHECKING, Any

from alembic import context
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from dashtam_nb import runner
from dashtam_nb.admin import owner_url
from dashtam_nb.config import describe_target, settings
from dashtam_nb.migrations import lock
from dashtam_nb.models import Base

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from alembic.operations import MigrationScript
    from alembic.runtime.migration import MigrationContext, MigrationInfo
    from sqlalchemy.engine import Connection

config = context.config
target_metadata = Base.metadata


def _wants_autogenerate() -> bool:
    # The package sets the attribute; the alembic CLI sets --autogenerate.
    return bool(
        config.attributes.get("autogenerate")
        or getattr(config.cmd_opts, "autogenerate", False)
    )


def _skip_empty_autogenerate(
    _context: MigrationContext, _revision: Any, directives: list[MigrationScript]
) -> None:
    """Write no file when autogenerate finds nothing (an empty head is noise)."""
    if _wants_autogenerate() and all(
        ops.is_empty() for script in directives for ops in script.upgrade_ops_list
    ):
        directives[:] = []


def _record_applied(
    ctx: MigrationContext,
    step: MigrationInfo,
    heads: Collection[Any],
    run_args: Mapping[str, Any],
) -> None:
    """Note each revision that ran (not stamps), for the package's `Step`.

    Alembic passes every argument by keyword, so they keep its names.
    """
    del ctx, heads, run_args
    applied = config.attributes.get("applied")
    if isinstance(applied, list) and not step.is_stamp and step.up_revision_id:
        applied.append(step.up_revision_id)


def do_run_migrations(connection: Connection) -> None:
    """Configure the context on ``connection`` and run the requested command.

    ``transaction_per_migration``: each revision commits on its own, so a
    failing revision leaves the database at the previous one. That holds only
    if ``connection`` is not already inside a transaction (Alembic then treats
    the transaction as external and never commits).
    """
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
        process_revision_directives=_skip_empty_autogenerate,
        on_version_apply=_record_applied,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_locked(connection: Connection) -> None:
    """The CLI path takes the package's migration lock too (see its docstring).

    So ``alembic upgrade head`` in a shell and ``migrations.upgrade()`` in a
    kernel take turns on one database instead of racing.
    """
    with lock.held(connection):
        do_run_migrations(connection)


async def _run_with_own_engine() -> None:
    # The owner role: it owns the migrated objects (the app role may not
    # create or alter them); see dashtam_nb.roles.
    url = owner_url(settings.database_url)
    # NullPool: a one-off command needs no pool to clean up afterwards.
    engine = create_async_engine(
        url,
        poolclass=NullPool,
        hide_parameters=True,
        connect_args={"application_name": "dashtam_nb-alembic"},
    )
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run_locked)
            await conn.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Run on the shared connection if given, else on a CLI-owned engine."""
    connection = config.attributes.get("connection")
    if isinstance(connection, AsyncConnection):
        raise TypeError(
            'config.attributes["connection"] must be a sync Connection: pass '
            "the one AsyncConnection.run_sync(fn) gives fn"
        )
    if connection is not None:
        do_run_migrations(connection)
        return
    if config.config_file_name is not None:
        # CLI only: a notebook must not get handlers that print to stderr.
        logging.config.fileConfig(
            config.config_file_name, disable_existing_loggers=False
        )
    # The hop maps errors: one line, no SQL parameters, no credentials.
    runner.run(_run_with_own_engine(), target=describe_target(settings.database_url))


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: emit SQL; no server is started."""
    context.configure(
        dialect_name="postgresql",
        target_metadata=target_metadata,
        literal_binds=True,
        # "named": a "%" in raw SQL (plpgsql RAISE) is not doubled.
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
