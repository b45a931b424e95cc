"""Schema changes under the migration lock: racing processes take turns.

Several processes (kernels, scripts, CI jobs) may run ``upgrade("head")`` on
one fresh database at once. Each holds a session-level PostgreSQL advisory
lock for the whole command (`dashtam_nb.migrations.lock`), so all of them
succeed, exactly one applies each revision, and the others wait and then find
nothing left to do. The lock is per database, always released (also after a
failing revision), and never left on a pooled connection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from alembic.script import ScriptDirectory

import dashtam_nb as dn
from dashtam_nb import migrations
from dashtam_nb.migrations import lock

pytestmark = [pytest.mark.integration, pytest.mark.migration]

SCRIPTS = ScriptDirectory.from_config(migrations.alembic_config())
REVISIONS = [s.revision for s in SCRIPTS.walk_revisions("base", "heads")][::-1]
HEAD = REVISIONS[-1]
RACERS = 4
PATIENCE = 120.0  # seconds: a bound on waiting for the server, not a timing claim

# Each racer connects and warms its pool, says "ready", then waits for "go" on
# stdin, so that all of them ask for the lock at (nearly) the same moment.
RACER = """
import json, sys
import dashtam_nb as dn
from dashtam_nb import migrations

db = dn.connect(sys.argv[1])
assert db.scalar("SELECT 1") == 1
print("ready", flush=True)
assert sys.stdin.readline().strip() == "go"
step = migrations.step("upgrade", "head", db=db)
print(json.dumps({"line": str(step), "before": step.before, "after": step.after,
                  "applied": list(step.applied)}), flush=True)
"""


def _conninfo(db: dn.Database) -> str:
    return db.url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def side(fresh_db: dn.Database) -> Iterator[psycopg.Connection]:
    """A plain psycopg session on ``fresh_db``'s database, outside the toolkit."""
    with psycopg.connect(_conninfo(fresh_db), autocommit=True) as conn:
        yield conn


