"""A read split into partitions: one SQL text per partition, bounds bound.

Every source becomes SQL text with ``:name`` binds: text as given, a table
name as ``SELECT * FROM`` it, a select compiled as the package's read path
compiles it (whole entities flattened, the live-rows criterion of
soft-delete models added unless ``include_deleted``). Partitions wrap it:
``SELECT * FROM (<source>) AS _dn_part WHERE <range>``, which PostgreSQL
pushes down into the source where it can, so each partition reads its own
slice. The ranges come from the server, in the read's snapshot:

* ``partition_on`` a column: equal-width ranges between ``min`` and ``max``
  for numbers and timestamps (decided by the result's declared type);
  quantiles (``percentile_disc``) for anything else sortable (uuid, text).
  NULLs go to the first partition.
* a select of one table, no ``partition_on``: its single-column primary key.
* a table name, no ``partition_on``: ranges of its physical blocks
  (``ctid``; PostgreSQL 14+ scans a TID range without reading the rest):
  no sort, and partitions of even size.

SQL text without ``partition_on`` has neither, and is refused with a message
that says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from dashtam_nb import runner
from dashtam_nb.errors import ValidationError
from dashtam_nb.io.query import compile_query

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import Executable

    from dashtam_nb.scale.snapshot import Snapshot

__all__ = [
    "MAX_PARTITIONS",
    "ROWS_PER_PARTITION",
    "Part",
    "Source",
    "aparts",
    "parts",
    "source_of",
]

ROWS_PER_PARTITION = 500_000
"""Default partition size when ``npartitions`` is not given (planner estimate)."""
MAX_PARTITIONS = 1_000
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Part:
    """One partition: SQL text (``:name`` binds) and its values."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """A read's source as SQL text, and how it may be split by default.

    Attributes:
        sql: the source query (``:name`` binds).
        params: its values.
        table: the quoted table name when the source is a whole table.
        key: the default partition column (a select's primary key).
    """

    sql: str
    params: dict[str, Any]
    table: str | None = None
    key: str | None = None

    def wrapped(self, alias: str, where: str = "", columns: str = "*") -> str:
        """The source as a subquery, optionally filtered."""
        clause = f" WHERE {where}" if where else ""
        return f"SELECT {columns} FROM (\n{self.sql}\n) AS {alias}{clause}"


def _quote(name: str) -> str:
    return _DIALECT.identifier_preparer.quote(name)


def _as_text(psycopg_sql: str) -> str:
    """SQL with psycopg's ``%(name)s`` placeholders, back to ``:name`` binds."""

    def bind(match: re.Match[str]) -> str:
        return "%" if match.group(1) is None else f":{match.group(1)}"

    return _PLACEHOLDER.sub(bind, psycopg_sql)


def _primary_key(stmt: Any) -> str | None:
    froms = stmt.get_final_froms() if hasattr(stmt, "get_final_froms") else []
    if len(froms) != 1 or not isinstance(froms[0], Table):
        return None
    keys = list(froms[0].primary_key.columns)
    return str(keys[0].name) if len(keys) == 1 else None


def source_of(
    source: str | Executable,
    params: Mapping[str, Any] | None,
    *,
    include_deleted: bool,
) -> Source:
    """The `Source` for SQL text, a table name or a SQLAlchemy select."""
    values = dict(params or {})
    if isinstance(source, str):
        body = source.strip().rstrip(";").strip()
        if not body:
            raise ValidationError("sql must not be empty", field="sql")
        if _TABLE_NAME.fullmatch(body):
            table = ".".join(_quote(p) for p in body.split("."))
            return Source(f"SELECT * FROM {table}", values, table=table)
        return Source(body, values)
    if not (
        hasattr(source, "column_descriptions") and hasattr(source, "selected_columns")
    ):
        raise ValidationError(
            "sql must be SQL text, a table name or a SQLAlchemy select", field="sql"
        )
    query = compile_query(source, values, _DIALECT, include_deleted=include_deleted)
    return Source(_as_text(query.sql), query.params, key=_primary_key(source))


async def _estimate(session: AsyncSession, src: Source) -> int:
    """The planner's row estimate for the source."""
    if src.table is not None:
        rows = await session.scalar(
            text(
                "SELECT reltuples::bigint FROM pg_class "
                "WHERE oid = CAST(:t AS regclass)"
            ),
            {"t": src.table},
        )
        return max(int(rows or 0), 0)
    plan = await session.scalar(text("EXPLAIN (FORMAT JSON) " + src.sql), src.params)
    return int(plan[0].get("Plan", {}).get("Plan Rows", 0)) if plan else 0


def _default_count(rows: int, slots: int = 1) -> int:
    """Partitions for an estimated row count and ``slots`` worker threads.

    `ROWS_PER_PARTITION` each, rounded up to a multiple of ``slots`` so no
    thread idles through a last round while another reads.
    """
    slots = max(1, min(slots, MAX_PARTITIONS))
    wanted = max(1, math.ceil(rows / ROWS_PER_PARTITION))
    return min(MAX_PARTITIONS, math.ceil(wanted / slots) * slots)


async def _block_parts(session: AsyncSession, src: Source, n: int) -> list[Part]:
    """``n`` ranges of the table's physical blocks (``ctid``)."""
    blocks = await session.scalar(
        text(
            "SELECT pg_relation_size(CAST(:t AS regclass)) "
            "/ current_setting('block_size')::bigint"
        ),
        {"t": src.table},
    )
    n = max(1, min(n, int(blocks or 0)))
    edges = sorted({round(k * int(blocks or 0) / n) for k in range(1, n)})
    ranges: list[str] = []
    low: int | None = None
    for edge in [*edges, None]:
        # Block numbers are integers computed here, never user input.
        parts = [f"ctid >= '({low},0)'::tid"] if low is not None else []
        if edge is not None:
            parts.append(f"ctid < '({edge},0)'::tid")
        ranges.append(" AND ".join(parts))
        low = edge
    return [
        Part(f"{src.sql} WHERE {r}" if r else src.sql, dict(src.params)) for r in ranges
    ]


async def _bounds(
    session: AsyncSession, src: Source, column: str, n: int, spanned: bool
) -> list[Any]:
    col = f"_dn_b.{_quote(column)}"
    if spanned:
        low, high = (
            await session.execute(
                text(src.wrapped("_dn_b", columns=f"min({col}), max({col})")),
                src.params,
            )
        ).one()
        if low is None or low == high:
            return []
        step = (high - low) / n
        edges = [low + step * k for k in range(1, n)]
        if isinstance(low, int):
            edges = [math.ceil(e) for e in edges]
    else:
        # Any sortable type (uuid has no min/max): the server's quantiles.
        fractions = ", ".join(str(k / n) for k in range(1, n))
        quantiles = f"percentile_disc(ARRAY[{fractions}]) WITHIN GROUP (ORDER BY {col})"
        stmt = src.wrapped("_dn_b", columns=quantiles)
        edges = list(await session.scalar(text(stmt), src.params) or [])
    unique: list[Any] = []
    for edge in edges:
        if edge is not None and (not unique or edge > unique[-1]):
            unique.append(edge)
    return unique


async def _column_parts(
    session: AsyncSession, src: Source, column: str, n: int, spanned: bool
) -> list[Part]:
    """``n`` value ranges of ``column`` (see the module docstring)."""
    if n <= 1:
        return [Part(src.sql, dict(src.params))]
    edges = await _bounds(session, src, column, n, spanned)
    col = f"_dn_part.{_quote(column)}"
    parts: list[Part] = []
    for k in range(len(edges) + 1):
        where, values = [], dict(src.params)
        if k > 0:
            where.append(f"{col} >= :_dn_low")
            values["_dn_low"] = edges[k - 1]
        if k < len(edges):
            where.append(f"{col} < :_dn_high")
            values["_dn_high"] = edges[k]
        clause = " AND ".join(where)
        if k == 0:
            clause = f"({clause} OR {col} IS NULL)" if clause else ""
        parts.append(Part(src.wrapped("_dn_part", clause), values))
    return parts


async def aparts(
    snap: Snapshot,
    src: Source,
    key: str | None,
    n: int | None,
    *,
    spanned: bool = False,
    slots: int = 1,
) -> list[Part]:
    """The partitions of a read, planned in its snapshot.

    ``spanned``: the key is a number or a time (equal-width ranges between
    its min and max); otherwise ranges come from quantiles. ``slots``: the
    cluster's worker threads, for the default count (`_default_count`).

    Raises:
        ValidationError: SQL text with neither ``partition_on`` nor
            ``npartitions=1``.
    """
    session = snap.session()
    if key is None and src.table is None:
        if n != 1:
            raise ValidationError(
                "read_frame cannot split SQL text on its own: pass partition_on="
                "<column> (an integer, time or sortable column of the result), "
                "a table name (split by its blocks), a select of one table "
                "(split by its primary key), or npartitions=1",
                field="partition_on",
            )
        return [Part(src.sql, dict(src.params))]
    count = n if n is not None else _default_count(await _estimate(session, src), slots)
    if key is not None:
        return await _column_parts(session, src, key, count, spanned)
    return await _block_parts(session, src, count)


parts = runner.blocking(aparts)
