"""One decimal type per unbounded ``numeric`` column, for every partition.

``numeric`` without ``(p, s)`` (a plain ``numeric`` column, ``sum(x)``) has no
declared scale: `Database.frame` gives it the largest scale its *values*
carry (`readmap.unbounded_decimal`). Read in partitions, each partition would
take the extent of its own values and the ``LIMIT 0`` meta none at all, so
the meta and the partitions would disagree. The client therefore asks the
server, in the read's snapshot, for the extent of the whole result (one
aggregate scan, only when such a column exists), and the meta and every
partition are cast to that one type: exactly the type `Database.frame` gives
the same query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
from sqlalchemy import text

from dashtam_nb import runner
from dashtam_nb.io.fetch import driver_of
from dashtam_nb.io.query import compile_query
from dashtam_nb.io.readmap import ARRAY_OF, NUMERIC_OID, unbounded_decimal

if TYPE_CHECKING:
    import pandas as pd

    from dashtam_nb.scale.plan import Source
    from dashtam_nb.scale.snapshot import Snapshot

__all__ = ["Decimals", "adecimals", "cast", "decimals"]

Decimals = tuple[tuple[str, pa.DataType], ...]
"""Column name and the decimal (or list of decimal) it is cast to."""

_NUMERIC_ARRAY = next(
    oid for oid, element in ARRAY_OF.items() if element == NUMERIC_OID
)
_BOUNDED_TYPMOD = 4  # a typmod below this declares no (p, s)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _unbounded(snap: Snapshot, src: Source) -> list[tuple[str, bool]]:
    """The result's unbounded numeric columns, and whether each is an array."""
    conn = await snap.session().connection()
    query = compile_query(
        src.wrapped("_dn_cols") + " LIMIT 0", src.params, conn.dialect
    )
    cur = (await driver_of(conn)).cursor()
    await cur.execute(query.sql, query.params)
    result = cur.pgresult
    if result is None or cur.description is None:
        return []
    found = []
    for i, column in enumerate(cur.description):
        oid, typmod = result.ftype(i), result.fmod(i)
        if oid in (NUMERIC_OID, _NUMERIC_ARRAY) and typmod < _BOUNDED_TYPMOD:
            found.append((column.name, oid == _NUMERIC_ARRAY))
    return found


def _extent(column: str, array: bool) -> str:
    """Largest scale and integer digits of a column (of its elements)."""
    digits = "length(trunc(abs({v}))::text)"
    if not array:
        ref = f"_dn_ext.{_quote(column)}"
        return f"max(scale({ref})), max({digits.format(v=ref)})"
    each = f"FROM unnest(_dn_ext.{_quote(column)}) AS _dn_e(v)"
    return (
        f"max((SELECT max(scale(v)) {each})), "
        f"max((SELECT max({digits.format(v='v')}) {each}))"
    )


async def adecimals(snap: Snapshot, src: Source) -> Decimals:
    """The type of each unbounded numeric column over the whole result."""
    columns = await _unbounded(snap, src)
    if not columns:
        return ()
    aggregates = ", ".join(_extent(name, array) for name, array in columns)
    row = (
        await snap.session().execute(
            text(src.wrapped("_dn_ext", columns=aggregates)), src.params
        )
    ).one()
    found: list[tuple[str, pa.DataType]] = []
    for k, (name, array) in enumerate(columns):
        scale, digits = row[2 * k] or 0, row[2 * k + 1] or 0
        decimal = unbounded_decimal(name, int(digits), int(scale))
        found.append((name, pa.list_(decimal) if array else decimal))
    return tuple(found)


def cast(frame: pd.DataFrame, types: Decimals) -> pd.DataFrame:
    """``frame`` with the given columns cast to their decimals (exact)."""
    if not types:
        return frame
    import pandas as pd

    return frame.astype({name: pd.ArrowDtype(arrow) for name, arrow in types})


decimals = runner.blocking(adecimals)
