"""``dashtam-nb migrate ...`` as a user runs it: one line saying what was done.

Each command runs in a subprocess (``python -m dashtam_nb.cli``) against a
fresh database given by ``DATABASE_URL``. Commands that may write revision
files run in a copy of the project (the copy's ``dashtam_nb`` is imported
from its working directory), so the repository's ``alembic/versions`` is
never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

import dashtam_nb as dn
from dashtam_nb import migrations
from dashtam_nb.migrations import console

pytestmark = [pytest.mark.integration, pytest.mark.migration]

ROOT = migrations.PROJECT_DIR
SCRIPTS = ScriptDirectory.from_config(migrations.alembic_config())
REVISIONS = [s.revision for s in SCRIPTS.walk_revisions("base", "heads")][::-1]
HEAD, PREVIOUS = REVISIONS[-1], REVISIONS[-2]


def _project(where: Path) -> Path:
    project = where / "project"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "dashtam_nb", project / "dashtam_nb", ignore=skip)
    shutil.copytree(ROOT / "alembic", project / "alembic", ignore=skip)
    for name in ("alembic.ini", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _project(tmp_path_factory.mktemp("cli"))


def _cli(
    db: dn.Database, cwd: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    url = db.url.render_as_string(hide_password=False)
    return subprocess.run(
        [sys.executable, "-m", "dashtam_nb.cli", "migrate", *args],
        cwd=cwd,
        env={**os.environ, "DATABASE_URL": url, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout  # one line, nothing from Alembic
    return lines[0]


def test_the_cli_runs_the_copy(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import dashtam_nb; print(dashtam_nb.__file__)"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(done.stdout.strip()).is_relative_to(project)


def test_up_down_stamp_and_current_say_what_they_did(
    fresh_db: dn.Database, project: Path
) -> None:
    assert _ok(_cli(fresh_db, project, "current")) == "(base)"
    assert _ok(_cli(fresh_db, project, "up")) == f"upgraded base → {HEAD}"
    assert _ok(_cli(fresh_db, project, "up")) == f"already at head ({HEAD})"
    assert _ok(_cli(fresh_db, project, "down")) == f"downgraded {HEAD} → {PREVIOUS}"
    assert _ok(_cli(fresh_db, project, "current")) == PREVIOUS
    assert _ok(_cli(fresh_db, project, "up", "+1")) == f"upgraded {PREVIOUS} → {HEAD}"
    assert _ok(_cli(fresh_db, project, "down", "base")) == f"downgraded {HEAD} → base"
    assert _ok(_cli(fresh_db, project, "down")) == "already at base"
    assert _ok(_cli(fresh_db, project, "up", REVISIONS[0])) == (
        f"upgraded base → {REVISIONS[0]}"
    )
    assert _ok(_cli(fresh_db, project, "up", REVISIONS[0])) == (
        f"already at {REVISIONS[0]}"
    )
    assert migrations.current(db=fresh_db) == REVISIONS[0]


def test_stamp_records_a_revision_without_running_it(
    fresh_db: dn.Database, project: Path
) -> None:
    assert _ok(_cli(fresh_db, project, "stamp", "head")) == f"stamped {HEAD}"
    assert migrations.current(db=fresh_db) == HEAD
    tables = fresh_db.scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'alembic_version'"
    )
    assert tables == 0  # recorded, not run
    assert _ok(_cli(fresh_db, project, "stamp", "base")) == "stamped base"
    assert migrations.current(db=fresh_db) is None
    bogus = "deadbeef0000"
    migrations.stamp("head", db=fresh_db)
    fresh_db.execute(f"UPDATE alembic_version SET version_num = '{bogus}'")
    refused = _cli(fresh_db, project, "stamp", "head")
    assert refused.returncode == 1
    assert "Can't locate revision" in refused.stderr
    assert _ok(_cli(fresh_db, project, "stamp", "head", "--purge")) == (
        f"stamped {HEAD}"
    )
    assert migrations.current(db=fresh_db) == HEAD


def test_stamp_needs_a_revision(fresh_db: dn.Database, project: Path) -> None:
    done = _cli(fresh_db, project, "stamp")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == "usage: dashtam-nb migrate stamp REV [--purge]"


def test_purge_is_for_stamp_only(fresh_db: dn.Database, project: Path) -> None:
    done = _cli(fresh_db, project, "up", "--purge")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: ValidationError: purge applies to stamp only"
    assert migrations.current(db=fresh_db) is None


def test_the_arrow_falls_back_where_stdout_cannot_show_it(
    fresh_db: dn.Database, project: Path
) -> None:
    done = _cli(fresh_db, project, "up", PYTHONIOENCODING="ascii")
    assert _ok(done) == f"upgraded base -> {HEAD}"


def test_errors_are_one_line_without_a_traceback(
    fresh_db: dn.Database, project: Path
) -> None:
    done = _cli(fresh_db, project, "up", "nope")
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: MigrationError: upgrade to 'nope' failed")
    assert "Traceback" not in done.stderr


def test_create_with_nothing_to_autogenerate_says_so_plainly(
    fresh_db: dn.Database, project: Path
) -> None:
    migrations.upgrade("head", db=fresh_db)
    versions = {p.name for p in (project / "alembic" / "versions").glob("*.py")}
    assert _ok(_cli(fresh_db, project, "create", "nothing")) == (
        console.NOTHING_TO_GENERATE
    )
    assert {p.name for p in (project / "alembic" / "versions").glob("*.py")} == (
        versions
    )


def test_create_before_upgrading_is_one_error_line_and_no_file(
    fresh_db: dn.Database, project: Path
) -> None:
    versions = {p.name for p in (project / "alembic" / "versions").glob("*.py")}
    done = _cli(fresh_db, project, "create", "too early")
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert "not up to date" in done.stderr
    assert {p.name for p in (project / "alembic" / "versions").glob("*.py")} == (
        versions
    )


def test_create_prints_only_the_new_file(fresh_db: dn.Database, tmp_path: Path):
    project = _project(tmp_path)  # its models change: a copy of its own
    user_py = project / "dashtam_nb" / "models" / "user.py"
    anchor = "    is_active: Mapped[bool] = mapped_column("
    source = user_py.read_text()
    assert source.count(anchor) == 1
    column = "    nickname: Mapped[str | None] = mapped_column(String(50))\n"
    user_py.write_text(source.replace(anchor, column + anchor))
    migrations.upgrade("head", db=fresh_db)
    line = _ok(_cli(fresh_db, project, "create", 'add "nick" name'))
    path = Path(line)  # no "Running post write hook ... done" around it
    assert path.parent == project / "alembic" / "versions"
    assert path.name.endswith("_add_nick_name.py")
    assert "op.add_column" in path.read_text()
    up = _ok(_cli(fresh_db, project, "up"))
    assert up == f"upgraded {HEAD} → {path.name.split('_')[1]}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["REV=head"], 'dashtam-nb migrate stamp "head"'),
        (["REV=base", "PURGE=1"], 'dashtam-nb migrate stamp "base" --purge'),
    ],
)
def test_make_migrate_stamp_runs_the_cli(args: list[str], expected: str) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is needed for the Makefile targets")
    done = subprocess.run(
        [make, "-n", "-s", "-C", str(ROOT), "-o", "install", "migrate-stamp", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert any(line.endswith(expected) for line in done.stdout.splitlines()), (
        done.stdout
    )


def test_make_migrate_stamp_needs_a_revision() -> None:
    make = shutil.which("make")
    assert make is not None
    done = subprocess.run(
        [make, "-s", "-C", str(ROOT), "-o", "install", "migrate-stamp"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "usage: make migrate-stamp REV=head" in done.stdout
