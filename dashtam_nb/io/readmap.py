"""The read map: a result column's declared type (OID, typmod) -> Arrow type.

One table decides the dtype of every frame column, on the row path and on
the columnar (ADBC) path alike, from the RowDescription the server sends:
never from the values, so an empty or all-NULL column has its real dtype.
The full table, the refusals and the numeric policy are in docs/type-map.md.

A type without a faithful dtype is refused before any value is converted,
with one line naming the column and the cast that makes it readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from dashtam_nb.errors import ValidationError

__all__ = [
    "ARRAY_OF",
    "NUMERIC_OID",
    "NumericMode",
    "ReadColumn",
    "Refusal",
    "builtin",
    "check_numeric_mode",
    "not_finite",
    "read_column",
    "refuse",
    "unbounded_decimal",
    "value_refusal",
]

NumericMode = Literal["exact", "float"]
"""``exact``: numeric as decimal128/256 (the default); ``float``: float64."""

NUMERIC_OID = 1700
_STRING, _INT = pa.string(), pa.int64()

# Scalars with one fixed dtype; numeric is decided by its typmod below.
_SCALARS: dict[int, tuple[str, pa.DataType]] = {
    16: ("bool", pa.bool_()),
    17: ("bytea", pa.binary()),
    18: ('"char"', _STRING),
    19: ("name", _STRING),
    20: ("int8", _INT),
    21: ("int2", _INT),
    23: ("int4", _INT),
    25: ("text", _STRING),
    26: ("oid", _INT),
    114: ("json", _STRING),
    650: ("cidr", _STRING),
    700: ("float4", pa.float64()),
    701: ("float8", pa.float64()),
    705: ("unknown", _STRING),
    774: ("macaddr8", _STRING),
    829: ("macaddr", _STRING),
    869: ("inet", _STRING),
    1042: ("bpchar", _STRING),
    1043: ("varchar", _STRING),
    1082: ("date", pa.date32()),
    1083: ("time", pa.time64("us")),
    1114: ("timestamp", pa.timestamp("us")),
    1184: ("timestamptz", pa.timestamp("us", tz="UTC")),
    1186: ("interval", pa.duration("us")),
    2950: ("uuid", _STRING),
    3802: ("jsonb", _STRING),
}

# Refused with the cast that makes the column readable.
_REFUSED: dict[int, tuple[str, str]] = {
    790: ("money", "::numeric"),
    1266: ("timetz", "::time or ::text"),
}

ARRAY_OF: dict[int, int] = {
    1000: 16, 1001: 17, 1002: 18, 1003: 19, 1016: 20, 1005: 21, 1007: 23,
    1009: 25, 1028: 26, 199: 114, 651: 650, 1021: 700, 1022: 701, 775: 774,
    1040: 829, 1041: 869, 1014: 1042, 1015: 1043, 1182: 1082, 1183: 1083,
    1115: 1114, 1185: 1184, 1187: 1186, 1231: 1700, 2951: 2950, 3807: 3802,
    791: 790, 1270: 1266,
}  # fmt: skip
"""Built-in array OID -> element OID."""

_MAX_DECIMAL = 76  # decimal256; numeric(p, s) above that is refused


class Refusal(ValidationError):
    """A result column whose type has no faithful frame dtype (names the column)."""


def refuse(column: str, what: str, cast: str) -> Refusal:
    """The one-line refusal for ``column``: what is wrong and the cast to use."""
    return Refusal(
        f"column {column!r}: {what}; cast it in the SQL ({column}{cast})",
        field=column,
    )


def builtin(oid: int) -> bool:
    """Whether the map decides ``oid`` without asking the catalogue."""
    return oid in _SCALARS or oid in _REFUSED or oid in ARRAY_OF or oid == NUMERIC_OID


def check_numeric_mode(numeric: object) -> NumericMode:
    """``numeric=`` validated: ``"exact"`` or ``"float"``."""
    # The type first: ``in`` on a foreign object would call its __eq__.
    if not isinstance(numeric, str) or numeric not in ("exact", "float"):
        raise ValidationError(
            "numeric must be 'exact' (decimals) or 'float' (float64)",
            field="numeric",
        )
    return "float" if numeric == "float" else "exact"


@dataclass(frozen=True)
class ReadColumn:
    """How one result column is read.

    Attributes:
        name: the column's name in the result.
        oid: its type OID (a domain's base type, an enum's own OID).
        kind: the PostgreSQL type name in the map (``enum`` for enums).
        arrow: the Arrow type; None only for unbounded numeric in exact
            mode, whose scale is the largest the column's values carry.
        element: for arrays, how one element is read.
        numeric: the numeric mode the column was mapped under.
    """

    name: str
    oid: int
    kind: str
    arrow: pa.DataType | None
    element: ReadColumn | None = None
    numeric: NumericMode = "exact"


def _numeric(name: str, typmod: int, mode: NumericMode) -> pa.DataType | None:
    if mode == "float":
        return pa.float64()
    if typmod < 4:
        return None  # unbounded: numeric without (p, s), or an expression
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0x7FF
    if scale > precision or scale >= 1024:
        # PostgreSQL 15+ allows negative or larger scales; Arrow does not.
        raise refuse(name, f"numeric({precision}, {scale}) has no Arrow decimal",
                     "::numeric(38, 10) or numeric='float'")  # fmt: skip
    if precision <= 38:
        return pa.decimal128(precision, scale)
    if precision <= _MAX_DECIMAL:
        return pa.decimal256(precision, scale)
    raise refuse(
        name,
        f"numeric({precision}, {scale}) is wider than 76 digits",
        "::float8, or pass numeric='float'",
    )


def read_column(
    name: str,
    oid: int,
    typmod: int,
    *,
    numeric: NumericMode = "exact",
    enums: frozenset[int] = frozenset(),
    enum_arrays: frozenset[int] = frozenset(),
    other: str | None = None,
) -> ReadColumn:
    """How to read a column of type ``oid``/``typmod`` (see docs/type-map.md).

    Args:
        name: the column name (for refusals).
        oid: the type OID from the RowDescription.
        typmod: its type modifier (-1 when none; arrays carry the element's).
        numeric: the numeric mode.
        enums: OIDs the catalogue says are enums (read as text).
        enum_arrays: OIDs of arrays of enums.
        other: the catalogue's name and kind of any other type
            (``int4range (range)``, ...), for the refusal message.

    Raises:
        Refusal: the type has no faithful dtype; the message names the
            column and the cast to use.
    """
    if oid in enums:
        return ReadColumn(name, oid, "enum", _STRING)
    if oid in enum_arrays:
        element = ReadColumn(name, oid, "enum", _STRING)
        return ReadColumn(name, oid, "enum[]", pa.list_(_STRING), element)
    if oid in ARRAY_OF:
        element = read_column(name, ARRAY_OF[oid], typmod, numeric=numeric)
        arrow = None if element.arrow is None else pa.list_(element.arrow)
        return ReadColumn(name, oid, element.kind + "[]", arrow, element, numeric)
    if oid == NUMERIC_OID:
        return ReadColumn(name, oid, "numeric", _numeric(name, typmod, numeric),
                          numeric=numeric)  # fmt: skip
    if oid in _SCALARS:
        kind, arrow = _SCALARS[oid]
        return ReadColumn(name, oid, kind, arrow)
    if oid in _REFUSED:
        kind, cast = _REFUSED[oid]
        raise refuse(name, f"type {kind} has no exact frame dtype", cast)
    what = f"type {other}" if other else f"the type with OID {oid}"
    raise refuse(name, f"{what} has no frame dtype", "::text")


def unbounded_decimal(name: str, int_digits: int, scale: int) -> pa.DataType:
    """The decimal of an unbounded numeric column, from its values' extent.

    The server declares no (p, s) for ``numeric`` without a typmod or for an
    expression such as ``sum(x)``; each value carries its own display scale.
    The column takes the largest scale of its values (0 when it has none) at
    precision 38, or 76 when 38 digits do not hold them, so every value is
    exact; wider than 76 digits is refused.
    """
    if int_digits + scale <= 38:
        return pa.decimal128(38, scale)
    if int_digits + scale <= _MAX_DECIMAL:
        return pa.decimal256(_MAX_DECIMAL, scale)
    raise refuse(
        name,
        "numeric values wider than 76 digits have no Arrow decimal",
        "::float8, or pass numeric='float'",
    )


def not_finite(name: str) -> Refusal:
    """Numeric NaN/Infinity in exact mode."""
    return refuse(
        name,
        "numeric NaN/Infinity has no exact decimal; pass numeric='float' for "
        "float64 with nan/inf",
        "::float8",
    )


def value_refusal(name: str, what: str) -> Refusal:
    """A value the column's dtype cannot hold (infinite date, months, ...)."""
    return refuse(name, what, "::text")
