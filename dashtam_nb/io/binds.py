"""Parameters for ADBC, in the types the server inferred for them.

ADBC declares each parameter by the Arrow type it is sent as, so a value
sent with the wrong type changes the query's meaning or fails
(``numeric < text``). The statement is prepared first; the server's
parameter types come back as an Arrow schema and each value is sent as one
row of exactly those types. What ADBC cannot send that way (a parameter the
server cannot type from context, an opaque type) is `Unbindable`, and the
caller reads on the row path, where psycopg sends the values' own types.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Unbindable", "bound"]


class Unbindable(Exception):
    """A parameter value ADBC cannot send; the caller reads on the row path."""


def _param(value: Any, typ: pa.DataType) -> pa.Array:
    """One parameter value as a one-row Arrow array of the server's type.

    ADBC declares each parameter by the Arrow type it is sent as, so it must
    be the type the server inferred: numeric goes as an Arrow decimal, uuid
    as its 16 bytes; any other opaque type cannot be sent (`Unbindable`).
    """
    if isinstance(typ, pa.BaseExtensionType):
        name = getattr(typ, "type_name", typ.extension_name)
        if name == "numeric" and value is not None:
            with contextlib.suppress(ArithmeticError, ValueError, pa.ArrowException):
                number = value if isinstance(value, Decimal) else Decimal(str(value))
                if number.is_finite():
                    return pa.array([number])
            raise Unbindable
        if typ.extension_name == "arrow.uuid" and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = UUID(value)
        if typ.extension_name not in ("arrow.uuid", "arrow.json"):
            raise Unbindable
    with contextlib.suppress(pa.ArrowException, TypeError, ValueError):
        return pa.array([value], type=typ)
    raise Unbindable


def bound(cur: Any, query: str, params: Sequence[Any]) -> pa.RecordBatch | None:
    """The parameters as the one-row batch ADBC binds (server-inferred types)."""
    if not params:
        return None
    try:
        # The server infers each parameter's type from the query's context.
        schema = cur.adbc_prepare(query)
    except Exception:
        # It could not (a bare ``SELECT $1``): psycopg sends the values'
        # own types, which ADBC cannot, so the row path reads this one.
        raise Unbindable from None
    if schema is None or len(schema) != len(params):
        raise Unbindable
    arrays = [_param(v, f.type) for v, f in zip(params, schema, strict=True)]
    return pa.RecordBatch.from_arrays(
        arrays, names=[f"p{i}" for i in range(len(arrays))]
    )
