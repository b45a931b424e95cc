"""A table definition from a frame's dtypes: the frames contract read backwards.

The column types come from the frame's dtypes, by the frames contract read
backwards (`dashtam_nb.frames`): every dtype that a read returns is created
as the PostgreSQL type it was read from, so frame -> table -> frame is exact.

==============================  ==========================================
frame dtype (Arrow or NumPy)    PostgreSQL column
==============================  ==========================================
int8 / int16 / uint8            ``smallint``
int32 / uint16                  ``integer``
int64 / uint32                  ``bigint``
float32 / float64               ``real`` / ``double precision``
bool                            ``boolean``
string (any storage), object    ``text`` (object: only when every value
of str                          is a str)
decimal128/256(p, s)            ``numeric(p, s)``
timestamp with a zone           ``timestamptz`` (the instant is kept)
timestamp without a zone        ``timestamp``
date32 / date64                 ``date``
time32 / time64                 ``time``
duration / timedelta64          ``interval``
binary (any), object of bytes   ``bytea``
list<x>                         ``x[]`` (x any scalar above)
category                        the type of its categories
==============================  ==========================================

Refused with `ValidationError` naming the column: ``uint64`` and ``float16``
(no exact PostgreSQL type: cast first), object columns holding anything but
str or bytes (mixed values, Decimals, dicts: give the column a dtype),
columns without a type (all-None object, Arrow ``null``), nested lists,
structs, maps. Values finer than a microsecond are refused, never rounded.
The frame's index is not written (``reset_index()`` first to keep it).
NaN in a NumPy float column is pandas' missing value and is stored as NULL;
in an Arrow float column NaN is a value and is stored as ``'NaN'``. Columns
are nullable, except the ``primary_key`` columns.

Appending to an existing table accepts a frame column when it fits exactly:
ints into any integer or numeric column, decimals into numeric, float32
into real, floats into double precision, strings into text, varchar, jsonb
or uuid (parsed), timestamps with a zone into timestamptz and naive ones into
timestamp, dates into date; any other type only into the very type it would
create (``time``, ``interval``, ``bytea``, arrays). Values are then checked
one by one by `coerce` (range, scale, length, UUID syntax).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from dashtam_nb.errors import ValidationError
from dashtam_nb.io.coerce import kind_of
from dashtam_nb.io.refusal import ARROW_ERRORS

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DIALECT",
    "MAX_NAME",
    "check_append",
    "check_name",
    "columns_for",
    "fits",
    "prepared",
    "sql_type",
]

DIALECT = pg.dialect()  # type: ignore[no-untyped-call]
MAX_NAME = 63  # bytes: PostgreSQL silently truncates longer identifiers
_ACCEPTS = {  # existing column kind -> frame families that fit it exactly
    "int2": {"int"},
    "int4": {"int"},
    "int8": {"int"},
    "numeric": {"int", "numeric"},
    "float4": {"float4"},
    "float8": {"float4", "float8"},
    "bool": {"bool"},
    "text": {"text"},
    "jsonb": {"text"},
    "uuid": {"text"},
    "timestamptz": {"timestamptz"},
    "timestamp": {"timestamp"},
    "date": {"date"},
}


def _bad(name: str, reason: str) -> ValidationError:
    return ValidationError(f"column {name!r}: {reason}", field=name)


def _arrow_type(name: str, series: pd.Series) -> pa.DataType:
    """The Arrow type of a frame column (object columns: str or bytes only)."""
    dtype = series.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return dtype.pyarrow_dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _arrow_type(name, pd.Series(dtype.categories))
    if dtype is not np.dtype(object):
        try:
            return pa.array(series.iloc[:0], from_pandas=True).type
        except ARROW_ERRORS:  # complex, void, ... have no Arrow type
            raise _bad(
                name, f"{dtype} has no exact PostgreSQL type; convert the column"
            ) from None
    kinds = {type(v) for v in series.dropna().tolist()}
    if kinds == {str}:
        return pa.string()
    if kinds == {bytes}:
        return pa.binary()
    what = "no values" if not kinds else "mixed or non-text values"
    raise _bad(
        name,
        f"object column with {what} has no exact type; give it a dtype "
        "(e.g. .astype(pd.ArrowDtype(pa.decimal128(14, 2))) or .astype('string'))",
    )


def sql_type(name: str, typ: pa.DataType, *, inner: bool = False) -> Any:
    """The PostgreSQL column type for Arrow type ``typ`` (see the table).

    Raises:
        ValidationError: for a type without an exact PostgreSQL equivalent.
    """
    t = pa.types
    if t.is_dictionary(typ):
        return sql_type(name, typ.value_type, inner=inner)
    texts = (t.is_string, t.is_large_string, t.is_string_view)
    binaries = (t.is_binary, t.is_large_binary, t.is_fixed_size_binary)
    lists = (t.is_list, t.is_large_list, t.is_fixed_size_list)
    simple: list[tuple[Any, Any]] = [
        (lambda x: x in (pa.int8(), pa.int16(), pa.uint8()), sa.SmallInteger),
        (lambda x: x in (pa.int32(), pa.uint16()), sa.Integer),
        (lambda x: x in (pa.int64(), pa.uint32()), sa.BigInteger),
        (lambda x: x == pa.float32(), sa.REAL),
        (lambda x: x == pa.float64(), pg.DOUBLE_PRECISION),
        (t.is_boolean, sa.Boolean),
        (lambda x: any(f(x) for f in texts), sa.Text),
        (t.is_date, sa.Date),
        (t.is_time, sa.Time),
        (t.is_duration, pg.INTERVAL),
        (lambda x: any(f(x) for f in (*binaries, t.is_binary_view)), pg.BYTEA),
    ]
    for test, factory in simple:
        if test(typ):
            return factory()
    if t.is_decimal(typ):
        if typ.scale < 0:
            raise _bad(name, f"{typ} has a negative scale; rescale it first")
        return sa.Numeric(typ.precision, typ.scale)
    if t.is_timestamp(typ):
        return pg.TIMESTAMP(timezone=typ.tz is not None)
    if any(f(typ) for f in lists) and not inner:
        return pg.ARRAY(sql_type(name, typ.value_type, inner=True))
    hint = {"uint64": "int64 or decimal", "halffloat": "float32"}.get(str(typ))
    reason = f"cast it to {hint}" if hint else "no exact PostgreSQL type"
    raise _bad(name, f"cannot write {typ} ({reason})")


def _canonical(typ: pa.DataType) -> pa.DataType | None:
    """The Arrow type psycopg's row-wise dumpers take exactly, if it differs."""
    t = pa.types
    if t.is_dictionary(typ):
        return _canonical(typ.value_type) or typ.value_type
    if t.is_time(typ) and typ != pa.time64("us"):
        return pa.time64("us")
    if t.is_duration(typ) and typ.unit != "us":
        return pa.duration("us")
    if t.is_timestamp(typ) and typ.unit == "ns":
        return pa.timestamp("us", typ.tz)
    if t.is_list(typ) or t.is_large_list(typ) or t.is_fixed_size_list(typ):
        return pa.list_(_canonical(typ.value_type) or typ.value_type)
    return None


