"""Text-like columns: text/varchar, uuid, bytea, inet/cidr and other types.

* text and varchar(n) take strings only (numbers are not silently turned
  into text); at most n characters; never a NUL character, which PostgreSQL
  text cannot hold.
* uuid takes canonical UUID text (any case), UUID objects and 16-byte values.
* bytea takes bytes only; text must be encoded deliberately first.
* inet/cidr take address text that Python's ``ipaddress`` parses (no zone
  index); cidr refuses host bits. The text sent is the canonical form.
* Any other column type takes text only, parsed by the server (row-wise).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from dashtam_nb.io.numbers import is_text
from dashtam_nb.io.pgbinary import uuid_bytes
from dashtam_nb.io.refusal import bad, cast, check_mask, refuse_type

if TYPE_CHECKING:
    import pandas as pd

    from dashtam_nb.io.refusal import Target

__all__ = ["refuse_nul", "to_bytea", "to_inet", "to_other", "to_text", "to_uuid"]

_T = pa.types


def refuse_nul(text: pa.Array, target: Target, index: pd.Index) -> None:
    """Refuse the first value holding a NUL character."""
    check_mask(
        pc.match_substring(text, "\x00"),
        target,
        index,
        "contains a NUL character (PostgreSQL text cannot store it)",
    )


def _strings(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    if not is_text(arr.type):
        raise refuse_type(
            arr,
            target,
            index,
            f"{arr.type} values are not text (convert deliberately, e.g. "
            ".astype('string'))",
        )
    text = pc.cast(arr, pa.string())
    refuse_nul(text, target, index)
    return text


def to_text(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """A string column within the column's length."""
    text = _strings(arr, target, index)
    length = getattr(target.column.type, "length", None)
    if length:
        check_mask(
            pc.greater(pc.utf8_length(text), length),
            target,
            index,
            f"longer than {length} characters",
        )
    return text


def to_uuid(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """``fixed_size_binary(16)``."""
    if isinstance(arr.type, pa.BaseExtensionType):
        arr = arr.storage
    if arr.type == pa.binary(16):
        return arr
    if not is_text(arr.type):
        raise refuse_type(arr, target, index, f"{arr.type} values are not UUIDs")
    text = cast(arr, pa.string(), target, index, "not a UUID")
    raw, wrong = uuid_bytes(text)
    check_mask(wrong, target, index, "not a valid UUID")
    buffers = [text.buffers()[0] if text.null_count else None, pa.py_buffer(raw)]
    return pa.Array.from_buffers(
        pa.binary(16), len(raw), buffers, text.null_count, text.offset
    )


def to_bytea(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """``binary``: bytes only."""
    t = arr.type
    if _T.is_binary(t) or _T.is_large_binary(t) or _T.is_fixed_size_binary(t):
        return pc.cast(arr, pa.binary())
    if _T.is_binary_view(t):
        return pc.cast(arr, pa.binary())
    hint = " (encode text first, e.g. .str.encode('utf-8'))" if is_text(t) else ""
    raise refuse_type(arr, target, index, f"{t} values are not bytes{hint}")


def to_inet(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """Canonical address text for inet or cidr."""
    text = _strings(arr, target, index)
    out: list[str | None] = []
    for i, value in enumerate(text.to_pylist()):
        if value is None:
            out.append(None)
            continue
        try:
            if "%" in value:
                raise ValueError(value)
            parsed: object = (
                ipaddress.ip_network(value.strip(), strict=True)
                if target.kind == "cidr"
                else ipaddress.ip_interface(value.strip())
            )
        except ValueError:
            raise bad(target, index[i], f"not a valid {target.kind} address") from None
        out.append(str(parsed))
    return pa.array(out, pa.string())


def to_other(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """Text for a type without a converter here; the server parses it."""
    return _strings(arr, target, index)
