"""DataFrame columns to a table's column types, before any SQL runs.

`bulk.load_frame` validates here so that a bad value fails as a
`ValidationError` naming the column and the row (the DataFrame's index
label), not as a COPY error half-way through a million rows. Conversion is
column-wise through Arrow; only when a column fails is it searched for the
first offending row (a bisection over casts, so still fast).

Strict where silence would corrupt data: naive timestamps are refused (which
zone?), sub-microsecond timestamps and extra decimal places are refused
rather than rounded, integers must fit their column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import postgresql as pg

from dashtam_nb.errors import ValidationError
from dashtam_nb.pgbinary import MAX_NUMERIC_PRECISION, uuid_bytes

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    from sqlalchemy import Column

__all__ = ["Target", "coerce", "coerce_arrow", "kind_of"]

_INTS = {"int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64()}
_TS_US = pa.timestamp("us", tz="UTC")


def kind_of(sa_type: sa_types.TypeEngine[Any]) -> str:
    """The `pgbinary` kind for a column type, or ``"other"``."""
    checks: list[tuple[type[Any] | tuple[type[Any], ...], str]] = [
        ((sa_types.Uuid, pg.UUID), "uuid"),
        (pg.JSONB, "jsonb"),
        (sa_types.JSON, "text"),
        (sa_types.Boolean, "bool"),
        (sa_types.SmallInteger, "int2"),
        (sa_types.BigInteger, "int8"),
        (sa_types.Integer, "int4"),
        (sa_types.REAL, "float4"),
        (sa_types.Float, "float8"),
        (sa_types.Date, "date"),
        (sa_types.String, "text"),
    ]
    if isinstance(sa_type, sa_types.DateTime):
        return "timestamptz" if sa_type.timezone else "timestamp"
    if isinstance(sa_type, sa_types.Numeric) and not isinstance(
        sa_type, sa_types.Float
    ):
        precision = sa_type.precision
        fits = precision is not None and precision <= MAX_NUMERIC_PRECISION
        return "numeric" if fits else "other"
    for classes, kind in checks:
        if isinstance(sa_type, classes):
            return kind
    return "other"


@dataclass(frozen=True)
class Target:
    """One table column a DataFrame column is loaded into."""

    column: Column[Any]
    kind: str

    @property
    def name(self) -> str:
        """The column's name in the database."""
        return str(self.column.name)


def _bad(target: Target, label: object, reason: str) -> ValidationError:
    return ValidationError(
        f"column {target.name!r}, row {label!r}: {reason}", field=target.name
    )


_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


def _first_bad_row(n: int, prefix_ok: Callable[[int], bool]) -> int:
    """Index of the first failing row, given that the whole column fails.

    Bisection over prefixes: O(n log n) work in C, never a Python loop over
    a million rows.
    """
    lo, hi = 0, n  # rows [0, lo) convert; rows [0, hi) do not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if prefix_ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _cast(
    arr: pa.Array, typ: pa.DataType, target: Target, index: pd.Index, why: str
) -> pa.Array:
    """``arr`` cast to ``typ`` (safe), or an error naming the first bad row."""
    try:
        return pc.cast(arr, typ)
    except _ARROW_ERRORS:
        pass
    try:
        pc.cast(arr.slice(0, 0), typ)
    except _ARROW_ERRORS:
        raise ValidationError(
            f"column {target.name!r}: cannot convert {arr.type} to {target.kind}",
            field=target.name,
        ) from None

    def prefix_ok(stop: int) -> bool:
        try:
            pc.cast(arr.slice(0, stop), typ)
        except _ARROW_ERRORS:
            return False
        return True

    raise _bad(target, index[_first_bad_row(len(arr), prefix_ok)], why)


def _check_mask(bad: np.ndarray, target: Target, index: pd.Index, why: str) -> None:
    if bad.any():
        raise _bad(target, index[int(np.argmax(bad))], why)


