"""The browser suite's fixtures: a throwaway checkout, `make lab` on it, Chromium.

Lab serves a clone of the repository's committed state, never the working
tree, so saving a notebook cannot touch real files; the clone gets the git
filter exactly as `make setup` installs it (`make nb-filter NB_REPO=…`), so
"git is clean after a save" tests that filter. A failing test leaves a
screenshot, the page's HTML and Lab's log in ``build/browser/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser import chromium
from tests.browser.lab_page import LabNotebook
from tests.browser.pages import Export, start_export
from tests.support.lab_server import REPO, Lab, running_lab

if TYPE_CHECKING:
    from collections.abc import Iterator

    from selenium import webdriver

FAILURES = REPO / "build" / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed or report.when == "teardown":
        return
    funcargs = getattr(item, "funcargs", {})
    name = re.sub(r"[^\w.-]+", "_", item.nodeid.split("::", 1)[-1])
    FAILURES.mkdir(parents=True, exist_ok=True)
    driver = funcargs.get("browser_session")
    if driver is not None:
        driver.save_screenshot(str(FAILURES / f"{name}.png"))
        (FAILURES / f"{name}.html").write_text(driver.page_source, encoding="utf-8")
        report.sections.append(("browser", f"screenshot: {FAILURES / name}.png"))
    lab_session = funcargs.get("lab_session")
    if lab_session is not None:
        shutil.copyfile(lab_session[0].log, FAILURES / f"{name}.lab.log")


def git(checkout: Path, *args: str) -> str:
    # Generous: in a fresh clone every notebook is racily clean, so git runs
    # the nbstripout filter on each (~3 s of CPU apiece: nbformat's jsonschema
    # imports rfc3987_syntax, which builds a grammar at import), on loaded cores.
    done = subprocess.run(
        ["git", "-C", str(checkout), *args],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return done.stdout


def package_env(checkout: Path) -> dict[str, str]:
    """Kernels import the checkout's package, so notebooks and code agree.

    The venv's editable install points at the working tree, which may be
    ahead of the committed notebooks; PYTHONPATH comes before it.
    """
    return {"PYTHONPATH": str(checkout)}


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the committed repository with `make setup`'s notebook filter."""
    target = tmp_path_factory.mktemp("browser") / "checkout"
    subprocess.run(
        ["git", "clone", "-q", "--no-hardlinks", str(REPO), str(target)],
        check=True, timeout=120,
    )  # fmt: skip
    subprocess.run(
        ["make", "-s", "--no-print-directory", "nb-filter", f"NB_REPO={target}"],
        cwd=REPO, check=True, timeout=60,
    )  # fmt: skip
    assert git(target, "config", "filter.nbstripout.clean"), "nb-filter set nothing"
    assert git(target, "status", "--porcelain") == "", "a fresh clone is not clean"
    return target


@pytest.fixture(scope="session", autouse=True)
def export(
    request: pytest.FixtureRequest,
    checkout: Path,
    server_url: object,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Export | None]:
    """The notebooks' HTML pages, started first when a page test will run.

    Started before Lab so the two overlap; ``server_url`` keeps the embedded
    server up for the whole session instead of one start per process.
    """
    wanted = any(item.path.name == "test_pages.py" for item in request.session.items)
    if not wanted:
        yield None
        return
    started = start_export(
        checkout,
        tmp_path_factory.mktemp("html"),
        {**os.environ, **package_env(checkout)},
    )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def lab_session(
    checkout: Path, server_url: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Lab, str]]:
    """`make lab`'s command on the checkout (with this repository's .venv)."""
    scratch = tmp_path_factory.mktemp("lab")
    with running_lab(checkout, scratch, REPO / ".venv", package_env(checkout)) as lab:
        yield lab, lab.ready()


@pytest.fixture
def lab(lab_session: tuple[Lab, str]) -> Lab:
    return lab_session[0]


@pytest.fixture(scope="session")
def browser_session() -> Iterator[webdriver.Chrome]:
    reason = chromium.missing()
    if reason:
        pytest.fail(reason)  # a missing browser is a broken setup, not a skip
    driver = chromium.start()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(browser_session: webdriver.Chrome) -> webdriver.Chrome:
    chromium.console_errors(browser_session)  # each test reads only its own
    return browser_session


@pytest.fixture
def notebook(browser: webdriver.Chrome, lab_session: tuple[Lab, str]) -> LabNotebook:
    return LabNotebook(browser, *lab_session)
