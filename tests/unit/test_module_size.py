"""Modules stay small: past ~300 lines, a module says at its top why it is one.

Split by noun, not by "part 1/part 2"; where one noun really needs more
lines, a comment ``# Size: <reason>`` within the first 5 lines says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dashtam_nb"
LIMIT = 320  # "about 300"


def _oversized() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) <= LIMIT:
            continue
        if not any(line.startswith("# Size: ") for line in lines[:5]):
            found.append(f"{path.relative_to(PACKAGE)} ({len(lines)} lines)")
    return found


def test_every_long_module_gives_a_reason_at_its_top() -> None:
    assert _oversized() == []


def test_the_check_sees_a_long_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * (LIMIT + 1))
    (tmp_path / "ok.py").write_text("# Size: a reason\n" + "x = 1\n" * (LIMIT + 1))
    monkeypatch.setitem(globals(), "PACKAGE", tmp_path)
    assert _oversized() == [f"big.py ({LIMIT + 1} lines)"]
