"""Writes are exact or refused: a property test over column types x dtypes x edges.

Each example builds a one-to-three-row frame of one dtype, loads it with
`load_frame` into a table of one column type, and then either reads it back
(``db.frame``) and finds exactly the value an independent oracle expects
under the documented widening, or gets a `ValidationError` naming the
column and a row that the oracle refuses, with the table still empty. Any
other outcome (a raw exception, a wrong value, a partial load) fails.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import os
import re
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql as pg

import dashtam_nb as dn
from dashtam_nb.io.load import aload_frame

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.integration

A = pd.ArrowDtype
UTC = dt.UTC
_DAYS_SEEN: dict[str, list[dt.timedelta]] = {}


class _Refuse:
    def __repr__(self) -> str:
        return "REFUSE"


class Matrix:
    """The file's database and its tables (short repr for hypothesis)."""

    def __init__(self, db: dn.Database, tables: dict[str, sa.Table]) -> None:
        self.db, self.tables = db, tables

    def __repr__(self) -> str:
        return "Matrix()"


REFUSE = _Refuse()  # the oracle's "must be refused"
EXAMPLES = int(os.environ.get("DASHTAM_MATRIX_EXAMPLES", "400"))
TRIED: dict[str, int] = {"stored": 0, "refused": 0}

# column name -> (SQLAlchemy type, SQL expression reading it back)
COLUMNS: dict[str, tuple[Any, str]] = {
    "int2": (sa.SmallInteger(), "v"),
    "int4": (sa.Integer(), "v"),
    "int8": (sa.BigInteger(), "v"),
    "float4": (sa.REAL(), "v"),
    "float8": (pg.DOUBLE_PRECISION(), "v"),
    "numeric14_2": (sa.Numeric(14, 2), "v"),
    "numeric": (sa.Numeric(), "v::text"),
    "bool": (sa.Boolean(), "v"),
    "text": (sa.Text(), "v"),
    "varchar3": (sa.String(3), "v"),
    "uuid": (sa.Uuid(), "v"),
    "date": (sa.Date(), "v"),
    "time": (sa.Time(), "v"),
    "timestamp": (sa.DateTime(), "v"),
    "timestamptz": (sa.DateTime(timezone=True), "v"),
    "interval": (pg.INTERVAL(), "v"),
    "bytea": (pg.BYTEA(), "v"),
    "jsonb": (pg.JSONB(), "v::text"),
    "json": (sa.JSON(), "v::text"),
    "inet": (pg.INET(), "v::text"),
    "text_array": (pg.ARRAY(sa.Text()), "v"),
    "int8_array": (pg.ARRAY(sa.BigInteger()), "v"),
}
RANGES = {"int2": 15, "int4": 31, "int8": 63}

# --- frame dtypes: a value strategy and how a list of values becomes a Series
I64 = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, 2, -1, 2**15, -(2**15) - 1, 2**31, 2**53 + 1, 2**24 + 1]),
)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(places=3, min_value=-(10**13), max_value=10**13).map(float),
    st.sampled_from([0.5, 1.0, 2.0, 0.1, 1e300, -0.0, 2.0**53]),
)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
LETTERS = st.text("abxyz é\U0001f600\x00", min_size=1, max_size=5)
NAIVE = st.datetimes(dt.datetime(1678, 1, 1), dt.datetime(2261, 12, 31))
DAYS = st.timedeltas(dt.timedelta(days=-(10**5)), dt.timedelta(days=10**5))


def _forms(td: dt.timedelta) -> st.SearchStrategy[str]:
    forms = [str(pd.Timedelta(td)), pd.Timedelta(td).isoformat()]
    for form in forms:  # the oracle's record of what each text means
        _DAYS_SEEN[form] = [td]
    return st.sampled_from(forms)


def _address() -> st.SearchStrategy[str]:
    return st.ip_addresses().flatmap(
        lambda ip: st.integers(0, ip.max_prefixlen).map(lambda p: f"{ip}/{p}")
    )


