"""A progress bar in a notebook ends as one coloured line (issue 13.8).

Run through nbclient, the same path as ``dashtam-nb notebooks`` and an HTML
export: the saved cell output must be the final text, not an empty widget.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.kernel

DONE = """
from dashtam_nb.progress import progress_bar
bar = progress_bar(1_000_000, "rows", show=True)  # an estimate, too high
for _ in range(3):
    bar.update(250_000)
bar.close()
"""

STOPPED = """
try:
    bar = progress_bar(1_000_000, "rows", show=True)
    try:
        bar.update(300_000)
        raise KeyboardInterrupt
    finally:
        bar.close()
except KeyboardInterrupt:
    pass
"""


def _outputs() -> list[list[dict[str, Any]]]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(DONE), nbformat.v4.new_code_cell(STOPPED)]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    return [cell["outputs"] for cell in nb.cells]


def test_a_finished_bar_is_saved_as_green_text_and_a_stopped_one_red(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NBVAL", "CI"):  # the kernel inherits the environment
        monkeypatch.delenv(name, raising=False)
    done, stopped = _outputs()
    for outputs, colour, words in (
        (done, "#2e7d32", "rows: 750k rows in"),
        (stopped, "#c62828", "(stopped)"),
    ):
        assert len(outputs) == 1, outputs
        data = outputs[0]["data"]
        assert "application/vnd.jupyter.widget-view+json" not in data, data
        assert colour in data["text/html"]
        assert words in data["text/html"]
