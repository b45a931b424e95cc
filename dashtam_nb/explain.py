"""EXPLAIN as a small DataFrame of the facts that do not change between runs.

Raw ``EXPLAIN`` output is full of costs, timings and buffer counts: they vary
from run to run and machine to machine, so a notebook that shows them can never
match its committed output. `plan_summary` keeps what is stable for fixed data
and a fixed query: the plan's nodes (``Limit``, ``Index Scan``, ``Sort``...),
the table and index each node reads and, with ``analyze=True``, how many rows
each node produced (``rows``) and read but threw away (``removed``). Those row
counts are exact, not estimates: they are what the query really did.

The statement is planned (and with ``analyze=True`` run) inside a transaction
that is always rolled back, so explaining an ``UPDATE`` changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.sql import Executable

from dashtam_nb import runner
from dashtam_nb.checks import check_bool, check_params
from dashtam_nb.errors import ValidationError
from dashtam_nb.frames import build_frame
from dashtam_nb.softdelete import INCLUDE_DELETED, LIVE_ROWS

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd
    from sqlalchemy.engine import Dialect

    from dashtam_nb.database import Database

__all__ = ["aplan_summary", "plan_nodes", "plan_summary"]

COLUMNS = ("depth", "node", "relation", "index")
ANALYZE_COLUMNS = ("rows", "removed")
_TYPES = {
    "depth": pa.int64(),
    "node": pa.string(),
    "relation": pa.string(),
    "index": pa.string(),
    "rows": pa.int64(),
    "removed": pa.int64(),
}
# Every "Rows Removed by ..." counter PostgreSQL reports for a node.
_REMOVED_KEYS = (
    "Rows Removed by Filter",
    "Rows Removed by Index Recheck",
    "Rows Removed by Join Filter",
)


def plan_nodes(
    plan: Mapping[str, Any], *, analyze: bool = False, depth: int = 0
) -> Iterator[tuple[Any, ...]]:
    """One tuple per node of a ``FORMAT JSON`` plan, parents before children.

    Args:
        plan: a plan node (``result[0]["Plan"]`` of ``EXPLAIN (FORMAT JSON)``).
        analyze: also yield the actual row counts (the plan must come from
            ``EXPLAIN (ANALYZE)``).
        depth: the depth of ``plan`` itself (0 for the top node).

    Raises:
        ValidationError: ``plan`` is not a plan node (a mapping with a
            ``"Node Type"``), or ``analyze``/``depth`` have the wrong type.
    """
    if not isinstance(plan, Mapping) or not isinstance(plan.get("Node Type"), str):
        raise ValidationError(
            "plan must be a node of an EXPLAIN (FORMAT JSON) plan", field="plan"
        )
    check_bool(analyze, "analyze")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValidationError("depth must be an integer >= 0", field="depth")
    row: tuple[Any, ...] = (
        depth,
        plan["Node Type"],
        plan.get("Relation Name"),
        plan.get("Index Name"),
    )
    if analyze:
        # "Actual Rows" is per loop (PostgreSQL 18 shows a fraction).
        loops = plan.get("Actual Loops", 1)
        rows = round(float(plan.get("Actual Rows", 0)) * loops)
        removed = sum(round(float(plan.get(k, 0)) * loops) for k in _REMOVED_KEYS)
        row = (*row, rows, removed)
    yield row
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child, analyze=analyze, depth=depth + 1)


def _driver_sql(
    dialect: Dialect, stmt: Any, params: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """A SQLAlchemy statement compiled to driver SQL and its values."""
    if not hasattr(stmt, "compile"):
        raise ValidationError(
            "sql must be a SQL string or a SQLAlchemy statement", field="sql"
        )
    if params:
        raise ValidationError(
            "a SQLAlchemy statement carries its own values; pass no params",
            field="params",
        )
    # Compiled SQL runs on the connection, past the session's soft-delete hook:
    # add the live-rows criterion as the session would.
    if hasattr(stmt, "options") and not stmt.get_execution_options().get(
        INCLUDE_DELETED, False
    ):
        stmt = stmt.options(LIVE_ROWS)
    compiled = stmt.compile(dialect=dialect)
    return str(compiled), dict(compiled.params)


async def _explain(
    db: Database,
    sql: str | Executable,
    params: Mapping[str, Any] | None,
    analyze: bool,
) -> list[tuple[Any, ...]]:
    options = "FORMAT JSON"
    if analyze:
        options += ", ANALYZE, TIMING OFF, SUMMARY OFF"
    async with db.get_session() as session:
        try:
            if isinstance(sql, str):
                explain = text(f"EXPLAIN ({options}) {sql}")
                result = await session.execute(explain, dict(params or {}))
            else:
                conn = await session.connection()
                driver_sql, values = _driver_sql(conn.dialect, sql, params)
                result = await conn.exec_driver_sql(
                    f"EXPLAIN ({options}) {driver_sql}", values
                )
            plan: Any = result.scalar()
        finally:
            # EXPLAIN ANALYZE really runs the statement: never keep its effects.
            await session.rollback()
    return list(plan_nodes(plan[0]["Plan"], analyze=analyze))


async def aplan_summary(
    db: Database,
    sql: str | Executable,
    params: Mapping[str, Any] | None = None,
    *,
    analyze: bool = False,
) -> pd.DataFrame:
    """The plan of ``sql`` as a DataFrame without costs or timings.

    Args:
        db: the database to plan on.
        sql: SQL text with ``:name`` placeholders, or a SQLAlchemy statement
            (planned with the live-rows criterion a session would add).
        params: values for the placeholders of SQL text.
        analyze: run the statement (``EXPLAIN ANALYZE``, rolled back) and add
            the actual ``rows`` each node produced and the rows it ``removed``.

    Returns:
        One row per plan node, top first: ``depth`` (0 for the top node),
        ``node`` (the node type), ``relation`` and ``index`` (or NA), and with
        ``analyze`` the integer columns ``rows`` and ``removed``.
    """
    from dashtam_nb.database import check_database

    check_database(db)
    check_bool(analyze, "analyze")
    if not isinstance(sql, str | Executable):
        raise ValidationError(
            "sql must be a SQL string or a SQLAlchemy statement", field="sql"
        )
    rows = await runner.arun(_explain(db, sql, check_params(params), analyze))
    columns = [*COLUMNS, *(ANALYZE_COLUMNS if analyze else ())]
    return build_frame(columns, rows, [_TYPES[c] for c in columns])


plan_summary = runner.blocking(aplan_summary)
