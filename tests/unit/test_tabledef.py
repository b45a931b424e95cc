"""The write map: frame dtype -> PostgreSQL column type, and its refusals."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

import dashtam_nb as dn
from dashtam_nb.io.tabledef import DIALECT, columns_for, fits, sql_type

A = pd.ArrowDtype

ARROW = [
    (pa.int8(), "SMALLINT"),
    (pa.int16(), "SMALLINT"),
    (pa.uint8(), "SMALLINT"),
    (pa.int32(), "INTEGER"),
    (pa.uint16(), "INTEGER"),
    (pa.int64(), "BIGINT"),
    (pa.uint32(), "BIGINT"),
    (pa.float32(), "REAL"),
    (pa.float64(), "DOUBLE PRECISION"),
    (pa.bool_(), "BOOLEAN"),
    (pa.string(), "TEXT"),
    (pa.large_string(), "TEXT"),
    (pa.decimal128(14, 2), "NUMERIC(14, 2)"),
    (pa.decimal256(60, 0), "NUMERIC(60, 0)"),
    (pa.timestamp("us", "UTC"), "TIMESTAMP WITH TIME ZONE"),
    (pa.timestamp("ns", "Asia/Tokyo"), "TIMESTAMP WITH TIME ZONE"),
    (pa.timestamp("ms"), "TIMESTAMP WITHOUT TIME ZONE"),
    (pa.date32(), "DATE"),
    (pa.date64(), "DATE"),
    (pa.time64("us"), "TIME WITHOUT TIME ZONE"),
    (pa.time32("s"), "TIME WITHOUT TIME ZONE"),
    (pa.duration("ns"), "INTERVAL"),
    (pa.binary(), "BYTEA"),
    (pa.large_binary(), "BYTEA"),
    (pa.binary(16), "BYTEA"),
    (pa.list_(pa.int64()), "BIGINT[]"),
    (pa.large_list(pa.string()), "TEXT[]"),
    (pa.list_(pa.decimal128(10, 3)), "NUMERIC(10, 3)[]"),
    (pa.dictionary(pa.int8(), pa.string()), "TEXT"),
]


@pytest.mark.parametrize(("typ", "ddl"), ARROW, ids=[str(t) for t, _ in ARROW])
def test_each_arrow_type_maps_to_its_exact_column_type(
    typ: pa.DataType, ddl: str
) -> None:
    assert sql_type("c", typ).compile(dialect=DIALECT) == ddl


@pytest.mark.parametrize(
    "typ",
    [
        pa.uint64(),
        pa.float16(),
        pa.null(),
        pa.struct([("a", pa.int64())]),
        pa.map_(pa.string(), pa.int64()),
        pa.list_(pa.list_(pa.int64())),
        pa.decimal128(5, -2),
    ],
    ids=str,
)
def test_types_without_an_exact_column_are_refused_naming_the_column(
    typ: pa.DataType,
) -> None:
    with pytest.raises(dn.ValidationError, match="column 'c'") as info:
        sql_type("c", typ)
    assert info.value.field == "c"


def test_numpy_and_pandas_dtypes_and_primary_keys() -> None:
    df = pd.DataFrame(
        {
            "i": pd.Series([1], dtype="int64"),
            "n": pd.Series([1], dtype="Int16"),
            "f": [0.5],
            "b": [True],
            "s": pd.Series(["x"], dtype=object),
            "c": pd.Series(["x"], dtype="category"),
            "t": pd.to_datetime(["2020-01-01"]).tz_localize("UTC"),
        }
    )
    columns, _ = columns_for(df, ["i"])
    ddl = {c.name: (c.type.compile(dialect=DIALECT), c.nullable) for c in columns}
    assert ddl == {
        "i": ("BIGINT", False),
        "n": ("SMALLINT", True),
        "f": ("DOUBLE PRECISION", True),
        "b": ("BOOLEAN", True),
        "s": ("TEXT", True),
        "c": ("TEXT", True),
        "t": ("TIMESTAMP WITH TIME ZONE", True),
    }


@pytest.mark.parametrize(
    ("values", "why"),
    [
        (["a", 1], "mixed"),
        ([Decimal(1)], "mixed"),
        ([], "no values"),
        ([None], "no values"),
    ],
)
def test_object_columns_need_str_or_bytes(values: list[object], why: str) -> None:
    df = pd.DataFrame({"o": pd.Series(values, dtype=object)})
    with pytest.raises(dn.ValidationError, match=why):
        columns_for(df, [])


@pytest.mark.parametrize(
    ("mine", "theirs", "ok"),
    [
        (sa.SmallInteger(), sa.BigInteger(), True),
        (sa.BigInteger(), sa.Numeric(20, 2), True),
        (sa.Numeric(10, 2), sa.Numeric(14, 2), True),
        (sa.Numeric(38, 2), sa.Numeric(14, 2), True),  # values checked by coerce
        (sa.Numeric(10, 1), sa.Numeric(38, 2), False),  # scale differs, wide path
        (sa.Numeric(10, 2), sa.Numeric(38, 2), True),
        (sa.Text(), sa.Uuid(), True),
        (sa.Text(), sa.BigInteger(), False),
        (sa.Double(), sa.REAL(), False),  # float64 into real would round
        (sa.REAL(), sa.Double(), True),
        (sa.BigInteger(), sa.Double(), False),  # int64 into double would round
        (sa.Time(), sa.Time(), True),
        (sa.Text(), sa.Interval(), False),
    ],
)
def test_append_accepts_only_exact_fits(
    mine: sa.types.TypeEngine[object], theirs: sa.types.TypeEngine[object], ok: bool
) -> None:
    assert fits(sa.Column("c", mine), sa.Column("c", theirs)) is ok


def test_a_dtype_arrow_cannot_hold_is_refused_naming_the_column() -> None:
    df = pd.DataFrame({"z": [1 + 2j, 3j]})
    with pytest.raises(dn.ValidationError, match=r"column 'z'.*complex128"):
        columns_for(df, [])
