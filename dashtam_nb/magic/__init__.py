r"""SQL cells: ``%sql`` and ``%%sql`` on the notebook's database.

Usage::

    %load_ext dashtam_nb

    %sql SELECT count(*) AS n FROM users         # a DataFrame: preview + footer
    df = %sql SELECT * FROM users WHERE email = :email   # `email` is bound

    %%sql recent <<
    SELECT * FROM transactions
    WHERE created_at > :since                    # `recent` is assigned; no output

    %sql --tables                  # db.tables(): schema, table, kind, rows, size
    %sql --tables --schema public
    %sql --describe users          # db.describe("users")
    %sql --db other SELECT 1       # database "other" on the same server
    %sql --limit 50 SELECT ...     # rows in the preview (the value is all rows)
    %sql?                          # every option

What runs where: the cell runs on ``dn.get_database()`` (``DATABASE_URL`` or
the embedded server, or the last ``dn.connect(...)``), or with ``--db NAME`` on
the database NAME of the same server (opened, never created). The magic line
takes names, never URLs: a ``postgresql://`` URL in a cell is refused and
removed from ``In``/``_ih``/``_i*``/the history database and the traceback
(the notebook file still holds what was typed; delete that cell). The magic
stores nothing in the notebook namespace except a ``<<`` target, so
``%who`` shows no Database and no URL.

Values: ``:name`` binds the notebook variable ``name`` as a bound parameter
(sent to the server, never formatted into the SQL); ``'1'::int`` casts are
not binds, and ``\:name`` is a literal colon. The line is not expanded by
IPython (``{x}`` and ``$x`` stay as typed). A statement that starts with
SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN goes through ``db.frame`` (the
fast path) and gives a `SqlFrame` (a DataFrame with a preview display); any
other statement runs through ``db.execute`` and shows ``N rows affected``, or
a frame when it has ``RETURNING``. One statement per cell.

Errors: loading the extension makes every `DashtamError` show as one line
with a ``%tb`` hint (`dashtam_nb.magic.display`); ``%tb`` shows the full
traceback. This is done by ``%load_ext`` only, never by ``import dashtam_nb``,
so a notebook that does not load the extension keeps IPython's tracebacks.
Ctrl-C (kernel interrupt) cancels the query on the server (`dn.run`).

Differences from JupySQL: no connection strings on the magic line (named
databases only); ``:name`` is always a bound parameter (JupySQL's ``{{x}}``
templating is string formatting and does not exist here); the value is
always a DataFrame (its ``autopandas``), shown with ``--limit`` rows.
"""

from __future__ import annotations

import keyword
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from sqlalchemy import text

from dashtam_nb.admin import check_name
from dashtam_nb.config import settings
from dashtam_nb.container import get_database
from dashtam_nb.database import Database
from dashtam_nb.errors import ValidationError
from dashtam_nb.frames import build_frame
from dashtam_nb.magic.display import (
    DEFAULT_LIMIT,
    Affected,
    QueryInfo,
    SqlFrame,
    install_short_errors,
    uninstall_short_errors,
)
from dashtam_nb.magic.history import URL, refuse_url

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping

    from IPython.core.interactiveshell import InteractiveShell

__all__ = [
    "SqlMagics",
    "SqlRequest",
    "bind_names",
    "load_ipython_extension",
    "parse",
    "split_options",
    "unload_ipython_extension",
]

_OPTION = re.compile(r"--?[A-Za-z][\w-]*(?:=\S*)?")
_FLAGS = frozenset({"--tables", "-h", "--help"})
_TOKEN = re.compile(r"\s*(\S+)")
_ASSIGN = re.compile(r"\s*([A-Za-z_]\w*)\s*<<(.*)\Z", re.DOTALL)
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/|\()*(\w+)", re.DOTALL)
F = TypeVar("F", bound="Callable[..., Any]")
_ROWS = frozenset({"select", "with", "values", "table", "show", "explain"})
_QUOTED = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.DOTALL
)
_RETURNING = re.compile(r"\breturning\b", re.IGNORECASE)


@dataclass(frozen=True)
class SqlRequest:
    """One parsed magic call: the options, the SQL and the ``<<`` target."""

    options: argparse.Namespace
    sql: str
    target: str | None = None


def split_options(line: str) -> tuple[list[str], str]:
    """Leading ``--option [value]`` tokens, and the rest of the line untouched.

    The SQL is never tokenised (shlex would eat its quotes); option values
    are single words (names and numbers). ``--`` ends the options.
    """
    tokens: list[str] = []
    rest = line
    while (match := _TOKEN.match(rest)) is not None:
        token = match.group(1)
        if token == "--":
            rest = rest[match.end() :]
            break
        if not _OPTION.fullmatch(token):
            break
        tokens.append(token)
        rest = rest[match.end() :]
        if token not in _FLAGS and "=" not in token:
            value = _TOKEN.match(rest)
            if value is not None:
                tokens.append(value.group(1))
                rest = rest[value.end() :]
    return tokens, rest


