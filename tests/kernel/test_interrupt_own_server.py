"""Ctrl-C in a kernel that started the embedded server leaves the server up.

Jupyter interrupts the kernel's whole process group; the postmaster runs in
a session of its own, so only the query in flight is cancelled.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest

from dashtam_nb import server
from tests.kernel.conftest import start_kernel

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.kernel


def test_an_interrupt_does_not_stop_the_server_the_kernel_started(
    tmp_path: Path,
) -> None:
    data = tmp_path / "own"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DASHTAM_DATA_DIR"] = str(data)
    kernel = start_kernel(tmp_path, env)
    km, kc = kernel.km, kernel.kc
    try:
        kernel.ok("import dashtam_nb as dn\ndb = dn.connect()")
        started = "db.scalar('SELECT pg_postmaster_start_time()::text')"
        before = kernel.value(started, timeout=60)
        msg_id = kernel.submit("db.scalar('SELECT pg_sleep(30)')")
        time.sleep(1.0)  # the query is on the server
        km.interrupt_kernel()
        reply = kernel.collect([msg_id])[0]
        assert reply.status == "error"
        assert kernel.value(started) == before, "the interrupt restarted the server"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        if server.status(data).running:
            server.stop(data)
