"""One notebook open in JupyterLab, used the way a reader uses it.

Everything goes through what a reader sees and does: the menu bar, the
toolbar, keyboard shortcuts, the rendered cells. What is read back comes from
the DOM of JupyterLab 4 (the version in .venv): a code cell is
``.jp-CodeCell``, its prompt ``.jp-InputArea-prompt`` (``[3]:``, ``[*]:``
while queued or running), each output a ``.jp-OutputArea-output`` whose
``data-mime-type`` says what it is (errors and stderr are
``application/vnd.jupyter.stderr``), and the kernel's state the
``data-status`` of ``.jp-Notebook-ExecutionIndicator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.support.harness import poll

if TYPE_CHECKING:
    from selenium import webdriver
    from selenium.webdriver.remote.webelement import WebElement

    from tests.support.lab_server import Lab

STDERR = "application/vnd.jupyter.stderr"
OPEN_TIMEOUT = 60.0
RUN_TIMEOUT = 120.0

# Every code cell of the open notebook: its prompt and its outputs.
_CELLS_JS = """
return Array.from(document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell'
)).map(cell => ({
    prompt: (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
    outputs: Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map(o => ({
        mime: o.getAttribute('data-mime-type') || '',
        text: o.innerText,
    })),
}));
"""


@dataclass(frozen=True)
class Output:
    """One rendered output: its MIME type and its visible text."""

    mime: str
    text: str


@dataclass(frozen=True)
class CodeCell:
    """One code cell as rendered: ``[3]:`` and what it shows."""

    prompt: str
    outputs: tuple[Output, ...]

    @property
    def ran(self) -> bool:
        """It shows an execution count (not ``[ ]:`` or ``[*]:``)."""
        return self.prompt.strip("[]: ").isdigit()


class LabNotebook:
    """A notebook open in Lab in a Chromium tab."""

    def __init__(self, driver: webdriver.Chrome, lab: Lab, token: str) -> None:
        self.driver, self.lab, self.token = driver, lab, token

    def open(self, name: str, code_cells: int) -> None:
        """Open ``name`` and wait until its ``code_cells`` show and the kernel idles."""
        self.driver.get(self.lab.url(f"/lab/tree/{name}?token={self.token}"))
        poll(
            lambda: len(self.cells()) == code_cells and self.kernel_status() == "idle",
            timeout=OPEN_TIMEOUT,
            every=0.2,
        )

    def kernel_status(self) -> str | None:
        """``idle``, ``busy``, ``starting``… as the notebook's indicator shows."""
        found: str | None = self.driver.execute_script(
            "const e = document.querySelector("
            "'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');"
            "return e && e.getAttribute('data-status');"
        )
        return found

    def cells(self) -> list[CodeCell]:
        """Every code cell, in order."""
        raw: list[dict[str, Any]] = self.driver.execute_script(_CELLS_JS)
        return [
            CodeCell(c["prompt"], tuple(Output(**o) for o in c["outputs"])) for c in raw
        ]

    def menu(self, top: str, item: str) -> None:
        """Click ``top`` in the menu bar, then ``item`` in its menu."""
        self._labelled(".lm-MenuBar-itemLabel", top).click()
        self._labelled(".lm-Menu-itemLabel", item).click()

    def _labelled(self, selector: str, label: str) -> WebElement:
        def visible() -> WebElement | None:
            for element in self.driver.find_elements(By.CSS_SELECTOR, selector):
                if element.is_displayed() and element.text == label:
                    return element
            return None

        found: WebElement = poll(visible, timeout=10, every=0.1)
        return found

    def run_all(self) -> list[CodeCell]:
        """Restart the kernel clearing every output, Run All Cells, wait.

        A fresh kernel, as for a reader who just opened the notebook; and
        cleared outputs, so what is checked afterwards is what this run
        produced, not what the notebook was saved with.
        """
        self.menu("Kernel", "Restart Kernel and Clear Outputs of All Cells…")
        self._labelled(".jp-Dialog-button.jp-mod-accept", "Restart").click()
        poll(
            lambda: (
                self.kernel_status() == "idle"
                and not any(c.outputs or c.ran for c in self.cells())
            ),
            timeout=OPEN_TIMEOUT,
            every=0.2,
        )
        self.menu("Run", "Run All Cells")
        return self.wait_until_done()

    def wait_until_done(self, timeout: float = RUN_TIMEOUT) -> list[CodeCell]:
        """Wait until every code cell shows a count and the kernel idles."""

        def done() -> list[CodeCell] | None:
            cells = self.cells()
            finished = all(c.ran for c in cells) and self.kernel_status() == "idle"
            return cells if finished else None

        cells: list[CodeCell] = poll(done, timeout=timeout, every=0.2)
        return cells

    def keys(self, *keys: str, hold: str | None = None) -> None:
        """Type ``keys`` where the focus is, with ``hold`` (Keys.CONTROL…) held."""
        chain = ActionChains(self.driver)
        if hold:
            chain.key_down(hold)
        chain.send_keys(*keys)
        if hold:
            chain.key_up(hold)
        chain.perform()

    def save(self) -> None:
        """Ctrl+S, then wait until the tab no longer shows unsaved changes."""
        self.keys("s", hold=Keys.CONTROL)
        poll(
            lambda: (
                not self.driver.find_elements(
                    By.CSS_SELECTOR, ".lm-TabBar-tab.jp-mod-current.jp-mod-dirty"
                )
            ),
            timeout=15,
            every=0.1,
        )

    def append_code_cell(self, source: str) -> None:
        """Select the last cell, insert a code cell below (B), type ``source``."""
        prompts = self.driver.find_elements(
            By.CSS_SELECTOR,
            ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell .jp-InputArea-prompt",
        )
        prompts[-1].click()  # selects the cell, in command mode
        self.keys(Keys.ESCAPE, "b", Keys.ENTER)  # insert below, edit it
        self.keys(source)

    def run_selected(self) -> None:
        """Ctrl+Enter: run the cell being edited, staying on it."""
        self.keys(Keys.ENTER, hold=Keys.CONTROL)

    def interrupt(self) -> None:
        """The toolbar's stop button (Kernel > Interrupt Kernel)."""
        self.driver.find_element(
            By.CSS_SELECTOR,
            ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar "
            '[data-command="notebook:interrupt-kernel"]',
        ).click()

    def delete_last_cell(self) -> None:
        """Select the last cell and delete it (D, D in command mode)."""
        prompts = self.driver.find_elements(
            By.CSS_SELECTOR,
            ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell .jp-InputArea-prompt",
        )
        prompts[-1].click()
        self.keys(Keys.ESCAPE, "d", "d")
