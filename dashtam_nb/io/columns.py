"""Result columns: the server's RowDescription read through the read map.

psycopg exposes each column's type OID and typmod (``pgresult.ftype/fmod``).
Built-in types are decided by `readmap` alone; any other OID (an enum, an
array of enums, a range, a composite, an extension type) is looked up in
``pg_type`` once per result, on the same connection, so enums read as text
and everything else is refused by name. Domains need no lookup: the server
describes a domain column by its base type and typmod.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashtam_nb.io import readmap

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from dashtam_nb.io.readmap import NumericMode, ReadColumn

__all__ = ["CATALOGUE", "read_columns", "unknown_oids"]

_KINDS = {
    "c": "composite",
    "r": "range",
    "m": "multirange",
    "p": "pseudo",
    "b": "base",
    "d": "domain",
}
CATALOGUE = """
SELECT t.oid::int8, t.typtype, coalesce(e.typtype, ''), t.typname::text
FROM pg_catalog.pg_type t
LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
WHERE t.oid = ANY(%s::oid[])
"""


def unknown_oids(described: Sequence[tuple[int, int]]) -> list[int]:
    """The OIDs among (oid, typmod) pairs the catalogue must explain."""
    return sorted({oid for oid, _ in described if not readmap.builtin(oid)})


def read_columns(
    names: Sequence[str],
    described: Sequence[tuple[int, int]],
    catalogue: Iterable[tuple[int, str, str, str]],
    numeric: NumericMode,
) -> list[ReadColumn]:
    """How each described column is read; refusals name the column.

    Args:
        names: the column names as psycopg decoded them.
        described: (type OID, typmod) of each column, from the RowDescription.
        catalogue: rows of `CATALOGUE` for `unknown_oids` (oid, typtype,
            element typtype, type name).
        numeric: the numeric mode.
    """
    enums: set[int] = set()
    enum_arrays: set[int] = set()
    other: dict[int, str] = {}
    for oid, typtype, elemtype, typname in catalogue:
        if typtype == "e":
            enums.add(oid)
        elif elemtype == "e":
            enum_arrays.add(oid)
        elif elemtype:
            other[oid] = f"{typname} (array of {_KINDS.get(elemtype, 'other')})"
        else:
            other[oid] = f"{typname} ({_KINDS.get(typtype, 'other')})"
    return [
        readmap.read_column(
            name,
            oid,
            typmod,
            numeric=numeric,
            enums=frozenset(enums),
            enum_arrays=frozenset(enum_arrays),
            other=other.get(oid),
        )
        for name, (oid, typmod) in zip(names, described, strict=True)
    ]
