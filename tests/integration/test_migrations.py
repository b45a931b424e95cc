"""Migration health against real PostgreSQL (the pytest-alembic checks, and more)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

import dashtam_nb as dn
from dashtam_nb import admin, migrations
from dashtam_nb.migrations.revisions import HISTORY_COLUMNS

pytestmark = [pytest.mark.integration, pytest.mark.migration]

ROOT = migrations.PROJECT_DIR
SCRIPTS = ScriptDirectory.from_config(migrations.alembic_config())
# base -> head
REVISIONS = [s.revision for s in SCRIPTS.walk_revisions("base", "heads")][::-1]
HEAD = REVISIONS[-1]
PREFIXES = {"p": "pk_", "f": "fk_", "u": "uq_", "c": "ck_"}

# Everything a revision can leave behind in the public schema, as text, so a
# downgrade that forgets a trigger, function, index or default shows up. The
# alembic_version bookkeeping table is Alembic's, not the revisions'.
SNAPSHOT_SQL = """
WITH rel AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace
      AND c.relname NOT LIKE 'alembic_version%'
)
SELECT 'relation', relname, relkind::text FROM rel
UNION ALL
SELECT 'column', r.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod) || ' null=' || (NOT a.attnotnull)
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
       || coalesce(' comment ' || col_description(r.oid, a.attnum), '')
FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid
LEFT JOIN pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', con.conname, pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN rel r ON r.oid = con.conrelid
UNION ALL
SELECT 'index', indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename <> 'alembic_version'
UNION ALL
SELECT 'trigger', t.tgname, pg_get_triggerdef(t.oid)
FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT 'function', p.proname, pg_get_function_identity_arguments(p.oid)
FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
UNION ALL
SELECT 'type', t.typname, t.typtype::text FROM pg_type t
WHERE t.typnamespace = 'public'::regnamespace AND t.typtype NOT IN ('c', 'b')
UNION ALL
SELECT 'extension', extname, extversion FROM pg_extension WHERE extname <> 'plpgsql'
UNION ALL
SELECT 'privileges', r.relname, coalesce(c.relacl::text, '')
FROM rel r JOIN pg_class c ON c.oid = r.oid
"""


def _snapshot(db: dn.Database) -> set[tuple[str, str, str]]:
    return {tuple(row) for row in db.execute(SNAPSHOT_SQL)}


def _copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "alembic"
    shutil.copytree(
        ROOT / "alembic", target, ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


def test_exactly_one_head() -> None:
    assert len(SCRIPTS.get_heads()) == 1
    assert len(REVISIONS) >= 2


def test_revision_files_are_date_prefixed() -> None:
    for script in SCRIPTS.walk_revisions():
        name = Path(script.path).name
        assert re.fullmatch(rf"\d{{8}}_{script.revision}_\w+\.py", name), name


def test_upgrade_base_to_head_then_models_match(fresh_db: dn.Database) -> None:
    assert migrations.current(db=fresh_db) is None
    assert migrations.upgrade(db=fresh_db) == HEAD
    assert migrations.current(db=fresh_db) == HEAD
    migrations.check(db=fresh_db)  # autogenerate finds no difference


def test_check_names_the_drift(fresh_db: dn.Database) -> None:
    migrations.upgrade(db=fresh_db)
    # Only the tables' owner may alter them (sessions are the app role).
    owner = admin.owner_database(fresh_db)
    try:
        owner.execute("ALTER TABLE users DROP COLUMN is_active")
    finally:
        if owner is not fresh_db:
            dn.run(owner.close())
    with pytest.raises(dn.MigrationError, match=r"add_column users\.is_active"):
        migrations.check(db=fresh_db)


def test_step_by_step_up_then_down_to_base(fresh_db: dn.Database) -> None:
    for rev in REVISIONS:
        assert migrations.upgrade("+1", db=fresh_db) == rev
    below: list[str | None] = [*REVISIONS[-2::-1], None]
    for previous in below:
        assert migrations.downgrade("-1", db=fresh_db) == previous
    assert migrations.current(db=fresh_db) is None
    assert fresh_db.scalar("SELECT count(*) FROM alembic_version") == 0


def test_upgrade_then_downgrade_leaves_no_trace(fresh_db: dn.Database) -> None:
    at_base = _snapshot(fresh_db)
    for rev in REVISIONS:  # each step: up, down, compare, then up again
        before = _snapshot(fresh_db)
        migrations.upgrade("+1", db=fresh_db)
        after_up = _snapshot(fresh_db)
        assert after_up - before, f"{rev} created nothing the snapshot sees"
        migrations.downgrade("-1", db=fresh_db)
        assert _snapshot(fresh_db) == before, rev
        migrations.upgrade("+1", db=fresh_db)
    migrations.downgrade("base", db=fresh_db)
    assert _snapshot(fresh_db) == at_base


def test_failing_revision_leaves_the_previous_revision(
    fresh_db: dn.Database, tmp_path: Path
) -> None:
    scripts = _copy_migrations(tmp_path)
    bad = scripts / "versions" / "20990101_badbadbad001_boom.py"
    bad.write_text(
        f'''"""boom

