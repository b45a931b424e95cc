"""The guide-blocks plugin: which tests ran for which guide block, and the line.

`tests.integration.test_guide_blocks` fills `LEDGER` with its account of the
guide; this plugin records each test's outcome and prints the count after any
run that collected that module.
"""

from __future__ import annotations

import pytest

from tests.support.guide_blocks import LEDGER


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Every phase's outcome (a failed teardown un-accounts its block)."""
    if LEDGER.module and report.nodeid.startswith(LEDGER.module):
        LEDGER.record(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """``guide blocks: N of M accounted for (...)``, once."""
    if LEDGER.entries:
        terminalreporter.write_sep("=", "dashtam guide summary")
        terminalreporter.write_line(LEDGER.line())
