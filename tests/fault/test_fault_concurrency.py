"""Conflicts between transactions (plan A7, B7, B8), driven step by step.

In the style of PostgreSQL's isolation tester: the other session is a plain
psycopg connection whose steps run at chosen points, and a step that must
block is started in a thread and observed in pg_stat_activity (never a bare
sleep). `run_transaction(work, retries=N)` must re-run the *whole* unit.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

import dashtam_nb as dn
from tests.support.harness import assert_error_clean, survived

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.support.pgfault import FaultServer

pytestmark = pytest.mark.fault


@pytest.fixture
def accounts(fdb: dn.Database) -> dn.Database:
    fdb.execute("CREATE TABLE accounts (id int PRIMARY KEY, on_call bool, n int)")
    fdb.execute("INSERT INTO accounts VALUES (1, true, 0), (2, true, 0)")
    return fdb


class Other:
    """The second session, as superuser on the same database, step by step."""

    def __init__(self, pg: FaultServer, dbname: str, *settings: str) -> None:
        self._cm = pg.admin_conn(dbname)
        self.conn = self._cm.__enter__()
        self.conn.autocommit = False
        for setting in settings:
            self.conn.execute(setting)
        self.conn.commit()

    def step(self, sql: str) -> Any:
        cur = self.conn.execute(sql)
        return cur.fetchall() if cur.description else None

    def steps(self, *sqls: str) -> None:
        for sql in sqls:
            self.step(sql)

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


async def _serializable(session: AsyncSession) -> None:
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))


@pytest.mark.parametrize("retries", [2, 0])
async def test_serialization_failure_reruns_the_whole_unit(
    pg: FaultServer, accounts: dn.Database, retries: int
) -> None:
    """Write skew: both read 'two on call', each takes one off; one must lose."""
    other = Other(pg, str(accounts.url.database))
    calls = 0

    async def work(session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        await _serializable(session)
        on_call = await session.scalar(
            text("SELECT count(*) FROM accounts WHERE on_call")
        )
        if calls == 1:  # the interleaving: s2 reads, writes, commits in between
            await asyncio.to_thread(
                other.step, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"
            )
            await asyncio.to_thread(
                other.step, "SELECT count(*) FROM accounts WHERE on_call"
            )
            await asyncio.to_thread(
                other.step, "UPDATE accounts SET on_call = false WHERE id = 2"
            )
            await asyncio.to_thread(other.conn.commit)
        if on_call == 2:
            await session.execute(
                text("UPDATE accounts SET on_call = false WHERE id = 1")
            )

    try:
        if retries:
            await accounts.arun_transaction(work, retries=retries)
            assert calls == 2  # one serialization failure, one clean re-run
            # The re-run saw s2's commit: only one doctor went off call.
            assert (
                await accounts.ascalar("SELECT count(*) FROM accounts WHERE on_call")
                == 1
            )
        else:
            with pytest.raises(dn.ConflictError) as info:
                await accounts.arun_transaction(work, retries=0)
            assert calls == 1
            assert "serialization" in str(info.value)
            assert_error_clean(info.value)
            assert (
                await accounts.ascalar("SELECT on_call FROM accounts WHERE id = 1")
                is True
            )
    finally:
        other.close()
    assert accounts.pool_status()["checked_out"] == 0
    survived()


@pytest.mark.parametrize("retries", [1, 0])
async def test_deadlock_reruns_the_whole_unit(
    pg: FaultServer, accounts: dn.Database, retries: int
) -> None:
    """Crossed row locks. s2 waits first with a long deadlock_timeout, so our
    session (100 ms) is always the one the detector aborts."""
    other = Other(pg, str(accounts.url.database), "SET deadlock_timeout = '30s'")
    blocked: threading.Thread | None = None
    calls = 0

    async def work(session: AsyncSession) -> None:
        nonlocal calls, blocked
        calls += 1
        await session.execute(text("UPDATE accounts SET n = n + 1 WHERE id = 1"))
        if calls == 1:
            await asyncio.to_thread(
                other.step, "UPDATE accounts SET n = n + 10 WHERE id = 2"
            )
            # s2 now wants row 1, which we hold: it blocks...
            blocked = threading.Thread(
                target=other.steps,
                args=("UPDATE accounts SET n = n + 10 WHERE id = 1", "COMMIT"),
            )
            blocked.start()
            await asyncio.to_thread(pg.wait_lock_waiters, 1)
        # ...and we want row 2, which s2 holds: a cycle.
        await session.execute(text("UPDATE accounts SET n = n + 1 WHERE id = 2"))

    try:
        if retries:
            await accounts.arun_transaction(work, retries=retries)
            assert calls == 2
        else:
            with pytest.raises(dn.ConflictError) as info:
                await accounts.arun_transaction(work, retries=0)
            assert "deadlock" in str(info.value)
            assert_error_clean(info.value)
        assert blocked is not None
        await asyncio.to_thread(blocked.join, 10)
    finally:
        other.close()
    rows = await accounts.aexecute("SELECT id, n FROM accounts ORDER BY id")
    # s2 (the winner) always committed; our unit exactly once, or not at all.
    mine = 1 if retries else 0
    assert [tuple(r) for r in rows] == [(1, 10 + mine), (2, 10 + mine)]
    assert accounts.pool_status()["checked_out"] == 0
    survived()


async def test_concurrent_saves_of_the_same_value(
    pg: FaultServer, fdb: dn.Database
) -> None:
    await fdb.aexecute("CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE)")

    async def save(user_id: int) -> None:
        async with fdb.transaction() as session:
            await session.execute(
                text("INSERT INTO users VALUES (:i, 'ann@x.io')"), {"i": user_id}
            )

    async with fdb.transaction() as first:
        await first.execute(text("INSERT INTO users VALUES (1, 'ann@x.io')"))
        second = asyncio.create_task(save(2))  # blocks on the unique index
        await asyncio.to_thread(pg.wait_lock_waiters, 1)
    # `first` committed on leaving the block; the waiting insert now fails.
    with pytest.raises(dn.DuplicateError) as info:
        await second
    assert info.value.field == "email"
    assert "ann@x.io" not in str(info.value)  # no values in messages
    assert_error_clean(info.value)
    assert await fdb.ascalar("SELECT count(*) FROM users") == 1
    assert await fdb.ascalar("SELECT id FROM users") == 1
    assert fdb.pool_status()["checked_out"] == 0
    survived()
