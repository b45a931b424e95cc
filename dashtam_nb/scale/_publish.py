"""Publishing one staged partition into the target, naming a violating row.

Private: building blocks awaited inside `staging`'s publish transaction, on a
connection already on the owner loop (no blocking twins).

Each partition is inserted under a savepoint, in its rows' order (``ROW``,
the identity column COPY filled in the staging table, is also the staging
table's physical order). When the target
refuses it for a unique key, the first staged row whose key is already in the
target, or repeats an earlier row of the same partition, is looked up, so the
error names the partition and the row (0-based, in the partition's order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from dashtam_nb.errors import DuplicateError, translate
from dashtam_nb.io.tabledef import DIALECT
from dashtam_nb.scale.reader import portable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["ROW", "SCAN_FROM_BLOCK_0", "insert_partition", "violating_row"]

ROW = "_dn_row"
# One COPY filled each staging table and nothing changed it since, so a scan
# from block 0 returns its rows in ROW order: no sort needed (an ORDER BY cost
# ~0.35 s of ~1.1 s per 500k-row partition). A writing statement never runs a
# parallel plan, so only a scan synchronised with another could start mid-table.
SCAN_FROM_BLOCK_0 = sa.text("SET LOCAL synchronize_seqscans = off")
_KEY_COLUMNS = sa.text(
    "SELECT a.attname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
    "WHERE ic.relname = :index AND i.indrelid = CAST(:table AS regclass) "
    "ORDER BY array_position(i.indkey::int2[], a.attnum)"
)


def _q(name: str) -> str:
    return DIALECT.identifier_preparer.quote(name)


async def violating_row(
    conn: AsyncConnection, target: str, stage: str, index_name: str | None
) -> int | None:
    """The first staged row that collides on unique index ``index_name``."""
    if not index_name:
        return None
    names = list(
        await conn.scalars(_KEY_COLUMNS, {"index": index_name, "table": target})
    )
    if not names:
        return None
    mine, theirs, other = (
        ", ".join(f"{alias}.{_q(n)}" for n in names) for alias in "sto"
    )
    # NULLs never collide, as in a unique index: plain = comparisons.
    row = await conn.scalar(
        sa.text(
            f"SELECT min(s.{ROW}) FROM {stage} s WHERE EXISTS (SELECT 1 FROM "
            f"{target} t WHERE ({theirs}) = ({mine})) OR EXISTS "
            f"(SELECT 1 FROM {stage} o WHERE ({other}) = ({mine}) "
            f"AND o.{ROW} < s.{ROW})"
        )
    )
    return None if row is None else int(row) - 1


async def insert_partition(
    conn: AsyncConnection,
    target: str,
    stage: str,
    columns: Sequence[str],
    index: int,
) -> None:
    """``INSERT INTO target SELECT ... FROM stage`` under a savepoint.

    Raises:
        DuplicateError, IntegrityViolationError: naming the partition (and
            the row, for a unique key); the savepoint is rolled back.
    """
    cols = ", ".join(_q(c) for c in columns)
    savepoint = await conn.begin_nested()
    try:
        # No ORDER BY: see SCAN_FROM_BLOCK_0, which the publish runs first.
        await conn.execute(
            sa.text(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}")
        )
    except sa_exc.DBAPIError as exc:
        await savepoint.rollback()
        # By hand: only here are the partition and its staging table known.
        mapped = translate(exc)
        diag = getattr(exc.orig, "diag", None)
        where = f"partition {index}"
        if isinstance(mapped, DuplicateError):
            row = await violating_row(
                conn, target, stage, getattr(diag, "constraint_name", None)
            )
            if row is not None:
                where += f", row {row}"
        raise portable(mapped, where) from None
    await savepoint.commit()