def prepared(df: pd.DataFrame, types: dict[str, pa.DataType]) -> pd.DataFrame:
    """``df`` with the columns that need it converted exactly (or refused)."""
    changed: dict[str, pd.Series] = {}
    for name, typ in types.items():
        series = df[name]
        target = _canonical(typ)
        if target is None and not isinstance(series.dtype, pd.CategoricalDtype):
            continue
        arr = pa.array(series, from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        try:
            arr = arr.cast(target) if target is not None else arr
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            raise _bad(name, f"{typ} values finer than microseconds") from None
        changed[name] = pd.Series(arr, index=df.index, dtype=pd.ArrowDtype(arr.type))
    return df.assign(**changed) if changed else df


def check_name(what: str, value: object) -> str:
    """``value`` if it is a usable identifier (PostgreSQL would truncate it)."""
    if (
        not isinstance(value, str)
        or not value
        or "\x00" in value
        or len(value.encode()) > MAX_NAME
    ):
        raise ValidationError(
            f"{what} must be a non-empty string of at most {MAX_NAME} bytes",
            field=what,
        )
    return value


def _family(typ: Any) -> str:
    if isinstance(typ, sa.Numeric) and not isinstance(typ, sa.Float):
        return "numeric"
    kind = kind_of(typ)
    if kind in {"int2", "int4", "int8"}:
        return "int"
    return kind


def fits(mine: sa.Column[Any], theirs: sa.Column[Any]) -> bool:
    """Can frame column ``mine`` be appended to table column ``theirs``?"""
    kind = kind_of(theirs.type)
    if kind == "decimal" and _family(mine.type) == "int":
        return True  # wide numeric: any integer, sent as exact text
    if kind in _ACCEPTS:
        return _family(mine.type) in _ACCEPTS[kind]
    a, b = mine.type, theirs.type
    if isinstance(a, sa.Numeric) and isinstance(b, sa.Numeric):
        return a.scale == b.scale and (a.precision or 0) <= (b.precision or 1000)
    return bool(a.compile(dialect=DIALECT) == b.compile(dialect=DIALECT))


def columns_for(
    df: pd.DataFrame, primary_key: Sequence[str]
) -> tuple[list[sa.Column[Any]], dict[str, pa.DataType]]:
    """The table columns for ``df`` and each column's Arrow type.

    Raises:
        ValidationError: naming the first column without an exact type.
    """
    names = [check_name("column name", c) for c in df.columns]
    if len(set(names)) != len(names):
        raise ValidationError("the frame has duplicate column names", field="columns")
    missing = [k for k in primary_key if k not in names]
    if missing:
        raise ValidationError(
            f"primary key columns not in the frame: {', '.join(missing)}",
            field="primary_key",
        )
    types = {n: _arrow_type(n, df[n]) for n in names}
    columns = [
        sa.Column(n, sql_type(n, types[n]), nullable=n not in primary_key)
        for n in names
    ]
    return columns, types


def check_append(
    columns: Sequence[sa.Column[Any]],
    types: dict[str, pa.DataType],
    existing: sa.Table,
) -> None:
    """Refuse frame columns that are missing from, or do not fit, ``existing``."""
    for column in columns:
        theirs = existing.c.get(column.name)
        if theirs is None:
            raise _bad(column.name, f"no such column in {existing.fullname!r}")
        if not fits(column, theirs):
            target = theirs.type.compile(dialect=DIALECT).lower()
            raise _bad(column.name, f"{types[column.name]} does not fit {target}")
