"""A read's statement compiled for psycopg: SQL text and its bound values.

SQL text binds ``:name`` placeholders (SQLAlchemy's ``text()``), a select gets
its whole entities flattened to columns and the live-rows criterion compiled
in exactly as the session's hook adds it, so a second connection (ADBC) reads
the same rows. Values always travel apart from the text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text as sa_text

from dashtam_nb.checks import check_bool, check_params
from dashtam_nb.errors import ValidationError
from dashtam_nb.frames import HIDDEN_COLUMNS
from dashtam_nb.softdelete import INCLUDE_DELETED, hide_deleted

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.sql import Executable, Select

__all__ = ["Query", "compile_query", "compile_select", "flatten"]

_QUERY_START = re.compile(r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*|\(\s*)*(\w+)", re.S)
_PLAIN_QUERY = frozenset({"select", "with", "values", "table"})
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


class Query:
    """A statement compiled for psycopg: SQL text and its bound values.

    Attributes:
        sql: the text with psycopg ``%(name)s`` placeholders.
        params: the values, sent to the server apart from the text.
        plain: a plain query (SELECT/WITH/VALUES/TABLE) that may be read by
            the columnar path; anything else is executed once, on the row path.
    """

    def __init__(self, sql: str, params: dict[str, Any], plain: bool) -> None:
        self.sql, self.params, self.plain = sql, params, plain

    def numbered(self) -> tuple[str, list[Any]]:
        """The text with ``$1, $2, ...`` placeholders and the values in order.

        For ADBC, which reads through ``COPY (<query>) TO STDOUT``: a final
        semicolon is dropped and a newline ends the text, so a trailing
        ``-- comment`` cannot swallow the closing parenthesis.
        """
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%"
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        sql = _PLACEHOLDER.sub(number, self.sql).rstrip().rstrip(";")
        return sql + "\n", [self.params[n] for n in names]


def flatten(stmt: Select[Any]) -> Select[Any]:
    """Whole-entity selects (``select(UserModel)``) as their mapped columns.

    A frame has one column per attribute, never a column of ORM objects; the
    columns stay ORM attributes, so the live-rows criterion still applies.
    Secrets (`frames.HIDDEN_COLUMNS`, the password hash) are left out, as in
    every frame; select such a column by name to read it.
    """
    columns: list[Any] = []
    for desc in stmt.column_descriptions:
        entity = desc.get("entity")
        if entity is not None and desc["expr"] is entity:
            mapper = sa_inspect(entity)
            columns += [
                getattr(entity, prop.key)
                for prop in mapper.column_attrs
                if prop.key not in HIDDEN_COLUMNS
            ]
        else:
            columns.append(desc["expr"])
    if not any(
        d.get("entity") is not None and d["expr"] is d["entity"]
        for d in stmt.column_descriptions
    ):
        return stmt
    return stmt.with_only_columns(*columns, maintain_column_froms=True)


def _with_criterion(stmt: Select[Any], include_deleted: bool) -> Select[Any]:
    if include_deleted:
        return stmt.execution_options(**{INCLUDE_DELETED: True})
    # The session hook's rule, compiled here: ORM entities get LIVE_ROWS,
    # raw soft-delete tables their live rows, and a statement's own
    # include_deleted=True option is honoured.
    return cast("Select[Any]", hide_deleted(stmt))


def _processed(compiled: Any, params: dict[str, Any]) -> dict[str, Any]:
    # SQLAlchemy's own per-type bind processors (JSON serialisation, ...).
    processors = getattr(compiled, "_bind_processors", {})
    for name, value in params.items():
        if value is not None and name in processors:
            params[name] = processors[name](value)
    return params


def compile_select(
    stmt: Select[Any], dialect: Any, *, include_deleted: bool = False
) -> tuple[str, dict[str, Any]]:
    """SQL text (psycopg ``%(name)s`` placeholders) and processed parameters.

    The same criterion and bind processing SQLAlchemy would apply; expanding
    ``IN`` lists are rendered as individual parameters.
    """
    compiled = _with_criterion(stmt, include_deleted).compile(
        dialect=dialect, compile_kwargs={"render_postcompile": True}
    )
    return str(compiled), _processed(compiled, dict(compiled.construct_params()))


def compile_query(
    source: str | Executable,
    params: Mapping[str, Any] | None,
    dialect: Any,
    *,
    include_deleted: bool = False,
) -> Query:
    """SQL text or any SQLAlchemy statement as a `Query` for psycopg.

    Text binds ``:name`` placeholders from ``params`` (values never enter the
    text); a ``select()`` gets its entities flattened to columns and the
    live-rows criterion (unless ``include_deleted``).
    """
    params = check_params(params)
    check_bool(include_deleted, "include_deleted")
    if isinstance(source, str):
        source = sa_text(source)
    elif not hasattr(source, "_execute_on_connection"):
        raise ValidationError(
            "sql must be a SQL string or a SQLAlchemy statement", field="sql"
        )
    if hasattr(source, "column_descriptions") and hasattr(source, "selected_columns"):
        sql, values = compile_select(
            flatten(source),  # type: ignore[arg-type]
            dialect,
            include_deleted=include_deleted,
        )
        if params:
            values.update(params)
        return Query(sql, values, plain=True)
    compiled = source.compile(  # type: ignore[attr-defined]
        dialect=dialect, compile_kwargs={"render_postcompile": True}
    )
    values = _processed(compiled, dict(compiled.construct_params(dict(params or {}))))
    sql = str(compiled)
    first = _QUERY_START.match(sql)
    plain = first is not None and first.group(1).lower() in _PLAIN_QUERY
    return Query(sql, values, plain)