STRINGS = st.one_of(
    TEXT,
    LETTERS,
    st.sampled_from(["", "NULL", 'a"b\\c', "tab\tnew\nline", "\U0001f600\u00e9"]),
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.dates().map(dt.date.isoformat),
    st.times().map(dt.time.isoformat),
    DAYS.flatmap(_forms),
    st.sampled_from(["1 mon", "P1M", "P1Y", "10:00+02", "10.0.0.1%eth0", "1.5"]),
    _address(),
    I64.map(str),
    st.sampled_from(["true", "false", "1.25", "-7"]),
    st.sampled_from(['{"a": 1}', "[1, 2.50]", '"x"', "nul\\u0000", '"\\u0000"']),
)
JSONISH = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        I64.map(np.int64),
        st.floats(allow_nan=True),
        st.decimals(allow_nan=False, places=3),
        NAIVE,
        TEXT,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(TEXT, st.integers(0, 3)), inner, max_size=3),
    ),
    max_leaves=6,
)


def _arrow(typ: pa.DataType) -> Callable[[list[Any]], pd.Series]:
    return lambda v: pd.Series(pa.array(v, type=typ), dtype=A(typ))


def _nullable(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


DTYPES: dict[str, tuple[st.SearchStrategy[Any], Callable[[list[Any]], pd.Series]]] = {
    "int64": (I64, lambda v: pd.Series(v, dtype="int64")),
    "Int64": (_nullable(I64), lambda v: pd.Series(v, dtype="Int64")),
    "a_int64": (_nullable(I64), _arrow(pa.int64())),
    "float64": (FLOATS, lambda v: pd.Series(v, dtype="float64")),
    "Float64": (_nullable(FLOATS), lambda v: pd.Series(v, dtype="Float64")),
    "a_float64": (_nullable(FLOATS), _arrow(pa.float64())),
    "bool": (st.booleans(), lambda v: pd.Series(v, dtype="bool")),
    "boolean": (_nullable(st.booleans()), lambda v: pd.Series(v, dtype="boolean")),
    "a_bool": (_nullable(st.booleans()), _arrow(pa.bool_())),
    "object_str": (_nullable(STRINGS), lambda v: pd.Series(v, dtype=object)),
    "string": (_nullable(STRINGS), lambda v: pd.Series(v, dtype="string")),
    "a_string": (_nullable(STRINGS), _arrow(pa.string())),
    "datetime64": (
        st.one_of(NAIVE, NAIVE.map(lambda d: d.replace(hour=0, minute=0, second=0))),
        lambda v: pd.Series(pd.to_datetime(v), dtype="datetime64[ns]"),
    ),
    "datetime64_ns": (
        st.tuples(NAIVE, st.integers(0, 999)),
        lambda v: pd.Series(
            [pd.Timestamp(d) + pd.Timedelta(n, "ns") for d, n in v],
            dtype="datetime64[ns]",
        ),
    ),
    "datetime64_utc": (
        NAIVE,
        lambda v: pd.Series(pd.to_datetime(v).tz_localize("UTC")),
    ),
    "a_timestamptz": (
        _nullable(NAIVE.map(lambda d: d.replace(tzinfo=UTC))),
        _arrow(pa.timestamp("us", "UTC")),
    ),
    "timedelta64": (DAYS, lambda v: pd.Series(pd.to_timedelta(v))),
    "a_date": (_nullable(st.dates()), _arrow(pa.date32())),
    "a_time": (_nullable(st.times()), _arrow(pa.time64("us"))),
    "a_decimal": (
        _nullable(st.decimals(places=2, min_value=-(10**12) + 1, max_value=10**12 - 1)),
        _arrow(pa.decimal128(14, 2)),
    ),
    "object_bytes": (
        _nullable(st.binary(max_size=4)),
        lambda v: pd.Series(v, dtype=object),
    ),
    "object_json": (
        _nullable(st.dictionaries(TEXT, JSONISH, max_size=3)),
        lambda v: pd.Series(v, dtype=object),
    ),
    "a_list_int64": (
        _nullable(st.lists(_nullable(I64), max_size=3)),
        _arrow(pa.list_(pa.int64())),
    ),
    "object_list_str": (
        _nullable(st.lists(_nullable(TEXT), max_size=3)),
        lambda v: pd.Series(v, dtype=object),
    ),
}
NUMPY_NAN_IS_NULL = {"float64", "Float64"}


# --- the oracle: what each column must hold for each value, or REFUSE
def _is_str(dtype: str) -> bool:
    return dtype in {"object_str", "string", "a_string"}


def _int(col: str, v: Any) -> Any:
    bits = RANGES[col]
    if isinstance(v, float | Decimal):
        if not (math.isfinite(v) and v == int(v)):
            return REFUSE
        v = int(v)
    if isinstance(v, str):
        if not re.fullmatch(r"-?[0-9]+", v):
            return REFUSE
        v = int(v)
    return v if -(2**bits) <= v < 2**bits else REFUSE


def _f32(x: Any) -> np.float32:
    with np.errstate(over="ignore"):  # out of range is inf, then refused
        return np.float32(x)


def _float(col: str, v: Any, dtype: str) -> Any:
    f32 = col == "float4"
    if isinstance(v, bool):
        return REFUSE
    if isinstance(v, int):
        return float(v) if abs(v) <= (2**24 if f32 else 2**53) else REFUSE
    if isinstance(v, Decimal):  # stored when its shortest float text is v
        x = float(_f32(v)) if f32 else float(v)
        text = str(_f32(x)) if f32 else repr(x)
        return x if Decimal(text) == v else REFUSE
    if isinstance(v, str):
        try:
            x = float(v)
        except ValueError:
            return REFUSE
        return float(_f32(x)) if f32 else x
    if f32 and not math.isnan(v) and float(_f32(v)) != v:
        return REFUSE
    return float(v)


def _numeric(col: str, v: Any) -> Any:
    if isinstance(v, bool):
        return REFUSE
    if isinstance(v, float):
        if not math.isfinite(v):
            return REFUSE
        v = Decimal(repr(v))
    elif isinstance(v, str):
        if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", v):
            return REFUSE
        v = Decimal(v)
    d = Decimal(v)
    if col == "numeric14_2" and (abs(d) >= 10**12 or d != d.quantize(Decimal("0.01"))):
        return REFUSE
    return d


def _json(col: str, v: Any) -> Any:
    """Expected parsed JSON (numbers as Decimal/int), or REFUSE."""

    def conv(x: Any) -> Any:
        if x is None or isinstance(x, bool):
            return x
        if isinstance(x, int | np.integer):
            return int(x)
        if isinstance(x, float):
            if not math.isfinite(x):
                raise ValueError
            return Decimal(repr(x))
        if isinstance(x, Decimal):
            if not x.is_finite():
                raise ValueError
            return x
        if isinstance(x, dt.datetime):
            return x.isoformat()
        if isinstance(x, str):
            if col == "jsonb" and "\x00" in x:
                raise ValueError
            return x
        if isinstance(x, list):
            return [conv(i) for i in x]
        if isinstance(x, dict):
            if not all(isinstance(k, str) for k in x):
                raise ValueError
            return {conv(k): conv(i) for k, i in x.items()}
        raise ValueError

    try:
        if isinstance(v, str):

            def const(name: str) -> Any:
                raise ValueError(name)

            v = json.loads(v, parse_float=Decimal, parse_constant=const)
        return conv(v)
    except ValueError:
        return REFUSE


def _interval(v: str) -> Any:
    for td in _DAYS_SEEN.get(v, ()):
        return td
    clock = _time_text(v)  # '10:30:00' is also PostgreSQL's interval text
    if isinstance(clock, dt.time):
        return dt.timedelta(
            hours=clock.hour,
            minutes=clock.minute,
            seconds=clock.second,
            microseconds=clock.microsecond,
        )
    return REFUSE


def expect(col: str, dtype: str, v: Any) -> Any:
    """The value column ``col`` must hold for frame value ``v``, or REFUSE."""
    if v is None:
        return None
    if dtype in NUMPY_NAN_IS_NULL and isinstance(v, float) and math.isnan(v):
        return None
    if dtype == "datetime64_ns":
        d, ns = v
        v = REFUSE if ns else d
        if v is REFUSE:
            return REFUSE
    if col in RANGES:
        ok = dtype.startswith(("int", "Int", "a_int", "float", "Float", "a_float"))
        ok = ok or dtype in {"bool", "boolean", "a_bool", "a_decimal"} or _is_str(dtype)
        return _int(col, int(v) if isinstance(v, bool) else v) if ok else REFUSE
    if col in {"float4", "float8"}:
        ok = dtype.startswith(("int", "Int", "a_int", "float", "Float", "a_float"))
        ok = ok or _is_str(dtype) or dtype == "a_decimal"
        return _float(col, v, dtype) if ok else REFUSE
    if col.startswith("numeric"):
        ok = dtype.startswith(("int", "Int", "a_int", "float", "Float", "a_float"))
        return (
            _numeric(col, v) if ok or _is_str(dtype) or dtype == "a_decimal" else REFUSE
        )
    if col == "bool":
        if dtype in {"bool", "boolean", "a_bool"}:
            return v
        if dtype in {"int64", "Int64", "a_int64"}:
            return bool(v) if v in (0, 1) else REFUSE
        return (
            {"true": True, "false": False}.get(v, REFUSE) if _is_str(dtype) else REFUSE
        )
    if col in {"text", "varchar3"}:
        if not _is_str(dtype) or "\x00" in v:
            return REFUSE
        return v if col == "text" or len(v) <= 3 else REFUSE
    if col == "uuid":
        ok = _is_str(dtype) and bool(
            re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", v)
        )
        return str(uuid.UUID(v)) if ok else REFUSE
    if col == "date":
        if dtype == "a_date":
            return v
        if dtype in {"datetime64", "datetime64_ns"}:
            return v.date() if v.time() == dt.time(0) else REFUSE
        if _is_str(dtype) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            return dt.date.fromisoformat(v)
        return REFUSE
    if col == "time":
        if dtype == "a_time":
            return v
        return _time_text(v) if _is_str(dtype) else REFUSE
    if col == "timestamp":
        return v if dtype in {"datetime64", "datetime64_ns"} else REFUSE
    if col == "timestamptz":
        if dtype == "datetime64_utc":
            return v.replace(tzinfo=UTC)
        return v if dtype == "a_timestamptz" else REFUSE
    if col == "interval":
        if dtype == "timedelta64":
            return v
        return _interval(v) if _is_str(dtype) else REFUSE
    if col == "bytea":
        return v if dtype == "object_bytes" else REFUSE
    if col in {"json", "jsonb"}:
        ok = dtype in {"object_json", "int64", "Int64", "a_int64", "bool", "boolean"}
        ok = ok or dtype in {"float64", "Float64", "a_float64", "a_bool", "a_decimal"}
        ok = ok or dtype in {"a_list_int64", "object_list_str"}
        return _json(col, v) if ok or _is_str(dtype) else REFUSE
    if col == "inet":
        if not _is_str(dtype) or "%" in v:
            return REFUSE
        try:
            return ipaddress.ip_interface(v)
        except ValueError:
            return REFUSE
    if col == "text_array":
        if dtype == "a_list_int64" and all(x is None for x in v):
            return v  # no numbers: the same array whatever the element type
        if dtype != "object_list_str" or any(s and "\x00" in s for s in v):
            return REFUSE
        return v
    if col == "int8_array":
        if dtype == "object_list_str" and all(x is None for x in v):
            return v  # no strings: the same array whatever the element type
        return v if dtype == "a_list_int64" else REFUSE
    raise AssertionError(col)


def _time_text(v: str) -> Any:
    m = re.fullmatch(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?", v)
    if not m:
        return REFUSE
    h, mi, s = (int(g or 0) for g in m.groups()[:3])
    us = int((m.group(4) or "0").ljust(6, "0"))
    return dt.time(h, mi, s, us) if h < 24 and mi < 60 and s < 60 else REFUSE


# --- reading back
def _actual(col: str, cell: Any) -> Any:
    if cell is None:
        return None
    if col == "numeric":
        return Decimal(cell)
    if col in {"json", "jsonb"}:
        return json.loads(cell, parse_float=Decimal)
    if col == "inet":
        return ipaddress.ip_interface(cell)
    if col == "float4":  # compared as the float32 the column holds
        return float(_f32(cell))
    if col in {"text_array", "int8_array"}:
        # The read map (docs/type-map.md) gives arrays as lists; text is JSON.
        return json.loads(cell) if isinstance(cell, str) else list(cell)
    return cell


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        both_nan = math.isnan(expected) and math.isnan(actual)
        return both_nan or (expected == actual and str(expected) == str(actual))
    return bool(type(expected) is type(actual) and expected == actual) or (
        isinstance(expected, Decimal | int)
        and isinstance(actual, Decimal | int)
        and not isinstance(expected, bool)
        and expected == actual
    )


@pytest.fixture(scope="module")
def matrix(server_url: object) -> Iterator[Matrix]:
    """One database for the file, with one empty table per column type."""
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}_matrix"
    database = dn.connect(name, fresh=True)
    dn.set_database(None)
    meta = sa.MetaData()
    tables = {
        c: sa.Table(f"m_{c}", meta, sa.Column("k", sa.Integer), sa.Column("v", typ))
        for c, (typ, _) in COLUMNS.items()
    }
    for table in tables.values():
        database.execute(
            str(sa.schema.CreateTable(table).compile(dialect=pg.dialect()))
        )
    yield Matrix(database, tables)
    dn.run(database.close())
    dn.drop_database(name)
    print(
        f"\nwrite matrix: {TRIED['stored']} stored exactly, {TRIED['refused']} refused"
    )


def _load(db: dn.Database, df: pd.DataFrame, table: sa.Table) -> int:
    async def work() -> int:
        async with db.get_session() as session:
            return await aload_frame(session, df, table)

    return dn.run(work())


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_every_write_is_exact_or_refused_naming_column_and_row(
    matrix: Matrix, data: st.DataObject
) -> None:
    db, tables = matrix.db, matrix.tables
    col = data.draw(st.sampled_from(sorted(COLUMNS)), label="column")
    dtype = data.draw(st.sampled_from(sorted(DTYPES)), label="dtype")
    strategy, build = DTYPES[dtype]
    values = data.draw(st.lists(strategy, min_size=1, max_size=3), label="values")
    labels = [f"r{i}" for i in range(len(values))]
    series = build(values)
    series.index = labels
    df = pd.DataFrame({"k": np.arange(len(values)), "v": series}, index=labels)
    expected = [expect(col, dtype, v) for v in values]
    table = tables[col]
    try:
        _load(db, df, table)
    except dn.ValidationError as exc:
        message = str(exc)
        assert any(e is REFUSE for e in expected), (
            f"refused, but {expected!r} can be stored: {message}"
        )
        named = re.match(r"column 'v', row '(r\d+)': \S", message)
        assert named, message
        assert "\n" not in message
        assert expected[labels.index(named.group(1))] is REFUSE, message
        assert db.scalar(f"SELECT count(*) FROM {table.name}") == 0
        TRIED["refused"] += 1
        return
    try:
        assert not any(e is REFUSE for e in expected), f"stored, expected {expected!r}"
        back = db.frame(f"SELECT {COLUMNS[col][1]} AS v FROM {table.name} ORDER BY k")
        cells = pa.array(back["v"].array).to_pylist() if len(back) else []
        got = [_actual(col, c) for c in cells]
        assert len(got) == len(expected)
        for e, g in zip(expected, got, strict=True):
            assert _same(e, g), f"{col} <- {dtype}: expected {e!r}, read back {g!r}"
        TRIED["stored"] += 1
    finally:
        db.execute(f"TRUNCATE {table.name}")
