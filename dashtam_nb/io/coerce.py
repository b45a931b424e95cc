"""DataFrame columns to a table's column types, before any SQL runs.

`load.load_frame` validates here so that a bad value fails as a
`ValidationError` naming the column and the row (the DataFrame's index
label), not as a COPY error half-way through a million rows, and never as a
wrong value. Conversion is column-wise through Arrow; only when a column
fails is it searched for the first offending row (a bisection over casts).

The rule: a value is stored exactly as the frame holds it, or refused.
Lossless widening is accepted (int -> numeric, exact int -> float, str ->
uuid/date/time/interval/inet where it parses unambiguously, Python/NumPy
scalars inside JSON); anything lossy is refused. What each column type
takes is documented in `numbers`, `temporal`, `textual` and `jsonvalue`.
A column with no value at all (every row missing) loads as NULLs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Column
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import postgresql as pg

from dashtam_nb.io import numbers, temporal, textual
from dashtam_nb.io.jsonvalue import json_column
from dashtam_nb.io.pgbinary import MAX_NUMERIC_PRECISION
from dashtam_nb.io.pgtext import array_literal, text_of
from dashtam_nb.io.refusal import (
    ARROW_ERRORS,
    Target,
    bad,
    check_mask,
    first_bad_row,
    refuse_type,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

__all__ = ["Target", "coerce", "coerce_arrow", "kind_of"]

_CHECKS: list[tuple[type[Any] | tuple[type[Any], ...], str]] = [
    ((sa_types.Uuid, pg.UUID), "uuid"),
    (pg.JSONB, "jsonb"),
    (sa_types.JSON, "json"),
    ((sa_types.Interval, pg.INTERVAL), "interval"),
    (sa_types.ARRAY, "array"),
    (pg.INET, "inet"),
    (pg.CIDR, "cidr"),
    (sa_types.Boolean, "bool"),
    (sa_types.SmallInteger, "int2"),
    (sa_types.BigInteger, "int8"),
    (sa_types.Integer, "int4"),
    (sa_types.REAL, "float4"),
    (sa_types.Float, "float8"),
    (sa_types.Date, "date"),
    (sa_types.LargeBinary, "bytea"),
    (sa_types.String, "text"),
]
_INPUT = {  # kind -> the Arrow type its converted column has
    "uuid": pa.binary(16),
    "bool": pa.bool_(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "interval": pa.duration("us"),
    "bytea": pa.binary(),
    **numbers.INTS,
}
_CONVERT: dict[str, Callable[[pa.Array, Target, pd.Index], pa.Array]] = {
    "uuid": textual.to_uuid,
    "text": textual.to_text,
    "bytea": textual.to_bytea,
    "inet": textual.to_inet,
    "cidr": textual.to_inet,
    "other": textual.to_other,
    "bool": numbers.to_bool,
    "float4": numbers.to_float,
    "float8": numbers.to_float,
    "numeric": numbers.to_numeric,
    "decimal": numbers.to_decimal_text,
    "timestamptz": temporal.to_timestamp,
    "timestamp": temporal.to_timestamp,
    "date": temporal.to_date,
    "time": temporal.to_time,
    "interval": temporal.to_interval,
    **dict.fromkeys(numbers.INTS, numbers.to_int),
}
_ADDRESSES = (
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)
_PY_ERRORS = (*ARROW_ERRORS, TypeError, ValueError, OverflowError, UnicodeError)


def kind_of(sa_type: sa_types.TypeEngine[Any]) -> str:
    """The converter/encoder kind for a column type (``"other"``: text only)."""
    if isinstance(sa_type, sa_types.DateTime):
        return "timestamptz" if sa_type.timezone else "timestamp"
    if isinstance(sa_type, sa_types.Time):
        return "other" if sa_type.timezone else "time"
    if isinstance(sa_type, sa_types.Numeric) and not isinstance(
        sa_type, sa_types.Float
    ):
        precision = sa_type.precision
        fits = precision is not None and precision <= MAX_NUMERIC_PRECISION
        return "numeric" if fits else "decimal"
    if isinstance(sa_type, sa_types.Enum):
        return "text"
    for classes, kind in _CHECKS:
        if isinstance(sa_type, classes):
            return kind
    return "other"


def _scan_objects(values: list[Any], target: Target, index: pd.Index) -> list[Any]:
    """Object values Arrow would convert silently wrong, refused or fixed."""
    naive: bool | None = None
    out = values
    for i, v in enumerate(values):
        if isinstance(v, dt.time) and v.tzinfo is not None:
            raise bad(target, index[i], "aware time of day (the zone would be lost)")
        if isinstance(v, dt.datetime):
            if naive is None:
                naive = v.tzinfo is None
            elif naive != (v.tzinfo is None):
                raise bad(target, index[i], "mixes naive and aware datetimes")
        if isinstance(v, _ADDRESSES):
            out = [str(x) if x is not None else None for x in values]
    return out


def _to_arrow(series: pd.Series, target: Target) -> pa.Array:
    """The column as one Arrow array (any chunks combined)."""
    values: Any = series
    if series.dtype == object:
        values = _scan_objects(series.tolist(), target, series.index)
    try:
        arr = pa.array(values, from_pandas=True)
    except _PY_ERRORS:
        items = series.tolist()

        def prefix_ok(stop: int) -> bool:
            try:
                pa.array(items[:stop], from_pandas=True)
            except _PY_ERRORS:
                return False
            return True

        row = first_bad_row(len(items), prefix_ok)
        raise bad(
            target, series.index[row], "mixed or unsupported value types"
        ) from None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def coerce(series: pd.Series, target: Target) -> pa.Array:
    """One DataFrame column as its kind's Arrow input type (see `pgbinary`).

    Raises:
        ValidationError: naming the column and the first bad row's label.
    """
    if target.kind in {"json", "jsonb"} and series.dtype == object:
        arr = json_column(series.tolist(), target, series.index)
        return coerce_arrow(arr, target, series.index)
    return coerce_arrow(_to_arrow(series, target), target, series.index)


def _array(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """One-dimensional arrays as array literals (text, row-wise)."""
    t = pa.types
    if not (
        t.is_list(arr.type)
        or t.is_large_list(arr.type)
        or t.is_fixed_size_list(arr.type)
    ):
        raise refuse_type(arr, target, index, f"{arr.type} values are not lists")
    item_type = target.column.type.item_type  # type: ignore[attr-defined]
    item = Target(Column(target.name, item_type), kind_of(item_type))
    if item.kind in {"array", "json", "jsonb"} or t.is_nested(arr.type.value_type):
        raise refuse_type(arr, target, index, "only one-dimensional arrays of scalars")
    flat = arr.flatten()
    parents = pc.list_parent_indices(arr).to_numpy()
    elements = coerce_arrow(flat, item, index[parents])
    texts = text_of(item.kind, elements)
    offsets = pc.list_value_length(arr).fill_null(0).to_numpy().cumsum()
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False))
    out: list[str | None] = []
    start = 0
    for stop, ok in zip(offsets, valid, strict=True):
        out.append(array_literal(texts[start:stop]) if ok else None)
        start = int(stop)
    return pa.array(out, pa.string())


def coerce_arrow(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """Like `coerce`, for an Arrow column (rows labelled by ``index``)."""
    kind = target.kind
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.null_count and not target.column.nullable:
        check_mask(arr.is_null(), target, index, "null in a NOT NULL column")
    if arr.null_count == len(arr):
        typ = _INPUT.get(kind, pa.string())
        if kind == "numeric" and _numeric_ok(target):
            sa_type: Any = target.column.type
            typ = pa.decimal128(sa_type.precision, sa_type.scale or 0)
        return pa.nulls(len(arr), typ)
    if kind in {"json", "jsonb"}:
        return json_column(arr, target, index)
    if kind == "array":
        return _array(arr, target, index)
    if kind == "numeric" and not _numeric_ok(target):
        kind = "decimal"
    return _CONVERT[kind](arr, target, index)


def _numeric_ok(target: Target) -> bool:
    precision = getattr(target.column.type, "precision", None)
    return precision is not None and precision <= MAX_NUMERIC_PRECISION