def _to_arrow(series: pd.Series, target: Target) -> pa.Array:
    """The column as one Arrow array (any chunks combined)."""
    values: Any = series
    if series.dtype == object and isinstance(target.column.type, sa_types.JSON):
        # dicts and lists become JSON text, the form PostgreSQL parses.
        values = [
            v if v is None or isinstance(v, str) else _json_text(v)
            for v in series.tolist()
        ]
    try:
        arr = pa.array(values, from_pandas=True)
    except _ARROW_ERRORS:
        items = series.tolist()

        def prefix_ok(stop: int) -> bool:
            try:
                pa.array(items[:stop], from_pandas=True)
            except _ARROW_ERRORS:
                return False
            return True

        row = _first_bad_row(len(items), prefix_ok)
        raise _bad(
            target, series.index[row], "mixed or unsupported value types"
        ) from None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def coerce(series: pd.Series, target: Target) -> pa.Array:
    """One DataFrame column as its kind's Arrow input type (see `pgbinary`).

    Raises:
        ValidationError: naming the column and the first bad row's label.
    """
    return coerce_arrow(_to_arrow(series, target), target, series.index)


def coerce_arrow(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """Like `coerce`, for an Arrow column (rows labelled by ``index``)."""
    kind = target.kind
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count and not target.column.nullable:
        _check_mask(
            np.asarray(arr.is_null().to_numpy(zero_copy_only=False)),
            target,
            index,
            "null in a NOT NULL column",
        )
    if kind == "uuid":
        if isinstance(arr.type, pa.BaseExtensionType):
            arr = arr.storage
        if arr.type == pa.binary(16):
            return arr
        text = _cast(arr, pa.string(), target, index, "not a UUID")
        raw, bad = uuid_bytes(text)
        _check_mask(bad, target, index, "not a valid UUID")
        buffers = [text.buffers()[0] if text.null_count else None, pa.py_buffer(raw)]
        return pa.Array.from_buffers(
            pa.binary(16), len(raw), buffers, text.null_count, text.offset
        )
    if kind in {"timestamptz", "timestamp"}:
        if pa.types.is_null(arr.type):  # an all-None column: nothing to check
            arr = arr.cast(_TS_US if kind == "timestamptz" else pa.timestamp("us"))
        if not pa.types.is_timestamp(arr.type):
            raise ValidationError(
                f"column {target.name!r}: {arr.type} values are not timestamps",
                field=target.name,
            )
        if kind == "timestamptz" and arr.type.tz is None:
            raise ValidationError(
                f"column {target.name!r}: naive timestamps are ambiguous; "
                "localize them (e.g. .dt.tz_localize('UTC'))",
                field=target.name,
            )
        typ = _TS_US if kind == "timestamptz" else pa.timestamp("us")
        return _cast(arr, typ, target, index, "finer than microseconds")
    if kind == "numeric":
        typ = target.column.type
        dec = pa.decimal128(typ.precision, typ.scale or 0)  # type: ignore[attr-defined]
        if pa.types.is_floating(arr.type):
            rounded = pc.round(arr, typ.scale or 0)  # type: ignore[attr-defined]
            off = pc.fill_null(pc.not_equal(rounded, arr), False)
            _check_mask(
                np.asarray(off.to_numpy(zero_copy_only=False)),
                target,
                index,
                f"more than {typ.scale} decimal places",  # type: ignore[attr-defined]
            )
        return _cast(
            arr,
            dec,
            target,
            index,
            f"does not fit numeric({dec.precision}, {dec.scale})",
        )
    if kind in _INTS:
        return _cast(
            arr, _INTS[kind], target, index, f"not an integer in range of {kind}"
        )
    if kind in {"float4", "float8"}:
        typ = pa.float32() if kind == "float4" else pa.float64()
        return _cast(arr, typ, target, index, "not a number")
    if kind == "bool":
        return _cast(arr, pa.bool_(), target, index, "not a boolean")
    if kind == "date":
        return _cast(arr, pa.date32(), target, index, "not a date")
    if kind in {"text", "jsonb"}:
        text = _cast(arr, pa.string(), target, index, "not text")
        length = getattr(target.column.type, "length", None)
        if length and kind == "text":
            too_long = pc.fill_null(pc.greater(pc.utf8_length(text), length), False)
            _check_mask(
                np.asarray(too_long.to_numpy(zero_copy_only=False)),
                target,
                index,
                f"longer than {length} characters",
            )
        return text
    return arr
