"""PostgreSQL text input forms of converted columns, for the row-wise COPY.

Column types without a vectorised binary encoder (inet/cidr, arrays, wide
or unbounded numeric, any other type) are loaded with a *text* COPY: every
field is the exact text PostgreSQL parses back into the converted value, so
the server never reinterprets bytes of the wrong type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashtam_nb.io.pgbinary import fixed16, uuid_strings

__all__ = ["ROW_WISE", "array_literal", "text_of"]

ROW_WISE = frozenset({"inet", "cidr", "array", "decimal", "other"})
"""Kinds sent as text, row by row."""

_VIA_ARROW = {"int2", "int4", "int8", "float4", "float8", "numeric"}


def _python_text(kind: str, value: Any) -> str:
    if kind == "bool":
        return "t" if value else "f"
    if kind == "bytea":
        return "\\x" + bytes(value).hex()
    if kind == "interval":
        days, secs, micros = value.days, value.seconds, value.microseconds
        return f"{days} days {secs} seconds {micros} microseconds"
    if kind in {"date", "time", "timestamp", "timestamptz"}:
        return str(value.isoformat())
    return str(value)


def text_of(kind: str, arr: pa.Array) -> list[str | None]:
    """The PostgreSQL text of each value of a converted column (None: NULL)."""
    if pa.types.is_null(arr.type):
        return [None] * len(arr)
    if kind == "uuid":
        texts = uuid_strings(fixed16(arr)).to_pylist()
        valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False))
        return [t if ok else None for t, ok in zip(texts, valid, strict=True)]
    if pa.types.is_string(arr.type):
        strings: list[str | None] = arr.to_pylist()
        return strings
    if kind in _VIA_ARROW:  # shortest round-trip text for floats
        numbers: list[str | None] = pc.cast(arr, pa.string()).to_pylist()
        return numbers
    return [None if v is None else _python_text(kind, v) for v in arr.to_pylist()]


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def array_literal(elements: list[str | None]) -> str:
    """A one-dimensional array literal, every element quoted."""
    return "{" + ",".join("NULL" if e is None else _quoted(e) for e in elements) + "}"
