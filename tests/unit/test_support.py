"""The suite's own plugins (tests/support): which tests get the fault server.

Only tests in tests/fault and tests/security (or marked ``fault`` or
``security``) get the dedicated server and the DEBUG log scan; a unit test
must never start a PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from tests.support import fix_fault

TESTS = Path(fix_fault.__file__).resolve().parent.parent


class FakeItem:
    """Just what `in_fault_suites` reads of a collected test."""

    def __init__(self, path: Path, markers: tuple[str, ...] = ()) -> None:
        self.path = path
        self._markers = markers

    def get_closest_marker(self, name: str) -> Any:
        return getattr(pytest.mark, name) if name in self._markers else None


def test_this_unit_test_is_outside_the_fault_suites(
    request: pytest.FixtureRequest,
) -> None:
    assert not fix_fault.in_fault_suites(request.node)


@pytest.mark.parametrize(
    ("path", "markers", "inside"),
    [
        (TESTS / "fault" / "test_fault_x.py", (), True),
        (TESTS / "security" / "test_sec_x.py", (), True),
        (TESTS / "integration" / "test_x.py", ("integration",), False),
        (TESTS / "unit" / "test_x.py", ("security",), True),
        (TESTS / "kernel" / "test_x.py", ("fault",), True),
        (Path("/elsewhere/fault/test_x.py"), (), False),
    ],
)
def test_the_suites_are_chosen_by_folder_or_marker(
    path: Path, markers: tuple[str, ...], inside: bool
) -> None:
    item = cast("pytest.Item", FakeItem(path, markers))
    assert fix_fault.in_fault_suites(item) is inside
