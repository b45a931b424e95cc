"""The ``--long`` option: soak-length runs of the load test (60 s, not 6 s)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--long``."""
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the fault suite's load test for 60 s instead of a few seconds",
    )
