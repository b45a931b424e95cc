"""The same Database API from every caller the package promises to serve.

A plain script, ``asyncio.run`` (twice: a new loop each time), pytest-asyncio
at function and session loop scope, and a process where nest_asyncio is
applied. Each uses a pool of one connection so that callers really wait for
each other: the cross-loop bug this guards against only shows under
contention (shared/notes/event-loops.md §3.2-3.3). Scripts run in a
subprocess so they get a fresh interpreter, exactly as a user's would, and
must exit cleanly with nothing on stderr, even with warnings enabled.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

import dashtam_nb as dn

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

SCRIPT_TIMEOUT = 60

PLAIN_SCRIPT = """
import sys
from sqlalchemy import text
import dashtam_nb as dn

db = dn.connect(sys.argv[1], pool_size=1, max_overflow=0)
assert db.scalar("SELECT 1") == 1
db.execute("CREATE TABLE t (i int)")
with db.get_session() as s:
    dn.run(s.execute(text("INSERT INTO t VALUES (1), (2)")))
print(db.frame("SELECT i FROM t ORDER BY i")["i"].tolist())
print(db.pool_status()["checked_out"])
"""

NEST_ASYNCIO_SCRIPT = """
import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

import nest_asyncio
from sqlalchemy import text
import dashtam_nb as dn

nest_asyncio.apply()
db = dn.connect(sys.argv[1], pool_size=1, max_overflow=0)
assert db.scalar("SELECT 1") == 1


async def main():
    values = await asyncio.gather(
        *(db.ascalar("SELECT :i FROM pg_sleep(0.02)", {"i": i}) for i in range(6))
    )
    async with db.get_session() as s:
        inside = await s.scalar(text("SELECT 7"))
    blocking = db.scalar("SELECT 8")  # a plain call inside the running loop
    return values, inside, blocking


print(asyncio.run(main()))
print(asyncio.run(main()))
with ThreadPoolExecutor(4) as pool:
    print(sorted(pool.map(lambda i: db.scalar("SELECT :i", {"i": i}), range(8))))
print(db.pool_status()["checked_out"])
"""


def _run_script(script: str, db_name: str) -> subprocess.CompletedProcess[str]:
    # -W default: show every warning once (ResourceWarning from an unclosed
    # connection at exit included); stderr must still be empty.
    return subprocess.run(
        [sys.executable, "-W", "default", "-c", script, db_name],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        env=dict(os.environ),
        check=False,
    )


def _burst(db: dn.Database, n: int = 6, offset: int = 0) -> list[asyncio.Future[int]]:
    """``n`` concurrent queries; with one pooled connection, all but one wait."""
    return [
        asyncio.ensure_future(
            db.ascalar("SELECT :i FROM pg_sleep(0.02)", {"i": offset + i})
        )
        for i in range(n)
    ]


def test_plain_script_uses_sync_calls(fresh_db: dn.Database) -> None:
    done = _run_script(PLAIN_SCRIPT, str(fresh_db.url.database))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[1, 2]\n0\n"
    assert done.stderr == ""


def test_nest_asyncio_applied_changes_nothing(fresh_db: dn.Database) -> None:
    done = _run_script(NEST_ASYNCIO_SCRIPT, str(fresh_db.url.database))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["([0, 1, 2, 3, 4, 5], 7, 8)"] * 2
    assert lines[2:] == [str(list(range(8))), "0"]
    assert done.stderr == ""


def test_asyncio_run_twice_with_pool_contention(fresh_db: dn.Database) -> None:
    db = dn.Database(fresh_db.url, pool_size=1, max_overflow=0)

    async def main(offset: int) -> tuple[list[int], int, int]:
        values = await asyncio.gather(*_burst(db, offset=offset))
        async with db.get_session() as session:
            inside = await session.scalar(text("SELECT 7"))
        return list(values), inside, db.scalar("SELECT 8")

    # Each asyncio.run is a new loop; the pool stays on the owner loop.
    assert asyncio.run(main(0)) == (list(range(6)), 7, 8)
    assert db.scalar("SELECT 9") == 9
    assert asyncio.run(main(10)) == (list(range(10, 16)), 7, 8)
    assert db.pool_status()["checked_out"] == 0
    dn.run(db.close())


@pytest.fixture(scope="module")
def shared_db(server_url: object) -> Iterator[dn.Database]:
    """One pool of one connection, used by tests on different loops."""
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    db = dn.connect(name, fresh=True, pool_size=1, max_overflow=0)
    yield db
    dn.run(db.close())
    dn.drop_database(name)
    dn.set_database(None)


async def _contend(db: dn.Database) -> None:
    assert await asyncio.gather(*_burst(db)) == list(range(6))
    async with db.get_session() as session:
        assert await session.scalar(text("SELECT 1")) == 1
    assert db.pool_status()["checked_out"] == 0


async def test_function_loop_first(shared_db: dn.Database) -> None:
    await _contend(shared_db)


async def test_function_loop_second_is_a_new_loop(shared_db: dn.Database) -> None:
    await _contend(shared_db)


@pytest.mark.asyncio(loop_scope="session")
async def test_session_loop_first(shared_db: dn.Database) -> None:
    await _contend(shared_db)


def test_sync_threads_between_loops(shared_db: dn.Database) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        value = shared_db.scalar("SELECT :i FROM pg_sleep(0.02)", {"i": i})
        with lock:
            results.append(value)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [0, 1, 2, 3]


@pytest.mark.asyncio(loop_scope="session")
async def test_session_loop_second_same_loop(shared_db: dn.Database) -> None:
    await _contend(shared_db)
    # A blocking call from inside the loop works too (it blocks the loop).
    assert shared_db.scalar("SELECT 2") == 2
