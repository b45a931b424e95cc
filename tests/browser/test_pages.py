"""The HTML copies of the notebooks read well in a browser (issue 16.5, 16.8).

Each page (made by `tests.browser.pages`) must carry the notebook's own
title, show its charts (images that decoded, with a size), show progress as
its final line of text (never a widget, an empty box without Lab), and leave
the console without errors: a page must read the same offline.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import nbformat

from dashtam_nb.notebook_runner import title_of
from tests.browser import chromium

if TYPE_CHECKING:
    from pathlib import Path

    from selenium import webdriver

    from tests.browser.pages import Export

# Pages whose notebook reads enough rows to show progress, and its last line.
PROGRESS = {"09_analyst_tour": re.compile(r"rows: \S+ rows in \d+\.\d s")}

_PAGE_JS = """
const visible = e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
};
return {
    images: Array.from(document.images).map(i => ({
        src: i.src.slice(0, 40), complete: i.complete,
        natural: i.naturalWidth, visible: visible(i),
    })),
    widgets: document.querySelectorAll(
        'script[type="application/vnd.jupyter.widget-view+json"], .jupyter-widgets'
    ).length,
    text: document.body.innerText,
};
"""


def read(path: Path) -> nbformat.NotebookNode:
    loaded: nbformat.NotebookNode = nbformat.read(path, as_version=4)
    return loaded


def look(browser: webdriver.Chrome, page: Path) -> dict[str, Any]:
    browser.get(page.as_uri())
    seen: dict[str, Any] = browser.execute_script(_PAGE_JS)
    return seen


def test_every_page_has_its_title_charts_text_progress_and_a_quiet_console(
    browser: webdriver.Chrome, export: Export, checkout: Path
) -> None:
    pages = export.wait()
    names = export.names
    assert sorted(p.stem for p in pages.glob("*.html")) == sorted(names)
    for name in names:
        committed = read(checkout / "notebooks" / f"{name}.ipynb")
        page = pages / f"{name}.html"

        seen = look(browser, page)

        assert browser.title == title_of(committed, name), name
        assert browser.title != name, f"{name}: no heading to title it by"
        charts = sum(
            "image/png" in out.get("data", {})
            for cell in committed.cells
            for out in cell.get("outputs", [])
        )
        images = seen["images"]
        assert len(images) >= charts, f"{name}: {charts} charts saved, {images} shown"
        for image in images:
            assert image["complete"], f"{name}: {image}"
            assert image["natural"] > 0, f"{name}: an image not decoded: {image}"
            assert image["visible"], f"{name}: an image of no size: {image}"
        assert seen["widgets"] == 0, f"{name}: a widget (an empty box offline)"
        if name in PROGRESS:
            assert PROGRESS[name].search(seen["text"]), f"{name}: no progress line"
        assert chromium.console_errors(browser) == [], name
