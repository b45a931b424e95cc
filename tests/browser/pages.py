"""The HTML copies of the notebooks, made as `dashtam-nb notebooks` makes them.

`run_all` (a fresh kernel per notebook) runs the checkout's notebooks into a
directory of the test, in a process with a user's environment. It is started
when the session starts and waited for by the page test, so the kernels work
while Lab is being driven (the suite waits more than it computes).

Executing every notebook takes ~80 s on 2 cores, too long for a suite that
must stay under 3 minutes, so a subset runs by default: the quickstart, the
analyst tour (its chart and a progress line) and the SQL magics.
``BROWSER_HTML=all`` runs every notebook.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUBSET = ("00_quickstart", "09_analyst_tour", "10_sql_from_a_cell")
RUN_TIMEOUT = 300
_SCRIPT = (
    "import sys, pathlib; from dashtam_nb.notebook_runner import run_all; "
    "sys.exit(0 if run_all(sys.argv[2:], pathlib.Path(sys.argv[1])) else 1)"
)


def notebook_names(checkout: Path) -> list[str]:
    """The notebooks whose pages are made (stems, in reading order)."""
    every = sorted(p.stem for p in (checkout / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if os.environ.get("BROWSER_HTML") == "all":
        return every
    assert set(SUBSET) <= set(every), f"renamed? {SUBSET} not in {every}"
    return list(SUBSET)


@dataclass
class Export:
    """A running (or finished) export into ``html``."""

    proc: subprocess.Popen[str]
    html: Path
    names: list[str]

    def wait(self) -> Path:
        """The directory of pages, once every notebook ran cleanly."""
        out, _ = self.proc.communicate(timeout=RUN_TIMEOUT)
        assert self.proc.returncode == 0, out
        return self.html

    def stop(self) -> None:
        """End the export if it still runs (a test selection without pages)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)


def start_export(checkout: Path, html: Path, env: dict[str, str]) -> Export:
    """Start exporting the checkout's notebooks into ``html``."""
    names = notebook_names(checkout)
    paths = [str(checkout / "notebooks" / f"{n}.ipynb") for n in names]
    env = dict(env)
    # As on a user's machine: CI, NBVAL and a test in progress each silence
    # the progress bars whose final text the page test looks for.
    for name in ("CI", "NBVAL", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    python = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"
    proc = subprocess.Popen(
        [str(python), "-c", _SCRIPT, str(html), *paths],
        cwd=checkout, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return Export(proc, html, names)
