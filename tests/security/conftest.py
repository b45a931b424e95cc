"""The security suite: every output scanned for the canary password.

Fixtures come from tests/fault_fixtures.py (shared with tests/fault); the
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
