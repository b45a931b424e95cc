"""Timeouts, cancellation and interrupts (plan B5, B6, B13, B16).

After each: the server query is gone, nothing from the unit was written, and
the pool has no checked-out connection.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

import dashtam_nb as dn
from dashtam_nb import runner
from tests.support.harness import assert_error_clean, poll, survived

if TYPE_CHECKING:
    from tests.support.pgfault import FaultServer

pytestmark = pytest.mark.fault


@pytest.fixture
def items(fdb: dn.Database) -> dn.Database:
    fdb.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
    return fdb


def _settled(pg: FaultServer, db: dn.Database, within: float = 2.0) -> None:
    """No app backend still runs pg_sleep, and the pool got its connection back."""
    poll(lambda: not pg.running("%pg_sleep%"), timeout=within)
    poll(lambda: db.pool_status()["checked_out"] == 0, timeout=within)


async def test_statement_timeout_is_typed_and_connection_reusable(
    pg: FaultServer, items: dn.Database
) -> None:
    db = dn.Database(items.url, pool_size=1, max_overflow=0, statement_timeout=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(dn.QueryTimeoutError) as info:
            async with db.transaction() as session:
                await session.execute(text("INSERT INTO items VALUES (1, 'a')"))
                await session.execute(text("SELECT pg_sleep(5)"))
        assert time.monotonic() - started < 1.5
        assert_error_clean(info.value)
        assert await db.ascalar("SELECT count(*) FROM items") == 0
        # The one pooled connection is still usable (pool_size=1).
        assert await db.ascalar("SELECT 41 + 1") == 42
        await asyncio.to_thread(_settled, pg, db)
    finally:
        await db.close()
    survived()


async def test_task_cancelled_mid_query(pg: FaultServer, items: dn.Database) -> None:
    task = asyncio.create_task(items.ascalar("SELECT pg_sleep(30)"))
    await asyncio.to_thread(poll, lambda: pg.running("%pg_sleep%"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(_settled, pg, items)
    assert await items.ascalar("SELECT 1") == 1
    survived()


async def test_task_cancelled_mid_transaction_writes_nothing(
    pg: FaultServer, items: dn.Database
) -> None:
    async def unit() -> None:
        async with items.transaction() as session:
            await session.execute(text("INSERT INTO items VALUES (1, 'a')"))
            await session.execute(text("SELECT pg_sleep(30)"))

    task = asyncio.create_task(unit())
    await asyncio.to_thread(poll, lambda: pg.running("%pg_sleep%"))
    task.cancel()
    # The cancellation itself comes out, not a rollback error (it used to be
    # a raw "the connection is closed" OperationalError).
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(_settled, pg, items)
    assert await items.ascalar("SELECT count(*) FROM items") == 0
    assert items.pool_status()["checked_out"] == 0
    survived()


def test_sync_bridge_timeout_cancels_the_server_query(
    pg: FaultServer, items: dn.Database
) -> None:
    async def unit() -> None:
        async with items.transaction() as session:
            await session.execute(text("INSERT INTO items VALUES (1, 'a')"))
            await session.execute(text("SELECT pg_sleep(30)"))

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        runner.run(unit(), timeout=0.5)
    assert time.monotonic() - started < 2.5
    _settled(pg, items)
    assert items.scalar("SELECT count(*) FROM items") == 0
    survived()


def test_keyboard_interrupt_in_a_blocking_call(
    pg: FaultServer, items: dn.Database
) -> None:
    """A real SIGINT to the main thread, as Ctrl-C or a kernel interrupt sends."""
    assert threading.current_thread() is threading.main_thread()
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        poll(lambda: pg.running("%pg_sleep%"))
        signal.pthread_kill(main, signal.SIGINT)

    # Python's own Ctrl-C handler, as a terminal gives it: a suite started in
    # the background of a non-interactive shell inherits SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupter = threading.Thread(target=interrupt, daemon=True)
    try:
        interrupter.start()
        with pytest.raises(KeyboardInterrupt):
            items.execute("INSERT INTO items SELECT 1, 'a' FROM pg_sleep(30)")
        interrupter.join(5)
    finally:
        signal.signal(signal.SIGINT, previous)
    _settled(pg, items)
    assert items.scalar("SELECT count(*) FROM items") == 0
    survived()


def _failures(items: dn.Database) -> list[tuple[str, Any, type[dn.DashtamError]]]:
    return [
        ("INSERT INTO items VALUES (1, 'dup')", None, dn.DuplicateError),
        ("SELECT 1/0", None, dn.DatabaseError),
        ("SELECT * FROM no_such_table", None, dn.DatabaseError),
        ("SELECT :v::int", {"v": "not a number"}, dn.DatabaseError),
        ("SELECT :v", {"v": "nul\x00"}, dn.ValidationError),
        ("INSERT INTO items VALUES (2, NULL)", None, dn.IntegrityViolationError),
    ]


async def test_hundred_failing_calls_leave_no_checked_out_connection(
    pg: FaultServer, items: dn.Database
) -> None:
    await items.close()  # only the pool under test stays connected
    db = dn.Database(items.url, pool_size=1, max_overflow=0, pool_timeout=2)
    try:
        await db.aexecute("INSERT INTO items VALUES (1, 'a')")
        failures = _failures(items)
        for i in range(100):
            sql, params, expected = failures[i % len(failures)]
            with pytest.raises(expected) as info:
                if i % 2:
                    await db.ascalar(sql, params)
                else:
                    async with db.get_session() as session:
                        await session.execute(text(sql), params)
            if i < len(failures):
                assert_error_clean(info.value)
        assert db.pool_status()["checked_out"] == 0
        backends = pg.admin(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'"
            " AND datname = %s",
            (db.url.database,),
        )[0][0]
        assert backends <= 1  # pool_size
        assert await db.ascalar("SELECT count(*) FROM items") == 1
    finally:
        await db.close()
    survived()
