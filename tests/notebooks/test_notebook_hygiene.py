"""Committed notebooks are docs, nbval's oracle and public: keep them clean.

These checks read the ``.ipynb`` files only (no kernel, no database), so they
run in seconds and fail before a reviewer has to spot the problem:

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

Every check reads a notebook **as git commits it**: through the same
nbstripout clean filter that ``make setup`` installs (outputs and counts
kept, the metadata an editor writes on save dropped; the list is the
Makefile's ``NB_VOLATILE``). So opening, running and saving a tutorial in Lab
neither fails these checks nor shows in ``git diff``, while a real edit (a
cell, an output, the kernel) is checked before it is staged. What *is*
committed (the index) must already be in that clean form, so a commit made
without the filter fails here too.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbstripout import strip_output  # type: ignore[import-untyped]

from dashtam_nb.config import default_data_dir, settings

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# nbstripout's own default keys (its main() holds them); the filter adds ours.
NBSTRIPOUT_KEYS = [
    "metadata.signature", "metadata.widgets", "cell.metadata.collapsed",
    "cell.metadata.ExecuteTime", "cell.metadata.execution",
    "cell.metadata.heading_collapsed", "cell.metadata.hidden",
    "cell.metadata.scrolled",
]  # fmt: skip

PASSWORD_URL = re.compile(r"postgres(ql)?(\+[a-z]+)?://[^\"@ ]+:[^\"@ ]+@")
# Cell magics whose body is Python: the body is checked like any cell.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
# Notebook-level metadata that carries no machine, user or run specifics.
NOTEBOOK_METADATA = {"kernelspec", "language_info"}
CELL_METADATA = {"tags"}

_IPYTHON = TransformerManager()


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def make_value(name: str) -> str:
    """A Makefile variable as make expands it (one source for the filter)."""
    printed = subprocess.run(
        ["make", "-s", "--no-print-directory", f"--eval=_print: ; @echo $({name})",
         "_print"],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return printed.stdout.strip()


@functools.cache
def volatile_keys() -> tuple[str, ...]:
    """Every metadata key the clean filter drops."""
    return (*NBSTRIPOUT_KEYS, *make_value("NB_VOLATILE").split())


def as_committed(text: str) -> str:
    """``text`` as the git clean filter turns it into a blob."""
    nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    strip_output(
        nb, keep_output=True, keep_count=True, keep_id=False,
        extra_keys=list(volatile_keys()),
    )  # fmt: skip
    return str(nbformat.writes(nb)) + "\n"


def committed_text(path: Path) -> str:
    """What ``git add`` would store for ``path``."""
    return as_committed(path.read_text(encoding="utf-8"))


def _read(path: Path) -> Any:
    return nbformat.reads(committed_text(path), as_version=4)


def index_text(path: Path) -> str | None:
    """The staged (committed, if nothing is staged) text; None if untracked."""
    shown = subprocess.run(
        ["git", "show", f":{path.relative_to(REPO).as_posix()}"],
        cwd=REPO, capture_output=True, check=False, timeout=30,
    )  # fmt: skip
    return shown.stdout.decode("utf-8") if shown.returncode == 0 else None


def _tracked() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "notebooks/*.ipynb"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    if listed.returncode != 0:  # not a git checkout: the files are the commit
        return NOTEBOOKS
    return [REPO / name for name in listed.stdout.split("\0") if name]


TRACKED = _tracked()


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
    match = PASSWORD_URL.search(committed_text(path))
    # Do not echo the match: it would print the secret into the test log.
    offset = match.start() if match else None
    assert match is None, f"{path.name}: a URL with a password at offset {offset}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_machine_specific_server_path(path: Path) -> None:
    text = committed_text(path)
    found = [p for p in machine_paths() if p in text]
    assert not found, f"{path.name}: shows the embedded server's data dir {found}"
    assert ".s.PGSQL." not in text, f"{path.name}: shows a PostgreSQL socket path"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_no_error_traceback_or_stderr_output(path: Path) -> None:
    text = committed_text(path)
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
    raw = json.loads(committed_text(path))
    nbformat.validate(raw)
    meta = raw["metadata"]
    assert set(meta) <= NOTEBOOK_METADATA, f"{path.name}: notebook metadata {set(meta)}"
    # nbval and make lab start the kernel by this name: another one is a real
    # change (a kernel only this machine has), not editor noise.
    assert meta.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec {meta.get('kernelspec')} (choose the python3 kernel)"
    )
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


@pytest.mark.parametrize("path", TRACKED, ids=_ids(TRACKED))
def test_what_is_committed_is_already_clean(path: Path) -> None:
    committed = index_text(path)
    if committed is None:  # not a git checkout: the file is what was shipped
        committed = path.read_text(encoding="utf-8")
    assert as_committed(committed) == committed, (
        f"{path.name} was committed without the notebook filter "
        "(run make setup, then git add it again)"
    )


def test_the_filter_git_runs_is_the_one_checked_here() -> None:
    """The in-process form equals the command ``make setup`` gives git."""
    text = NOTEBOOKS[0].read_text(encoding="utf-8")
    noisy = json.loads(text)
    noisy["metadata"]["language_info"]["version"] = "3.99.0"
    noisy["metadata"]["vscode"] = {"interpreter": {"hash": "0" * 64}}
    command = shlex.split(make_value("NB_STRIP"))
    keys = make_value("NB_VOLATILE")
    ran = subprocess.run(
        [*command, "--extra-keys", keys],
        input=json.dumps(noisy), capture_output=True, text=True, check=True,
        timeout=60,
    )  # fmt: skip
    assert ran.stdout == as_committed(json.dumps(noisy))
    assert ran.stdout == as_committed(text)


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


def lab_save(text: str) -> str:
    """What JupyterLab (or VS Code, nbclient) writes back after a clean run.

    Only what an editor changes on its own: the kernel's exact Python version,
    kernelspec and language_info in another key order, per-cell execution
    timing, widget state, UI state (a scrolled or collapsed output), other
    JSON formatting and no trailing newline. Outputs and counts are those of
    the committed clean run, as a "Restart and Run All" reproduces them.
    """
    nb = json.loads(text)
    meta = nb["metadata"]
    meta["language_info"] = dict(
        reversed(list({**meta.get("language_info", {}), "version": "3.12.7"}.items()))
    )
    meta["kernelspec"] = dict(reversed(list(meta["kernelspec"].items())))
    meta["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}
    }
    meta["vscode"] = {"interpreter": {"hash": "ab" * 32}}
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            cell["metadata"]["execution"] = {
                "iopub.execute_input": f"2026-12-03T16:14:{index % 60:02}.894128Z",
                "iopub.status.busy": "2026-12-03T16:14:47.893272Z",
                "iopub.status.idle": "2026-12-03T16:14:54.262967Z",
                "shell.execute_reply": "2026-12-03T16:14:54.261688Z",
            }
            cell["metadata"]["scrolled"] = True
            cell["metadata"]["jupyter"] = {"outputs_hidden": False}
    return json.dumps(nb, indent=2, ensure_ascii=True)  # no trailing newline


def _git(repo: Path, *args: str) -> str:
    ran = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return ran.stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh repository holding one tutorial, set up as ``make setup`` does."""
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    _git(repo, "init", "-q")
    subprocess.run(
        ["make", "-s", "--no-print-directory", "nb-filter", f"NB_REPO={repo}"],
        cwd=REPO, check=True, timeout=60,
    )  # fmt: skip
    (repo / ".gitattributes").write_bytes((REPO / ".gitattributes").read_bytes())
    (repo / "notebooks" / NOTEBOOKS[0].name).write_bytes(NOTEBOOKS[0].read_bytes())
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "tutorial")
    return repo


