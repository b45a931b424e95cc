"""Connections that die (plan B1-B4, B18): typed errors, nothing half-written, recovery.

Each case asserts the state after the fault (rows, pool, server backends)
and that the next call works without user action.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

import dashtam_nb as dn
from tests.support.harness import assert_error_clean, poll, survived
from tests.support.pgfault import CommitCutProxy

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.support.pgfault import FaultServer

pytestmark = pytest.mark.fault


@pytest.fixture
def items(fdb: dn.Database) -> dn.Database:
    fdb.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
    return fdb


async def _count(db: dn.Database, where: str = "true") -> int:
    return int(await db.ascalar(f"SELECT count(*) FROM items WHERE {where}"))


async def _healthy(db: dn.Database) -> None:
    assert await db.ascalar("SELECT 1") == 1
    assert db.pool_status()["checked_out"] == 0


async def test_backend_terminated_mid_transaction(
    pg: FaultServer, items: dn.Database
) -> None:
    with pytest.raises(dn.ConnectionLostError) as info:
        async with items.transaction() as session:
            await session.execute(text("INSERT INTO items VALUES (1, 'a')"))
            assert await asyncio.to_thread(pg.kill_backends) >= 1
            await session.execute(text("INSERT INTO items VALUES (2, 'b')"))
    assert info.value.outcome_unknown is False
    assert_error_clean(info.value)
    assert await _count(items) == 0  # nothing from the unit
    await _healthy(items)
    survived()


async def test_server_crash_mid_transaction_then_restart(
    pg: FaultServer, items: dn.Database
) -> None:
    with pytest.raises(dn.ConnectionLostError) as info:
        async with items.transaction() as session:
            await session.execute(text("INSERT INTO items VALUES (1, 'a')"))
            await asyncio.to_thread(pg.crash)
            await session.execute(text("INSERT INTO items VALUES (2, 'b')"))
    assert_error_clean(info.value)
    with pytest.raises(dn.ConnectError) as down:
        await items.ascalar("SELECT 1")
    assert down.value.kind == "refused"
    await asyncio.to_thread(pg.start)
    # The first call after the restart works: the pool replaced its dead
    # connections on checkout (pre-ping).
    assert await _count(items) == 0
    await _healthy(items)
    survived()


@pytest.mark.parametrize("how", ["terminate", "crash"])
async def test_connection_killed_while_idle_is_transparent(
    pg: FaultServer, items: dn.Database, how: str
) -> None:
    await items.aexecute("INSERT INTO items VALUES (1, 'a')")
    # Warm the pool with two idle connections.
    await asyncio.gather(
        items.ascalar("SELECT pg_sleep(0.05)"), items.ascalar("SELECT 1")
    )
    assert items.pool_status()["idle"] >= 1
    if how == "terminate":
        assert await asyncio.to_thread(pg.kill_backends) >= 1
    else:
        await asyncio.to_thread(pg.crash)
        await asyncio.to_thread(pg.start)
    assert await _count(items) == 1  # no error surfaced to the caller
    assert await items.ascalar("SELECT name FROM items") == "a"
    await _healthy(items)
    survived()


async def test_idle_in_transaction_timeout(pg: FaultServer, items: dn.Database) -> None:
    with pytest.raises(dn.ConnectionLostError) as info:
        async with items.transaction() as session:
            await session.execute(
                text("SET idle_in_transaction_session_timeout = '200ms'")
            )
            await session.execute(text("INSERT INTO items VALUES (1, 'a')"))
            # The server ends the idle transaction; wait for the backend to go.
            await asyncio.to_thread(
                poll, lambda: not pg.activity("%INSERT INTO items VALUES (1%")
            )
            await session.execute(text("INSERT INTO items VALUES (2, 'b')"))
    assert info.value.outcome_unknown is False
    assert_error_clean(info.value)
    assert await _count(items) == 0
    await _healthy(items)
    survived()


# A deferred constraint trigger runs inside COMMIT: the backend can be killed
# there deterministically (poll for it, then terminate).
_SLOW_COMMIT = (
    "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$",
    "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON items"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()",
)


def _kill_when_committing(pg: FaultServer) -> threading.Thread:
    """Terminate the backend while it runs the deferred trigger inside COMMIT."""

    def at_commit() -> bool:
        return any(
            row[2] == "PgSleep" and row[3].strip().upper().startswith("COMMIT")
            for row in pg.activity("%")
        )

    def kill() -> None:
        poll(at_commit)
        pg.kill_backends()

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


async def test_disconnect_during_commit_is_outcome_unknown_and_not_retried(
    pg: FaultServer, items: dn.Database
) -> None:
    for statement in _SLOW_COMMIT:
        await items.aexecute(statement)
    calls = 0

    async def work(session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        await session.execute(text("INSERT INTO items VALUES (1, 'a')"))

    killer = _kill_when_committing(pg)
    with pytest.raises(dn.ConnectionLostError) as info:
        await items.arun_transaction(work, retries=3)
    await asyncio.to_thread(killer.join, 10)
    assert info.value.outcome_unknown is True
    assert "outcome is unknown" in str(info.value)
    assert calls == 1  # never retried blindly
    assert_error_clean(info.value)
    assert await _count(items) == 0  # the trigger never finished: not committed
    await _healthy(items)
    survived()


@pytest.fixture
def proxy(pg: FaultServer) -> Iterator[CommitCutProxy]:
    cut = CommitCutProxy(pg.port)
    yield cut
    cut.close()


async def test_connection_cut_after_commit_landed(
    pg: FaultServer, items: dn.Database, proxy: CommitCutProxy
) -> None:
    via_proxy = dn.Database(
        items.url.set(port=proxy.port), pool_size=1, max_overflow=0, connect_timeout=2
    )
    try:
        assert await via_proxy.ascalar("SELECT 1") == 1
        calls = 0

        async def work(session: AsyncSession) -> None:
            nonlocal calls
            calls += 1
            await session.execute(text("INSERT INTO items VALUES (7, 'landed')"))

        proxy.armed.set()
        with pytest.raises(dn.ConnectionLostError) as info:
            await via_proxy.arun_transaction(work, retries=3)
        assert proxy.cuts == 1
        assert info.value.outcome_unknown is True
        assert calls == 1
        assert_error_clean(info.value)
        # It did commit: that is why the outcome is "unknown", not "rolled back".
        assert await _count(items, "id = 7") == 1
        await _healthy(via_proxy)
    finally:
        await via_proxy.close()
    survived()
