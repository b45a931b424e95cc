"""Run the notebooks headless: the ``dashtam-nb notebooks`` command.

Each notebook runs top to bottom in a fresh kernel, the way a reader's "Run
All" would, and is never written back: committed outputs change only through
``make nb-refresh``, so a run here cannot dirty the tree. What ran is saved as
HTML in ``build/notebooks/`` (git-ignored), so the results, charts included,
can be read in a browser without Jupyter. The summary is one line per
notebook, short enough to read in CI logs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from dashtam_nb.config import settings

__all__ = [
    "CELL_TIMEOUT",
    "NotebookRun",
    "build_dir",
    "default_notebooks",
    "notebooks_dir",
    "run_all",
    "run_notebook",
    "title_of",
]

CELL_TIMEOUT = 600
"""Seconds one cell may run; generous, since a cell may load the large data set."""

_NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"


def build_dir() -> Path:
    """Where executed copies go: ``build/notebooks/`` of the repository."""
    return notebooks_dir().parent / "build" / "notebooks"


def notebooks_dir() -> Path:
    """``notebooks/`` of the repository, found from the package, not the cwd."""
    return Path(__file__).resolve().parent.parent / "notebooks"


def default_notebooks() -> list[Path]:
    """Every ``NN_topic.ipynb`` in reading order."""
    return sorted(notebooks_dir().glob(_NOTEBOOK_GLOB))


@dataclass(frozen=True)
class NotebookRun:
    """The outcome of one notebook, as the summary line shows it."""

    name: str
    code_cells: int
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when every cell ran without an unexpected error."""
        return self.error is None

    def line(self, width: int) -> str:
        """One summary line; the name is padded to ``width`` to align columns."""
        status = "ok" if self.error is None else f"FAILED  {self.error}"
        return (
            f"{self.name:<{width}}  {self.code_cells:>3} code cells  "
            f"{self.seconds:>6.1f} s  {status}"
        )


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def _failed_cell(nb: nbformat.NotebookNode) -> int | None:
    """Index (among code cells) of the first cell that recorded an error."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    for index, cell in enumerate(code):
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return index
    return None


def title_of(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The notebook's first heading (``# 09 · Analyst tour``), else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in str(cell.source).splitlines():
            if line.startswith("# "):
                return line[2:].strip() or fallback
    return fallback


# nbconvert's lab page loads require.js and MathJax from a CDN (and the
# widget manager when the notebook kept widget state): offline that is a
# console error per script. The notebooks have no math, no JavaScript outputs,
# and progress bars end as text, so the page needs none of them.
_OFFLINE_PAGE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""


def _save_html(nb: nbformat.NotebookNode, target: Path) -> None:
    from nbconvert import HTMLExporter

    target.parent.mkdir(parents=True, exist_ok=True)
    # nbconvert titles every page "Notebook" unless told the name.
    resources = {"metadata": {"name": title_of(nb, target.stem)}}
    # The state of the (replaced) progress widgets would only load the CDN.
    nb.metadata.pop("widgets", None)
    exporter = HTMLExporter(raw_template=_OFFLINE_PAGE)  # type: ignore[no-untyped-call]
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    target.write_text(body, encoding="utf-8")


def run_notebook(path: Path, html_dir: Path | None = None) -> NotebookRun:
    """Execute one notebook in a fresh kernel started in its own directory.

    The notebook file is read, never written; with ``html_dir`` what ran
    (up to a failure) is saved there as HTML. Any failure (a cell error, a
    timeout, a dead kernel, an unreadable file) becomes the run's ``error``
    instead of an exception, so one broken notebook does not hide the others.
    """
    started = time.perf_counter()
    cells = 0
    error: str | None = None
    nb: nbformat.NotebookNode | None = None
    try:
        # nbformat.read has no annotations; it returns a NotebookNode.
        loaded: nbformat.NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        nb = loaded
        cells = sum(1 for c in loaded.cells if c.cell_type == "code")
        client = NotebookClient(
            loaded,
            timeout=CELL_TIMEOUT,
            resources={"metadata": {"path": str(path.parent)}},
            # Keep the kernel's start-up chatter (ipykernel 7.4 warns about
            # unencrypted local TCP) out of the summary; errors still show.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
        client.execute()
    except CellExecutionError as exc:
        where = _failed_cell(nb) if nb is not None else None
        cell = f"cell {where}: " if where is not None else ""
        error = f"{cell}{exc.ename}: {_first_line(exc.evalue)}"
    except Exception as exc:
        error = f"{type(exc).__name__}: {_first_line(str(exc))}"
    seconds = time.perf_counter() - started
    if html_dir is not None and nb is not None:
        _save_html(nb, html_dir / path.with_suffix(".html").name)
    return NotebookRun(path.name, cells, seconds, error)


def run_all(paths: list[str] | None = None, html_dir: Path | None = None) -> bool:
    """Run notebooks headless and print one line per notebook, then a total.

    Args:
        paths: notebook files; None means every ``notebooks/NN_*.ipynb`` of the
            repository, in reading order.
        html_dir: where to save the executed copies as HTML (default
            `build_dir`).

    Returns:
        True when every notebook ran cleanly (the CLI's exit status).
    """
    notebooks = [Path(p) for p in paths] if paths else default_notebooks()
    if not notebooks:
        print(f"no notebooks found in {notebooks_dir()}")
        return False
    # Start (or join) the embedded server once, here: kernels then find it
    # running instead of each paying for, and racing over, the start.
    _ = settings.database_url
    html_dir = html_dir or build_dir()
    width = max(len(p.name) for p in notebooks)
    started = time.perf_counter()
    runs: list[NotebookRun] = []
    for path in notebooks:
        run = run_notebook(path, html_dir)
        runs.append(run)
        print(run.line(width), flush=True)
    failed = sum(1 for r in runs if not r.ok)
    cells = sum(r.code_cells for r in runs)
    verdict = "all ok" if not failed else f"{failed} FAILED"
    print(
        f"{len(runs)} notebooks, {cells} code cells, "
        f"{time.perf_counter() - started:.1f} s: {verdict}"
    )
    print(f"executed copies (with charts): {html_dir}/*.html")
    return failed == 0
