"""A parallel write in two phases: stage every partition, publish them at once.

1. The client creates one UNLOGGED staging table per partition (committed,
   so workers can see them), named ``_dn_stage_<run>_<i>`` so leftovers of a
   client that died can be found (`drop_leftovers`). Appending to a table,
   they copy its columns, defaults, NOT NULL and CHECK constraints (``LIKE``),
   so a bad value fails on its worker, naming the partition and the frame
   row; a new table is defined from the frame's dtypes (`tabledef`).
2. Each worker empties its staging table and binary-COPYs its partition into
   it (`aload_frame`) in one transaction; a retried task (a worker died)
   therefore never doubles rows.
3. One client transaction creates, appends to or replaces the target from
   the staging tables in partition order, and drops them. A unique violation
   names the partition and its row; any failure rolls the whole publish back
   and the staging tables are dropped, so the target is as it was.

A ``_dn_row`` identity column in each staging table remembers the row order
of its partition (COPY assigns it), which is how a violating row is found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from dashtam_nb import runner
from dashtam_nb.errors import DashtamError, DuplicateError, ValidationError
from dashtam_nb.io.load import aload_frame
from dashtam_nb.io.tabledef import (
    DIALECT,
    check_append,
    check_name,
    columns_for,
    prepared,
)
from dashtam_nb.scale._publish import ROW, SCAN_FROM_BLOCK_0, insert_partition
from dashtam_nb.scale.reader import portable
from dashtam_nb.scale.target import Target, database_for, target_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from sqlalchemy.ext.asyncio import AsyncConnection

    from dashtam_nb.database import Database

__all__ = ["PREFIX", "Job", "StageSpec", "drop_leftovers", "load_partition"]

PREFIX = "_dn_stage_"
_RELKIND = sa.text(
    "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname = :name AND n.nspname = :schema"
)
_LEFTOVERS = sa.text(
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND c.relname LIKE '\\_dn\\_stage\\_%' "
    "AND pg_has_role(c.relowner, 'USAGE')"
)


def _q(name: str) -> str:
    return DIALECT.identifier_preparer.quote(name)


@dataclass(frozen=True)
class StageSpec:
    """What a worker needs to stage a partition; no credentials."""

    target: Target
    schema: str
    run: str
    columns: tuple[str, ...]

    def table(self, index: int) -> str:
        """The staging table of partition ``index`` (unquoted)."""
        return f"{PREFIX}{self.run}_{index}"


async def _load(db: Database, df: pd.DataFrame, spec: StageSpec, index: int) -> int:
    _, types = columns_for(df, [])
    df = prepared(df, types)
    async with db.get_session() as session:
        conn = await session.connection()
        name = spec.table(index)
        table = await conn.run_sync(
            lambda c: sa.Table(
                name,
                sa.MetaData(),
                schema=spec.schema,
                autoload_with=c,
                include_columns=list(spec.columns),
            )
        )
        # A retried task (its worker died after COPY) starts from empty.
        await conn.execute(
            sa.text(f"TRUNCATE {_q(spec.schema)}.{_q(name)} RESTART IDENTITY")
        )
        return await aload_frame(session, df, table)


def load_partition(df: pd.DataFrame, spec: StageSpec, index: int) -> int:
    """Worker side: COPY one partition into its staging table; rows copied."""
    db = database_for(spec.target)
    try:
        return runner.run(_load(db, df, spec, index), target=db.target)
    except DashtamError as exc:
        raise portable(exc, f"partition {index}") from None


class Job:
    """One `write_frame` call: its staging tables and its publish."""

    def __init__(
        self,
        db: Database,
        meta: pd.DataFrame,
        name: str,
        if_exists: str,
        schema: str | None,
        primary_key: Sequence[str],
    ) -> None:
        self.db, self.meta, self.name, self.if_exists = db, meta, name, if_exists
        self.keys = list(primary_key)
        self.schema = schema
        self.count = 0
        self.spec: StageSpec | None = None

    @classmethod
    def prepare(
        cls,
        db: Database,
        meta: pd.DataFrame,
        name: str,
        if_exists: str,
        *,
        schema: str | None,
        primary_key: Sequence[str],
    ) -> Job:
        """Validate everything that needs no SQL."""
        if if_exists not in {"fail", "append", "replace"}:
            raise ValidationError(
                "if_exists must be 'fail', 'append' or 'replace'", field="if_exists"
            )
        check_name("table name", name)
        if schema is not None:
            check_name("schema", schema)
        for key in primary_key:
            check_name("primary_key", key)
        columns_for(meta, primary_key)  # every dtype has an exact column type
        return cls(db, meta, name, if_exists, schema, primary_key)

    def _qualified(self) -> str:
        assert self.schema is not None
        return f"{_q(self.schema)}.{_q(self.name)}"

    async def _relkind(self, conn: AsyncConnection) -> str | None:
        kind = await conn.scalar(_RELKIND, {"name": self.name, "schema": self.schema})
        if kind is not None and kind not in {"r", "p"}:
            raise ValidationError(f"{self.name!r} is not a table", field="name")
        if kind is not None and self.if_exists == "fail":
            raise DuplicateError(
                f"table {self.name!r} already exists; pass if_exists='append' or "
                "'replace'",
                field=self.name,
            )
        return kind  # type: ignore[no-any-return]

    async def _create(self, count: int) -> None:
        async with self.db.get_session() as session:
            conn = await session.connection()
            if self.schema is None:
                self.schema = await conn.scalar(sa.text("SELECT current_schema()"))
                if self.schema is None:
                    raise ValidationError(
                        "no current schema; pass schema=", field="schema"
                    )
            exists = await self._relkind(conn) is not None
            columns, types = columns_for(self.meta, self.keys)
            if exists and self.if_exists == "append":
                existing = await conn.run_sync(
                    lambda c: sa.Table(
                        self.name, sa.MetaData(), schema=self.schema, autoload_with=c
                    )
                )
                check_append(columns, types, existing)
            spec = StageSpec(
                target_of(self.db),
                self.schema,
                uuid.uuid4().hex[:12],
                tuple(str(c) for c in self.meta.columns),
            )
            for index in range(count):
                stage = f"{_q(self.schema)}.{_q(spec.table(index))}"
                if exists and self.if_exists == "append":
                    await self._like(conn, stage, existing, spec.columns)
                else:
                    cols, _ = columns_for(self.meta, [])
                    table = sa.Table(
                        spec.table(index),
                        sa.MetaData(),
                        *cols,
                        schema=self.schema,
                        prefixes=["UNLOGGED"],
                    )
                    await conn.execute(CreateTable(table))
                await conn.execute(
                    sa.text(
                        f"ALTER TABLE {stage} ADD COLUMN {ROW} bigint "
                        "GENERATED ALWAYS AS IDENTITY"
                    )
                )
            self.spec = spec

    async def _like(
        self, conn: AsyncConnection, stage: str, existing: sa.Table, keep: Sequence[str]
    ) -> None:
        await conn.execute(
            sa.text(
                f"CREATE UNLOGGED TABLE {stage} (LIKE {self._qualified()} "
                "INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
        )
        for column in existing.columns:
            if column.name not in keep:
                await conn.execute(
                    sa.text(f"ALTER TABLE {stage} DROP COLUMN {_q(column.name)}")
                )

    def create(self, count: int) -> StageSpec:
        """Create the staging tables (committed); the spec for the workers."""
        runner.run(self._create(count), target=self.db.target)
        assert self.spec is not None
        self.count = count
        return self.spec

    async def _publish(self) -> None:
        async with self.db.get_session() as session:
            conn = await session.connection()
            kind = await self._relkind(conn)
            if kind is not None and self.if_exists == "replace":
                await conn.execute(sa.text(f"DROP TABLE {self._qualified()}"))
                kind = None
            if kind is None:
                columns, _ = columns_for(self.meta, self.keys)
                keys = [sa.PrimaryKeyConstraint(*self.keys)] if self.keys else []
                table = sa.Table(
                    self.name, sa.MetaData(), *columns, *keys, schema=self.schema
                )
                await conn.execute(CreateTable(table))
            await conn.execute(SCAN_FROM_BLOCK_0)  # for the whole transaction
            for index in range(self.count):
                assert self.spec is not None
                stage = f"{_q(self.spec.schema)}.{_q(self.spec.table(index))}"
                await insert_partition(
                    conn, self._qualified(), stage, self.spec.columns, index
                )
            await self._drop(conn)

    def publish(self, counts: Sequence[int]) -> int:
        """One transaction: the target gets every staged row, or none."""
        runner.run(self._publish(), target=self.db.target)
        return int(sum(counts))

    async def _drop(self, conn: AsyncConnection) -> None:
        if self.spec is None:
            return
        for index in range(self.count):
            stage = f"{_q(self.spec.schema)}.{_q(self.spec.table(index))}"
            await conn.execute(sa.text(f"DROP TABLE IF EXISTS {stage}"))

    async def _abort(self) -> None:
        async with self.db.get_session() as session:
            await self._drop(await session.connection())

    def abort(self) -> None:
        """Drop the staging tables (after a failure or cancel)."""
        if self.spec is not None:
            runner.run(self._abort(), target=self.db.target)


async def _drop_leftovers(db: Database) -> int:
    async with db.get_session() as session:
        conn = await session.connection()
        names = list(await conn.scalars(_LEFTOVERS))
        for name in names:
            # Names come from the catalog, already quoted by quote_ident.
            await conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        return len(names)


def drop_leftovers(db: Database) -> int:
    """Drop every staging table this role can see (no write may be running)."""
    return runner.run(_drop_leftovers(db), target=db.target)
