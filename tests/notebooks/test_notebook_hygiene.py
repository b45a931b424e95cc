"""Committed notebooks are docs, nbval's oracle and public: keep them clean.

These checks read the ``.ipynb`` files only (no kernel, no database), so they
run in a second and fail before a reviewer has to spot the problem:

* logic lives in the package: no ``def``/``class`` in code cells, no loops that
  branch;
* no secret and no machine-specific path: no URL with a password, no path of
  the embedded server's data directory (its Unix socket lives there);
* no error, traceback or stderr output (strict nbval compares stderr, and an
  error output means the notebook was saved broken);
* no volatile metadata, and execution counts 1..N, which proves the outputs
  come from one clean top-to-bottom run (``make nb-refresh``) and not from a
  hand-edited session;
* each notebook starts from its own fresh database, so notebooks run in any
  order and in parallel.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from dashtam_nb.config import default_data_dir, settings

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

PASSWORD_URL = re.compile(r"postgres(ql)?(\+[a-z]+)?://[^\"@ ]+:[^\"@ ]+@")
# Cell magics whose body is Python: the body is checked like any cell.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
# Notebook-level metadata that carries no machine, user or run specifics.
NOTEBOOK_METADATA = {"kernelspec", "language_info"}
CELL_METADATA = {"tags"}

_IPYTHON = TransformerManager()


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]


def _code_cells(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code"]


def parse_cell(source: str, where: str) -> ast.Module | None:
    """Parse a cell as IPython runs it; None for a non-Python cell magic.

    IPython's own transformer turns magics, ``!shell`` and ``obj?`` into plain
    calls, and the compile flag accepts top-level ``await``/``async with``.
    """
    first, _, body = source.partition("\n")
    if first.startswith("%%"):
        name = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
        if name not in PYTHON_CELL_MAGICS:
            return None
        source = body
    code = _IPYTHON.transform_cell(source)
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree: ast.Module = compile(code, where, "exec", flags=flags, dont_inherit=True)
    return tree


def definitions(tree: ast.AST) -> list[str]:
    """Names of functions and classes defined anywhere in ``tree``."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [
        f"{type(n).__name__} {n.name}" for n in ast.walk(tree) if isinstance(n, kinds)
    ]


def branching_loops(tree: ast.AST) -> list[int]:
    """Line numbers of loops whose body decides something (if/try/match)."""
    loops = (ast.For, ast.AsyncFor, ast.While)
    logic = (ast.If, ast.Try, ast.Match, ast.IfExp, ast.Break, ast.Continue)
    return [
        loop.lineno
        for loop in ast.walk(tree)
        if isinstance(loop, loops)
        and any(isinstance(n, logic) for n in ast.walk(loop) if n is not loop)
    ]


def machine_paths() -> list[str]:
    """Spellings of the embedded server's data directory, plain and URL-quoted.

    The server's Unix socket lives in that directory, so an embedded URL or a
    `Database` repr shows it; it is user- and machine-specific.
    """
    paths = {default_data_dir(), settings.data_dir}
    spellings = set()
    for path in paths:
        for form in (path, path.expanduser().resolve()):
            spellings.update({str(form), quote(str(form), safe="")})
    return sorted(spellings)


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), (
            f"{path.name}: name notebooks NN_topic.ipynb (reading order)"
        )


def test_cells_parse_as_ipython_runs_them() -> None:
    cell = "%time x = 1\nfiles = !ls\nif x:\n    %timeit f()\nobj?\nawait g()"
    tree = parse_cell(cell, "<cell>")
    assert tree is not None
    assert not definitions(tree)
    assert parse_cell("%%bash\nfor f in *; do echo $f; done", "<cell>") is None
    timed = parse_cell("%%time\ndef f():\n    pass", "<cell>")
    assert timed is not None
    assert definitions(timed) == ["FunctionDef f"]
    lambdas = parse_cell("async with s:\n    await run(lambda x: x)", "<cell>")
    assert lambdas is not None
    assert not definitions(lambdas)
    loop = parse_cell("for i in range(3):\n    if i:\n        print(i)", "<cell>")
    assert loop is not None
    assert branching_loops(loop) == [1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_function_or_class_definitions(path: Path) -> None:
    found = []
    for index, cell in enumerate(_code_cells(_read(path))):
        tree = parse_cell(cell.source, f"{path.name}:cell {index}")
        if tree is not None:
            found += [f"code cell {index}: {d}" for d in definitions(tree)]
    assert not found, f"{path.name}: logic belongs in dashtam_nb, not in cells: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_loops_with_logic(path: Path) -> None:
    found = []
    for index, cell in enumerate(_code_cells(_read(path))):
        tree = parse_cell(cell.source, f"{path.name}:cell {index}")
        if tree is not None:
            found += [f"code cell {index}, line {n}" for n in branching_loops(tree)]
    assert not found, f"{path.name}: a loop that branches is logic: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_connection_string_with_password(path: Path) -> None:
    match = PASSWORD_URL.search(path.read_text(encoding="utf-8"))
    # Do not echo the match: it would print the secret into the test log.
    offset = match.start() if match else None
    assert match is None, f"{path.name}: a URL with a password at offset {offset}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_machine_specific_server_path(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [p for p in machine_paths() if p in text]
    assert not found, f"{path.name}: shows the embedded server's data dir {found}"
    assert ".s.PGSQL." not in text, f"{path.name}: shows a PostgreSQL socket path"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_error_traceback_or_stderr_output(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert '"output_type": "error"' not in text, f"{path.name}: saved with an error"
    bad = []
    for index, cell in enumerate(_code_cells(_read(path))):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" or out.get("traceback"):
                bad.append(f"code cell {index}: {out.get('ename', 'traceback')}")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                bad.append(f"code cell {index}: stderr {out.get('text', '')[:60]!r}")
    assert not bad, f"{path.name}: {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_metadata_has_no_volatile_keys(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    nbformat.validate(raw)  # type: ignore[no-untyped-call]
    meta = raw["metadata"]
    assert set(meta) <= NOTEBOOK_METADATA, f"{path.name}: notebook metadata {set(meta)}"
    assert "version" not in meta.get("language_info", {}), (
        f"{path.name}: language_info.version (run make nb-clean)"
    )
    extra = [
        (index, sorted(set(cell.get("metadata", {})) - CELL_METADATA))
        for index, cell in enumerate(raw["cells"])
        if set(cell.get("metadata", {})) - CELL_METADATA
    ]
    assert not extra, f"{path.name}: cell metadata to strip (cell, keys): {extra}"
    ids = [cell.get("id") for cell in raw["cells"]]
    assert ids == [str(i) for i in range(len(ids))], (
        f"{path.name}: random cell ids (run make nb-clean)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_outputs_come_from_one_clean_run(path: Path) -> None:
    cells = [c for c in _code_cells(_read(path)) if c.source.strip()]
    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts}; regenerate with make nb-refresh"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_starts_from_its_own_fresh_database(path: Path) -> None:
    cells = _code_cells(_read(path))
    assert cells, f"{path.name}: no code cells"
    tree = parse_cell(cells[0].source, f"{path.name}:cell 0")
    assert tree is not None
    wanted = f"nb_{path.stem}"
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "connect"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == wanted
        and any(
            k.arg == "fresh" and isinstance(k.value, ast.Constant) and k.value.value
            for k in node.keywords
        )
    ]
    assert calls, (
        f'{path.name}: the first code cell must call dn.connect("{wanted}", fresh=True)'
    )
