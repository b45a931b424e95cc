"""The fault and security suites' plugin: a dedicated server, scanned logs, a tally.

Tests in ``tests/fault`` and ``tests/security`` (or marked ``fault`` or
``security``) share the one dedicated server of the process
(`shared_server`); each runs with every logger at DEBUG and ends with the S
check over what was logged. Other tests never start that server. The hooks
print the counts line after the run and S-check every recorded warning.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import dashtam_nb as dn
from tests.support.bad_inputs import FUZZ
from tests.support.harness import TALLY, assert_no_secret, scan_logs
from tests.support.pgfault import FaultServer, shared_server

if TYPE_CHECKING:
    from collections.abc import Iterator

_SUITES = frozenset({"fault", "security"})
_TESTS_DIR = Path(__file__).resolve().parent.parent


def in_fault_suites(item: pytest.Item) -> bool:
    """Whether a test belongs to the fault or security suite (folder or marker)."""
    try:
        folder = item.path.resolve().relative_to(_TESTS_DIR).parts[0]
    except ValueError:
        folder = ""
    marked = any(item.get_closest_marker(name) for name in _SUITES)
    return folder in _SUITES or marked


@pytest.fixture(scope="session")
def pg() -> FaultServer:
    """The dedicated server (TCP + SCRAM) that tests may kill and restart."""
    return shared_server()


@pytest.fixture(autouse=True)
def debug_logs_scanned(request: pytest.FixtureRequest) -> Iterator[None]:
    """In the fault/security suites: every logger at DEBUG, no canary in any record."""
    if not in_fault_suites(request.node):
        yield
        return
    pg: FaultServer = request.getfixturevalue("pg")
    pg.ensure_up()  # a failed test may have left it down
    with scan_logs():
        yield


def _fresh(pg: FaultServer) -> Iterator[dn.Database]:
    name = pg.create_database(f"f_{uuid.uuid4().hex[:12]}")
    db = dn.Database(pg.url(name), pool_size=2, max_overflow=0, connect_timeout=2)
    yield db
    dn.run(db.close())
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


def pytest_warning_recorded(warning_message: Any) -> None:
    """Warnings are user-visible output too: S check over each message."""
    assert_no_secret(str(warning_message.message), where="in a warning")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The counts line, once, after any run that tried something."""
    if TALLY.printed or not (
        TALLY.bad_inputs or TALLY.faults_survived or TALLY.secret_scans
    ):
        return
    TALLY.printed = True
    terminalreporter.write_sep("=", "dashtam fault/security summary")
    terminalreporter.write_line(TALLY.line())
    if FUZZ.calls or FUZZ.locals_scans:
        terminalreporter.write_line(FUZZ.line())
