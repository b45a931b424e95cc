"""Frames of rows and entities with exact, stable, Arrow-backed dtypes.

What a query's columns read as is decided by the server's declared types in
one map, `dashtam_nb.io.readmap` (the full table: docs/type-map.md); this
module holds the model side of the same contract (`arrow_type` for the
columns of mapped models and entity frames) and the builders other modules
use for small, already-typed row sets (uuid as canonical text, timestamptz
as ``timestamp[us, UTC]``, numeric(p, s) as ``decimal128(p, s)``, integers
as int64, JSON as text).

Arrow-backed dtypes keep NULLs without changing type and keep decimals
exact. Frames are built from plain column lists, never from SQLAlchemy
``Row`` objects (why: "Measured design decisions" in benchmarks/README.md).
An empty result keeps its columns and dtypes. pandas cannot ``describe()``
decimal columns; `as_floats` gives the float64 copy that can.
"""

from __future__ import annotations

import contextlib
import gc
import json
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pandas as pd
import pyarrow as pa
from sqlalchemy import Column
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import postgresql as pg

from dashtam_nb.checks import check_bool, check_entities
from dashtam_nb.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from sqlalchemy.engine import Result

__all__ = [
    "HIDDEN_COLUMNS",
    "VOLATILE_COLUMNS",
    "arrow_type",
    "as_floats",
    "build_frame",
    "build_table",
    "frame_columns",
    "frame_from_result",
    "gc_paused",
    "model_frame",
    "model_types",
    "result_type",
    "stable",
    "statement_types",
    "to_frame",
]

HIDDEN_COLUMNS = frozenset({"password_hash"})
"""Never shown in frames unless asked for (``include_secrets=True``)."""
VOLATILE_COLUMNS = ("id", "created_at", "updated_at", "deleted_at")
"""Columns that differ on every run; `stable` drops them for display."""

_STRING = pa.string()
_TS = pa.timestamp("us", tz="UTC")


def arrow_type(sa_type: sa_types.TypeEngine[Any]) -> pa.DataType:
    """The Arrow type a SQLAlchemy column type maps to (see the contract)."""
    if isinstance(sa_type, sa_types.Uuid | pg.UUID):
        return _STRING
    if isinstance(sa_type, sa_types.DateTime):
        return _TS
    if isinstance(sa_type, sa_types.Numeric) and not isinstance(
        sa_type, sa_types.Float
    ):
        precision = sa_type.precision or 38
        return pa.decimal128(precision, sa_type.scale or 0)
    if isinstance(sa_type, sa_types.Float):
        return pa.float64()
    if isinstance(sa_type, sa_types.Boolean):
        return pa.bool_()
    if isinstance(sa_type, sa_types.Integer):
        return pa.int64()
    return _STRING


def _cell(value: Any, typ: pa.DataType) -> Any:
    if value is None:
        return None
    if typ == _STRING:
        if isinstance(value, UUID | str):
            return str(value)
        if isinstance(value, dict | list):
            return json.dumps(value, sort_keys=True, separators=(",", ":"))
        return str(value)
    if typ == _TS and isinstance(value, datetime):
        # Naive means UTC (as Arrow reads it), never the machine's own zone.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return value


def _infer(values: list[Any]) -> pa.DataType:
    """Arrow type of a column given no type (rows not from a described result).

    Never used for query results: `Database.frame` and `fetch_frame` type
    every column from the server's description (`dashtam_nb.io.readmap`).
    """
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, bool):
        return pa.bool_()
    if isinstance(sample, int):
        return pa.int64()
    if isinstance(sample, float):
        return pa.float64()
    if isinstance(sample, Decimal):
        return pa.array([v for v in values if v is not None]).type
    if isinstance(sample, datetime) and sample.tzinfo is not None:
        return _TS
    if sample is None or isinstance(sample, UUID | str | dict | list):
        return _STRING
    return pa.array(values).type


def _column(values: list[Any], typ: pa.DataType) -> pa.Array:
    """One Arrow column; plain driver values convert in C, without a loop.

    Arrow itself turns aware datetimes into UTC and takes Decimals, bools,
    ints and strings as they are. Only what it refuses (UUID or dict objects
    in a string column, ...) goes through `_cell` one value at a time.
    """
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_cell(v, typ) for v in values], type=typ)


def build_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    types: Sequence[pa.DataType | None] | None = None,
) -> pa.Table:
    """An Arrow table from row tuples with the contract's types.

    Args:
        columns: column names.
        rows: row tuples (plain values from the driver).
        types: Arrow type per column; None entries (rows that did not come
            from a described result) are inferred from values.
    """
    data = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    arrays = []
    for i, _name in enumerate(columns):
        values = list(data[i])
        typ = (types[i] if types else None) or _infer(values)
        arrays.append(_column(values, typ))
    return pa.Table.from_arrays(arrays, names=list(columns))


def build_frame(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    types: Sequence[pa.DataType | None] | None = None,
) -> pd.DataFrame:
    """A DataFrame from row tuples with the contract's dtypes (`build_table`)."""
    table = build_table(columns, rows, types)
    frame: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
    return frame


