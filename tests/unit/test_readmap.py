"""The pure read map: (OID, typmod) -> Arrow type, or a refusal by name."""

from __future__ import annotations

import pyarrow as pa
import pytest

from dashtam_nb.errors import ValidationError
from dashtam_nb.io import columns, readmap


def typmod(precision: int, scale: int) -> int:
    return ((precision << 16) | scale) + 4


@pytest.mark.parametrize(
    ("oid", "mod", "expected"),
    [
        (21, -1, pa.int64()),
        (23, -1, pa.int64()),
        (20, -1, pa.int64()),
        (700, -1, pa.float64()),
        (701, -1, pa.float64()),
        (1700, typmod(14, 2), pa.decimal128(14, 2)),
        (1700, typmod(38, 0), pa.decimal128(38, 0)),
        (1700, typmod(39, 5), pa.decimal256(39, 5)),
        (16, -1, pa.bool_()),
        (25, -1, pa.string()),
        (1043, 24, pa.string()),
        (1042, 8, pa.string()),
        (2950, -1, pa.string()),
        (1082, -1, pa.date32()),
        (1083, -1, pa.time64("us")),
        (1114, -1, pa.timestamp("us")),
        (1184, -1, pa.timestamp("us", tz="UTC")),
        (1186, -1, pa.duration("us")),
        (17, -1, pa.binary()),
        (114, -1, pa.string()),
        (3802, -1, pa.string()),
        (869, -1, pa.string()),
        (650, -1, pa.string()),
        (829, -1, pa.string()),
        (1007, -1, pa.list_(pa.int64())),
        (1231, typmod(5, 2), pa.list_(pa.decimal128(5, 2))),
        (2951, -1, pa.list_(pa.string())),
        (1185, -1, pa.list_(pa.timestamp("us", tz="UTC"))),
    ],
)
def test_builtin_types_map_to_one_arrow_type(
    oid: int, mod: int, expected: pa.DataType
) -> None:
    assert readmap.builtin(oid)
    assert readmap.read_column("c", oid, mod).arrow == expected


def test_unbounded_numeric_takes_its_scale_from_the_values() -> None:
    col = readmap.read_column("total", 1700, -1)
    assert col.arrow is None
    assert readmap.unbounded_decimal("total", 13, 2) == pa.decimal128(38, 2)
    assert readmap.unbounded_decimal("total", 40, 2) == pa.decimal256(76, 2)
    with pytest.raises(readmap.Refusal, match=r"column 'total'.*76 digits"):
        readmap.unbounded_decimal("total", 70, 10)


def test_float_mode_maps_every_numeric_to_float64() -> None:
    for mod in (-1, typmod(14, 2), typmod(60, 3)):
        assert readmap.read_column("x", 1700, mod, numeric="float").arrow == (
            pa.float64()
        )
    array = readmap.read_column("x", 1231, -1, numeric="float")
    assert array.arrow == pa.list_(pa.float64())


@pytest.mark.parametrize(
    ("oid", "mod", "match"),
    [
        (790, -1, r"money.*x::numeric"),
        (791, -1, r"money"),
        (1266, -1, r"timetz.*x::time"),
        (1700, typmod(80, 2), r"76 digits"),
        (3904, -1, r"OID 3904.*x::text"),
    ],
)
def test_refused_types_name_the_column_and_a_cast(
    oid: int, mod: int, match: str
) -> None:
    with pytest.raises(ValidationError, match=match) as caught:
        readmap.read_column("x", oid, mod)
    assert caught.value.field == "x"
    assert "\n" not in str(caught.value)


def test_catalogue_decides_enums_and_names_other_types() -> None:
    described = [(16384, -1), (16390, -1), (3904, -1), (23, -1)]
    assert columns.unknown_oids(described) == [3904, 16384, 16390]
    catalogue = [(16384, "e", "", "mood"), (16390, "b", "e", "_mood")]
    read = columns.read_columns(["m", "ms"], described[:2], catalogue, "exact")
    assert [c.arrow for c in read] == [pa.string(), pa.list_(pa.string())]
    with pytest.raises(ValidationError, match=r"'r'.*int4range \(range\)"):
        columns.read_columns(
            ["r"], [(3904, -1)], [(3904, "r", "", "int4range")], "exact"
        )


def test_numeric_mode_is_exact_or_float() -> None:
    assert readmap.check_numeric_mode("exact") == "exact"
    assert readmap.check_numeric_mode("float") == "float"
    for bad in ("decimal", None, 1, True):
        with pytest.raises(ValidationError, match="numeric"):
            readmap.check_numeric_mode(bad)
