"""`dashtam-nb notebooks`: summary lines, exit status, HTML copies, no writes."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dashtam_nb.notebook_runner import run_all

pytestmark = [pytest.mark.integration, pytest.mark.kernel]


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, path)
    return path


def test_summary_status_and_html_copies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _notebook(tmp_path / "01_good.ipynb", "x = 40 + 2", "x")
    bad = _notebook(tmp_path / "02_bad.ipynb", "y = 1", "1 / 0", "z = 3")
    before = bad.read_bytes()
    html = tmp_path / "html"

    assert run_all([str(good), str(bad)], html_dir=html) is False

    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("01_good.ipynb")
    assert out[0].endswith("ok")
    assert "2 code cells" in out[0]
    assert "FAILED  cell 1: ZeroDivisionError: division by zero" in out[1]
    assert out[2].startswith("2 notebooks, 5 code cells")
    assert out[2].endswith("1 FAILED")
    assert bad.read_bytes() == before  # never written back
    assert "42" in (html / "01_good.html").read_text()
    assert (html / "02_bad.html").exists()
    assert "<title>01_good</title>" in (html / "01_good.html").read_text()


def test_an_html_copy_is_titled_by_the_notebooks_heading(tmp_path: Path) -> None:
    path = _notebook(tmp_path / "03_titled.ipynb", "1 + 1")
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("Intro\n\n# 03 · A & B\n\ntext"))
    nbformat.write(nb, path)
    assert run_all([str(path)], html_dir=tmp_path / "html") is True
    page = (tmp_path / "html" / "03_titled.html").read_text()
    assert "<title>03 · A &amp; B</title>" in page


def test_all_good_returns_true(tmp_path: Path) -> None:
    good = _notebook(tmp_path / "03_ok.ipynb", "import dashtam_nb")
    assert run_all([str(good)], html_dir=tmp_path / "html") is True
