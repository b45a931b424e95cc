"""`dashtam_nb.save_hook`: a Lab save writes what git commits (no server)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashtam_nb.save_hook import VOLATILE, clean, renumber

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def makefile_volatile() -> list[str]:
    text = (REPO / "Makefile").read_text()
    match = re.search(r"^NB_VOLATILE := ((?:.*\\\n)*.*)$", text, re.MULTILINE)
    assert match, "NB_VOLATILE not found in the Makefile"
    return match.group(1).replace("\\\n", " ").split()


def test_the_hook_and_the_git_filter_strip_the_same_keys() -> None:
    assert makefile_volatile() == list(VOLATILE)


def test_make_lab_installs_the_hook() -> None:
    text = (REPO / "Makefile").read_text()
    assert "--ContentsManager.pre_save_hook=dashtam_nb.save_hook.clean" in text


def as_lab_saves(nb: Any, shift: int) -> dict[str, Any]:
    """What Lab sends on save after running the notebook ``shift`` more times."""
    content = copy.deepcopy(dict(nb))
    content["metadata"]["language_info"]["version"] = "3.11.99"
    content["metadata"]["vscode"] = {"interpreter": {"hash": "x"}}
    for cell in content["cells"]:
        cell.setdefault("metadata", {})["trusted"] = True
        cell["metadata"]["execution"] = {"iopub.status.busy": "2026-12-03T10:00:00Z"}
        if cell["cell_type"] == "code" and cell.get("execution_count"):
            cell["execution_count"] += shift
            for out in cell["outputs"]:
                if out.get("execution_count"):
                    out["execution_count"] += shift
    return content


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
@pytest.mark.parametrize("shift", [0, 10])
def test_saving_a_tutorial_after_running_it_writes_the_committed_file(
    path: Path, shift: int
) -> None:
    committed = path.read_text()
    nb = nbformat.reads(committed, as_version=4)
    model = {"type": "notebook", "content": as_lab_saves(nb, shift)}
    clean(model)
    # Written as Jupyter's FileContentsManager writes a notebook.
    assert nbformat.writes(model["content"]) + "\n" == committed


def test_other_files_are_left_alone() -> None:
    model = {"type": "file", "content": "x = 1\n", "format": "text"}
    clean(model)
    assert model["content"] == "x = 1\n"


def code(count: int | None) -> dict[str, Any]:
    outputs = [] if count is None else [{"output_type": "execute_result",
               "execution_count": count, "data": {}, "metadata": {}}]  # fmt: skip
    return {"cell_type": "code", "execution_count": count, "outputs": outputs}


@given(st.lists(st.one_of(st.none(), st.integers(1, 40)), min_size=1, max_size=8))
def test_only_a_run_in_order_is_renumbered(counts: list[int | None]) -> None:
    nb = {"cells": [code(n) for n in counts]}
    renumber(nb)
    got = [c["execution_count"] for c in nb["cells"]]
    ran = [n for n in counts if n is not None]
    in_order = (
        bool(ran)
        and None not in counts[: len(ran)]
        and ran == list(range(ran[0], ran[0] + len(ran)))
    )
    expected = (
        [None if n is None else n - ran[0] + 1 for n in counts] if in_order else counts
    )
    assert got == expected
    for cell in nb["cells"]:
        for out in cell["outputs"]:
            assert out["execution_count"] == cell["execution_count"]


def test_jupyter_accepts_the_hook_by_name() -> None:
    probe = (
        "from jupyter_server.services.contents.filemanager import FileContentsManager\n"
        "m = FileContentsManager(pre_save_hook='dashtam_nb.save_hook.clean')\n"
        "print(m.pre_save_hook.__module__)"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert ran.stdout.strip() == "dashtam_nb.save_hook", ran.stderr
