"""Numbers into integer, float, boolean and numeric columns: exact or refused.

* int2/4/8 take integers, booleans, floats and decimals without a fractional
  part, and integer text, each within range.
* float4/8 take integers that the float holds exactly (``|x| <= 2**53`` for
  float8, ``2**24`` for float4), floats (float8 into float4 only if the value
  is unchanged), decimals whose shortest float text is the same number, and
  number text. In NumPy float columns NaN is pandas' missing value and is
  stored as NULL; in Arrow and nullable columns NaN is stored as NaN.
* bool takes booleans, the integers 0 and 1, and ``true``/``false`` text.
* numeric takes integers, decimals and floats (a float counts as its
  shortest text, ``repr``) with at most ``scale`` places. NaN and infinity
  are refused: PostgreSQL numeric has them, but the read map's exact
  ``decimal128`` has not, so they could not come back.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashtam_nb.io.refusal import bad, cast, check_mask, refuse_type

if TYPE_CHECKING:
    import pandas as pd

    from dashtam_nb.io.refusal import Target

__all__ = ["INTS", "is_text", "to_bool", "to_decimal_text", "to_float", "to_int"]

INTS = {"int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64()}
_T = pa.types


def is_text(typ: pa.DataType) -> bool:
    """Any Arrow string type."""
    return bool(_T.is_string(typ) or _T.is_large_string(typ) or _T.is_string_view(typ))


def _numberish(typ: pa.DataType) -> bool:
    return bool(
        _T.is_integer(typ) or _T.is_floating(typ) or _T.is_decimal(typ) or is_text(typ)
    )


def to_int(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """An integer column of the target's width."""
    if not (_numberish(arr.type) or _T.is_boolean(arr.type)):
        raise refuse_type(arr, target, index, f"{arr.type} values are not integers")
    kind = target.kind
    return cast(arr, INTS[kind], target, index, f"not an integer in range of {kind}")


def _float_text(value: Any, kind: str) -> str:
    return str(np.float32(value)) if kind == "float4" else repr(float(value))


def to_float(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """A float column; values that would change are refused."""
    kind = target.kind
    typ = pa.float32() if kind == "float4" else pa.float64()
    why = f"not exactly a {kind} value"
    if _T.is_integer(arr.type) or is_text(arr.type):
        return cast(arr, typ, target, index, why)
    if _T.is_floating(arr.type):
        out = pc.cast(arr, typ, safe=False)
        back = pc.cast(out, arr.type, safe=False)
        changed = pc.and_(pc.not_equal(back, arr), pc.invert(pc.is_nan(arr)))
        check_mask(changed, target, index, why)
        return out
    if _T.is_decimal(arr.type):
        values = arr.to_pylist()
        for i, d in enumerate(values):
            if d is not None and Decimal(_float_text(d, kind)) != d:
                raise bad(target, index[i], why)
        return pa.array([None if d is None else float(d) for d in values], typ)
    raise refuse_type(arr, target, index, f"{arr.type} values are not numbers")


def to_bool(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """A boolean column (integers only 0 and 1)."""
    if _T.is_boolean(arr.type):
        return arr
    if _T.is_integer(arr.type):
        other = pc.invert(pc.is_in(arr, pa.array([0, 1], arr.type)))
        check_mask(
            pc.and_(other, arr.is_valid()),
            target,
            index,
            "not a boolean (only 0 and 1 convert)",
        )
        return pc.cast(arr, pa.bool_())
    if is_text(arr.type):
        return cast(arr, pa.bool_(), target, index, "not a boolean")
    raise refuse_type(arr, target, index, f"{arr.type} values are not booleans")


def _refuse_nonfinite(arr: pa.Array, target: Target, index: pd.Index) -> None:
    if _T.is_floating(arr.type):
        nonfinite = pc.invert(pc.is_finite(arr))
        check_mask(
            pc.and_(nonfinite, arr.is_valid()),
            target,
            index,
            "NaN or infinity (numeric columns here hold finite numbers)",
        )


def to_numeric(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """``decimal128(p <= 18, s)`` for the vectorised numeric encoder."""
    typ = target.column.type
    scale = typ.scale or 0  # type: ignore[attr-defined]
    dec = pa.decimal128(typ.precision, scale)  # type: ignore[attr-defined]
    fits = f"does not fit numeric({dec.precision}, {dec.scale})"
    if not _numberish(arr.type):
        raise refuse_type(arr, target, index, f"{arr.type} values are not numbers")
    _refuse_nonfinite(arr, target, index)
    if _T.is_floating(arr.type):
        # Magnitudes first, so Arrow only parses text it reads exactly.
        limit = 10.0 ** (dec.precision - scale)
        check_mask(pc.greater_equal(pc.abs(arr), limit), target, index, fits)
        # Nonzero below one unit of the last place: Arrow would parse 1e-313 as 0.
        tiny = pc.and_(pc.not_equal(arr, 0.0), pc.less(pc.abs(arr), 10.0**-scale))
        check_mask(tiny, target, index, f"more than {scale} decimal places")
        # A float means what it prints as (shortest round-trip text, as the
        # wide path and PostgreSQL's float8 output read it), not its binary
        # expansion: 0.1 is 0.1, and 5.960464477539063e-08 has 23 places.
        text = pc.cast(arr, pa.string())
        return cast(text, dec, target, index, f"more than {scale} decimal places")
    if _T.is_integer(arr.type):
        # Arrow judges int64 -> decimal by type (19 digits), not by value.
        arr = pc.cast(arr, pa.decimal128(38, scale))
    return cast(arr, dec, target, index, fits)


def _decimal_of(value: Any, typ: pa.DataType) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        kind = "float4" if typ == pa.float32() else "float8"
        return Decimal(_float_text(value, kind))
    return Decimal(value)


def to_decimal_text(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """Wide or unbounded numeric: exact decimal text, sent row-wise."""
    if not _numberish(arr.type):
        raise refuse_type(arr, target, index, f"{arr.type} values are not numbers")
    typ = target.column.type
    precision = getattr(typ, "precision", None)
    scale = getattr(typ, "scale", None) or 0
    out: list[str | None] = []
    for i, value in enumerate(arr.to_pylist()):
        if value is None:
            out.append(None)
            continue
        try:
            d = _decimal_of(
                value.strip() if isinstance(value, str) else value, arr.type
            )
        except (InvalidOperation, ValueError):
            raise bad(target, index[i], "not a number") from None
        if not d.is_finite():
            raise bad(
                target,
                index[i],
                "NaN or infinity (numeric columns here hold finite numbers)",
            )
        if precision is not None:
            with localcontext(prec=200_000):
                exponent = d.normalize().as_tuple().exponent
            if isinstance(exponent, int) and -exponent > scale:
                raise bad(target, index[i], f"more than {scale} decimal places")
            if d != 0 and d.adjusted() >= precision - scale:
                raise bad(
                    target, index[i], f"does not fit numeric({precision}, {scale})"
                )
        elif d != 0 and not -16383 <= d.adjusted() < 131072:
            raise bad(target, index[i], "out of range for numeric")
        out.append(str(d))
    return pa.array(out, pa.string())
