"""Database sessions and transactions against real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import TYPE_CHECKING, cast

import pytest
from sqlalchemy import text

import dashtam_nb as dn
from dashtam_nb.models import UserModel

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from sqlalchemy.ext.asyncio import AsyncSession

pytestmark = pytest.mark.integration


def _make_table(db: dn.Database) -> None:
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")


def test_sync_scalar_and_frame(fresh_db: dn.Database) -> None:
    assert fresh_db.scalar("SELECT 1") == 1
    frame = fresh_db.frame("SELECT 1 AS a, 'x' AS b")
    assert list(frame.columns) == ["a", "b"]
    assert frame.iloc[0].tolist() == [1, "x"]


async def test_await_from_foreign_loop(fresh_db: dn.Database) -> None:
    assert await fresh_db.ascalar("SELECT 2") == 2
    async with fresh_db.get_session() as session:
        assert (await session.execute(text("SELECT 3"))).scalar() == 3


def test_get_session_commits_on_clean_exit(fresh_db: dn.Database) -> None:
    _make_table(fresh_db)

    async def work() -> None:
        async with fresh_db.get_session() as session:
            await session.execute(text("INSERT INTO items VALUES (1, 'a')"))

    dn.run(work())
    assert fresh_db.scalar("SELECT count(*) FROM items") == 1


async def test_get_session_rolls_back_and_reraises(fresh_db: dn.Database) -> None:
    _make_table(fresh_db)
    with pytest.raises(ValueError, match="boom"):
        async with fresh_db.get_session() as session:
            await session.execute(text("INSERT INTO items VALUES (1, 'a')"))
            raise ValueError("boom")
    assert await fresh_db.ascalar("SELECT count(*) FROM items") == 0


async def test_transaction_leaves_nothing_when_second_write_fails(
    fresh_db: dn.Database,
) -> None:
    _make_table(fresh_db)
    with pytest.raises(dn.DuplicateError) as info:
        async with fresh_db.transaction() as session:
            await session.execute(text("INSERT INTO items VALUES (1, 'a')"))
            await session.execute(text("INSERT INTO items VALUES (1, 'b')"))
    assert "\n" not in str(info.value)
    assert "INSERT" not in str(info.value)
    assert await fresh_db.ascalar("SELECT count(*) FROM items") == 0


def test_sync_with_block_rolls_back(fresh_db: dn.Database) -> None:
    _make_table(fresh_db)
    with pytest.raises(RuntimeError), fresh_db.get_session() as session:
        dn.run(session.execute(text("INSERT INTO items VALUES (1, 'a')")))
        raise RuntimeError
    assert fresh_db.scalar("SELECT count(*) FROM items") == 0


def test_sync_calls_from_worker_threads_under_contention(server_url: object) -> None:
    name = f"t_threads_{os.getpid()}"
    db = dn.connect(name, fresh=True, pool_size=1, max_overflow=0)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            results.append(db.scalar("SELECT :i FROM pg_sleep(0.05)", {"i": i}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == list(range(6))
    dn.run(db.close())
    dn.drop_database(name)


async def test_gather_under_contention_then_sync_inside_loop(
    fresh_db: dn.Database,
) -> None:
    db = dn.Database(fresh_db.url, pool_size=1, max_overflow=0)
    values = await asyncio.gather(
        *(db.ascalar("SELECT :i FROM pg_sleep(0.02)", {"i": i}) for i in range(5))
    )
    assert values == list(range(5))
    # A blocking call from inside a running loop still works (it blocks it).
    assert db.scalar("SELECT 7") == 7
    await db.close()


def test_run_from_owner_loop_is_refused() -> None:
    async def nested() -> None:
        dn.run(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="use `await`"):
        dn.run(nested())


async def test_raw_engine_from_foreign_loop_fails_at_once(
    fresh_db: dn.Database,
) -> None:
    with pytest.raises(RuntimeError, match="belongs to the dashtam_nb"):
        _ = fresh_db.engine


async def test_close_leaves_no_connection(fresh_db: dn.Database) -> None:
    name = fresh_db.url.database
    assert await fresh_db.ascalar("SELECT 1") == 1
    await fresh_db.close()
    probe = dn.Database(dn.settings.database_url)
    count = await probe.ascalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d", {"d": name}
    )
    await probe.close()
    assert count == 0


async def test_run_transaction_retries_then_raises_conflict(
    fresh_db: dn.Database,
) -> None:
    calls = 0

    async def work(session: object) -> None:
        nonlocal calls
        calls += 1
        raise dn.ConflictError("serialization failure")

    with pytest.raises(dn.ConflictError):
        await fresh_db.arun_transaction(work, retries=2)
    assert calls == 3


def test_get_db_session_is_an_async_generator(fresh_db: dn.Database) -> None:
    async def use() -> int:
        agen = cast("AsyncGenerator[AsyncSession, None]", dn.get_db_session())
        session = await agen.__anext__()
        value = (await session.execute(text("SELECT 5"))).scalar_one()
        await agen.aclose()
        return int(value)

    assert dn.run(use()) == 5


def test_bad_arguments_fail_before_sql(fresh_db: dn.Database) -> None:
    with pytest.raises(dn.ValidationError):
        fresh_db.scalar(12345)  # type: ignore[arg-type]
    with pytest.raises(dn.ValidationError):
        fresh_db.scalar("SELECT 1", params=[1])  # type: ignore[arg-type]
    with pytest.raises(dn.ValidationError):
        dn.Database(pool_size=0)
    with pytest.raises(dn.ValidationError):
        dn.connect("bad name; drop")


async def test_session_used_after_block_is_refused(fresh_db: dn.Database) -> None:
    _make_table(fresh_db)
    async with fresh_db.get_session() as session:
        await session.execute(text("SELECT 1"))
    with pytest.raises(dn.SessionClosedError):
        await session.execute(text("INSERT INTO items VALUES (1, 'late')"))
    with pytest.raises(dn.SessionClosedError):
        session.add(UserModel(email="late@example.com", password_hash="x"))
    assert fresh_db.pool_status()["checked_out"] == 0
    assert await fresh_db.ascalar("SELECT count(*) FROM items") == 0


async def test_savepoint_at_top_level_runs_on_owner_loop(fresh_db: dn.Database) -> None:
    _make_table(fresh_db)
    threads: list[str] = []
    from sqlalchemy import event

    def record(*_: object) -> None:
        threads.append(threading.current_thread().name)

    async with fresh_db.get_session() as session:
        engine = session.bind
        assert engine is not None
        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            await session.execute(text("INSERT INTO items VALUES (1, 'kept')"))
            with pytest.raises(dn.DuplicateError):
                async with session.begin_nested():
                    await session.execute(text("INSERT INTO items VALUES (1, 'x')"))
            async with session.begin_nested():
                await session.execute(text("INSERT INTO items VALUES (2, 'also')"))
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert await fresh_db.ascalar("SELECT count(*) FROM items") == 2
    assert set(threads) == {"dashtam-db-loop"}


def test_connect_without_making_it_the_default(fresh_db: dn.Database) -> None:
    name = f"t_side_{os.getpid()}"
    side = dn.connect(name, fresh=True, default=False)
    assert dn.get_database() is fresh_db
    assert side.scalar("SELECT current_database()") == name
    dn.run(side.close())
    dn.drop_database(name)
