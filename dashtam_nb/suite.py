"""The project's own tests, run from a notebook as a separate pytest process.

Notebook 07 runs a few real tests and shows which passed. What that child
process loads must not depend on the reader's machine: a pytest plugin they
installed for another project (or named in ``PYTEST_PLUGINS``) would otherwise
load too, and can fail or change the run. So plugin autoload is off
(``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``), ``PYTEST_PLUGINS`` and
``PYTEST_ADDOPTS`` are left out of the child's environment, and the plugins
the suite needs are named with ``-p`` (`PLUGINS`). The project's own
``conftest.py`` plugins still load: they are part of the suite. No cache
folder is written (``-p no:cacheprovider``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["PLUGINS", "SuiteRun", "command", "environment", "run_tests"]

PLUGINS = ("pytest_asyncio.plugin",)
"""The installed plugins the suite needs: pytest-asyncio runs its async tests."""

_DROPPED = ("PYTEST_PLUGINS", "PYTEST_ADDOPTS")
_PROJECT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SuiteRun:
    """What one pytest run reported: its exit code, output and passed tests."""

    returncode: int
    stdout: str
    passed: list[str]

    def frame(self) -> pd.DataFrame:
        """The passed tests, named without their file, for display."""
        names = [test.split("::", 1)[-1] for test in self.passed]
        return pd.DataFrame({"test": names, "outcome": "passed"})


def command(tests: Sequence[str], *, plugins: Sequence[str] = PLUGINS) -> list[str]:
    """The pytest command line: verbose, no colours, no cache, plugins named."""
    named = [arg for plugin in plugins for arg in ("-p", plugin)]
    options = ["-v", "--color=no", "-p", "no:cacheprovider", *named]
    return [sys.executable, "-m", "pytest", *options, *tests]


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's) without plugin injection, autoload off."""
    env = dict(os.environ if base is None else base)
    for name in _DROPPED:
        env.pop(name, None)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def run_tests(
    tests: Sequence[str],
    *,
    cwd: Path | str | None = None,
    plugins: Sequence[str] = PLUGINS,
    timeout: float = 300,
) -> SuiteRun:
    """Run ``tests`` (pytest node ids) in a child pytest; never raises on failure.

    Args:
        tests: node ids such as ``tests/unit/test_handlers.py::test_x``.
        cwd: where to run; by default the project folder.
        plugins: installed plugins to load by name (autoload is off).
        timeout: seconds before the child is stopped (`subprocess.TimeoutExpired`).

    Returns:
        The exit code (0: all passed), the report and the passed node ids in
        the order pytest ran them.
    """
    done = subprocess.run(
        command(tests, plugins=plugins),
        cwd=_PROJECT if cwd is None else cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    passed = re.findall(r"^(\S+) PASSED", done.stdout, flags=re.MULTILINE)
    return SuiteRun(done.returncode, done.stdout, passed)
