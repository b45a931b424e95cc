"""Ctrl-C on a query in a real kernel reads as one line (issue 16.4).

Each form (a sync call, an awaited call, a statement in a top-level ``async
with`` session) is interrupted while ``pg_sleep`` runs. The cell must fail
with ``QueryCancelledError`` shown as one line (elapsed time, the server's
outcome, the ``%tb`` hint), without ``%load_ext``; the query must be gone
from ``pg_stat_activity``; ``%tb`` must still give the full traceback; the
kernel must keep working; and other errors must keep IPython's own display.
"""

from __future__ import annotations

import queue
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

import dashtam_nb as dn
from tests.support.harness import poll

if TYPE_CHECKING:
    from tests.kernel.conftest import Kernel

pytestmark = [pytest.mark.kernel, pytest.mark.integration]

SLEEP = "pg_sleep(30)"
CELLS = {
    "sync": f"db.frame('SELECT {SLEEP}')",
    "await": f"await db.aframe('SELECT {SLEEP}')",
    "session": (
        "async with db.get_session() as s:\n"
        f"    await s.execute(text('SELECT {SLEEP}'))"
    ),
}
LINE = re.compile(
    r"QueryCancelledError: cancelled by interrupt after \d+\.\d s; "
    r"the server stopped the query  \(full traceback: %tb\)"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Shown:
    """What the notebook shows for one cell: the error and its traceback."""

    status: str = "pending"
    ename: str | None = None
    evalue: str | None = None
    traceback: list[str] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""


def shown(kernel: Kernel, msg_id: str, timeout: float = 15.0) -> Shown:
    """Read the cell's iopub messages until idle, and its shell reply."""
    out = Shown()
    idle = replied = False
    deadline = time.monotonic() + timeout
    while not (idle and replied):
        assert time.monotonic() < deadline, f"cell did not finish: {kernel.log_tail()}"
        try:
            msg = kernel.kc.get_iopub_msg(timeout=0.02)
            if msg["parent_header"].get("msg_id") == msg_id:
                kind, content = msg["msg_type"], msg["content"]
                if kind == "error":
                    out.ename, out.evalue = content["ename"], content["evalue"]
                    out.traceback = [ANSI.sub("", t) for t in content["traceback"]]
                elif kind == "stream":
                    text = content["text"]
                    if content["name"] == "stderr":
                        out.stderr += text
                    else:
                        out.stdout += text
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
        except queue.Empty:
            pass
        try:
            reply = kernel.kc.get_shell_msg(timeout=0.005)
            if reply["parent_header"].get("msg_id") == msg_id:
                out.status, replied = reply["content"]["status"], True
        except queue.Empty:
            pass
    return out


def running(probe: dn.Database, name: str) -> int:
    count: int = probe.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d"
        " AND state = 'active' AND query LIKE :q",
        {"d": name, "q": f"%{SLEEP}%"},
    )
    return count


def interrupt(kernel: Kernel, probe: dn.Database, db_name: str, cell: str) -> Shown:
    msg_id = kernel.submit(cell)
    poll(lambda: running(probe, db_name), timeout=10)
    kernel.km.interrupt_kernel()
    return shown(kernel, msg_id)


@pytest.fixture
def probe() -> dn.Database:
    """This process's own view of the server (the maintenance database)."""
    return dn.Database(dn.settings.database_url)


@pytest.mark.parametrize("form", list(CELLS))
def test_interrupt_is_one_line_and_stops_the_query(
    kernel: Kernel, db_name: str, probe: dn.Database, form: str
) -> None:
    kernel.ok("import dashtam_nb as dn\nfrom sqlalchemy import text")
    kernel.ok(f"db = dn.connect({db_name!r}, pool_size=1, max_overflow=0)")

    out = interrupt(kernel, probe, db_name, CELLS[form])

    assert out.status == "error", out
    assert out.ename == "QueryCancelledError", out
    assert len(out.traceback) == 1, out.traceback
    assert LINE.fullmatch(out.traceback[0]), out.traceback
    assert not out.stderr, out.stderr
    poll(lambda: running(probe, db_name) == 0, timeout=2)

    full = shown(kernel, kernel.submit("%tb"))
    text = "\n".join([full.stdout, *full.traceback])
    assert "Traceback" in text, text
    assert "QueryCancelledError" in text, text

    # One pooled connection: a connection the interrupt left busy would fail.
    assert kernel.value("db.scalar('SELECT 1')") == "1"
    assert kernel.value("await db.ascalar('SELECT 2')") == "2"
    assert kernel.value("db.pool_status()['checked_out']") == "0"


def test_other_errors_keep_ipythons_display(
    kernel: Kernel, db_name: str, probe: dn.Database
) -> None:
    kernel.ok("import dashtam_nb as dn")
    kernel.ok(f"db = dn.connect({db_name!r})")
    interrupt(kernel, probe, db_name, CELLS["sync"])

    plain = shown(kernel, kernel.submit("1 / 0"))
    assert plain.ename == "ZeroDivisionError"
    assert len(plain.traceback) > 1, "a plain error lost its traceback"

    ours = shown(kernel, kernel.submit("db.scalar('SELECT * FROM nowhere')"))
    assert ours.ename == "DatabaseError", ours
    assert len(ours.traceback) > 1, "without %load_ext, DashtamErrors keep theirs"

    sleep = kernel.submit("import time; time.sleep(30)")
    time.sleep(0.5)  # let the cell start; no query to poll for here
    kernel.km.interrupt_kernel()
    assert shown(kernel, sleep).ename == "KeyboardInterrupt"


def test_a_timeout_is_not_an_interrupt(kernel: Kernel, db_name: str) -> None:
    kernel.ok("import asyncio\nimport dashtam_nb as dn")
    kernel.ok(f"db = dn.connect({db_name!r})")
    cell = (
        "try:\n"
        "    async with asyncio.timeout(0.3):\n"
        f"        await db.ascalar('SELECT {SLEEP}')\n"
        "except TimeoutError:\n"
        "    print('timed out')"
    )
    assert kernel.ok(cell).stdout == "timed out\n"


def test_with_the_extension_loaded_it_is_the_same_line(
    kernel: Kernel, db_name: str, probe: dn.Database
) -> None:
    kernel.ok("import dashtam_nb as dn\n%load_ext dashtam_nb")
    kernel.ok(f"db = dn.connect({db_name!r})")
    out = interrupt(kernel, probe, db_name, CELLS["await"])
    assert out.ename == "QueryCancelledError", out
    assert len(out.traceback) == 1, out.traceback
    assert LINE.fullmatch(out.traceback[0]), out.traceback
    assert kernel.value("db.scalar('SELECT 1')") == "1"
