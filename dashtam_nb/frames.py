"""Rows to pandas DataFrames, with exact, stable dtypes.

Frames are built from plain tuples, never from SQLAlchemy ``Row`` objects
(16x slower, measured in shared/notes/event-loops.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from sqlalchemy.engine import Result


def frame_from_result(result: Result[Any]) -> pd.DataFrame:
    """A DataFrame of a buffered result, keeping column names when empty."""
    columns = list(result.keys())
    rows = [tuple(row) for row in result.all()]
    return pd.DataFrame.from_records(rows, columns=columns)