def _lock_rows(conn: psycopg.Connection, granted: bool) -> int:
    classid, objid = lock.pg_locks_key()
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND database = (SELECT oid FROM pg_database WHERE datname = "
        "current_database()) AND classid = %s AND objid = %s AND objsubid = 1 "
        "AND granted = %s",
        (classid, objid, granted),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _free(conn: psycopg.Connection) -> bool:
    """Whether nobody holds the migration lock (taken and given back at once)."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s::bigint)", (lock.KEY,))
    got = row.fetchone()
    assert got is not None
    if got[0]:
        conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (lock.KEY,))
    return bool(got[0])


def _poll(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def _start(call: Callable[[], object], outcome: list[object]) -> threading.Thread:
    worker = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    worker.start()
    return worker


def test_the_lock_key_is_fixed_and_derived_from_the_name() -> None:
    import hashlib

    digest = hashlib.blake2b(b"dashtam_nb.migrations", digest_size=8).digest()
    assert int.from_bytes(digest, "big", signed=True) == lock.KEY
    assert -(2**63) <= lock.KEY < 2**63
    classid, objid = lock.pg_locks_key()
    assert (classid << 32 | objid) == lock.KEY % 2**64


def test_racing_upgrades_on_a_fresh_database_all_succeed_and_each_step_runs_once(
    fresh_db: dn.Database,
) -> None:
    name = fresh_db.url.database
    assert name is not None
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for _ in range(RACERS)
    ]
    try:
        for racer in racers:
            assert racer.stdout is not None
            assert racer.stdout.readline().strip() == "ready"
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.write("go\n")
            racer.stdin.flush()
        outputs = [racer.communicate(timeout=PATIENCE) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    for racer, (_out, err) in zip(racers, outputs, strict=True):
        assert racer.returncode == 0, err[-2000:]
        assert err == "", err[-2000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    appliers = [r for r in results if r["applied"]]
    assert len(appliers) == 1, results
    assert appliers[0]["applied"] == REVISIONS  # every revision, once, in order
    assert appliers[0]["before"] is None
    assert appliers[0]["line"] == f"upgraded base → {HEAD}"
    waiters = [r for r in results if not r["applied"]]
    assert len(waiters) == RACERS - 1
    for waited in waiters:
        assert waited["before"] == HEAD  # read under the lock: after the winner
        assert waited["line"] == f"already at head ({HEAD})"
    assert {r["after"] for r in results} == {HEAD}
    assert migrations.current(db=fresh_db) == HEAD
    migrations.check(db=fresh_db)  # the schema is exactly the models'


def test_upgrade_waits_while_another_session_holds_the_lock(
    fresh_db: dn.Database, side: psycopg.Connection
) -> None:
    side.execute("SELECT pg_advisory_lock(%s::bigint)", (lock.KEY,))
    assert _lock_rows(side, granted=True) == 1
    outcome: list[object] = []

    def upgrade() -> None:
        try:
            outcome.append(migrations.upgrade("head", db=fresh_db))
        except Exception as exc:  # reported by the assertion below
            outcome.append(exc)

    worker = threading.Thread(target=upgrade, daemon=True)
    worker.start()
    try:
        _poll(lambda: _lock_rows(side, granted=False) == 1, "upgrade to queue")
        assert worker.is_alive()
        assert outcome == []
        row = side.execute("SELECT to_regclass('public.alembic_version')").fetchone()
        assert row == (None,), "nothing may be applied while the lock is held"
    finally:
        side.execute("SELECT pg_advisory_unlock(%s::bigint)", (lock.KEY,))
    worker.join(PATIENCE)
    assert outcome == [HEAD]
    assert _free(side)


def test_a_failing_revision_releases_the_lock_and_keeps_the_previous_one(
    fresh_db: dn.Database, side: psycopg.Connection
) -> None:
    migrations.upgrade("head", db=fresh_db)
    # Recorded at base while the tables exist: the first revision then fails.
    migrations.stamp("base", db=fresh_db)
    with pytest.raises(dn.MigrationError, match="already exists"):
        migrations.upgrade("head", db=fresh_db)
    assert _lock_rows(side, granted=True) == 0
    assert _free(side)
    assert migrations.current(db=fresh_db) is None
    # The pooled connections that ran the commands carry no lock either: the
    # next command on the same pool takes it and releases it again.
    assert migrations.stamp("head", db=fresh_db) == HEAD
    assert _free(side)


def test_a_cancelled_wait_leaves_no_lock_on_the_pool(
    fresh_db: dn.Database, side: psycopg.Connection
) -> None:
    # The blocking bridge cancels the work on timeout (as on an interrupt):
    # psycopg cancels pg_advisory_lock on the server, and the connection that
    # was waiting is discarded, never handed back to the pool holding a lock.
    side.execute("SELECT pg_advisory_lock(%s::bigint)", (lock.KEY,))
    try:
        with pytest.raises(TimeoutError):
            dn.run(migrations.aupgrade("head", db=fresh_db), timeout=3.0)
        _poll(lambda: _lock_rows(side, granted=False) == 0, "the wait to end")
        row = side.execute("SELECT to_regclass('public.alembic_version')").fetchone()
        assert row == (None,)
    finally:
        side.execute("SELECT pg_advisory_unlock(%s::bigint)", (lock.KEY,))
    assert _free(side)
    assert migrations.upgrade("head", db=fresh_db) == HEAD
    assert _free(side)


def test_plain_alembic_cli_waits_for_the_lock_too(
    fresh_db: dn.Database, side: psycopg.Connection
) -> None:
    url = fresh_db.url.render_as_string(hide_password=False)
    ini = migrations.PROJECT_DIR / "alembic.ini"
    side.execute("SELECT pg_advisory_lock(%s::bigint)", (lock.KEY,))
    shell = subprocess.Popen(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"],
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _poll(lambda: _lock_rows(side, granted=False) == 1, "alembic to queue")
        assert shell.poll() is None
        row = side.execute("SELECT to_regclass('public.alembic_version')").fetchone()
        assert row == (None,)
    finally:
        side.execute("SELECT pg_advisory_unlock(%s::bigint)", (lock.KEY,))
        _out, err = shell.communicate(timeout=PATIENCE)
    assert shell.returncode == 0, err[-2000:]
    assert migrations.current(db=fresh_db) == HEAD
    assert _free(side)


def test_downgrade_below_base_has_nothing_to_do(fresh_db: dn.Database) -> None:
    step = migrations.step("downgrade", db=fresh_db)
    assert (step.before, step.after, step.applied) == (None, None, ())
    assert str(step) == "already at base"
    assert migrations.downgrade("-1", db=fresh_db) is None
    with pytest.raises(dn.MigrationError):  # an unknown target is still refused
        migrations.downgrade("deadbeef0000", db=fresh_db)


def test_downgrade_stamp_and_reset_take_the_lock_too(
    fresh_db: dn.Database, side: psycopg.Connection
) -> None:
    migrations.upgrade("head", db=fresh_db)
    side.execute("SELECT pg_advisory_lock(%s::bigint)", (lock.KEY,))
    calls = {
        "downgrade": lambda: migrations.downgrade("-1", db=fresh_db),
        # The revision it is at: stamping head here would record a lie.
        "stamp": lambda: migrations.stamp(REVISIONS[-2], db=fresh_db),
        "reset": lambda: migrations.reset(db=fresh_db),
    }
    try:
        for what, call in calls.items():
            outcome: list[object] = []
            worker = _start(call, outcome)
            _poll(lambda: _lock_rows(side, granted=False) == 1, f"{what} to queue")
            assert outcome == [], what
            side.execute("SELECT pg_advisory_unlock(%s::bigint)", (lock.KEY,))
            worker.join(PATIENCE)
            assert not worker.is_alive(), what
            assert len(outcome) == 1, what
            side.execute("SELECT pg_advisory_lock(%s::bigint)", (lock.KEY,))
    finally:
        side.execute("SELECT pg_advisory_unlock_all()")
    assert migrations.current(db=fresh_db) == HEAD


def test_the_lock_is_per_database(
    fresh_db: dn.Database, side: psycopg.Connection
) -> None:
    other_name = f"{fresh_db.url.database}_b"
    other = dn.connect(other_name, fresh=True)
    try:
        side.execute("SELECT pg_advisory_lock(%s::bigint)", (lock.KEY,))
        # Held on fresh_db's database: another database migrates meanwhile.
        assert migrations.upgrade("head", db=other) == HEAD
        side.execute("SELECT pg_advisory_unlock(%s::bigint)", (lock.KEY,))
    finally:
        dn.run(other.close())
        dn.drop_database(other_name)


def test_step_reports_what_each_command_did(fresh_db: dn.Database) -> None:
    first = migrations.step("upgrade", db=fresh_db)
    assert (first.before, first.after, first.applied) == (None, HEAD, tuple(REVISIONS))
    assert first.changed
    assert str(first) == f"upgraded base → {HEAD}"
    again = migrations.step("upgrade", "head", db=fresh_db)
    assert not again.changed
    assert str(again) == f"already at head ({HEAD})"
    down = migrations.step("downgrade", db=fresh_db)
    assert down.applied == (HEAD,)
    assert str(down) == f"downgraded {HEAD} → {REVISIONS[-2]}"
    assert down.describe("->") == f"downgraded {HEAD} -> {REVISIONS[-2]}"
    stamped = migrations.step("stamp", REVISIONS[-2], db=fresh_db)
    assert stamped.applied == ()
    assert str(stamped) == f"stamped {REVISIONS[-2]}"
    reset = migrations.step("reset", db=fresh_db)
    assert reset.applied == (*REVISIONS[-2::-1], *REVISIONS)
    assert str(reset) == f"reset {REVISIONS[-2]} → base → {HEAD}"
    for bad in ({"action": "sideways"}, {"action": "reset", "rev": "head"}):
        with pytest.raises(dn.ValidationError):
            migrations.step(db=fresh_db, **bad)  # type: ignore[arg-type]
    with pytest.raises(dn.ValidationError, match="purge"):
        migrations.step("upgrade", purge=True, db=fresh_db)
