"""Arrow batches joined into DataFrames of exactly ``chunk_rows`` rows.

A stream's batches come in whatever size the route reads (10,000 rows from
a named cursor, ADBC's own batches); the chunker cuts and joins them so each
frame but the last has ``chunk_rows`` rows, holding at most one chunk's
worth of Arrow data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Chunker"]


class Chunker:
    """Collects Arrow batches into DataFrames of exactly ``chunk`` rows."""

    def __init__(self, chunk: int, schema: Callable[[], pa.Schema | None]) -> None:
        self._chunk = chunk
        self._schema = schema
        self._parts: list[pa.Table] = []
        self._rows = 0

    def add(self, table: pa.Table) -> list[pd.DataFrame]:
        """Frames completed by ``table`` (a large batch may complete several)."""
        self._parts.append(table)
        self._rows += table.num_rows
        frames = []
        while self._rows >= self._chunk:
            whole = self._joined()
            frames.append(_frame(whole.slice(0, self._chunk)))
            rest = whole.slice(self._chunk)
            self._parts, self._rows = [rest], rest.num_rows
        return frames

    def _joined(self) -> pa.Table:
        schema = self._schema()
        parts = self._parts
        if schema is not None:
            # Batches read before an unbounded numeric's scale was fixed hold
            # only NULLs there; they take the fixed type.
            parts = [p if p.schema == schema else p.cast(schema) for p in parts]
        return pa.concat_tables(parts)

    def flush(self) -> pd.DataFrame | None:
        """The last, shorter frame (None when nothing is left)."""
        if not self._rows:
            return None
        whole = self._joined()
        self._parts, self._rows = [], 0
        return _frame(whole)


def _frame(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.combine_chunks().to_pandas(types_mapper=pd.ArrowDtype)
    return frame
