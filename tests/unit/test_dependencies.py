"""Every third-party import of the package is declared: a dependency or an extra.

A static check (AST, nothing imported): each runtime import in
``dashtam_nb/**/*.py`` — module level or inside a function; imports under
``if TYPE_CHECKING:`` never run and are left out — whose top-level module is
neither the standard library nor ours must map, through
``importlib.metadata.packages_distributions()``, to a distribution named in
``[project].dependencies``. The one exception is an extra (`EXTRAS`): it must
be declared in ``[project.optional-dependencies]``, imported only inside the
function that needs it, and its absence must be a `ConfigError` naming the
extra.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from dashtam_nb.errors import ConfigError
from dashtam_nb.io import fetch

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dashtam_nb"

# Top-level import name -> the extra that provides it (pip install dashtam_nb[x]).
EXTRAS = {"polars": "polars", "dask": "dask", "distributed": "dask"}
# Modules that exist only for an extra and may import it at module level (they
# raise ConfigError naming the extra when it is missing).
EXTRA_MODULES = {"dashtam_nb.dask": "dask"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]
    return project


def declared() -> set[str]:
    deps = _project()["dependencies"]
    assert isinstance(deps, list)
    return {_norm(Requirement(dep).name) for dep in deps}


def declared_extra(extra: str) -> set[str]:
    extras = _project().get("optional-dependencies", {})
    assert isinstance(extras, dict)
    return {_norm(Requirement(dep).name) for dep in extras.get(extra, [])}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def third_party_imports(source: str) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level) for each runtime import."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        for name in names:
            head = name.partition(".")[0]
            if head not in sys.stdlib_module_names and head not in {
                "dashtam_nb",
                "__future__",
            }:
                found.append((head, top))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.orelse:
                visit(stmt, top)
            return
        inner = top and not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(source), True)
    return found


def package_imports() -> dict[str, list[tuple[str, bool]]]:
    """Module name -> its third-party runtime imports."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = third_party_imports(path.read_text(encoding="utf-8"))
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    wanted = declared()
    dists = importlib.metadata.packages_distributions()
    problems = []
    seen = set()
    for module, imports in package_imports().items():
        for head, _top in imports:
            seen.add(head)
            if head in EXTRAS:
                continue
            names = {_norm(d) for d in dists.get(head, [])}
            if not names:
                problems.append(f"{module}: {head} is installed by no distribution")
            elif not names & wanted:
                problems.append(
                    f"{module}: {head} (from {sorted(names)}) is undeclared"
                )
    assert problems == [], "\n".join(problems)
    # The walk sees real imports, including function-level ones.
    assert {"sqlalchemy", "psycopg", "pandas", "pyarrow", "alembic", "polars"} <= seen


def test_extras_are_declared_and_imported_only_where_needed() -> None:
    used = {
        (module, head, top)
        for module, imports in package_imports().items()
        for head, top in imports
        if head in EXTRAS
    }
    assert ("dashtam_nb.io.fetch", "polars", False) in used
    for module, head, top in used:
        extra = EXTRAS[head]
        assert _norm(head) in declared_extra(extra), f"[{extra}] lacks {head}"
        assert _norm(head) not in declared(), f"{head} is an extra, not a dependency"
        if top:
            assert EXTRA_MODULES.get(module) == extra, (
                f"{module} imports {head} at module level; import it in the function"
            )


def test_the_check_sees_function_level_imports_and_skips_type_checking() -> None:
    source = (
        "import os, numpy.linalg\n"
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n    import polars\n"
        "else:\n    import yaml\n"
        "def f():\n    from nbformat import v4\n"
        "class C:\n    import psutil\n"
    )
    assert third_party_imports(source) == [
        ("numpy", True),
        ("yaml", True),
        ("nbformat", False),
        ("psutil", True),
    ]


def test_fetch_polars_without_polars_is_a_config_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "polars", None)  # ``import polars`` fails
    with pytest.raises(ConfigError, match=r"pip install dashtam_nb\[polars\]"):
        asyncio.run(fetch.afetch_polars(None, None))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"dashtam_nb\[polars\]"):
        fetch.fetch_polars(None, None)  # type: ignore[arg-type]


def test_every_module_imports_without_the_extras() -> None:
    code = (
        "import sys, pkgutil, importlib\n"
        f"for name in {sorted(EXTRAS)!r}:\n"
        "    sys.modules[name] = None\n"
        "import dashtam_nb\n"
        "from dashtam_nb.errors import ConfigError\n"
        "extra_modules = " + repr(EXTRA_MODULES) + "\n"
        "count = 0\n"
        "for info in pkgutil.walk_packages(dashtam_nb.__path__, 'dashtam_nb.'):\n"
        "    try:\n"
        "        importlib.import_module(info.name)\n"
        "    except ConfigError as exc:\n"
        "        assert info.name in extra_modules, (info.name, exc)\n"
        "        assert f'[{extra_modules[info.name]}]' in str(exc), exc\n"
        "    count += 1\n"
        "print(count)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"DATABASE_URL": "postgresql://u@127.0.0.1:1/x", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 40
