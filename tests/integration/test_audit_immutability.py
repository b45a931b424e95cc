"""audit_logs is append-only: in the database (trigger) and in the ORM (guard).

Sessions connect as the app role, which the server refuses ``UPDATE``,
``DELETE`` and ``TRUNCATE`` on the audit log before any trigger runs
(`PermissionDeniedError`; tests/security/test_sec_roles.py covers every way
the app role might change or unprotect it). The trigger is what stops the
role that does hold those privileges, the tables' owner: so the trigger
tests run their statements as `admin.owner_database`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pandas as pd
import psycopg
import pytest
from sqlalchemy import delete, update

import dashtam_nb as dn
from dashtam_nb import admin, roles
from dashtam_nb.models import AuditLogModel

pytestmark = [pytest.mark.integration, pytest.mark.migration]

STATEMENTS = {
    "update": "UPDATE audit_logs SET action = 'tampered'",
    "delete": "DELETE FROM audit_logs",
    "truncate": "TRUNCATE audit_logs",
}


async def _add_entry(db: dn.Database) -> uuid.UUID:
    async with db.get_session() as session:
        entry = AuditLogModel(
            action="user.created",
            resource_type="user",
            resource_id=uuid.uuid4(),
            context={"source": "test"},
        )
        session.add(entry)
    return entry.id


def _rows(db: dn.Database) -> pd.DataFrame:
    return db.frame("SELECT * FROM audit_logs ORDER BY id")


@pytest.fixture
def owner_db(schema_db: dn.Database) -> Iterator[dn.Database]:
    """``schema_db`` as the tables' owner: it holds every privilege."""
    owner = admin.owner_database(schema_db)
    assert owner.url.username == roles.OWNER_ROLE  # else the tests prove less
    yield owner
    dn.run(owner.close())


def test_migrations_install_the_triggers(schema_db: dn.Database) -> None:
    names = schema_db.execute(
        "SELECT tgname FROM pg_trigger "
        "WHERE tgrelid = 'audit_logs'::regclass AND NOT tgisinternal"
    )
    assert {n for (n,) in names} == {
        "audit_logs_no_update_delete",
        "audit_logs_no_truncate",
    }


@pytest.mark.parametrize("verb", list(STATEMENTS))
def test_the_app_role_is_refused_before_the_trigger(
    schema_db: dn.Database, verb: str
) -> None:
    # The privilege check comes first; see test_sec_roles.py for the rest
    # (disabling triggers, replication role, SET ROLE, DROP).
    dn.run(_add_entry(schema_db))
    before = _rows(schema_db)
    with pytest.raises(dn.PermissionDeniedError, match="audit_logs") as info:
        schema_db.execute(STATEMENTS[verb])
    assert "\n" not in str(info.value)
    pd.testing.assert_frame_equal(_rows(schema_db), before)


@pytest.mark.parametrize("verb", list(STATEMENTS))
def test_package_raises_immutable_record_error(
    schema_db: dn.Database, owner_db: dn.Database, verb: str
) -> None:
    dn.run(_add_entry(schema_db))
    before = _rows(schema_db)
    with pytest.raises(dn.ImmutableRecordError, match="append-only") as info:
        owner_db.execute(STATEMENTS[verb])
    assert verb.upper() in str(info.value)
    assert "\n" not in str(info.value)
    pd.testing.assert_frame_equal(_rows(schema_db), before)


@pytest.mark.parametrize(
    "statement",
    [update(AuditLogModel).values(action="tampered"), delete(AuditLogModel)],
    ids=["core-update", "core-delete"],
)
def test_bulk_statements_that_skip_the_orm_hit_the_trigger(
    schema_db: dn.Database, owner_db: dn.Database, statement: object
) -> None:
    dn.run(_add_entry(schema_db))
    before = _rows(schema_db)
    with pytest.raises(dn.ImmutableRecordError) as info:
        owner_db.execute(statement)  # type: ignore[arg-type]
    assert info.value.original is not None  # from the database, not the ORM
    pd.testing.assert_frame_equal(_rows(schema_db), before)


@pytest.mark.parametrize("verb", list(STATEMENTS))
def test_raw_sql_gets_the_trigger_error(
    schema_db: dn.Database, owner_db: dn.Database, verb: str
) -> None:
    dn.run(_add_entry(schema_db))
    before = _rows(schema_db)
    conninfo = owner_db.url.set(drivername="postgresql")
    with (
        psycopg.connect(conninfo.render_as_string(hide_password=False)) as conn,
        pytest.raises(psycopg.errors.RestrictViolation) as info,
    ):
        conn.execute(STATEMENTS[verb])
    assert info.value.sqlstate == "23001"
    assert info.value.diag.message_primary == (
        f"audit_logs is append-only: {verb.upper()} is not allowed"
    )
    pd.testing.assert_frame_equal(_rows(schema_db), before)


@pytest.mark.parametrize("change", ["update", "delete"])
async def test_orm_refuses_to_flush_a_changed_row_before_any_sql(
    schema_db: dn.Database, sql_log: list[str], change: str
) -> None:
    entry_id = await _add_entry(schema_db)
    before = await schema_db.aframe("SELECT * FROM audit_logs")
    with pytest.raises(dn.ImmutableRecordError, match="append-only") as info:
        async with schema_db.get_session() as session:
            row = await session.get(AuditLogModel, entry_id)
            assert row is not None
            if change == "update":
                row.action = "tampered"
            else:
                await session.delete(row)
            sql_log.clear()
            await session.flush()
    assert sql_log == []  # refused before any SQL was sent
    assert info.value.original is None  # by the ORM guard, not the trigger
    after = await schema_db.aframe("SELECT * FROM audit_logs")
    pd.testing.assert_frame_equal(after, before)


async def test_inserting_more_rows_still_works(schema_db: dn.Database) -> None:
    await _add_entry(schema_db)
    await _add_entry(schema_db)
    assert await schema_db.ascalar("SELECT count(*) FROM audit_logs") == 2
