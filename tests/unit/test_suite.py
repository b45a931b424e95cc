"""The notebook's pytest run ignores plugins the reader happens to have installed.

A dummy plugin that fails every run is made visible twice, the ways a
reader's machine would: installed (a distribution with a ``pytest11`` entry
point on ``PYTHONPATH``, which pytest autoloads) and named in
``PYTEST_PLUGINS``. A plain ``python -m pytest`` trips over it (the control);
`suite.run_tests` does not, and still loads pytest-asyncio by name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from dashtam_nb import suite

if TYPE_CHECKING:
    from pathlib import Path

BROKEN = """
def pytest_collection_modifyitems(items):
    raise RuntimeError("dummy plugin loaded")
"""
TESTS = """
import asyncio

import pytest


def test_plain():
    assert 1 + 1 == 2


@pytest.mark.asyncio
async def test_needs_pytest_asyncio():
    await asyncio.sleep(0)
"""


def _install_dummy(site: Path, module: str) -> None:
    (site / f"{module}.py").write_text(BROKEN)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(f"[pytest11]\n{module} = {module}\n")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    _install_dummy(site, "dn_dummy_autoloaded")
    (site / "dn_dummy_named.py").write_text(BROKEN)
    work = tmp_path / "work"
    work.mkdir()
    (work / "test_tiny.py").write_text(TESTS)
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path.rstrip(os.pathsep))
    return work


def _plain_pytest(cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **extra}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_tiny.py"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_control_the_dummy_plugins_do_break_a_plain_run(project: Path) -> None:
    autoloaded = _plain_pytest(project)
    named = _plain_pytest(
        project, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTEST_PLUGINS="dn_dummy_named"
    )
    assert autoloaded.returncode != 0
    assert "dummy plugin loaded" in autoloaded.stdout + autoloaded.stderr
    assert named.returncode != 0
    assert "dummy plugin loaded" in named.stdout + named.stderr


def test_run_tests_ignores_installed_and_named_plugins(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_PLUGINS", "dn_dummy_named")
    monkeypatch.setenv("PYTEST_ADDOPTS", "--this-option-does-not-exist")
    run = suite.run_tests(
        ["test_tiny.py::test_plain", "test_tiny.py::test_needs_pytest_asyncio"],
        cwd=project,
    )
    assert run.returncode == 0, run.stdout
    assert run.passed == [
        "test_tiny.py::test_plain",
        "test_tiny.py::test_needs_pytest_asyncio",
    ]
    assert run.frame()["test"].tolist() == ["test_plain", "test_needs_pytest_asyncio"]
    assert not (project / ".pytest_cache").exists()


def test_without_pytest_asyncio_the_async_test_does_not_pass(project: Path) -> None:
    run = suite.run_tests(["test_tiny.py"], cwd=project, plugins=())
    assert run.returncode != 0
    assert run.passed == ["test_tiny.py::test_plain"]


def test_environment_and_command() -> None:
    env = suite.environment({"PYTEST_PLUGINS": "x", "PYTEST_ADDOPTS": "-x", "A": "1"})
    assert env == {"A": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    line = suite.command(["t.py"])
    assert line[1:3] == ["-m", "pytest"]
    assert line[-1] == "t.py"
    assert line[5:7] == ["-p", "no:cacheprovider"]
    assert line[7:9] == ["-p", "pytest_asyncio.plugin"]
