"""The owner-loop runner inside a real Jupyter kernel (issue 2's acceptance).

Each test starts its own kernel and database. These are the cases that broke
the other designs in shared/notes/event-loops.md §3.1/§3.4: a pool contended
from the kernel's loop and from threads, an interrupt during a query (the
query must stop on the server, not only in the notebook), cells queued by
"Run All", a re-run setup cell, and a kernel with nest_asyncio applied.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

import dashtam_nb as dn
from tests.support.harness import poll

if TYPE_CHECKING:
    from tests.kernel.conftest import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.integration]

IMPORTS = """
import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

import dashtam_nb as dn
"""
GATHER_6 = (
    "await asyncio.gather("
    "*[db.ascalar('SELECT :i FROM pg_sleep(0.05)', {'i': i}) for i in range(6)])"
)
THREADS_4 = """
with ThreadPoolExecutor(4) as pool:
    out = list(pool.map(
        lambda i: db.scalar("SELECT :i FROM pg_sleep(0.05)", {"i": i}), range(8)
    ))
out
"""
SESSION_TOP_LEVEL = """
async with db.get_session() as s:
    await s.execute(text("CREATE TABLE IF NOT EXISTS t (i int)"))
    await s.execute(text("INSERT INTO t VALUES (1), (2)"))
    n = await s.scalar(text("SELECT count(*) FROM t"))
n
"""
LONG_QUERY = "pg_sleep(20)"
INTERRUPTED_CELLS = {
    "sync": f"db.scalar('SELECT {LONG_QUERY}')",
    "await": f"await db.ascalar('SELECT {LONG_QUERY}')",
    "session": (
        "async with db.get_session() as s:\n"
        f"    await s.execute(text('SELECT {LONG_QUERY}'))"
    ),
}


def _probe() -> dn.Database:
    """This process's own view of the server (the maintenance database)."""
    return dn.Database(dn.settings.database_url)


def _running_long_queries(probe: dn.Database, name: str) -> int:
    count: int = probe.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d"
        " AND state = 'active' AND query LIKE :q",
        {"d": name, "q": f"%{LONG_QUERY}%"},
    )
    return count


def test_await_and_sync_calls_interleave_under_pool_contention(
    kernel: Kernel, db_name: str
) -> None:
    kernel.ok(IMPORTS)
    kernel.ok(f"db = dn.connect({db_name!r}, fresh=True, pool_size=1, max_overflow=0)")
    # Sync before any await, await after sync, sync after await.
    assert kernel.value("db.scalar('SELECT 1')") == "1"
    assert kernel.value("await db.ascalar('SELECT 2')") == "2"
    assert kernel.value("db.scalar('SELECT 3')") == "3"
    # One pooled connection, six awaits from the kernel's loop, then eight
    # sync calls from four threads, then the kernel's loop again: the case
    # that raised "... is bound to a different event loop" elsewhere.
    assert kernel.value(GATHER_6) == str(list(range(6)))
    assert kernel.value(THREADS_4) == str(list(range(8)))
    assert kernel.value(GATHER_6) == str(list(range(6)))
    assert kernel.value(SESSION_TOP_LEVEL) == "2"
    mixed = (
        "a = db.scalar('SELECT 4')\nb = await db.ascalar('SELECT 5')\n"
        "c = db.scalar('SELECT 6')\n(a, b, c)"
    )
    assert kernel.value(mixed) == "(4, 5, 6)"
    both_at_once = (
        "await asyncio.gather(db.ascalar('SELECT 7 FROM pg_sleep(0.05)'),"
        " asyncio.to_thread(db.scalar, 'SELECT 8 FROM pg_sleep(0.05)'),"
        " *[db.ascalar('SELECT 9') for _ in range(3)])"
    )
    assert kernel.value(both_at_once) == "[7, 8, 9, 9, 9]"
    sync_session = (
        "with db.get_session() as s:\n"
        "    n = dn.run(s.scalar(text('SELECT count(*) FROM t')))\nn"
    )
    assert kernel.value(sync_session) == "2"
    assert kernel.value("db.pool_status()['checked_out']") == "0"


