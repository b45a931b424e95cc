"""Bulk load: DataFrames into tables through binary COPY, in the caller's transaction.

``session.add_all`` of a million ORM objects takes minutes and
``DataFrame.to_sql`` runs INSERTs on a connection of its own, outside the unit
of work. `load_frame` instead validates and converts the frame column-wise
(`coerce`: errors name the column and the row), encodes binary COPY
column-wise (`pgbinary`) and streams it on the *session's own* psycopg
connection. The rows are therefore part of the caller's transaction: they
commit with it, or vanish with its rollback.

Upsert copies into a temporary table (``ON COMMIT DROP``) and merges with
``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE``, one statement.
Server errors name the offending row where PostgreSQL says which one: the
COPY line number (``diag.context``) or the key in ``diag.message_detail``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Table
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

from dashtam_nb import runner
from dashtam_nb.checks import check_choice, check_session
from dashtam_nb.errors import ValidationError
from dashtam_nb.io.coerce import Target, coerce, coerce_arrow, kind_of
from dashtam_nb.io.copy import write
from dashtam_nb.session import real_session

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from dashtam_nb.session import HoppingSession

__all__ = ["aload_frame", "copy_arrow", "load_frame"]


def _table(model_or_table: Any) -> Table:
    table = getattr(model_or_table, "__table__", model_or_table)
    if not isinstance(table, Table):
        raise ValidationError(
            "target must be a mapped model or a sqlalchemy Table", field="table"
        )
    return table


def _plan(
    table: Table, names: Sequence[str], mode: str, key: Sequence[str]
) -> tuple[list[Target], dict[str, Any]]:
    """Targets for the frame's columns, plus values for missing columns.

    Returns:
        ``(targets, fill)``: ``fill`` maps a missing column to a Python
        default (a constant, or a zero-argument callable run per row).
    """
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise ValidationError(
            f"unknown columns for table {table.name!r}: {', '.join(map(str, unknown))}",
            field="columns",
        )
    missing_key = [k for k in key if k not in names]
    if mode == "upsert" and missing_key:
        raise ValidationError(
            f"upsert needs the key columns in the frame: {', '.join(missing_key)}",
            field="key",
        )
    fill: dict[str, Any] = {}
    required = []
    for column in table.columns:
        if column.name in names or column.server_default is not None:
            continue
        default = column.default
        constant = isinstance(default, ScalarElementColumnDefault)
        if isinstance(default, CallableColumnDefault) or (
            constant and default.arg is not None  # type: ignore[union-attr]
        ):
            fill[column.name] = default.arg  # type: ignore[union-attr]
        elif not column.nullable and column.autoincrement is not True:
            required.append(column.name)
    if required:
        raise ValidationError(
            f"missing required columns for table {table.name!r}: {', '.join(required)}",
            field="columns",
        )
    targets = [Target(table.c[n], kind_of(table.c[n].type)) for n in names]
    return targets, fill


def _filled(name: str, table: Table, value: Any, n: int) -> pa.Array:
    """A column for a Python-side default: constant, or called per row."""
    target = Target(table.c[name], kind_of(table.c[name].type))
    if callable(value):
        values = [value(None) for _ in range(n)]
        if target.kind == "uuid":
            # uuid7() per row, straight to the 16 bytes COPY sends.
            raw = np.frombuffer(b"".join(v.bytes for v in values), np.uint8)
            return pa.Array.from_buffers(pa.binary(16), n, [None, pa.py_buffer(raw)])
    else:
        values = [value] * n
    return coerce(pd.Series(values, dtype=object), target)


async def copy_arrow(
    session: AsyncSession | HoppingSession,
    model_or_table: Any,
    data: pa.Table,
    *,
    on_rows: Callable[[int], object] | None = None,
) -> int:
    """Append an Arrow table (frames-contract types) with binary COPY.

    The lower-level twin of `load_frame`, for data already in Arrow form
    (the sample data set); rows are labelled 0..n-1 in errors.
    """
    table = _table(model_or_table)
    targets, fill = _plan(table, data.column_names, "append", ())
    index = pd.RangeIndex(data.num_rows)
    arrays = [
        coerce_arrow(c, t, index) for c, t in zip(data.columns, targets, strict=True)
    ]
    for name, value in fill.items():
        targets.append(Target(table.c[name], kind_of(table.c[name].type)))
        arrays.append(_filled(name, table, value, data.num_rows))
    return await runner.arun(
        write(
            real_session(session), table, targets, arrays, index, "append", (), on_rows
        )
    )


async def aload_frame(
    session: AsyncSession | HoppingSession,
    df: pd.DataFrame,
    model_or_table: Any,
    mode: Literal["append", "upsert"] = "append",
    *,
    key: Sequence[str] | str | None = None,
) -> int:
    """Write a DataFrame into a table inside the session's transaction.

    Args:
        session: the caller's session; the rows commit or roll back with it.
        df: one column per table column (database names). Missing columns
            get their server or Python default (``id`` gets a UUIDv7).
        model_or_table: a mapped model class or a ``Table``.
        mode: ``"append"`` (COPY) or ``"upsert"`` (insert, or update rows
            whose ``key`` exists).
        key: conflict columns for upsert; default the primary key.

    Returns:
        Rows written (inserted plus updated).

    Raises:
        ValidationError: before any SQL, naming unknown or missing columns,
            or the column and row label of a value that cannot convert.
        IntegrityViolationError, DuplicateError: from the server, naming the
            offending frame row (``.row``) when PostgreSQL identifies it.
    """
    check_session(session)
    check_choice(mode, "mode", ("append", "upsert"))
    if not isinstance(df, pd.DataFrame):
        raise ValidationError("df must be a pandas DataFrame", field="df")
    table = _table(model_or_table)
    if key is not None and not (
        isinstance(key, str)
        or (
            isinstance(key, list | tuple)
            and key
            and all(isinstance(k, str) for k in key)
        )
    ):
        raise ValidationError(
            "key must be a column name or a list of names", field="key"
        )
    keys = (
        [key]
        if isinstance(key, str)
        else list(key or [c.name for c in table.primary_key])
    )
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise ValidationError("the frame has duplicate column names", field="columns")
    targets, fill = _plan(table, names, mode, keys)
    if mode == "upsert":
        dup = df.duplicated(subset=keys, keep="first").to_numpy()
        if dup.any():
            label = df.index[int(dup.argmax())]
            raise ValidationError(
                f"key {', '.join(keys)} repeats in row {label!r}", field="key"
            )
    arrays = [coerce(df[t.name], t) for t in targets]
    for name, value in fill.items():
        targets.append(Target(table.c[name], kind_of(table.c[name].type)))
        arrays.append(_filled(name, table, value, len(df)))
    return await runner.arun(
        write(real_session(session), table, targets, arrays, df.index, mode, keys, None)
    )


load_frame = runner.blocking(aload_frame)
