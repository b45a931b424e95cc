"""Core selects of soft-delete tables, restricted to their live rows.

`dashtam_nb.softdelete` hides deleted rows from ORM entities with
``with_loader_criteria``; that option never reaches a plain ``Table`` in a
select (``select(users.c.email)``). For those, each soft-delete table is
swapped for ``(SELECT * FROM t WHERE is_deleted = false) AS t``: the alias
keeps the table's name, so result columns, ``ORDER BY`` and outer joins read
as written, and PostgreSQL inlines the subquery (same plan, same partial
indexes).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import false, select
from sqlalchemy.sql import TableClause
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import iterate

from dashtam_nb.errors import ValidationError
from dashtam_nb.models.base import Base, SoftDeleteMixin

if TYPE_CHECKING:
    from sqlalchemy import Table

__all__ = ["raw_tables", "swap"]


@functools.cache
def _soft_tables() -> frozenset[Table]:
    return frozenset(
        cast("Table", m.local_table)
        for m in Base.registry.mappers
        if issubclass(m.class_, SoftDeleteMixin)
    )


def raw_tables(stmt: Any) -> list[Table]:
    """Soft-delete tables ``stmt`` reads as plain tables, not through an entity.

    One walk over the statement: a table (or a column of one) carrying the
    ORM's ``parententity`` annotation belongs to an entity, which `LIVE_ROWS`
    covers; any other reference to a soft-delete table needs the swap.
    """
    soft = _soft_tables()
    raw: set[Table] = set()
    covered: set[Any] = set()
    for element in iterate(stmt):
        entity = getattr(element, "_annotations", {}).get("parententity")
        if entity is not None:
            covered.add(getattr(entity, "mapper", entity).local_table)
            continue
        table = element if isinstance(element, TableClause) else None
        table = table if table is not None else getattr(element, "table", None)
        if isinstance(table, TableClause) and table in soft:
            raw.add(cast("Table", table))
    return sorted(raw - covered, key=lambda t: t.name)


def swap(stmt: Any, tables: list[Table]) -> Any:
    """``stmt`` with each table swapped for its live rows.

    ``ClauseAdapter`` rewrites every reference (FROM, joins, WHERE, ORDER BY,
    subqueries) to the live subquery, which keeps the table's name, so
    result columns and outer-join semantics stay as written.
    """
    for table in tables:
        live = select(table).where(table.c.is_deleted == false()).subquery(table.name)
        try:
            stmt = ClauseAdapter(live).traverse(stmt)
        except AttributeError:
            # Some ORM options (a caller's own with_loader_criteria) cannot
            # be copied: refuse rather than return deleted rows.
            raise ValidationError(
                f"cannot hide deleted rows of the table {table.name} in this "
                f"statement: select the model's attributes instead, or pass "
                "execution_options(include_deleted=True)",
                field="statement",
            ) from None
    return stmt