def test_saving_in_lab_passes_the_checks(tmp_path: Path) -> None:
    saved = tmp_path / NOTEBOOKS[0].name
    saved.write_text(lab_save(NOTEBOOKS[0].read_text(encoding="utf-8")))
    assert saved.read_text() != NOTEBOOKS[0].read_text(encoding="utf-8")
    assert committed_text(saved) == NOTEBOOKS[0].read_text(encoding="utf-8")
    test_metadata_has_no_volatile_keys(saved)
    test_outputs_come_from_one_clean_run(saved)
    test_no_error_traceback_or_stderr_output(saved)
    test_starts_from_its_own_fresh_database(saved)


def test_saving_in_lab_leaves_git_clean(clone: Path) -> None:
    path = clone / "notebooks" / NOTEBOOKS[0].name
    committed = _git(clone, "show", f"HEAD:notebooks/{path.name}")
    assert committed == NOTEBOOKS[0].read_text(encoding="utf-8")
    path.write_text(lab_save(committed))
    assert _git(clone, "diff", "--stat") == ""
    # git status trusts the file's size until git reads it again; staging it
    # (what a commit would do) stores the same blob, and status is clean.
    _git(clone, "add", "--all")
    assert _git(clone, "diff", "--cached", "--stat") == "", "a commit would change it"
    assert _git(clone, "status", "--porcelain") == ""


def test_a_real_edit_still_shows_in_git(clone: Path) -> None:
    path = clone / "notebooks" / NOTEBOOKS[0].name
    nb = json.loads(lab_save(path.read_text()))
    markdown = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    markdown["source"] = ["A sentence an author really changed.\n"]
    nb["metadata"]["kernelspec"]["name"] = "my-conda-env"
    path.write_text(json.dumps(nb, indent=1))
    diff = _git(clone, "diff")
    assert "A sentence an author really changed." in diff
    assert "my-conda-env" in diff
    assert "3.12.7" not in diff
    assert "iopub" not in diff
    with pytest.raises(AssertionError, match="kernelspec"):
        test_metadata_has_no_volatile_keys(path)
