"""Write-back: a DataFrame into a new (or existing) table, through binary COPY.

The table is defined by the frame's dtypes (`tabledef`: exact PostgreSQL
types, the read map backwards) and loaded through `load.aload_frame`, in the
caller's transaction.

``if_exists``: ``"fail"`` refuses an existing table (`DuplicateError`)
before loading; ``"append"`` creates the table or appends to it after
checking that each frame column fits its column's type; ``"replace"`` loads
a new table under a temporary name, then drops the old one and renames the
new one in the same transaction, so a reader (READ COMMITTED, the default)
sees the old rows or the new rows, never an empty table. (A REPEATABLE READ
transaction that began before the swap sees the new table empty: its
snapshot predates the new rows; PostgreSQL offers no MVCC-safe swap.) A
replace is refused, with the old table intact, when views or foreign keys
depend on the table: dropping it would need CASCADE, which drops them too.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.schema import CreateTable, DropTable

from dashtam_nb import runner
from dashtam_nb.checks import check_choice, check_session
from dashtam_nb.errors import DuplicateError, NotFoundError, ValidationError, echo
from dashtam_nb.io.load import aload_frame
from dashtam_nb.io.tabledef import (
    DIALECT,
    MAX_NAME,
    check_append,
    check_name,
    columns_for,
    prepared,
)
from dashtam_nb.session import real_session

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from dashtam_nb.session import HoppingSession

__all__ = ["IfExists", "awrite_frame", "write_frame"]

IfExists = Literal["fail", "append", "replace"]
_EXISTS = sa.text(
    "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname = :name AND n.nspname = :schema"
)
_SCHEMA_EXISTS = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = :schema)"
)


async def _write(
    session: AsyncSession,
    df: pd.DataFrame,
    name: str,
    if_exists: str,
    schema: str | None,
    primary_key: Sequence[str],
) -> int:
    columns, types = columns_for(df, primary_key)
    df = prepared(df, types)
    conn = await session.connection()
    if schema is None:
        schema = await conn.scalar(sa.text("SELECT current_schema()"))
        if schema is None:
            raise ValidationError("no current schema; pass schema=", field="schema")
    elif not await conn.scalar(_SCHEMA_EXISTS, {"schema": schema}):
        raise NotFoundError(f"schema {echo(schema)} does not exist; create it first")
    relkind = await conn.scalar(_EXISTS, {"name": name, "schema": schema})
    qualified = f"{schema}.{name}"
    if relkind is not None and relkind not in {"r", "p"}:
        raise ValidationError(f"{echo(qualified)} is not a table", field="name")
    if relkind is not None and if_exists == "fail":
        raise DuplicateError(
            f"table {echo(qualified)} already exists; "
            "pass if_exists='append' or 'replace'",
            field=name,
        )
    if relkind is not None and if_exists == "append":
        existing = await conn.run_sync(
            lambda c: sa.Table(name, sa.MetaData(), schema=schema, autoload_with=c)
        )
        check_append(columns, types, existing)
        return await aload_frame(session, df, existing)
    swap = relkind is not None  # and if_exists == "replace"
    into = f"_dn_swap_{uuid.uuid4().hex[:16]}" if swap else name
    pk_name = f"{into}_pkey" if len(f"{into}_pkey".encode()) <= MAX_NAME else None
    constraints = [sa.PrimaryKeyConstraint(*primary_key, name=pk_name)]
    keys = constraints if primary_key else []
    table = sa.Table(into, sa.MetaData(), *columns, *keys, schema=schema)
    await conn.execute(CreateTable(table))
    written = await aload_frame(session, df, table)
    if swap:
        quote = DIALECT.identifier_preparer.quote
        await conn.execute(DropTable(sa.Table(name, sa.MetaData(), schema=schema)))
        await conn.execute(
            sa.text(
                f"ALTER TABLE {quote(schema)}.{quote(into)} RENAME TO {quote(name)}"
            )
        )
        final_pk = f"{name}_pkey"  # PostgreSQL's own name, when it is free
        free = primary_key and len(final_pk.encode()) <= MAX_NAME
        if free and not await conn.scalar(
            _EXISTS, {"name": final_pk, "schema": schema}
        ):
            await conn.execute(
                sa.text(
                    f"ALTER INDEX {quote(schema)}.{quote(str(pk_name))} "
                    f"RENAME TO {quote(final_pk)}"
                )
            )
    return written


def _key_names(primary_key: object) -> list[str]:
    """None, a column name, or a list/tuple of names (checked by the caller)."""
    if primary_key is None:
        return []
    if isinstance(primary_key, str):
        return [primary_key]
    if not isinstance(primary_key, list | tuple):
        raise ValidationError(
            "primary_key must be a column name or a list of names",
            field="primary_key",
        )
    return list(primary_key)


async def awrite_frame(
    session: AsyncSession | HoppingSession,
    df: pd.DataFrame,
    name: str,
    if_exists: IfExists = "fail",
    *,
    schema: str | None = None,
    primary_key: str | Sequence[str] | None = None,
) -> int:
    """Write ``df`` to table ``name`` inside the session's transaction.

    Args:
        session: the caller's session; the table and its rows commit or roll
            back with it (``Database.write_frame`` opens its own).
        df: the frame; its dtypes decide the column types (module table).
        name: the table (created in ``schema``, default the current schema).
        if_exists: ``"fail"``, ``"append"`` or ``"replace"`` (atomic swap).
        schema: the schema to write into.
        primary_key: column name(s) of a primary key for a created table.

    Returns:
        Rows written.

    Raises:
        ValidationError: before any row is sent, naming a column whose dtype
            has no exact PostgreSQL type, does not fit an existing column, or
            holds a value that cannot be stored exactly.
        DuplicateError: ``if_exists="fail"`` and the table exists.
    """
    check_session(session)
    check_choice(if_exists, "if_exists", ("fail", "append", "replace"))
    if not isinstance(df, pd.DataFrame):
        raise ValidationError("df must be a pandas DataFrame", field="df")
    check_name("table name", name)
    if schema is not None:
        check_name("schema", schema)
    keys = _key_names(primary_key)
    for key in keys:
        check_name("primary_key", key)
    return await runner.arun(
        _write(real_session(session), df, name, if_exists, schema, keys)
    )


write_frame = runner.blocking(awrite_frame)
