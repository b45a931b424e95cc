"""Fixtures shared by tests/fault and tests/security (imported by both conftests).

Both directories use the one dedicated server of the process (`shared_server`),
run every test with all loggers at DEBUG and end it with the S check over what
was logged.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from harness import scan_logs
from pgfault import FaultServer, shared_server

import dashtam_nb as dn

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def pg() -> FaultServer:
    """The dedicated server (TCP + SCRAM) that tests may kill and restart."""
    return shared_server()


@pytest.fixture(autouse=True)
def debug_logs_scanned(pg: FaultServer) -> Iterator[None]:
    """Every logger at DEBUG during the test; no canary fragment in any record."""
    pg.ensure_up()  # a failed test may have left it down
    with scan_logs():
        yield


def _fresh(pg: FaultServer) -> Iterator[dn.Database]:
    name = pg.create_database(f"f_{uuid.uuid4().hex[:12]}")
    db = dn.Database(pg.url(name), pool_size=2, max_overflow=0, connect_timeout=2)
    yield db
    db.close_sync()
    pg.ensure_up()
    pg.drop_database(name)


@pytest.fixture
def fdb(pg: FaultServer) -> Iterator[dn.Database]:
    """A fresh database on the dedicated server, reached as ``app`` over TCP."""
    yield from _fresh(pg)


@pytest.fixture(scope="module")
def module_db(pg: FaultServer) -> Iterator[dn.Database]:
    """One database per module, for cases that leave each other's state alone."""
    yield from _fresh(pg)
