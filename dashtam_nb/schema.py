"""Schema browsing: the tables of a database and the columns of one table.

Read from the PostgreSQL catalogue (``pg_class``, ``pg_attribute``,
``pg_constraint``, ``pg_index``), never from ``information_schema`` (which
hides objects the role does not own and is slow on large catalogues). Names
given by the caller are bound as parameters (``to_regclass(:name)``), never
interpolated. Everything is ordered by byte order (``COLLATE "C"``) or by
column position, so the same schema gives the same frame, and the same HTML,
on every run and every server locale.

`tables` lists user schemas only: ``pg_catalog``, ``information_schema``,
TOAST and temporary schemas are left out. Alembic's ``alembic_version`` is a
real table of the schema and is listed like any other.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
import pyarrow as pa
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from dashtam_nb import runner
from dashtam_nb.checks import check_bool, check_session
from dashtam_nb.errors import NotFoundError, ValidationError, echo
from dashtam_nb.frames import build_frame
from dashtam_nb.session import real_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from dashtam_nb.session import HoppingSession

__all__ = ["KINDS", "TableDescription", "adescribe", "atables", "describe", "tables"]

KINDS = {
    "r": "table",
    "v": "view",
    "m": "matview",
    "p": "partitioned",
    "f": "foreign",
}
"""``pg_class.relkind`` of the relations listed, and their names."""

_KIND_SQL = "CASE c.relkind " + " ".join(
    f"WHEN '{k}' THEN '{v}'" for k, v in KINDS.items()
)
_KIND_SQL += " END"
_RELKINDS = "(" + ", ".join(f"'{k}'" for k in KINDS) + ")"

_TABLES = text(
    f"""
SELECT n.nspname, c.relname, {_KIND_SQL},
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::int8 END,
       pg_total_relation_size(c.oid), obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN {_RELKINDS}
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%'
  AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND (CAST(:schema AS text) IS NULL OR n.nspname = CAST(:schema AS text))
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
"""
)

_LOOKUP = text(
    f"""
SELECT c.oid::int8, n.nspname, c.relname, {_KIND_SQL},
       obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = coalesce(to_regclass(:name), to_regclass(quote_ident(:name)))
  AND c.relkind IN {_RELKINDS}
"""
)

_COLUMNS = text(
    """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid),
       EXISTS (SELECT 1 FROM pg_constraint p
               WHERE p.conrelid = a.attrelid AND p.contype = 'p'
                 AND a.attnum = ANY (p.conkey)),
       (SELECT string_agg(f.confrelid::regclass::text || '.'
                          || quote_ident(fa.attname), ', '
                          ORDER BY f.conname COLLATE "C")
        FROM pg_constraint f
        CROSS JOIN LATERAL unnest(f.conkey, f.confkey) AS k(col, ref)
        JOIN pg_attribute fa ON fa.attrelid = f.confrelid AND fa.attnum = k.ref
        WHERE f.conrelid = a.attrelid AND f.contype = 'f' AND k.col = a.attnum),
       (SELECT string_agg(i.relname, ', ' ORDER BY i.relname COLLATE "C")
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = a.attrelid AND a.attnum = ANY (x.indkey)),
       col_description(a.attrelid, a.attnum)
FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
)

_INDEXES = text(
    """
SELECT i.relname, pg_get_indexdef(x.indexrelid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = :oid ORDER BY i.relname COLLATE "C"
"""
)

_CONSTRAINTS = text(
    """
SELECT conname,
       CASE contype WHEN 'p' THEN 'primary key' WHEN 'f' THEN 'foreign key'
                    WHEN 'u' THEN 'unique' WHEN 'c' THEN 'check'
                    WHEN 'x' THEN 'exclusion' WHEN 'n' THEN 'not null'
                    ELSE contype::text END,
       pg_get_constraintdef(oid)
FROM pg_constraint WHERE conrelid = :oid AND contype <> 'n'
ORDER BY conname COLLATE "C"
"""
)

_S, _B, _I = pa.string(), pa.bool_(), pa.int64()
TABLE_COLUMNS = ("schema", "table", "kind", "rows", "size", "comment")
_TABLE_TYPES = (_S, _S, _S, _I, _I, _S)
DESCRIBE_COLUMNS = (
    "column",
    "type",
    "nullable",
    "default",
    "primary_key",
    "foreign_key",
    "indexes",
    "comment",
)
_DESCRIBE_TYPES = (_S, _S, _B, _S, _B, _S, _S, _S)