def result_type(col: Any) -> sa_types.TypeEngine[Any]:
    """The type a selected expression's values need.

    A table column keeps its declared type (``numeric(14, 2)`` stays exact
    at that precision). Any other expression typed numeric, such as
    ``sum(amount)``, inherits the column's type in SQLAlchemy but can outgrow
    its precision, so it gets the widest exact decimal at the same scale.
    """
    typ: sa_types.TypeEngine[Any] = col.type
    inner = getattr(col, "element", col)
    if (
        isinstance(typ, sa_types.Numeric)
        and not isinstance(typ, sa_types.Float)
        and not isinstance(inner, Column)
    ):
        return sa_types.Numeric(38, typ.scale or 0)
    return typ


def statement_types(stmt: object) -> list[pa.DataType | None] | None:
    """Arrow types of a statement's columns, when SQLAlchemy knows them."""
    columns = getattr(stmt, "selected_columns", None)
    if columns is None:
        return None
    return [
        None if isinstance(c.type, sa_types.NullType) else arrow_type(result_type(c))
        for c in columns
    ]


def frame_from_result(
    result: Result[*tuple[Any, ...]],
    types: Sequence[pa.DataType | None] | None = None,
) -> pd.DataFrame:
    """A DataFrame of a buffered result, keeping columns and dtypes when empty."""
    columns = list(result.keys())
    rows = [tuple(r) for r in result.all()]
    return build_frame(columns, rows, types)


def model_types(model: type[Any]) -> dict[str, pa.DataType]:
    """Arrow type of every column of a mapped model, by attribute name."""
    return {c.key: arrow_type(c.type) for c in model.__table__.columns}


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause cyclic garbage collection while a large result becomes a frame.

    Rows are tuples of plain values, so there are no cycles to find, yet the
    collector rescans them every few hundred allocations (the cost: "Measured
    design decisions" in benchmarks/README.md). Only the synchronous
    fetch-and-build runs inside, so no other task of the owner loop is
    affected; GC is re-enabled only if it was enabled before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def frame_columns(
    entity_type: type[Any], *, include_secrets: bool = False
) -> list[str]:
    """Column names of an entity's frame: its fields, secrets hidden by default.

    Entity fields and model columns share names and order, so a frame built
    from entities (`to_frame`) and one selected straight from the table
    (`model_frame`) have identical columns.
    """
    _, cls = check_entities((), entity_type)
    check_bool(include_secrets, "include_secrets")
    return [
        f.name for f in fields(cls) if include_secrets or f.name not in HIDDEN_COLUMNS
    ]


def model_frame(
    model: type[Any], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> pd.DataFrame:
    """A frame of rows selected from ``model``'s columns, with the model's dtypes.

    The fast path for repository ``*_frame`` reads: plain column values go
    straight to Arrow, no entity or ORM object is built per row.
    """
    known = model_types(model)
    return build_frame(columns, rows, [known.get(c) for c in columns])


def to_frame(
    entities: Iterable[Any],
    entity_type: type[Any] | None = None,
    *,
    model: type[Any] | None = None,
    include_secrets: bool = False,
) -> pd.DataFrame:
    """A DataFrame of dataclass entities (faster than ``dataclasses.asdict``).

    Args:
        entities: entity instances (all of one dataclass type).
        entity_type: the dataclass; needed so an empty list keeps its columns.
        model: the model the entities map to, for exact column dtypes.
        include_secrets: keep ``password_hash`` (hidden by default).
    """
    check_bool(include_secrets, "include_secrets")
    items, cls = check_entities(entities, entity_type, model)
    names = frame_columns(cls, include_secrets=include_secrets)
    known = model_types(model) if model is not None else {}
    rows = [tuple(getattr(e, n) for n in names) for e in items]
    return build_frame(names, rows, [known.get(n) for n in names])


def _floating(typ: pa.DataType) -> pa.DataType:
    if pa.types.is_decimal(typ):
        return pa.float64()
    if pa.types.is_list(typ):
        return pa.list_(_floating(typ.value_type))
    return typ


def as_floats(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every decimal column as ``double[pyarrow]``, for analysis.

    Exact decimals are the default dtype of ``numeric`` columns, and pandas
    cannot ``describe()`` them (it builds the summary in the column's own
    dtype and fails); ``as_floats(frame).describe()`` can. To read floats in
    the first place, pass ``numeric="float"`` (per call or per `Database`).
    """
    types = {}
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.ArrowDtype):
            target = _floating(dtype.pyarrow_dtype)
            if target != dtype.pyarrow_dtype:
                types[name] = pd.ArrowDtype(target)
    return frame.astype(types) if types else frame.copy()


def stable(frame: pd.DataFrame, /, *drop: str) -> pd.DataFrame:
    """The frame without volatile columns (ids, timestamps), for display."""
    if not isinstance(frame, pd.DataFrame) or not all(isinstance(c, str) for c in drop):
        raise ValidationError("stable needs a DataFrame and names", field="frame")
    gone = [c for c in (*VOLATILE_COLUMNS, *drop) if c in frame.columns]
    return frame.drop(columns=gone)
