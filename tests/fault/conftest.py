"""The fault suite: a dedicated PostgreSQL the tests kill, crash and restart.

Fixtures come from tests/fault_fixtures.py (shared with tests/security); the
summary line (counts per category) is printed by the hook from tests/harness.py.
"""

from fault_fixtures import debug_logs_scanned, fdb, module_db, pg
from harness import pytest_terminal_summary, pytest_warning_recorded

__all__ = [
    "debug_logs_scanned",
    "fdb",
    "module_db",
    "pg",
    "pytest_terminal_summary",
    "pytest_warning_recorded",
]
