"""Notebook 00 in JupyterLab, as a newcomer uses it (issue 16.8).

Run > Run All Cells must give every code cell its output and no error;
Ctrl+S must leave ``git status`` clean (the nbstripout filter of `make
setup`); and the toolbar's stop button on a long query must show the one-line
``QueryCancelledError`` with the traceback hidden.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import nbformat
import pytest

import dashtam_nb as dn
from tests.browser.conftest import git
from tests.browser.lab_page import STDERR
from tests.support.harness import poll

if TYPE_CHECKING:
    from pathlib import Path

    from tests.browser.lab_page import LabNotebook

NAME = "00_quickstart.ipynb"
# A marker in the SQL, so only this test's query is looked for on the server.
SLEEP = "SELECT pg_sleep(30) AS browser_interrupt"
LINE = re.compile(
    r"QueryCancelledError: cancelled by interrupt after \d+\.\d s; "
    r"the server stopped the query\s+\(full traceback: %tb\)"
)


def committed(checkout: Path) -> nbformat.NotebookNode:
    loaded: nbformat.NotebookNode = nbformat.read(
        checkout / "notebooks" / NAME, as_version=4
    )
    return loaded


def code_cells(checkout: Path) -> list[nbformat.NotebookNode]:
    return [c for c in committed(checkout).cells if c.cell_type == "code"]


@pytest.fixture
def opened(notebook: LabNotebook, checkout: Path) -> LabNotebook:
    notebook.open(NAME, code_cells=len(code_cells(checkout)))
    return notebook


def test_run_all_gives_every_cell_its_output_and_no_error(
    opened: LabNotebook, checkout: Path
) -> None:
    cells = opened.run_all()

    expected = code_cells(checkout)
    assert len(cells) == len(expected)
    for index, (shown, saved) in enumerate(zip(cells, expected, strict=True)):
        assert shown.ran, f"code cell {index} did not run: {shown}"
        errors = [o.text for o in shown.outputs if o.mime == STDERR]
        assert not errors, f"code cell {index} shows an error: {errors}"
        # The committed outputs are what this run must show again (nbval's
        # oracle); a cell saved with output must not come back empty.
        assert len(shown.outputs) == len(saved.outputs), f"code cell {index}: {shown}"


def run_and_save(notebook: LabNotebook, checkout: Path, *, twice: bool = False) -> None:
    """Run All in a fresh kernel (again without restarting if ``twice``), Ctrl+S."""
    path = checkout / "notebooks" / NAME
    before = path.stat().st_mtime_ns
    notebook.run_all()
    if twice:
        notebook.menu("Run", "Run All Cells")
        notebook.wait_until_done()
    notebook.save()
    poll(lambda: path.stat().st_mtime_ns != before, timeout=15)  # it was written


def test_git_status_is_clean_right_after_a_save(
    opened: LabNotebook, checkout: Path
) -> None:
    # Runs before the test below stages the file: `git add` updates the
    # size git remembers, after which status would stay clean.
    run_and_save(opened, checkout)

    assert git(checkout, "status", "--porcelain") == ""


def test_saving_after_a_run_leaves_nothing_to_commit(
    opened: LabNotebook, checkout: Path
) -> None:
    run_and_save(opened, checkout)

    assert git(checkout, "diff") == ""
    # What `git add` would record is the committed notebook itself.
    git(checkout, "add", f"notebooks/{NAME}")
    assert git(checkout, "diff", "--cached", "--stat") == ""
    assert git(checkout, "status", "--porcelain") == ""


def test_running_twice_then_saving_leaves_nothing_to_commit(
    opened: LabNotebook, checkout: Path
) -> None:
    run_and_save(opened, checkout, twice=True)

    assert git(checkout, "diff", "--stat") == ""


def query_running(probe: dn.Database) -> int:
    count: int = probe.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
        " AND query LIKE :q AND pid <> pg_backend_pid()",
        {"q": f"%{SLEEP}%"},
    )
    return count


def test_stop_button_on_a_long_query_shows_one_line(opened: LabNotebook) -> None:
    probe = dn.Database(dn.settings.database_url)
    opened.run_all()  # `db` exists, as for a reader who ran the notebook
    opened.append_code_cell(f'db.scalar("{SLEEP}")')
    try:
        opened.run_selected()
        poll(lambda: query_running(probe), timeout=30, every=0.1)

        opened.interrupt()

        cells = opened.wait_until_done(timeout=30)
        last = cells[-1]
        assert [o.mime for o in last.outputs] == [STDERR], last
        text = last.outputs[0].text.strip()
        assert LINE.fullmatch(text), text  # one line: no traceback shown
        assert "Traceback" not in text
        poll(lambda: query_running(probe) == 0, timeout=10, every=0.1)
    finally:
        opened.delete_last_cell()
        dn.run(probe.close())
