"""`migrations.stamp`: record a revision without migrating (the guide's fix for
"Can't locate revision", reproduced in notebooks/08_troubleshooting.ipynb)."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory

import dashtam_nb as dn
from dashtam_nb import migrations

pytestmark = [pytest.mark.integration, pytest.mark.migration]

SCRIPTS = ScriptDirectory.from_config(migrations.alembic_config())
HEAD = SCRIPTS.get_current_head()
BOGUS = "deadbeef0000"


def test_stamp_records_without_running_migrations(fresh_db: dn.Database) -> None:
    assert migrations.stamp("head", db=fresh_db) == HEAD
    assert migrations.current(db=fresh_db) == HEAD
    # Only the bookkeeping row: no revision ran, so no model table exists.
    assert fresh_db.scalar("SELECT to_regclass('users')") is None
    assert migrations.stamp("base", db=fresh_db) is None
    assert fresh_db.scalar("SELECT count(*) FROM alembic_version") == 0


def test_unknown_revision_needs_purge(fresh_db: dn.Database) -> None:
    migrations.upgrade("head", db=fresh_db)
    fresh_db.execute(f"UPDATE alembic_version SET version_num = '{BOGUS}'")
    with pytest.raises(dn.MigrationError, match=f"Can't locate revision.*{BOGUS}"):
        migrations.upgrade("head", db=fresh_db)
    with pytest.raises(dn.MigrationError) as info:
        migrations.stamp("head", db=fresh_db)
    assert str(info.value).startswith("stamp 'head' failed: Can't locate revision")
    assert migrations.current(db=fresh_db) == BOGUS  # a failed stamp changes nothing

    assert migrations.stamp("head", purge=True, db=fresh_db) == HEAD
    assert fresh_db.scalar("SELECT count(*) FROM alembic_version") == 1
    migrations.check(db=fresh_db)  # the schema really is at head
    assert migrations.upgrade("head", db=fresh_db) == HEAD


async def test_astamp_inside_a_running_loop(fresh_db: dn.Database) -> None:
    assert await migrations.astamp("head", db=fresh_db) == HEAD
    assert migrations.stamp("head", db=fresh_db) == HEAD  # plain twin, same loop


def test_stamp_validates_rev(fresh_db: dn.Database) -> None:
    with pytest.raises(dn.ValidationError, match="rev must be"):
        migrations.stamp("  ", db=fresh_db)
