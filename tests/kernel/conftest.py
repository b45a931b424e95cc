"""A real ipykernel driven through jupyter_client, with a deadline on every wait.

nbval and nbclient send one cell at a time and never interrupt, so they cannot
see the failures that matter most for the runner: a queued "Run All", a kernel
interrupt during a query, a re-run setup cell. `Kernel` speaks the messaging
protocol directly (execute requests on shell, outputs on iopub) so a test can
queue cells, interrupt, and time the replies. Nothing here blocks without a
timeout: a hung kernel fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import queue
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from jupyter_client.manager import start_new_kernel

import dashtam_nb as dn

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from jupyter_client.blocking.client import BlockingKernelClient
    from jupyter_client.manager import KernelManager

STARTUP_TIMEOUT = 30.0
CELL_TIMEOUT = 20.0


@dataclass
class Reply:
    """What one executed cell produced, as a notebook would record it."""

    status: str = "pending"
    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    ename: str | None = None
    evalue: str | None = None
    execution_count: int | None = None
    replied_at: float | None = None

    def describe(self) -> str:
        """A short account for assertion messages."""
        error = f" {self.ename}: {self.evalue}" if self.ename else ""
        return (
            f"status={self.status}{error} result={self.result!r} "
            f"stdout={self.stdout[-300:]!r} stderr={self.stderr[-300:]!r}"
        )


class Kernel:
    """One running kernel and a blocking client to it."""

    def __init__(self, km: KernelManager, kc: BlockingKernelClient, log: Path) -> None:
        self.km = km
        self.kc = kc
        self.log = log

    def submit(self, code: str) -> str:
        """Queue a cell without waiting, as "Run All" does; its message id."""
        msg_id: str = self.kc.execute(code, store_history=True, allow_stdin=False)
        return msg_id

    def collect(self, msg_ids: list[str], timeout: float = CELL_TIMEOUT) -> list[Reply]:
        """Wait for every cell's reply and its outputs (iopub until idle)."""
        replies = {m: Reply() for m in msg_ids}
        idle: set[str] = set()
        replied: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(idle) < len(replies) or len(replied) < len(replies):
            if time.monotonic() > deadline:
                states = {r.execution_count: r.status for r in replies.values()}
                raise TimeoutError(
                    f"kernel did not finish {len(replies) - len(replied)} cell(s) "
                    f"within {timeout}s ({states}); kernel log: {self.log_tail()}"
                )
            self._read_iopub(replies, idle)
            self._read_shell(replies, replied)
        return [replies[m] for m in msg_ids]

    def _read_iopub(self, replies: dict[str, Reply], idle: set[str]) -> None:
        try:
            msg = self.kc.get_iopub_msg(timeout=0.02)
        except queue.Empty:
            return
        reply = replies.get(msg["parent_header"].get("msg_id", ""))
        if reply is None:
            return
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            if content["name"] == "stderr":
                reply.stderr += content["text"]
            else:
                reply.stdout += content["text"]
        elif kind == "execute_result":
            reply.result = content["data"].get("text/plain")
        elif kind == "error":
            reply.ename, reply.evalue = content["ename"], content["evalue"]
        elif kind == "status" and content["execution_state"] == "idle":
            idle.add(msg["parent_header"]["msg_id"])

    def _read_shell(self, replies: dict[str, Reply], replied: set[str]) -> None:
        try:
            msg = self.kc.get_shell_msg(timeout=0.005)
        except queue.Empty:
            return
        msg_id = msg["parent_header"].get("msg_id", "")
        if msg_id in replies:
            reply = replies[msg_id]
            reply.status = msg["content"]["status"]
            reply.execution_count = msg["content"].get("execution_count")
            # A UsageError sends no iopub error; its name is only in the reply.
            if reply.ename is None and "ename" in msg["content"]:
                reply.ename = msg["content"]["ename"]
                reply.evalue = msg["content"].get("evalue")
            reply.replied_at = time.monotonic()
            replied.add(msg_id)

    def run(self, code: str, timeout: float = CELL_TIMEOUT) -> Reply:
        """Execute one cell and wait for it."""
        return self.collect([self.submit(code)], timeout)[0]

    def ok(self, code: str, timeout: float = CELL_TIMEOUT) -> Reply:
        """Execute one cell that must succeed and print nothing to stderr."""
        reply = self.run(code, timeout)
        assert reply.status == "ok", f"cell failed: {code!r}: {reply.describe()}"
        assert not reply.stderr, f"cell wrote to stderr: {code!r}: {reply.describe()}"
        return reply

    def value(self, code: str, timeout: float = CELL_TIMEOUT) -> str | None:
        """The displayed value (``text/plain``) of a cell that must succeed."""
        return self.ok(code, timeout).result

    def log_tail(self) -> str:
        """The end of the kernel process's own stderr, for diagnostics."""
        try:
            return self.log.read_text(errors="replace")[-1500:]
        except OSError:
            return ""


@pytest.fixture
def db_name(fresh_db: dn.Database) -> str:
    """A new, empty database for this test; the kernel gets only its name.

    The test process creates and drops it, so a crashed kernel leaves nothing.
    """
    name = fresh_db.url.database
    assert name
    return name


@pytest.fixture
def kernel(db_name: str, tmp_path: Path) -> Iterator[Kernel]:
    """A fresh kernel in its own process, inheriting this environment.

    It inherits ``DATABASE_URL`` / ``DASHTAM_DATA_DIR``, so it joins the server
    this test process already uses. It depends on ``db_name`` so that it is
    shut down before the database is dropped.
    """
    kernel = start_kernel(tmp_path, dict(os.environ))
    try:
        yield kernel
    finally:
        kernel.kc.stop_channels()
        kernel.km.shutdown_kernel(now=False)


def start_kernel(where: Path, env: dict[str, str]) -> Kernel:
    """A python3 kernel in ``where`` with ``env``; its stderr goes to a log there."""
    log = where / "kernel-stderr.log"
    with log.open("w") as err:
        km, kc = start_new_kernel(
            startup_timeout=STARTUP_TIMEOUT,
            kernel_name="python3",
            cwd=str(where),
            env=env,
            stderr=err,
            # ipykernel 7.4 warns about unencrypted local TCP at start-up.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    return Kernel(km, kc, log)
