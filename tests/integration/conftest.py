"""Integration fixtures shared by the repository, frame and guide tests.

`schema_db` gives each test an empty database with the real migrated schema.
Creating and dropping a database costs ~0.6 s + ~1 s here (DROP waits for a
checkpoint), so Alembic runs once per session into one database, and each
test starts by emptying every table (~10 ms). A failed test therefore never
leaks rows into the next one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

import dashtam_nb as dn
from dashtam_nb import admin, migrations


async def _engine_of(db: dn.Database) -> AsyncEngine:
    return db.engine


async def _empty_tables(db: dn.Database) -> None:
    # Triggers and TRUNCATE belong to the tables' owner, not the app role.
    owner = admin.owner_database(db)
    async with owner.engine.begin() as conn:
        names = list(
            (
                await conn.execute(
                    text(
                        "SELECT format('%I', tablename) FROM pg_tables "
                        "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                    )
                )
            ).scalars()
        )
        # The audit log's append-only trigger (rightly) refuses TRUNCATE:
        # switch user triggers off for this transaction only. As table owner,
        # not superuser, so the suite also runs on a plain role's server.
        # Names come from the catalogue, quoted by format('%I').
        for name in names:
            await conn.execute(text(f"ALTER TABLE {name} DISABLE TRIGGER USER"))
        await conn.execute(text(f"TRUNCATE {', '.join(names)} CASCADE"))
        for name in names:
            await conn.execute(text(f"ALTER TABLE {name} ENABLE TRIGGER USER"))


@pytest.fixture(scope="session")
def migrated_db(server_url: object) -> Iterator[dn.Database]:
    """One database per test session, migrated to head with real Alembic."""
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}_schema"
    db = dn.connect(name, fresh=True)
    dn.set_database(None)
    migrations.upgrade("head", db=db)
    yield db
    dn.run(db.close())
    dn.drop_database(name)


@pytest.fixture
def schema_db(migrated_db: dn.Database) -> Iterator[dn.Database]:
    """An empty database with the migrated schema (also `get_database()`)."""
    dn.run(_empty_tables(migrated_db))
    dn.set_database(migrated_db)
    yield migrated_db
    dn.set_database(None)


@pytest.fixture
def sql_log(schema_db: dn.Database) -> Iterator[list[str]]:
    """Every SQL statement sent to ``schema_db`` during the test, in order.

    Lets a test prove that validation happened *before* SQL: the list stays
    empty (apart from what the test itself runs).
    """
    engine = dn.run(_engine_of(schema_db)).sync_engine
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)
