r"""Python and NumPy values as JSON text for json/jsonb columns, exactly.

Choices (each value is stored as the JSON it means, or refused):

* ``str`` values are JSON *text* (the form frames read json back as); they
  must parse. NaN/Infinity literals are refused (not JSON).
* dicts, lists and tuples become compact JSON with sorted keys; keys must be
  strings. Scalars: ``None`` -> null, bool, Python/NumPy ints and floats
  (shortest text; NaN and infinity refused), ``Decimal`` -> its own number
  text exactly (``Decimal('1.10')`` -> ``1.10``), ``datetime``/``date``/
  ``time`` -> ISO 8601 strings, ``UUID`` -> its canonical string.
  Anything else (bytes, sets, timedelta, pd.NA inside a document) is refused.
* jsonb cannot hold the ``\u0000`` escape or lone surrogates: refused.
* A missing value of the column (None, NaN, NA) is SQL NULL, not JSON null.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dashtam_nb.io.numbers import is_text
from dashtam_nb.io.refusal import bad, refuse_type

if TYPE_CHECKING:
    from dashtam_nb.io.refusal import Target

__all__ = ["json_column", "json_text"]


class _Refused(ValueError):
    pass


def _string(value: str, jsonb: bool) -> str:
    try:
        value.encode("utf-8")
    except UnicodeError:
        raise _Refused("a string is not valid Unicode") from None
    if jsonb and "\x00" in value:
        raise _Refused("jsonb cannot hold a NUL character")
    return json.dumps(value)


def _dump(value: Any, jsonb: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise _Refused("NaN or infinity is not JSON")
        if isinstance(value, np.floating) and value.dtype != np.float64:
            return str(value)
        return repr(float(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _Refused("NaN or infinity is not JSON")
        return str(value)
    if isinstance(value, str):
        return _string(str(value), jsonb)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return json.dumps(value.isoformat())
    if isinstance(value, uuid.UUID):
        return json.dumps(str(value))
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _Refused("JSON object keys must be strings")
        items = sorted(value.items())
        return (
            "{"
            + ",".join(f"{_string(k, jsonb)}:{_dump(v, jsonb)}" for k, v in items)
            + "}"
        )
    if isinstance(value, list | tuple | np.ndarray):
        return "[" + ",".join(_dump(v, jsonb) for v in value) + "]"
    raise _Refused(f"{type(value).__name__} values have no JSON form")


def _reject_constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def _check(value: Any, jsonb: bool) -> None:
    if isinstance(value, str):
        _string(value, jsonb)
    elif isinstance(value, dict):
        for k, v in value.items():
            _string(k, jsonb)
            _check(v, jsonb)
    elif isinstance(value, list):
        for v in value:
            _check(v, jsonb)


def json_text(value: Any, jsonb: bool) -> str:
    """JSON text of one value (str values are JSON text, validated)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, _Refused) else "not valid JSON text"
            raise _Refused(reason) from None
        _check(parsed, jsonb)
        return value
    try:
        return _dump(value, jsonb)
    except RecursionError:
        raise _Refused("nested too deeply") from None


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def json_column(
    values: list[Any] | pa.Array, target: Target, index: pd.Index
) -> pa.Array:
    """A string column of JSON text, or a refusal naming the row.

    ``values`` is an object column's values (str means JSON text) or an Arrow
    array (string types are JSON text; other types are JSON values).
    """
    jsonb = target.kind == "jsonb"
    documents = True
    if isinstance(values, pa.Array):
        documents = is_text(values.type)
        t = pa.types
        plain = (t.is_integer, t.is_floating, t.is_boolean, t.is_decimal, t.is_nested)
        if not documents and not any(test(values.type) for test in plain):
            raise refuse_type(
                values, target, index, f"{values.type} values are not JSON values"
            )
        values = values.to_pylist()
    out: list[str | None] = []
    for i, value in enumerate(values):
        if _missing(value):
            out.append(None)
            continue
        try:
            if documents:
                out.append(json_text(value, jsonb))
            else:
                out.append(_dump(value, jsonb))
        except _Refused as exc:
            raise bad(target, index[i], str(exc)) from None
        except RecursionError:
            raise bad(target, index[i], "nested too deeply") from None
    return pa.array(out, pa.string())
