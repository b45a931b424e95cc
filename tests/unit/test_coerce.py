"""`dashtam_nb.io.coerce`: which kind a column is, and what each kind accepts.

No server: columns are plain SQLAlchemy ``Column`` objects. The load path
(tests/integration/test_bulk.py) checks that these errors come before SQL;
here each decision is pinned, and the bisection for the first bad row is
checked against a plain loop.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    JSON,
    REAL,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    Uuid,
)
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.types import TypeEngine

import dashtam_nb as dn
from dashtam_nb.io.coerce import Target, coerce, coerce_arrow, kind_of

TABLE = Table(
    "t",
    MetaData(),
    Column("i2", SmallInteger, nullable=False),
    Column("i4", Integer),
    Column("i8", BigInteger),
    Column("f4", REAL),
    Column("f8", Float),
    Column("b", Boolean),
    Column("d", Date),
    Column("u", Uuid),
    Column("ts", DateTime(timezone=True)),
    Column("naive", DateTime()),
    Column("n", Numeric(6, 2)),
    Column("s", String(5)),
    Column("txt", Text),
    Column("jb", pg.JSONB),
    Column("js", JSON),
)
LABELS = ["a", "b", "c"]


def target(name: str) -> Target:
    column = TABLE.c[name]
    return Target(column, kind_of(column.type))


def series(values: list[Any]) -> pd.Series:
    return pd.Series(values, index=LABELS[: len(values)], dtype=object)


@pytest.mark.parametrize(
    ("sa_type", "kind"),
    [
        (Uuid(), "uuid"),
        (pg.UUID(), "uuid"),
        (pg.JSONB(), "jsonb"),
        (JSON(), "json"),  # text on the wire, validated as JSON
        (Boolean(), "bool"),
        (SmallInteger(), "int2"),
        (Integer(), "int4"),
        (BigInteger(), "int8"),
        (REAL(), "float4"),
        (Float(), "float8"),
        (pg.DOUBLE_PRECISION(), "float8"),
        (Date(), "date"),
        (DateTime(), "timestamp"),
        (DateTime(timezone=True), "timestamptz"),
        (pg.TIMESTAMP(timezone=True), "timestamptz"),
        (Numeric(18, 2), "numeric"),
        (Numeric(19, 2), "decimal"),  # wider than the int64 encoder: text
        (Numeric(), "decimal"),  # unbounded precision: text
        (String(50), "text"),
        (Text(), "text"),
        (Enum("a", "b", name="e"), "text"),
        (LargeBinary(), "bytea"),
        (Interval(), "interval"),
        (pg.INTERVAL(), "interval"),
        (pg.INET(), "inet"),
        (pg.CIDR(), "cidr"),
        (Time(), "time"),
        (Time(timezone=True), "other"),
        (pg.MACADDR(), "other"),
        (pg.ARRAY(Integer), "array"),
    ],
)
def test_kind_of_each_column_type(sa_type: TypeEngine[Any], kind: str) -> None:
    assert kind_of(sa_type) == kind


@pytest.mark.parametrize(
    ("name", "values", "reason"),
    [
        ("i2", [1, 40_000, 2], "row 'b': not an integer in range of int2"),
        ("i2", [1, None, 2], "row 'b': null in a NOT NULL column"),
        ("i2", [1.0, 2.5, 3], "row 'b': not an integer in range of int2"),
        ("i2", [1, "x", 2], "row 'b': mixed or unsupported value types"),
        ("i4", [1, 2**31, None], "row 'b': not an integer in range of int4"),
        ("u", ["00000000-0000-0000-0000-000000000001", "nope", None], "row 'b'"),
        ("u", ["{00000000-0000-0000-0000-000000000001}"], "row 'a': not a valid UUID"),
        ("ts", [datetime(2024, 1, 1)], "naive timestamps are ambiguous"),
        ("n", [1.5, 1.234, 3.0], "row 'b': more than 2 decimal places"),
        ("n", [Decimal("1.5"), Decimal("12345.67")], "row 'b': does not fit numeric"),
        ("s", ["abc", "abcdef", None], "row 'b': longer than 5 characters"),
        ("s", ["abc", "ab", "éééééé"], "row 'c': longer than 5 characters"),
        ("b", [True, "yes"], "row 'b': mixed or unsupported value types"),
        ("n", [1.5, Decimal("0.25")], "row 'b': mixed or unsupported value types"),
    ],
)
def test_bad_values_name_the_column_and_the_first_bad_row(
    name: str, values: list[Any], reason: str
) -> None:
    with pytest.raises(dn.ValidationError) as info:
        coerce(series(values), target(name))
    assert info.value.field == name
    assert str(info.value).startswith(f"column {name!r}")
    assert reason in str(info.value)


def test_sub_microsecond_timestamps_are_refused_not_rounded() -> None:
    stamps = pd.Series(
        pd.to_datetime(
            ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.0000001Z"], format="ISO8601"
        ),
        index=["a", "b"],
    )
    with pytest.raises(dn.ValidationError, match="row 'b': finer than microseconds"):
        coerce(stamps, target("ts"))


def test_what_each_kind_becomes() -> None:
    one = uuid.UUID(int=1)
    cases: dict[str, tuple[list[Any], pa.DataType, list[Any]]] = {
        "i8": ([1, None, -(2**63)], pa.int64(), [1, None, -(2**63)]),
        "f4": ([1.5, None], pa.float32(), [1.5, None]),
        "f8": ([1, 2.5], pa.float64(), [1.0, 2.5]),
        "b": ([True, None, False], pa.bool_(), [True, None, False]),
        "d": ([date(2024, 2, 29)], pa.date32(), [date(2024, 2, 29)]),
        "u": ([str(one).upper(), None], pa.binary(16), [one.bytes, None]),
        "n": (
            [1.5, -0.25, None],
            pa.decimal128(6, 2),
            [Decimal("1.50"), Decimal("-0.25"), None],
        ),
        "txt": (["x" * 10_000, None], pa.string(), ["x" * 10_000, None]),
        "jb": (
            [{"b": 1, "a": [1, 2]}, '"raw"'],
            pa.string(),
            ['{"a":[1,2],"b":1}', '"raw"'],
        ),
        "js": ([{"é": None}], pa.string(), ['{"\\u00e9":null}']),
    }
    for name, (values, typ, expected) in cases.items():
        out = coerce(series(values), target(name))
        assert out.type == typ, name
        assert out.to_pylist() == expected, name


def test_uuid_objects_and_uuid_bytes_pass_through() -> None:
    ids = [uuid.UUID(int=1), uuid.UUID(int=2**128 - 1)]
    out = coerce(series([*ids, None]), target("u"))
    assert out.to_pylist() == [ids[0].bytes, ids[1].bytes, None]
    raw = pa.array([i.bytes for i in ids], pa.binary(16))
    assert coerce_arrow(raw, target("u"), pd.Index(LABELS[:2])) is raw


def test_all_none_timestamps_load_as_nulls() -> None:
    for name, typ in (
        ("ts", pa.timestamp("us", tz="UTC")),
        ("naive", pa.timestamp("us")),
    ):
        out = coerce(series([None, None]), target(name))
        assert (out.type, out.null_count) == (typ, 2)


def test_aware_timestamps_are_kept_as_the_same_instant() -> None:
    local = pd.Series(pd.to_datetime(["2024-06-01T12:00:00+02:00"]), index=["a"])
    out = coerce(local, target("ts"))
    assert out.to_pylist() == [datetime(2024, 6, 1, 10, 0, tzinfo=UTC)]


def test_strings_are_not_timestamps() -> None:
    with pytest.raises(dn.ValidationError, match="values are not timestamps"):
        coerce(series(["2024-01-01T00:00:00Z"]), target("ts"))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.integers(min_value=-(2**15) - 5, max_value=2**15 + 5),
        min_size=1,
        max_size=300,
    )
)
def test_the_first_bad_row_is_found_as_a_loop_would(values: list[int]) -> None:
    labels = [f"r{i}" for i in range(len(values))]
    bad = [i for i, v in enumerate(values) if not -(2**15) <= v < 2**15]
    frame = pd.Series(values, index=labels, dtype="int64")
    if not bad:
        assert coerce(frame, target("i2")).to_pylist() == values
        return
    with pytest.raises(dn.ValidationError) as info:
        coerce(frame, target("i2"))
    assert f"row 'r{bad[0]}':" in str(info.value)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            # No NUL, no lone surrogates: both are refused (no UTF-8 text holds them).
            st.text(
                st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
                max_size=8,
            ),
        ),
        min_size=1,
        max_size=200,
    )
)
def test_length_limits_count_characters_not_bytes(values: list[str | None]) -> None:
    labels = list(range(len(values)))
    too_long = [i for i, v in enumerate(values) if v is not None and len(v) > 5]
    column = pd.Series(values, index=labels, dtype=object)
    if not too_long:
        assert coerce(column, target("s")).to_pylist() == values
        return
    with pytest.raises(dn.ValidationError) as info:
        coerce(column, target("s"))
    assert f"row {too_long[0]}:" in str(info.value)


@settings(max_examples=200, deadline=None)
@given(
    st.timedeltas(
        min_value=pd.Timedelta.min.to_pytimedelta(),
        max_value=pd.Timedelta.max.to_pytimedelta(),
    )
)
def test_interval_text_as_pandas_writes_it_means_the_same_duration(
    td: Any,
) -> None:
    from dashtam_nb.io.temporal import _parse_interval

    value = pd.Timedelta(td)
    for text in (value.isoformat(), str(value)):
        assert _parse_interval(text) == td, text


REFUSED = object()


def _kept_or_refused(frame: pd.Series, aim: Target) -> Any:
    """The one stored value, or ``REFUSED`` after a refusal naming the row."""
    why = ""
    try:
        return coerce(frame, aim).to_pylist()[0]
    except dn.ValidationError as error:
        why = str(error)
    assert "row 'only':" in why
    return REFUSED


@settings(max_examples=300, deadline=None)
@given(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([(6, 2), (14, 2), (18, 0), (18, 18), (1, 0), (30, 4), (38, 10)]),
)
def test_any_finite_float_into_any_numeric_is_exact_or_refused(
    value: float, shape: tuple[int, int]
) -> None:
    precision, scale = shape
    column = Column("n", Numeric(precision, scale))
    Table("wide", MetaData(), column)
    aim = Target(column, kind_of(column.type))
    frame = pd.Series([value], index=["only"], dtype="Float64")
    stored = _kept_or_refused(frame, aim)
    if stored is REFUSED:
        return
    # Exact for a float: the stored number reads back as the same float.
    assert float(Decimal(str(stored))) == value
    assert -Decimal(str(stored)).as_tuple().exponent <= scale  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
    ),
    st.sampled_from(["i2", "i4", "i8", "f4", "f8", "n"]),
)
def test_any_number_into_any_number_column_is_kept_or_refused(
    value: float | int, name: str
) -> None:
    dtype = "Int64" if isinstance(value, int) else "Float64"
    frame = pd.Series([value], index=["only"], dtype=dtype)
    stored = _kept_or_refused(frame, target(name))
    if stored is REFUSED:
        return
    if name == "f4":
        assert float(stored) == float(pa.scalar(float(value), pa.float32()).as_py())
    elif name == "f8" or isinstance(value, float):
        assert float(stored) == float(value)
    else:
        assert Decimal(str(stored)) == value