async def atables(
    session: AsyncSession | HoppingSession,
    schema: str | None = None,
    *,
    sizes: bool = True,
) -> pd.DataFrame:
    """Relations of the user schemas (or of ``schema``), one row each.

    Columns: schema, table, kind (table/view/matview/partitioned/foreign),
    rows (the planner's estimate, ``<NA>`` before the first ANALYZE), size
    (bytes, with indexes and TOAST) and comment. ``sizes=False`` leaves out
    ``rows`` and ``size``, which change from run to run (for stable output).
    """
    check_session(session)
    if schema is not None and not isinstance(schema, str):
        raise ValidationError("schema must be a string", field="schema")
    check_bool(sizes, "sizes")
    return await runner.arun(_tables(real_session(session), schema, sizes))


tables = runner.blocking(atables)


async def _tables(
    session: AsyncSession, schema: str | None, sizes: bool
) -> pd.DataFrame:
    rows = [tuple(r) for r in (await session.execute(_TABLES, {"schema": schema}))]
    frame = build_frame(TABLE_COLUMNS, rows, _TABLE_TYPES)
    return frame if sizes else frame.drop(columns=["rows", "size"])


class TableDescription(pd.DataFrame):
    """The columns of one table, as a frame, with a rich deterministic display.

    A DataFrame (one row per column: column, type, nullable, default,
    primary_key, foreign_key, indexes, comment, by position) that also knows
    the ``table`` (schema-qualified), its ``kind`` and ``table_comment``, and
    frames of its ``index_defs`` (name, definition) and ``constraint_defs``
    (name, type, definition). Operations on it return plain DataFrames.
    """

    _metadata: ClassVar[list[str]] = [
        "table",
        "kind",
        "table_comment",
        "index_defs",
        "constraint_defs",
    ]
    table: str
    kind: str
    table_comment: str | None
    index_defs: pd.DataFrame
    constraint_defs: pd.DataFrame

    @property
    def _constructor(self) -> Any:
        return pd.DataFrame

    def _title(self) -> str:
        n = len(self)
        return f"{self.table} ({self.kind}, {n} column{'' if n == 1 else 's'})"

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [
            '<div class="dashtam-describe">',
            f"<p><b>{esc(self._title())}</b></p>",
        ]
        if self.table_comment:
            parts.append(f"<p>{esc(self.table_comment)}</p>")
        parts.append(_html(pd.DataFrame(self)))
        extras = (("Indexes", self.index_defs), ("Constraints", self.constraint_defs))
        for title, frame in extras:
            if len(frame):
                parts += [f"<p><b>{title}</b></p>", _html(frame)]
        parts.append("</div>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        body = _blank(pd.DataFrame(self)).to_string(index=False)
        return f"{self._title()}\n{body}"


def _blank(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values as empty cells (Arrow's ``<NA>`` ignores ``na_rep``)."""
    return frame.astype(object).where(frame.notna(), "")


def _html(frame: pd.DataFrame) -> str:
    """The whole frame as an HTML table: no truncation, no ids, escaped."""
    out: str = _blank(frame).to_html(index=False, border=0, escape=True)
    return out


async def adescribe(
    session: AsyncSession | HoppingSession, name: str
) -> TableDescription:
    """The columns of table or view ``name`` (``"t"`` or ``"schema.t"``).

    Raises:
        NotFoundError: no table, view or materialized view of that name is
            visible (the name is bound as a parameter, never interpolated).
    """
    check_session(session)
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise ValidationError("table name must be a non-empty string", field="name")
    return await runner.arun(_describe(real_session(session), name))


describe = runner.blocking(adescribe)


async def _describe(session: AsyncSession, name: str) -> TableDescription:
    try:
        # A savepoint: a name PostgreSQL cannot parse (too many dots) must
        # not abort the caller's transaction.
        async with session.begin_nested():
            found = (await session.execute(_LOOKUP, {"name": name})).first()
    except sa_exc.DBAPIError:
        found = None
    if found is None:
        raise NotFoundError(f"no table or view named {echo(name)}")
    oid, nspname, relname, kind, comment = found
    rows = [tuple(r) for r in (await session.execute(_COLUMNS, {"oid": oid}))]
    frame = TableDescription(build_frame(DESCRIBE_COLUMNS, rows, _DESCRIBE_TYPES))
    frame.table = f"{nspname}.{relname}"
    frame.kind = kind
    frame.table_comment = comment
    indexes = [tuple(r) for r in (await session.execute(_INDEXES, {"oid": oid}))]
    frame.index_defs = build_frame(("name", "definition"), indexes, (_S, _S))
    cons = [tuple(r) for r in (await session.execute(_CONSTRAINTS, {"oid": oid}))]
    frame.constraint_defs = build_frame(("name", "type", "definition"), cons, (_S,) * 3)
    return frame
