"""What a SQL cell shows: a preview with a row-count footer, and one-line errors.

Display is kept apart from execution (`dashtam_nb.magic` runs the query):
`SqlFrame` *is* the full result, a `pandas.DataFrame`, that only *shows* its
first rows and a footer (``1,000,000 rows · first 20 shown · 0.41 s``). Any
operation on it (``df[df.x > 1]``, ``df.head()``) gives a plain DataFrame with
pandas' own display. The time is left out of the footer when ``NBVAL`` is set,
so a notebook's saved output is the same on every run.

`install_short_errors` makes IPython show a `DashtamError` as one line,
``DatabaseError: relation "users" does not exist  (full traceback: %tb)``,
and keeps the full traceback for ``%tb``. `install_interrupt_display` does
the same for one error only, the `QueryCancelledError` of a Ctrl-C on a
query, without ``%load_ext`` (`dashtam_nb.interrupts` installs it at the
first interrupt); every other error keeps IPython's own display.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from dashtam_nb.errors import DashtamError, QueryCancelledError

if TYPE_CHECKING:
    from types import TracebackType

    from IPython.core.interactiveshell import InteractiveShell

__all__ = [
    "Affected",
    "QueryInfo",
    "SqlFrame",
    "footer",
    "install_interrupt_display",
    "install_short_errors",
    "short_error",
    "uninstall_short_errors",
]

DEFAULT_LIMIT = 20
TB_HINT = "(full traceback: %tb)"


@dataclass(frozen=True)
class QueryInfo:
    """What ran: the SQL, the names it bound (never their values), the time."""

    sql: str
    binds: tuple[str, ...] = ()
    elapsed: float | None = None
    limit: int = DEFAULT_LIMIT
    database: str | None = None


def _time(seconds: float | None) -> str:
    if seconds is None or os.environ.get("NBVAL"):
        return ""
    if seconds < 1:
        return f" · {seconds * 1000:.0f} ms"
    return f" · {seconds:.2f} s"


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def footer(rows: int, info: QueryInfo) -> str:
    """``3 rows · 12 ms`` or ``1,000 rows · first 20 shown · 0.41 s``."""
    shown = f" · first {info.limit:,} shown" if rows > info.limit else ""
    return f"{_rows(rows)}{shown}{_time(info.elapsed)}"


class SqlFrame(pd.DataFrame):
    """The full result of a SQL cell; displays ``limit`` rows and a footer."""

    _metadata = ["_dn_query"]  # noqa: RUF012 (pandas' own convention)
    _dn_query: QueryInfo | None = None

    @property
    def _constructor(self) -> Any:
        # Derived frames are plain DataFrames: the footer belongs to this result.
        return pd.DataFrame

    @property
    def query_info(self) -> QueryInfo:
        """The SQL, bind names and time of the query that made this frame."""
        return self._dn_query or QueryInfo(sql="")

    def _head(self) -> pd.DataFrame:
        return pd.DataFrame(self).head(self.query_info.limit)

    def _options(self) -> pd.option_context:
        rows = self.query_info.limit + 1
        return pd.option_context(
            "display.max_rows", rows, "display.min_rows", rows,
            "display.show_dimensions", False,
        )  # fmt: skip

    def _repr_html_(self) -> str | None:
        with self._options():
            table = cast("Any", self._head())._repr_html_()
        if table is None:  # display.notebook_repr_html is off
            return None
        return (
            f'{table}<p class="dn-sql-footer">{footer(len(self), self.query_info)}</p>'
        )

    def __repr__(self) -> str:
        with self._options():
            table = repr(self._head())
        return f"{table}\n{footer(len(self), self.query_info)}"


@dataclass(frozen=True)
class Affected:
    """The outcome of a statement that returns no rows (DDL, INSERT, UPDATE)."""

    rowcount: int
    info: QueryInfo

    def __repr__(self) -> str:
        done = "done" if self.rowcount < 0 else f"{_rows(self.rowcount)} affected"
        return f"{done}{_time(self.info.elapsed)}"


def short_error(value: BaseException) -> str:
    """``ErrorName: message  (full traceback: %tb)``."""
    return f"{type(value).__name__}: {value}  {TB_HINT}"


def _remember(etype: type[BaseException], value: BaseException, tb: Any) -> None:
    """Record the exception for ``%tb`` (IPython does not, for custom ones)."""
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = value


class _Chained:
    """A custom exception handler that keeps the one installed before it."""

    def __init__(self, previous: Any, previous_types: tuple[type, ...]) -> None:
        self.previous = previous
        self.previous_types = previous_types


class _InterruptLine(_Chained):
    """IPython's custom exception handler for an interrupted query only.

    Other errors it receives go to the handler installed before it, or to
    IPython's own full display.
    """

    def __call__(
        self,
        shell: InteractiveShell,
        etype: type[BaseException],
        value: BaseException,
        tb: TracebackType | None,
        tb_offset: int | None = None,
    ) -> list[str] | None:
        if getattr(value, "_dn_interrupt", False):
            _remember(etype, value, tb)
            shell._showtraceback(etype, value, [short_error(value)])
        elif self.previous_types and isinstance(value, self.previous_types):
            self.previous(etype, value, tb, tb_offset=tb_offset)
        else:
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None


def install_interrupt_display(shell: InteractiveShell) -> None:
    """Show an interrupted query as one line in ``shell`` (idempotent).

    Nothing to do when `install_short_errors` is in place: it shows every
    `DashtamError`, this one included, as one line.
    """
    current = getattr(shell.CustomTB, "__func__", None)
    handler = getattr(current, "_dn_handler", None)
    if isinstance(handler, _ShortErrors | _InterruptLine):
        return
    previous_types = tuple(shell.custom_exceptions)
    ours = _InterruptLine(shell.CustomTB, previous_types)
    shell.set_custom_exc((*previous_types, QueryCancelledError), ours)  # type: ignore[no-untyped-call]
    shell.CustomTB.__func__._dn_handler = ours  # type: ignore[attr-defined]


class _ShortErrors(_Chained):
    """IPython's custom exception handler: `DashtamError` in one line.

    It chains to a handler installed before it for other exceptions. IPython
    does not record a custom-handled exception for ``%tb``; this does.
    """

    def __call__(
        self,
        shell: InteractiveShell,
        etype: type[BaseException],
        value: BaseException,
        tb: TracebackType | None,
        tb_offset: int | None = None,
    ) -> list[str] | None:
        if not isinstance(value, DashtamError):
            self.previous(etype, value, tb, tb_offset=tb_offset)
            return None
        if getattr(value, "_dn_drop_traceback", False):
            tb = None  # its frames show the refused input (a URL)
        _remember(etype, value, tb)
        stb = [short_error(value)]
        shell._showtraceback(etype, value, stb)
        return None


def install_short_errors(shell: InteractiveShell) -> None:
    """Show `DashtamError` as one line in ``shell`` (idempotent)."""
    current = getattr(shell.CustomTB, "__func__", None)
    handler = getattr(current, "_dn_handler", None)
    if isinstance(handler, _ShortErrors):
        return
    previous_types = tuple(shell.custom_exceptions)
    ours = _ShortErrors(shell.CustomTB, previous_types)
    shell.set_custom_exc((*previous_types, DashtamError), ours)  # type: ignore[no-untyped-call]
    shell.CustomTB.__func__._dn_handler = ours  # type: ignore[attr-defined]


def uninstall_short_errors(shell: InteractiveShell) -> None:
    """Put back the handler that was there before `install_short_errors`."""
    current = getattr(shell.CustomTB, "__func__", None)
    handler = getattr(current, "_dn_handler", None)
    if isinstance(handler, _ShortErrors):
        shell.CustomTB = handler.previous
        shell.custom_exceptions = handler.previous_types
