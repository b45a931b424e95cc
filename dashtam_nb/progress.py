"""Progress bars that appear only where someone is watching.

Strict nbval compares every output, stderr included, so a bar must never
print under test or CI. A bar is shown in a terminal (TTY) and in a notebook;
it is silent when ``CI``, ``NBVAL`` or ``PYTEST_CURRENT_TEST`` is set, when
output goes to a pipe or file (tqdm's ``disable=None`` rule), and for small
totals (a tutorial-sized load is over before a bar could help).

``tqdm.auto`` is deliberately not imported: in a kernel without ipywidgets it
warns on stderr at import time, which alone would break a strict notebook.

In a notebook the bar ends as text, not as a widget: when the work is done
the widget's output is replaced (an IPython display update) by one line,
green when it completed (``rows: 1.00M rows in 1.2 s``) and red when it
stopped on an error or an interrupt. A saved notebook or its HTML export
thus shows the final text, where a widget would be an empty box. An
estimated total is only a guess: a completed read ends green whatever the
estimate said.
"""

from __future__ import annotations

import html
import importlib.util
import os
import sys
from typing import Any, Protocol

from dashtam_nb.checks import check_bool
from dashtam_nb.errors import ValidationError

__all__ = [
    "MIN_TOTAL",
    "Bar",
    "final_text",
    "progress_bar",
    "silenced",
    "would_show",
]

_SILENCING_ENV = ("CI", "NBVAL", "PYTEST_CURRENT_TEST")


class Bar(Protocol):
    """What callers use of a tqdm bar."""

    def update(self, n: float = 1) -> Any:
        """Advance by ``n``."""

    def close(self) -> None:
        """Finish the bar."""


class _Silent:
    """A bar that shows nothing (the common case: tests, CI, pipes)."""

    def update(self, n: float = 1) -> None:
        """Ignore progress."""

    def close(self) -> None:
        """Nothing to finish."""


def silenced() -> bool:
    """True when the environment asks for no progress output at all."""
    return any(os.environ.get(name) for name in _SILENCING_ENV)


def _in_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


MIN_TOTAL = 100_000
"""Below this many units a bar is not shown unless forced: small loads take
a fraction of a second, and a tutorial's output must not change."""


def would_show(show: bool | None = None, total: int | None = None) -> bool:
    """Whether `progress_bar` would display anything.

    Lets callers skip work that only feeds a bar (a row-count estimate).
    """
    if total is not None and (
        isinstance(total, bool) or not isinstance(total, int) or total < 0
    ):
        raise ValidationError(
            "total must be a non-negative integer or None", field="total"
        )
    if show is not None:
        return check_bool(show, "progress")
    if total is not None and total < MIN_TOTAL:
        return False
    return not silenced() and (_in_kernel() or sys.stderr.isatty())


def progress_bar(
    total: int | None, desc: str, *, unit: str = "rows", show: bool | None = None
) -> Bar:
    """A tqdm bar, or a silent stand-in when nobody would see it.

    Args:
        total: expected number of units, or None when unknown.
        desc: the label in front of the bar.
        unit: what is counted.
        show: True forces a bar, False hides it, None decides from the
            environment (notebook or TTY, not under CI/nbval/pytest) and
            the size (``total`` >= `MIN_TOTAL`).
    """
    if not would_show(show, total):
        return _Silent()
    options: dict[str, Any] = {
        "total": total,
        "desc": desc,
        "unit": unit,
        "unit_scale": True,
        "leave": False,
    }
    if _in_kernel() and importlib.util.find_spec("ipywidgets") is not None:
        # Without ipywidgets tqdm.notebook fails; the text bar works anyway.
        return _NotebookBar(options)
    from tqdm.std import tqdm

    return tqdm(file=sys.stderr, **options)  # type: ignore[no-any-return]


def final_text(desc: str, n: float, unit: str, seconds: float) -> str:
    """The line a finished bar leaves: ``rows: 1.00M rows in 1.2 s``."""
    from tqdm.std import tqdm

    count = tqdm.format_sizeof(n) if n >= 1000 else f"{n:g}"
    return f"{desc}: {count} {unit} in {seconds:.1f} s"


class _NotebookBar:
    """tqdm's widget while running, one coloured line once finished."""

    def __init__(self, options: dict[str, Any]) -> None:
        from IPython.display import display
        from tqdm.notebook import tqdm as notebook_tqdm

        self._bar = notebook_tqdm(**{**options, "leave": True}, display=False)
        self._handle = display(  # type: ignore[no-untyped-call]
            self._bar.container, display_id=True
        )
        self._closed = False

    def update(self, n: float = 1) -> None:
        """Advance by ``n``."""
        self._bar.update(n)

    def close(self) -> None:
        """Finish: green text if the work completed, red if it raised."""
        if self._closed:
            return
        self._closed = True
        failed = sys.exc_info()[0] is not None  # closed from a ``finally``
        bar = self._bar
        if not failed:
            bar.total = bar.n  # the estimate was a guess; the work is done
        bar.close()
        seconds = bar.format_dict.get("elapsed", 0.0)
        text = final_text(bar.desc or "done", bar.n, bar.unit, seconds)
        if failed:
            text = f"{text} (stopped)"
        colour = "#c62828" if failed else "#2e7d32"
        if self._handle is not None:
            from IPython.display import HTML

            self._handle.update(
                HTML(f'<span style="color: {colour}">{html.escape(text)}</span>')  # type: ignore[no-untyped-call]
            )