Revision ID: badbadbad001
Revises: {HEAD}
Create Date: 2099-01-01 00:00:00+00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "badbadbad001"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("boom_things", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("SELECT 1 / 0")


def downgrade() -> None:
    op.drop_table("boom_things")
'''
    )
    # From base: every good revision commits, the bad one rolls back alone.
    with pytest.raises(dn.MigrationError) as info:
        migrations.upgrade(db=fresh_db, script_location=scripts)
    message = str(info.value)
    assert "badbadbad001" in message
    assert f"stays at {HEAD}" in message
    assert "\n" not in message
    assert "SELECT" not in message
    assert migrations.current(db=fresh_db) == HEAD
    assert fresh_db.scalar("SELECT count(*) FROM alembic_version") == 1
    assert fresh_db.scalar("SELECT to_regclass('boom_things')") is None
    # Fixed, it applies on top of the same state.
    bad.write_text(bad.read_text().replace('    op.execute("SELECT 1 / 0")\n', ""))
    got = migrations.upgrade(db=fresh_db, script_location=scripts)
    assert got == "badbadbad001"
    assert fresh_db.scalar("SELECT to_regclass('boom_things')::text") == "boom_things"


def test_timestamps_are_timestamptz_and_names_follow_the_convention(
    fresh_db: dn.Database,
) -> None:
    migrations.upgrade(db=fresh_db)
    types = fresh_db.frame(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type LIKE 'timestamp%'"
    )
    assert len(types) >= 10
    assert set(types["data_type"]) == {"timestamp with time zone"}
    # contype 'n': PostgreSQL 18 catalogues NOT NULL as constraints with
    # server-made names; SQLAlchemy's convention cannot name those.
    constraints = fresh_db.execute(
        "SELECT con.conname, con.contype::text FROM pg_constraint con "
        "JOIN pg_class c ON c.oid = con.conrelid "
        "WHERE c.relnamespace = 'public'::regnamespace "
        "AND c.relname <> 'alembic_version' AND con.contype <> 'n'"
    )
    assert len(constraints) >= 10
    for name, kind in constraints:
        assert name.startswith(PREFIXES[kind]), (name, kind)
    indexes = fresh_db.execute(
        "SELECT i.relname, x.indisunique, x.indisprimary FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class t ON t.oid = x.indrelid "
        "WHERE t.relnamespace = 'public'::regnamespace "
        "AND t.relname <> 'alembic_version'"
    )
    for name, unique, primary in indexes:
        wanted = "pk_" if primary else "uq_" if unique else "ix_"
        assert name.startswith(wanted), name


def test_partial_indexes_cover_live_rows_only(fresh_db: dn.Database) -> None:
    migrations.upgrade(db=fresh_db)
    partial = dict(
        fresh_db.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' AND indexdef LIKE '%WHERE%'"
        )
    )
    assert set(partial) == {
        "uq_users_email_lower_live",
        "ix_users_created_at_id_live",
        "ix_transactions_account_id_posted_at_id_live",
        "ix_transactions_posted_at_id_live",
    }
    for definition in partial.values():
        assert definition.endswith("WHERE (is_deleted = false)"), definition


async def test_history_inside_a_running_loop(fresh_db: dn.Database) -> None:
    asyncio.get_running_loop()  # as in a notebook cell
    frame = migrations.history(db=fresh_db)  # plain call, no asyncio.run error
    assert list(frame.columns) == HISTORY_COLUMNS
    assert frame["revision"].tolist() == REVISIONS
    assert frame["is_head"].tolist() == [r == HEAD for r in REVISIONS]
    assert not frame["is_current"].any()
    assert frame["down_revision"].isna().tolist() == [True] + [False] * (
        len(REVISIONS) - 1
    )
    assert frame["down_revision"].iloc[1:].tolist() == REVISIONS[:-1]
    assert str(frame["created"].dtype) == "timestamp[us, tz=UTC][pyarrow]"
    assert frame["created"].notna().all()
    assert frame["created"].is_monotonic_increasing

    assert await migrations.aupgrade(db=fresh_db) == HEAD
    assert await migrations.acurrent(db=fresh_db) == HEAD
    frame = await migrations.ahistory(db=fresh_db)
    assert frame["is_current"].tolist() == frame["is_head"].tolist()
    assert await migrations.areset(db=fresh_db) == HEAD


def test_alembic_cli_uses_the_package_settings(fresh_db: dn.Database) -> None:
    # A "%" in the password must neither break ConfigParser nor be printed.
    # The embedded server trusts local sockets, so the password is ignored.
    url = fresh_db.url.set(password="s3cr%t!pw")
    env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            ROOT / "alembic.ini",
            "upgrade",
            "head",
        ],
        env=env,
        cwd=ROOT / "notebooks",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "s3cr" not in done.stdout + done.stderr
    assert migrations.current(db=fresh_db) == HEAD


def test_migrate_create_on_a_model_change_in_a_project_copy(
    fresh_db: dn.Database, tmp_path: Path
) -> None:
    # What `make migrate-create NAME=...` runs, in a copy with one more model
    # and one more column, so the repository's models stay untouched.
    project = tmp_path / "project"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "dashtam_nb", project / "dashtam_nb", ignore=skip)
    shutil.copytree(ROOT / "alembic", project / "alembic", ignore=skip)
    for name in ("alembic.ini", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    models = project / "dashtam_nb" / "models"
    (models / "note.py").write_text(NOTE_MODEL)
    with (models / "__init__.py").open("a") as init:
        init.write("\nfrom dashtam_nb.models import note as _note  # noqa: E402\n")
    migrations.upgrade(db=fresh_db)

    env = {
        **os.environ,
        "DATABASE_URL": fresh_db.url.render_as_string(hide_password=False),
    }
    ours = set((ROOT / "alembic" / "versions").iterdir())
    done = subprocess.run(
        [sys.executable, "-m", "dashtam_nb.cli", "migrate", "create", "add notes"],
        env=env,
        cwd=project,  # first on sys.path: the copy's package, ini and versions
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    strays = set((ROOT / "alembic" / "versions").iterdir()) - ours
    for stray in strays:  # never leave a test revision in the repository
        stray.unlink()
    assert not strays
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.parent == project / "alembic" / "versions"
    assert re.fullmatch(r"\d{8}_[0-9a-f]{12}_add_notes\.py", path.name)
    source = path.read_text()
    assert f'down_revision: str | Sequence[str] | None = "{HEAD}"' in source
    assert 'op.create_table(\n        "notes"' in source
    assert '"nickname"' in source
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(path)],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout

    scripts = project / "alembic"
    new = migrations.upgrade(db=fresh_db, script_location=scripts)
    assert new not in (None, HEAD)
    assert fresh_db.scalar("SELECT to_regclass('notes')::text") == "notes"
    names = {n for (n,) in fresh_db.execute(NOTE_NAMES_SQL)}
    assert {"pk_notes", "fk_notes_user_id_users", "ix_notes_user_id"} <= names
    assert migrations.downgrade(db=fresh_db, script_location=scripts) == HEAD
    assert fresh_db.scalar("SELECT to_regclass('notes')") is None
    columns = fresh_db.frame(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
    )["column_name"]
    assert "nickname" not in set(columns)


NOTE_NAMES_SQL = """
SELECT conname FROM pg_constraint WHERE conrelid = 'notes'::regclass
UNION ALL SELECT indexname FROM pg_indexes WHERE tablename = 'notes'
"""

NOTE_MODEL = '''"""A model added only in the temporary project copy."""

from uuid import UUID

from sqlalchemy import Column, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dashtam_nb.models.base import BaseMutableModel
from dashtam_nb.models.user import UserModel


class NoteModel(BaseMutableModel):
    __tablename__ = "notes"

    user_id: Mapped[UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)


UserModel.__table__.append_column(Column("nickname", String(50), nullable=True))
'''
