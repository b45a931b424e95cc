"""Separated roles (issue 14.6): the app role cannot empty or unprotect the audit log.

On the embedded server sessions connect as ``dashtam_app`` and migrations run
as ``dashtam_owner`` (`dashtam_nb.roles`). As the app role, every way to
change or empty ``audit_logs`` or to switch its triggers off is refused by
the server with a one-line `PermissionDeniedError` or `ImmutableRecordError`,
and the rows stay as they were. ``dashtam-nb db check-roles`` says safe for the
app role and unsafe for a superuser. On the dedicated server, the SQL that
``docs/roles.md`` gives an admin (roles with passwords, reached over TCP)
gives the same separation, and no password shows anywhere; a data directory
made before roles existed is adopted by the owner role.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import update

import dashtam_nb as dn
from dashtam_nb import admin, cli, migrations, roles
from dashtam_nb.models import AuditLogModel
from dashtam_nb.roles.check import check_roles
from tests.support.harness import CANARY, assert_error_clean, assert_no_secret

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.pgfault import FaultServer

pytestmark = [pytest.mark.security, pytest.mark.integration, pytest.mark.migration]

REFUSED = {
    "update": "UPDATE audit_logs SET action = 'tampered'",
    "delete": "DELETE FROM audit_logs",
    "truncate": "TRUNCATE audit_logs",
    "disable-trigger": "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_truncate",
    "disable-all-triggers": "ALTER TABLE audit_logs DISABLE TRIGGER ALL",
    "replica": "SET session_replication_role = replica",
    "replica-local": "SET LOCAL session_replication_role = replica",
    "drop": "DROP TABLE audit_logs",
    "drop-trigger": "DROP TRIGGER audit_logs_no_update_delete ON audit_logs",
    "set-role-owner": f"SET ROLE {roles.OWNER_ROLE}",
}


@pytest.fixture(scope="module")
def app_db(server_url: object) -> Iterator[dn.Database]:
    """A migrated database on the embedded server, reached as the app role."""
    name = f"r_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    db = dn.connect(name, fresh=True, default=False)
    migrations.upgrade("head", db=db)
    yield db
    dn.run(db.close())
    dn.drop_database(name)


def _add_entry(db: dn.Database) -> None:
    with db.get_session() as session:
        session.add(
            AuditLogModel(
                action="user.created",
                resource_type="user",
                resource_id=uuid.uuid4(),
                context={"source": "roles test"},
            )
        )


def _rows(db: dn.Database) -> pd.DataFrame:
    return db.frame("SELECT * FROM audit_logs ORDER BY id")


def test_sessions_connect_as_the_app_role_which_is_not_superuser_nor_owner(
    app_db: dn.Database,
) -> None:
    assert app_db.url.username == roles.APP_ROLE
    assert app_db.url.password is None  # trust on a private socket: nothing to leak
    who, superuser = app_db.execute(
        "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
    )[0]
    assert (who, superuser) == (roles.APP_ROLE, False)
    owners = app_db.execute(
        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
        "WHERE relname IN ('users', 'accounts', 'transactions', 'audit_logs')"
    )
    assert owners == [(roles.OWNER_ROLE,)]
    member = app_db.scalar(
        f"SELECT pg_has_role(current_user, '{roles.OWNER_ROLE}', 'MEMBER')"
    )
    assert member is False
    database_owner = app_db.scalar(
        "SELECT pg_get_userbyid(datdba) FROM pg_database "
        "WHERE datname = current_database()"
    )
    assert database_owner == roles.OWNER_ROLE


def test_the_app_role_may_only_read_and_append_to_the_audit_log(
    app_db: dn.Database,
) -> None:
    held = app_db.execute(
        "SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', "
        "'TRUNCATE', 'TRIGGER']) p WHERE has_table_privilege('audit_logs', p)"
    )
    assert held == [("SELECT",), ("INSERT",)]


@pytest.mark.parametrize("case", list(REFUSED))
def test_the_app_role_cannot_change_empty_or_unprotect_the_audit_log(
    app_db: dn.Database, case: str
) -> None:
    _add_entry(app_db)
    before = _rows(app_db)
    with pytest.raises((dn.PermissionDeniedError, dn.ImmutableRecordError)) as info:
        app_db.execute(REFUSED[case])
    assert_error_clean(info.value)
    message = str(info.value)
    assert "audit_logs SET" not in message  # no SQL
    assert "tampered" not in message
    assert info.value.original is not None  # refused by the server, not by us
    pd.testing.assert_frame_equal(_rows(app_db), before)
    # The refusal changed nothing on the server either: still protected.
    assert app_db.scalar("SHOW session_replication_role") == "origin"
    enabled = app_db.scalar(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_logs'::regclass "
        "AND NOT tgisinternal AND tgenabled = 'O'"
    )
    assert enabled == 2


def test_bulk_orm_update_as_the_app_role_is_refused_by_the_server(
    app_db: dn.Database,
) -> None:
    _add_entry(app_db)
    before = _rows(app_db)
    with pytest.raises(dn.PermissionDeniedError, match="audit_logs") as info:
        app_db.execute(update(AuditLogModel).values(action="tampered"))
    assert "\n" not in str(info.value)
    pd.testing.assert_frame_equal(_rows(app_db), before)


def test_raw_psycopg_as_the_app_role_gets_insufficient_privilege(
    app_db: dn.Database,
) -> None:
    """Outside the package too: the refusal is the server's, for any client."""
    _add_entry(app_db)
    before = _rows(app_db)
    conninfo = app_db.url.set(drivername="postgresql").render_as_string(False)
    for statement in (REFUSED["truncate"], REFUSED["disable-all-triggers"]):
        with (
            psycopg.connect(conninfo) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(statement)
    pd.testing.assert_frame_equal(_rows(app_db), before)


def test_the_app_role_still_works_and_owns_its_own_tables(
    app_db: dn.Database,
) -> None:
    """DML on the owner's tables; analysts' tables (write_frame, %sql) are theirs."""
    _add_entry(app_db)
    assert app_db.scalar("SELECT count(*) FROM audit_logs") >= 1
    app_db.execute("ANALYZE users")  # MAINTAIN (PostgreSQL 17+)
    app_db.write_frame(
        pd.DataFrame({"n": [1, 2]}), "scratch_roles", if_exists="replace"
    )
    owner = app_db.scalar(
        "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'scratch_roles'"
    )
    assert owner == roles.APP_ROLE
    app_db.execute("DROP TABLE scratch_roles")
    app_db.execute('CREATE SCHEMA "Scratch side"')  # its own schemas too
    app_db.execute('DROP SCHEMA "Scratch side"')


def test_the_owner_role_meets_the_trigger(app_db: dn.Database) -> None:
    """The owner holds every privilege; the trigger still refuses its changes."""
    _add_entry(app_db)
    owner = admin.owner_database(app_db)
    assert owner.url.username == roles.OWNER_ROLE
    before = _rows(app_db)
    with pytest.raises(dn.ImmutableRecordError, match="append-only: TRUNCATE"):
        owner.execute("TRUNCATE audit_logs")
    pd.testing.assert_frame_equal(_rows(app_db), before)


def test_check_roles_is_safe_for_the_app_role(app_db: dn.Database) -> None:
    report = check_roles(app_db)
    assert report.safe, str(report)
    assert report.role == roles.APP_ROLE
    lines = str(report).splitlines()
    assert lines[0] == f"session role {roles.APP_ROLE} on {app_db.target}"
    assert lines[-1].startswith("safe:")
    assert all(line.startswith("ok") for line in lines[1:-1])
    assert len(lines) == 8


def _cli(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", url)
    dn.settings.reload()
    try:
        code = cli.main(["db", "check-roles"])
    finally:
        monkeypatch.delenv("DATABASE_URL")
        dn.settings.reload()
    out = capsys.readouterr()
    assert out.err == ""
    return code, out.out


def test_cli_check_roles_exit_codes(
    app_db: dn.Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app_url = app_db.url.render_as_string(hide_password=False)
    code, out = _cli(app_url, monkeypatch, capsys)
    assert code == 0, out
    assert "UNSAFE" not in out
    assert out.splitlines()[-1].startswith("safe:")

    superuser = app_db.url.set(username="postgres").render_as_string(False)
    code, out = _cli(superuser, monkeypatch, capsys)
    assert code == 1
    assert "UNSAFE  superuser: yes" in out
    assert "UNSAFE  may skip triggers (SET session_replication_role = replica)" in out
    assert "UNSAFE  owns the migrated tables" in out
    assert out.splitlines()[-1].startswith("unsafe:")


def test_check_roles_flags_the_owner_role(app_db: dn.Database) -> None:
    report = check_roles(admin.owner_database(app_db))
    assert not report.safe
    unsafe = {f.what for f in report.findings if not f.ok}
    assert unsafe == {
        "owns the migrated tables",
        "UPDATE, DELETE, TRUNCATE on audit_logs",
    }


# --- an external server set up as docs/roles.md says (TCP, passwords) -------

OWNER_PASSWORD = CANARY[::-1]  # a second secret, as odd as the first


def _external_roles(pg: FaultServer) -> tuple[str, str]:
    """The docs' admin SQL, run once on the dedicated server."""
    owner, app = "ledger_owner", "ledger_app"
    if not pg.admin("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)):
        for role, attrs, pw in (
            (owner, "NOSUPERUSER NOCREATEROLE CREATEDB", OWNER_PASSWORD),
            (app, "NOSUPERUSER NOCREATEROLE NOCREATEDB NOINHERIT", CANARY),
        ):
            pg.admin(
                sql.SQL("CREATE ROLE {} LOGIN " + attrs + " PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(pw)
                )
            )
        pg.admin(sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(owner)))
    return owner, app


def _tcp(pg: FaultServer, user: str, password: str, database: str) -> str:
    return (
        f"postgresql://{user}:{quote(password, safe='')}@127.0.0.1:{pg.port}/{database}"
    )


def test_external_owner_and_app_roles_from_the_docs(
    pg: FaultServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    owner, app = _external_roles(pg)
    name = f"x_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("DATABASE_URL", _tcp(pg, app, CANARY, "postgres"))
    monkeypatch.setenv(
        "DATABASE_OWNER_URL", _tcp(pg, owner, OWNER_PASSWORD, "postgres")
    )
    dn.settings.reload()
    try:
        db = dn.connect(name, fresh=True, default=False)
        assert db.url.username == app
        migrations.upgrade("head", db=db)
        assert db.scalar("SELECT current_user") == app
        report = check_roles(db)
        assert report.safe, str(report)
        assert_no_secret(str(report), repr(db), repr(dn.settings))
        _add_entry(db)
        before = _rows(db)
        for case in ("update", "truncate", "disable-all-triggers", "replica"):
            with pytest.raises(dn.PermissionDeniedError) as info:
                db.execute(REFUSED[case])
            assert_error_clean(info.value)
        pd.testing.assert_frame_equal(_rows(db), before)
        assert pg.admin(
            "SELECT pg_get_userbyid(relowner) FROM pg_class "
            "WHERE relname = 'audit_logs'",
            dbname=name,
        ) == [(owner,)]
        dn.run(db.close())
        code = cli.main(["db", "check-roles"])  # DATABASE_URL's own database
        out = capsys.readouterr().out
        assert code == 0, out
        assert_no_secret(out)
    finally:
        dn.drop_database(name)
        monkeypatch.delenv("DATABASE_URL")
        monkeypatch.delenv("DATABASE_OWNER_URL")
        dn.settings.reload()


def test_a_database_made_before_roles_is_adopted_by_the_owner(pg: FaultServer) -> None:
    """Old data directories: the superuser owned everything; bootstrap hands it over."""
    name = f"old_{uuid.uuid4().hex[:10]}"
    pg.admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        for statement in (
            "CREATE TYPE mood AS ENUM ('ok', 'meh')",
            "CREATE TABLE audit_logs (id serial PRIMARY KEY, m mood)",
            "CREATE TABLE users (id int GENERATED ALWAYS AS IDENTITY, name text)",
            "CREATE VIEW user_names AS SELECT name FROM users",
            "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ):
            pg.admin(statement, dbname=name)
        pg.admin(
            sql.SQL("COMMENT ON ROLE {} IS 'older'").format(
                sql.Identifier(roles.APP_ROLE)
            )
        )

        def connect(dbname: str) -> psycopg.Connection[Any]:
            return psycopg.connect(
                host=str(pg.pgdata),
                port=pg.port,
                user="postgres",
                dbname=dbname,
                autocommit=True,
            )

        assert roles.bootstrap(connect) is True
        assert roles.bootstrap(connect) is False  # done: one query
        owners = pg.admin(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = relnamespace WHERE nspname = 'public'",
            dbname=name,
        )
        assert owners == [(roles.OWNER_ROLE,)]
        rows = pg.admin(
            "SELECT pg_get_userbyid(typowner) FROM pg_type WHERE typname = 'mood'",
            dbname=name,
        )
        assert rows == [(roles.OWNER_ROLE,)]
        rows = pg.admin(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
            (name,),
        )
        assert rows == [(roles.OWNER_ROLE,)]
        privileges = pg.admin(
            "SELECT has_table_privilege(%s, 'users', 'UPDATE'), "
            "has_table_privilege(%s, 'audit_logs', 'INSERT'), "
            "has_table_privilege(%s, 'audit_logs', 'UPDATE')",
            (roles.APP_ROLE,) * 3,
            dbname=name,
        )
        assert privileges == [(True, True, False)]
    finally:
        pg.drop_database(name)


def test_sessions_on_a_superuser_url_are_reported_not_silently_trusted(
    app_db: dn.Database,
) -> None:
    """The same checks as the CLI, as a value: a notebook may assert on it."""
    superuser = dn.Database(app_db.url.set(username="postgres"))
    try:
        report = check_roles(superuser)
    finally:
        dn.run(superuser.close())
    assert not report.safe
    assert report.role == "postgres"
    with dn.Database(app_db.url) as same:
        assert check_roles(same).safe
    with pytest.raises(dn.ValidationError):
        check_roles("not a database")  # type: ignore[arg-type]
