"""Progress bars that appear only where someone is watching.

Strict nbval compares every output, stderr included, so a bar must never
print under test or CI. A bar is shown in a terminal (TTY) and in a notebook;
it is silent when ``CI``, ``NBVAL`` or ``PYTEST_CURRENT_TEST`` is set, when
output goes to a pipe or file (tqdm's ``disable=None`` rule), and for small
totals (a tutorial-sized load is over before a bar could help).

``tqdm.auto`` is deliberately not imported: in a kernel without ipywidgets it
warns on stderr at import time, which alone would break a strict notebook.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any, Protocol

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
    if show is not None:
        return show
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
        from tqdm.notebook import tqdm as notebook_tqdm

        bar: Bar = notebook_tqdm(**options)
        return bar
    from tqdm.std import tqdm

    return tqdm(file=sys.stderr, **options)  # type: ignore[no-any-return]
