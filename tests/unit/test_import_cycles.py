"""No module of ours takes part in an import cycle (a small AST check, no imports run).

The graph has one node per module of ``dashtam_nb`` and ``benchmarks`` and one
edge per *runtime* import of another of those modules: module-level imports
and imports inside functions alike (a function-level import is still a cycle,
only a deferred one). Imports under ``if TYPE_CHECKING:`` are left out, since
they never run. An import names the module it reads from:
``from dashtam_nb.io import fetch`` is an edge to ``dashtam_nb.io.fetch`` (a
submodule) and ``from dashtam_nb.io.fetch import fetch_frame`` an edge to
``dashtam_nb.io.fetch``; the parent packages that Python also initialises on
the way are not edges (otherwise every re-export in ``dashtam_nb/__init__``
would count as a cycle with the module it re-exports).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("dashtam_nb", "benchmarks")


def module_files() -> dict[str, Path]:
    """Every module of ours by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run: everywhere but ``if TYPE_CHECKING:`` bodies."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.orelse:
                visit(stmt)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports at runtime."""
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in runtime_imports(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            source = _absolute(module, path.name == "__init__.py", node)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                targets.add(sub if sub in files else source)
        graph[module] = {name for name in targets if name in files} - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_of_ours_takes_part_in_an_import_cycle() -> None:
    graph = import_graph(module_files())
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_sees_the_imports_it_must_see() -> None:
    graph = import_graph(module_files())
    assert len(graph) > 40
    # Module-level imports, ``from pkg import sub`` (an edge to the submodule)
    # and function-level imports (``cli`` imports its commands' modules late)
    # are all edges.
    assert "dashtam_nb.notebook_runner" in graph["dashtam_nb.cli"]
    assert "dashtam_nb.migrations" in graph["dashtam_nb.cli"]
    assert "dashtam_nb.errors" in graph["dashtam_nb.runner"]
    assert "dashtam_nb.io.fetch" in graph["dashtam_nb"]
    assert "benchmarks.registry" in graph["benchmarks.__main__"]


def test_cycle_finder_finds_cycles_and_skips_type_checking(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import b\n"
        "def f():\n    import c\n"
    )
    (tmp_path / "b.py").write_text("import a\n")
    (tmp_path / "c.py").write_text("from a import f\n")
    files = {p.stem: p for p in tmp_path.glob("*.py")}
    graph = import_graph(files)
    assert graph == {"a": {"c"}, "b": {"a"}, "c": {"a"}}
    assert find_cycle(graph) == ["a", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_imports_resolve_to_our_modules(tmp_path: Path) -> None:
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import q\nfrom .r import x\n")
    (pkg / "q.py").write_text("from .r import x\n")
    (pkg / "r.py").write_text("from . import q\n")
    files = {"p": pkg / "__init__.py", "p.q": pkg / "q.py", "p.r": pkg / "r.py"}
    graph = import_graph(files)
    assert graph == {"p": {"p.q", "p.r"}, "p.q": {"p.r"}, "p.r": {"p.q"}}
    assert find_cycle(graph) == ["p.q", "p.r", "p.q"]