def parse(parser: argparse.ArgumentParser, line: str, cell: str | None) -> SqlRequest:
    """The magic's options, SQL and target from its line (and cell body)."""
    tokens, rest = split_options(line)
    options = parser.parse_args(tokens)
    target = None
    if (match := _ASSIGN.match(rest)) is not None:
        target, rest = match.group(1), match.group(2)
        if keyword.iskeyword(target):
            raise UsageError(f"cannot assign to {target!r}: it is a Python keyword")
    if cell is not None:
        if rest.strip():
            raise UsageError(
                "%%sql takes options and `VAR <<` on its first line; "
                "the SQL goes in the cell below"
            )
        rest = cell
    if options.limit < 0:
        raise UsageError("--limit must be 0 or more")
    modes = [bool(options.tables), options.describe is not None, bool(rest.strip())]
    if sum(modes) > 1:
        raise UsageError("give one of: SQL, --tables, --describe NAME")
    if options.schema is not None and not options.tables:
        raise UsageError("--schema goes with --tables")
    if not any(modes):
        raise UsageError("no SQL given (see %sql? for the options)")
    return SqlRequest(options=options, sql=rest.strip(), target=target)


def bind_names(sql: str) -> list[str]:
    """The ``:name`` parameters of ``sql`` as SQLAlchemy's ``text()`` reads them."""
    return list(text(sql).compile().params)


def _binds(sql: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    values = {}
    for name in bind_names(sql):
        if name not in namespace:
            raise ValidationError(
                f":{name} is not a notebook variable (binds take variables of the "
                rf"notebook; write \:{name} for a literal colon)",
                field=name,
            )
        values[name] = namespace[name]
    return values


def _database(name: str | None) -> Database:
    """The notebook's database, or database ``name`` on the same server."""
    if name is None:
        return get_database()
    return Database(settings.database_url.set(database=check_name(name)))


def _run(db: Database, request: SqlRequest, params: dict[str, Any]) -> Any:
    sql, options = request.sql, request.options
    info = QueryInfo(sql=sql, binds=tuple(params), limit=options.limit)
    start = time.perf_counter()
    first = _FIRST_WORD.match(sql)
    if (first is not None and first.group(1).lower() in _ROWS) or _returns_rows(sql):
        # RETURNING too: the read map types it, and db.frame commits it.
        frame = db.frame(sql, params)
    else:
        outcome = db.execute(sql, params)
        if not isinstance(outcome, list) or not outcome:
            elapsed = time.perf_counter() - start
            count = outcome if isinstance(outcome, int) else 0
            return Affected(count, _timed(info, elapsed))
        frame = build_frame(list(outcome[0]._fields), [tuple(r) for r in outcome])
    result = SqlFrame(frame)
    result._dn_query = _timed(info, time.perf_counter() - start)
    return result


def _returns_rows(sql: str) -> bool:
    """A statement with ``RETURNING`` outside its quoted text and comments."""
    return _RETURNING.search(_QUOTED.sub(" ", sql)) is not None


def _timed(info: QueryInfo, elapsed: float) -> QueryInfo:
    return QueryInfo(sql=info.sql, binds=info.binds, elapsed=elapsed, limit=info.limit)


_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--db",), {"metavar": "NAME", "help": "database NAME on the configured server"}),
    (
        ("--limit",),
        {
            "type": int,
            "default": DEFAULT_LIMIT,
            "help": f"rows to show (default {DEFAULT_LIMIT}); the value has all rows",
        },
    ),
    (("--tables",), {"action": "store_true", "help": "list the tables (db.tables())"}),
    (("--schema",), {"metavar": "NAME", "help": "with --tables: only this schema"}),
    (("--describe",), {"metavar": "TABLE", "help": "the columns of TABLE"}),
    (
        ("statement",),
        {
            "nargs": "*",
            "metavar": "[VAR <<] SQL",
            "help": "the SQL (or the cell below %%%%sql); VAR << assigns the result",
        },
    ),
]


def _with_options(func: F) -> F:
    """IPython's ``magic_arguments`` parser (and ``%sql?`` help) for `_OPTIONS`."""
    for args, kwargs in reversed(_OPTIONS):
        func = argument(*args, **kwargs)(func)  # type: ignore[no-untyped-call]
    decorated: F = magic_arguments()(func)  # type: ignore[no-untyped-call]
    return decorated


@magics_class
class SqlMagics(Magics):
    """``%sql`` / ``%%sql``: SQL cells on the notebook's database."""

    @_with_options
    @no_var_expand
    @line_cell_magic
    def sql(self, line: str, cell: str | None = None) -> Any:
        """Run SQL on the notebook's database; ``:name`` binds a variable."""
        shell = self.shell
        assert shell is not None
        if URL.search(line) or (cell is not None and URL.search(cell)):
            refuse_url(shell)
        request = parse(vars(SqlMagics)["sql"].parser, line, cell)
        db = _database(request.options.db)
        if request.options.tables:
            value: Any = db.tables(request.options.schema)
        elif request.options.describe is not None:
            value = db.describe(request.options.describe)
        else:
            value = _run(db, request, _binds(request.sql, shell.user_ns))
        if request.target is not None:
            shell.user_ns[request.target] = value
            return None
        return value


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext dashtam_nb``: the SQL magics and one-line errors."""
    from IPython.core.interactiveshell import InteractiveShell

    if not isinstance(ipython, InteractiveShell):
        raise ValidationError(
            "load_ipython_extension needs the IPython shell (use %load_ext dashtam_nb)",
            field="ipython",
        )
    ipython.register_magics(SqlMagics)
    install_short_errors(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """``%unload_ext dashtam_nb``: remove the magics, restore the error display."""
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("sql", None)
    uninstall_short_errors(ipython)
