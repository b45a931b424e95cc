"""The row path: a psycopg result to Arrow in the read map's types.

Small results are read on the session's own connection by a plain psycopg
cursor (parameters bound by the server). The cursor gets its own loaders so
values arrive in the form the map needs and the columnar path produces: the
server's text for uuid, json/jsonb (exactly as the server prints it, on every
path) and network types; a marker for values no dtype can hold (infinite
dates and timestamps, intervals with months), so the column is refused by
name instead of failing inside psycopg.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from psycopg import adapters as global_adapters
from psycopg.adapt import Loader
from psycopg.pq import Format

from dashtam_nb.io import readmap

if TYPE_CHECKING:
    from collections.abc import Sequence

    import psycopg
    from psycopg.abc import AdaptContext, Buffer

    from dashtam_nb.io.readmap import NumericMode, ReadColumn

__all__ = ["INFINITE", "MONTHS", "prepare_cursor", "table_from_rows"]

_AS_TEXT = (114, 3802, 2950, 869, 650, 829, 774)  # json, jsonb, uuid, network
_INFINITY = (b"infinity", b"-infinity")


class _Marker:
    """A value the map refuses; never reaches a frame."""

    def __init__(self, what: str) -> None:
        self.what = what


INFINITE = _Marker("an infinite date/timestamp has no Arrow value")
MONTHS = _Marker("an interval with months or years has no fixed duration")


class _Text(Loader):
    """The server's own text."""

    def load(self, data: Buffer) -> str:
        return bytes(data).decode()


class _Guarded(Loader):
    """The stock loader, except for values the map refuses (`_Marker`)."""

    marker: _Marker = INFINITE

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        inner = global_adapters.get_loader(oid, Format.TEXT)
        assert inner is not None
        self._inner = inner(oid, context)

    def refused(self, data: bytes) -> bool:
        return data in _INFINITY

    def load(self, data: Buffer) -> Any:
        raw = bytes(data)
        return self.marker if self.refused(raw) else self._inner.load(raw)


class _Time(_Guarded):
    marker = _Marker("time 24:00:00 has no Arrow time of day")

    def refused(self, data: bytes) -> bool:
        return data.startswith(b"24:")


class _Interval(_Guarded):
    marker = MONTHS

    def refused(self, data: bytes) -> bool:
        return b"mon" in data or b"year" in data


class _Float(Loader):
    """numeric as float64 (``numeric="float"``): NaN and ±Infinity kept."""

    def load(self, data: Buffer) -> float:
        return float(bytes(data))


def prepare_cursor(cur: psycopg.AsyncCursor[Any], numeric: NumericMode) -> None:
    """Install the map's loaders on one cursor (its adapters are its own)."""
    for oid in _AS_TEXT:
        cur.adapters.register_loader(oid, _Text)
    for oid in (1082, 1114, 1184):
        cur.adapters.register_loader(oid, _Guarded)
    cur.adapters.register_loader(1083, _Time)
    cur.adapters.register_loader(1186, _Interval)
    if numeric == "float":
        cur.adapters.register_loader(readmap.NUMERIC_OID, _Float)


def _decimal_extent(values: Sequence[Any], name: str) -> tuple[int, int]:
    """Integer digits and scale that hold every Decimal in ``values``."""
    digits = scale = 0
    for value in values:
        if value is None:
            continue
        if not value.is_finite():
            raise readmap.not_finite(name)
        _sign, numerals, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        scale = max(scale, -exponent)
        digits = max(digits, len(numerals) + exponent)
    return digits, scale


def _flat(values: Sequence[Any]) -> list[Any]:
    """Every element of every array in ``values`` (for the column's extent)."""
    flat: list[Any] = []
    for value in values:
        if value is not None:
            flat.extend(_elements(value))
    return flat


def _elements(value: list[Any]) -> list[Any]:
    """A (multi-dimensional) array's elements in row-major order.

    ADBC reads a multi-dimensional array as the list of its elements in that
    order (PostgreSQL's own ``unnest`` order), so the row path does the same.
    """
    if not any(isinstance(v, list) for v in value):
        return value
    out: list[Any] = []
    for v in value:
        out.extend(_elements(v) if isinstance(v, list) else [v])
    return out


def _arrow_type(col: ReadColumn, values: Sequence[Any]) -> pa.DataType:
    if col.arrow is not None:
        return col.arrow
    if col.element is not None:  # an array of unbounded numeric
        return pa.list_(_arrow_type(col.element, _flat(values)))
    return readmap.unbounded_decimal(col.name, *_decimal_extent(values, col.name))


def _refusal(col: ReadColumn, values: Sequence[Any]) -> readmap.Refusal:
    """Why ``values`` do not convert: the first refused value, named."""
    items = _flat(values) if col.element is not None else list(values)
    for value in items:
        if isinstance(value, _Marker):
            return readmap.value_refusal(col.name, value.what)
        if isinstance(value, Decimal) and not value.is_finite():
            return readmap.not_finite(col.name)
    return readmap.value_refusal(col.name, f"a value does not fit {col.kind}")


def column_array(col: ReadColumn, values: Sequence[Any]) -> pa.Array:
    """One column's driver values as Arrow in the map's type."""
    if col.kind in ("enum[]",):
        values = [_enum_array(v) for v in values]
    typ = _arrow_type(col, values)
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        pass
    if col.element is not None:
        values = [None if v is None else _elements(v) for v in values]
        typ = _arrow_type(col, values)
        with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return pa.array(values, type=typ)
    raise _refusal(col, values)


def _enum_array(value: Any) -> Any:
    """An enum array arrives as its text form ``{a,"b c"}`` (unknown OID)."""
    if not isinstance(value, str):
        return value
    from psycopg.types.array import ArrayLoader

    class _TextArray(ArrayLoader):
        base_oid = 25

    return _TextArray(0).load(value.encode())


def table_from_rows(
    columns: Sequence[ReadColumn], rows: Sequence[Sequence[Any]]
) -> pa.Table:
    """Row tuples as an Arrow table in the read map's types."""
    data = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    arrays = [column_array(c, list(d)) for c, d in zip(columns, data, strict=True)]
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])
