"""Refusals for the write path: one `ValidationError` naming column and row.

Shared by the converters (`coerce`, `numbers`, `temporal`, `textual`,
`jsonvalue`): a bad value is reported as ``column 'c', row <label>: reason``,
where the label is the frame's index label of the first offending row. A
refusal that is about the whole column (its dtype) names the first non-null
row, so every message points at a value the user can look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashtam_nb.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    from sqlalchemy import Column

__all__ = [
    "ARROW_ERRORS",
    "Target",
    "bad",
    "cast",
    "check_mask",
    "first_bad_row",
    "refuse_type",
]

ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


@dataclass(frozen=True)
class Target:
    """One table column a DataFrame column is loaded into."""

    column: Column[Any]
    kind: str

    @property
    def name(self) -> str:
        """The column's name in the database."""
        return str(self.column.name)


def bad(target: Target, label: object, reason: str) -> ValidationError:
    """The refusal of the value in row ``label``."""
    if isinstance(label, np.generic):  # "row 3", not "row np.int64(3)"
        label = label.item()
    return ValidationError(
        f"column {target.name!r}, row {label!r}: {reason}", field=target.name
    )


def refuse_type(
    arr: pa.Array, target: Target, index: pd.Index, reason: str
) -> ValidationError:
    """A refusal of the column's type, naming its first non-null row."""
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False))
    row = int(np.argmax(valid)) if valid.any() else 0
    return bad(target, index[row] if len(index) else None, reason)


def first_bad_row(n: int, prefix_ok: Callable[[int], bool]) -> int:
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


def cast(
    arr: pa.Array, typ: pa.DataType, target: Target, index: pd.Index, why: str
) -> pa.Array:
    """``arr`` cast to ``typ`` (safe), or an error naming the first bad row."""
    try:
        return pc.cast(arr, typ)
    except ARROW_ERRORS:
        pass
    try:
        pc.cast(arr.slice(0, 0), typ)
    except ARROW_ERRORS:
        raise refuse_type(
            arr, target, index, f"cannot convert {arr.type} to {target.kind}"
        ) from None

    def prefix_ok(stop: int) -> bool:
        try:
            pc.cast(arr.slice(0, stop), typ)
        except ARROW_ERRORS:
            return False
        return True

    raise bad(target, index[first_bad_row(len(arr), prefix_ok)], why)


def check_mask(bad_rows: Any, target: Target, index: pd.Index, why: str) -> None:
    """Refuse the first row where ``bad_rows`` (bool array or Arrow) is true."""
    if isinstance(bad_rows, pa.Array | pa.ChunkedArray):
        bad_rows = pc.fill_null(bad_rows, False).to_numpy(zero_copy_only=False)
    mask = np.asarray(bad_rows, dtype=bool)
    if mask.any():
        raise bad(target, index[int(np.argmax(mask))], why)