@pytest.mark.parametrize("form", list(INTERRUPTED_CELLS))
def test_interrupt_cancels_the_query_on_the_server(
    kernel: Kernel, db_name: str, form: str
) -> None:
    kernel.ok(IMPORTS)
    # One connection and a short pool timeout: if the interrupted query kept
    # its connection, the next cell would fail within 5 s instead of working.
    kernel.ok(
        f"db = dn.connect({db_name!r}, pool_size=1, max_overflow=0, pool_timeout=5)"
    )
    probe = _probe()
    msg_id = kernel.submit(INTERRUPTED_CELLS[form])
    poll(lambda: _running_long_queries(probe, db_name), timeout=10)

    interrupted_at = time.monotonic()
    kernel.km.interrupt_kernel()
    reply = kernel.collect([msg_id], timeout=10)[0]

    assert reply.status == "error", reply.describe()
    assert reply.ename == "QueryCancelledError", reply.describe()
    assert reply.replied_at is not None
    assert reply.replied_at - interrupted_at < 3.0, "the cell ignored the interrupt"
    poll(lambda: _running_long_queries(probe, db_name) == 0, timeout=2)
    assert kernel.value("db.scalar('SELECT 1')") == "1"
    assert kernel.value("await db.ascalar('SELECT 2')") == "2"
    assert kernel.value("db.pool_status()['checked_out']") == "0"


def test_run_all_with_queued_cells_completes_every_cell(
    kernel: Kernel, db_name: str
) -> None:
    kernel.ok(IMPORTS)
    kernel.ok(f"db = dn.connect({db_name!r})")
    cells = [
        "db.scalar('SELECT pg_sleep(1)')",
        "x = await db.ascalar('SELECT 2')\nx",
        "db.scalar('SELECT 3')",
        "async with db.get_session() as s:\n"
        "    y = await s.scalar(text('SELECT 4'))\n"
        "y",
    ]
    # All four requests are queued before the first one finishes.
    replies = kernel.collect([kernel.submit(c) for c in cells], timeout=20)

    assert [r.status for r in replies] == ["ok"] * 4, [r.describe() for r in replies]
    assert [r.result for r in replies] == ["''", "2", "3", "4"]
    counts = [r.execution_count or 0 for r in replies]
    assert counts == sorted(counts), "cells ran out of order"
    assert not any(r.stderr for r in replies)


def test_rerun_setup_cell_leaks_no_thread_and_no_pool(
    kernel: Kernel, db_name: str
) -> None:
    setup = (
        "import dashtam_nb as dn\n"
        f"url = dn.settings.database_url.set(database={db_name!r})\n"
        "db = dn.Database(url, pool_size=2)"
    )
    work = (
        "import asyncio\n"
        "await asyncio.gather("
        "*[db.ascalar('SELECT pg_sleep(0.05)') for _ in range(4)])\n"
        "db.scalar('SELECT 1')"
    )
    threads = "import threading\nlen(threading.enumerate())"
    thread_counts = []
    for _ in range(3):
        kernel.ok(setup)
        assert kernel.value(work) == "1"
        thread_counts.append(kernel.value(threads))

    loops = "sum(t.name == 'dashtam-db-loop' for t in threading.enumerate())"
    assert kernel.value(loops) == "1"
    assert len(set(thread_counts)) == 1, f"threads grew: {thread_counts}"
    # Overflow connections are closed when returned; the pool keeps at most
    # pool_size. Three independent pools would keep up to 6.
    connections: int = _probe().scalar(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = :d AND application_name = 'dashtam_nb'",
        {"d": db_name},
    )
    assert 1 <= connections <= 2
    assert kernel.value("sum(db.pool_status().values())") in {"1", "2"}


def test_everything_works_with_nest_asyncio_applied(
    kernel: Kernel, db_name: str
) -> None:
    kernel.ok("import nest_asyncio\nnest_asyncio.apply()")
    kernel.ok(IMPORTS)
    kernel.ok(f"db = dn.connect({db_name!r}, pool_size=1, max_overflow=0)")
    assert kernel.value("db.scalar('SELECT 1')") == "1"
    assert kernel.value("await db.ascalar('SELECT 2')") == "2"
    assert kernel.value(SESSION_TOP_LEVEL) == "2"
    assert kernel.value(GATHER_6) == str(list(range(6)))
    assert kernel.value(THREADS_4) == str(list(range(8)))
    assert kernel.value("db.scalar('SELECT 3')") == "3"
    assert kernel.value("db.pool_status()['checked_out']") == "0"
