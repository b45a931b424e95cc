"""The read map, one row per type, on both paths (docs/type-map.md).

Every type either reads with its documented dtype, with the same values and
dtypes on the row path and the columnar (ADBC) path, also when the result is
empty or all NULL, or is refused with one `ValidationError` line naming the
column and a cast. Nothing raw (pyarrow, psycopg, SQLAlchemy) escapes.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import select

import dashtam_nb as dn
from dashtam_nb.frames import as_floats
from dashtam_nb.io import adbc as adbc_pool
from dashtam_nb.io import fetch
from dashtam_nb.models import UserModel

pytestmark = pytest.mark.integration

S, I64, F64 = pa.string(), pa.int64(), pa.float64()
UID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

# (name, SQL expression, Arrow type, the value read)
READ: list[tuple[str, str, pa.DataType, Any]] = [
    ("int2", "(-32768)::int2", I64, -32768),
    ("int4", "2147483647::int4", I64, 2147483647),
    ("int8", "(-9223372036854775808)::int8", I64, -9223372036854775808),
    ("float4", "0.1::float4", F64, 0.1),
    ("float8", "(-1e300)::float8", F64, -1e300),
    ("float8_nan", "'NaN'::float8", F64, math.nan),
    ("float8_inf", "'-Infinity'::float8", F64, -math.inf),
    ("numeric_bounded", "(-123.45)::numeric(5, 2)", pa.decimal128(5, 2),
     Decimal("-123.45")),
    ("numeric_wide", "1.5::numeric(50, 10)", pa.decimal256(50, 10),
     Decimal("1.5000000000")),
    ("numeric_unbounded", "'12.500'::numeric", pa.decimal128(38, 3),
     Decimal("12.500")),
    ("numeric_expression", "1.25::numeric(5, 2) * 2", pa.decimal128(38, 2),
     Decimal("2.50")),
    ("numeric_domain", "7.5::price", pa.decimal128(6, 2), Decimal("7.50")),
    ("bool", "true", pa.bool_(), True),
    ("text", "E'l\\u00ednea\\n\"q\" \\\\ %s %(x)s'::text", S, 'línea\n"q" \\ %s %(x)s'),
    ("varchar", "'ab'::varchar(5)", S, "ab"),
    ("char", "'ab'::char(4)", S, "ab  "),
    ("name", "'pg_type'::name", S, "pg_type"),
    ("uuid", f"'{UID.upper()}'::uuid", S, UID),
    ("date", "'2020-02-29'::date", pa.date32(), date(2020, 2, 29)),
    ("time", "'23:59:59.999999'::time", pa.time64("us"), time(23, 59, 59, 999999)),
    ("timestamp", "'1999-12-31 23:59:59.5'::timestamp", pa.timestamp("us"),
     pd.Timestamp("1999-12-31 23:59:59.5")),
    ("timestamptz", "'2024-06-01 12:00:00+02'::timestamptz",
     pa.timestamp("us", tz="UTC"),
     pd.Timestamp("2024-06-01 10:00:00", tz="UTC")),
    ("interval", "'-1 day 02:03:04.5'::interval", pa.duration("us"),
     pd.Timedelta(timedelta(days=-1, hours=2, minutes=3, seconds=4.5))),
    ("bytea", "'\\x00ff10'::bytea", pa.binary(), b"\x00\xff\x10"),
    ("json", "'{\"b\": 1,  \"a\": [1, 2.50]}'::json", S, '{"b": 1,  "a": [1, 2.50]}'),
    ("jsonb", "'{\"b\": 1,  \"a\": [1, 2.50]}'::jsonb", S, '{"a": [1, 2.50], "b": 1}'),
    ("json_null", "'null'::jsonb", S, "null"),
    ("inet", "'192.168.0.1'::inet", S, "192.168.0.1"),
    ("inet_net", "'10.1.0.0/16'::inet", S, "10.1.0.0/16"),
    ("inet6", "'2001:db8::1'::inet", S, "2001:db8::1"),
    ("inet6_mapped", "'::ffff:1.2.3.4'::inet", S, "::ffff:1.2.3.4"),
    ("inet6_compat", "'::1.2.3.4'::inet", S, "::1.2.3.4"),
    ("inet6_loopback", "'::1'::inet", S, "::1"),
    ("cidr", "'10.0.0.0/8'::cidr", S, "10.0.0.0/8"),
    ("cidr6", "'2001:db8::/32'::cidr", S, "2001:db8::/32"),
    ("macaddr", "'08:00:2B:01:02:03'::macaddr", S, "08:00:2b:01:02:03"),
    ("macaddr8", "'08:00:2b:01:02:03:04:05'::macaddr8", S, "08:00:2b:01:02:03:04:05"),
    ("enum", "'ok'::mood", S, "ok"),
    ("enum_array", "ARRAY['ok', NULL, 'sad']::mood[]", pa.list_(S),
     ["ok", None, "sad"]),
    ("oid", "26::oid", I64, 26),
]  # fmt: skip

# ARRAY[...] of a numeric(p, s) loses the typmod on the server: unbounded.
_UNBOUNDED_IN_ARRAY = {
    "numeric_bounded": pa.decimal128(38, 2),
    "numeric_wide": pa.decimal128(38, 10),
    "numeric_domain": pa.decimal128(38, 2),
}
# Arrays of each scalar: list<element type>, with a NULL element.
ARRAYS: list[tuple[str, str, pa.DataType, Any]] = [
    (
        f"{name}_array",
        f"ARRAY[{expr}, NULL]",
        pa.list_(_UNBOUNDED_IN_ARRAY.get(name, typ)),
        [value, None],
    )
    for name, expr, typ, value in READ
    if name not in {"enum", "enum_array", "json_null", "float8_nan", "oid"}
] + [
    (
        "numeric_typmod_array",
        "'{1.5,NULL,-0.25}'::numeric(5, 2)[]",
        pa.list_(pa.decimal128(5, 2)),
        [Decimal("1.50"), None, Decimal("-0.25")],
    ),
    ("empty_array", "'{}'::int4[]", pa.list_(I64), []),
    # Multi-dimensional: the elements in row-major order, on both paths.
    ("matrix", "ARRAY[ARRAY[1, 2], ARRAY[3, NULL]]", pa.list_(I64), [1, 2, 3, None]),
]

REFUSED: list[tuple[str, str, str]] = [
    ("money", "12.5::money", "money"),
    ("money_array", "ARRAY[12.5::money]", "money"),
    ("timetz", "'12:00+02'::timetz", "timetz"),
    ("timetz_array", "ARRAY['12:00+02'::timetz]", "timetz"),
    ("numeric_nan", "'NaN'::numeric", "NaN"),
    ("numeric_inf", "'Infinity'::numeric", "Infinity"),
    ("numeric_minus_inf", "'-Infinity'::numeric", "Infinity"),
    ("numeric_too_wide", "1::numeric(80, 2)", "76 digits"),
    ("time_24", "'24:00:00'::time", "24:00"),
    ("interval_months", "'1 mon 2 days'::interval", "months"),
    ("date_infinite", "'infinity'::date", "infinite"),
    ("timestamptz_infinite", "'-infinity'::timestamptz", "infinite"),
    ("range", "int4range(1, 5)", r"int4range \(range\)"),
    ("multirange", "int4multirange(int4range(1, 5))", r"\(multirange\)"),
    ("composite_row", "ROW(1, 'a')", r"record \(pseudo\)"),
    ("composite_type", "ROW(1, 'a')::pair", r"pair \(composite\)"),
    ("range_array", "ARRAY[int4range(1, 5)]", r"\(array of range\)"),
    ("unnamed_oid", "'1'::regclass", "regclass"),
    ("point", "point(1, 2)", "point"),
    ("tsvector", "'a b'::tsvector", "tsvector"),
]

PATHS = (False, True)  # row path, columnar path


@pytest.fixture(scope="module")
def typed_db(server_url: object) -> Iterator[dn.Database]:
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}_types"
    db = dn.connect(name, fresh=True)
    db.execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
    db.execute("CREATE DOMAIN price AS numeric(6, 2)")
    db.execute("CREATE TYPE pair AS (n int, s text)")
    yield db
    dn.run(db.close())
    dn.drop_database(name)
    dn.set_database(None)


def read(
    db: dn.Database, sql: str, fast: bool, **options: Any
) -> tuple[pd.DataFrame, int]:
    """The frame of ``sql`` on one path, and how many ADBC reads it took."""
    calls: list[int] = []
    real_read = adbc_pool.read

    async def counting(*args: Any) -> pa.Table:
        calls.append(1)
        return await real_read(*args)

    async def run() -> pd.DataFrame:
        async with db.get_session() as session:
            return await fetch.afetch_frame(session, sql, fast=fast, **options)

    adbc_pool.read = counting  # type: ignore[assignment]
    try:
        return dn.run(run()), len(calls)
    finally:
        adbc_pool.read = real_read


def same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and math.isnan(left):
        return isinstance(right, float) and math.isnan(right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, Decimal):
        # Equal and at the same scale: 1.50 is not 1.5 here.
        return isinstance(right, Decimal) and str(left) == str(right)
    return bool(left == right)


def value_of(frame: pd.DataFrame) -> Any:
    cell = frame.iloc[0, 0]
    if isinstance(cell, pa.Scalar):
        return cell.as_py()
    return list(cell) if isinstance(cell, np.ndarray) else cell


@pytest.mark.parametrize(("name", "expr", "typ", "value"), READ + ARRAYS)
@pytest.mark.parametrize("fast", PATHS)
def test_each_type_reads_with_its_documented_dtype(
    typed_db: dn.Database,
    name: str,
    expr: str,
    typ: pa.DataType,
    value: Any,
    fast: bool,
) -> None:
    frame, adbc_reads = read(typed_db, f"SELECT {expr} AS {name}", fast)
    assert adbc_reads == (1 if fast else 0)
    assert list(frame.columns) == [name]
    assert frame[name].dtype == pd.ArrowDtype(typ)
    assert same(value_of(frame), value), (value_of(frame), value)


@pytest.mark.parametrize(("name", "expr", "typ", "value"), READ + ARRAYS)
@pytest.mark.parametrize("fast", PATHS)
def test_empty_and_all_null_columns_keep_the_dtype(
    typed_db: dn.Database,
    name: str,
    expr: str,
    typ: pa.DataType,
    value: Any,
    fast: bool,
) -> None:
    if name.startswith(("numeric_unbounded", "numeric_expression")) or (
        name[: -len("_array")] in _UNBOUNDED_IN_ARRAY
    ):
        # No values, no scale: the documented decimal128(38, 0).
        typ = (
            pa.list_(pa.decimal128(38, 0)) if "array" in name else pa.decimal128(38, 0)
        )
    empty, _ = read(typed_db, f"SELECT {expr} AS v WHERE false", fast)
    assert empty["v"].dtype == pd.ArrowDtype(typ)
    assert len(empty) == 0
    # An outer join's missing side keeps the column's type and typmod.
    nulls, _ = read(
        typed_db,
        f"SELECT t.v FROM generate_series(1, 3) "
        f"LEFT JOIN (SELECT {expr} AS v) t ON false",
        fast,
    )
    assert nulls["v"].dtype == pd.ArrowDtype(typ)
    assert nulls["v"].isna().all()


def test_both_paths_give_equal_frames_of_every_type(typed_db: dn.Database) -> None:
    cases = [c for c in READ + ARRAYS if c[0] not in {"float8_nan"}]
    columns = ", ".join(f"{expr} AS {name}" for name, expr, _, _ in cases)
    sql = f"SELECT {columns} FROM generate_series(1, 3) UNION ALL SELECT " + ", ".join(
        "NULL" for _ in cases
    )
    row, _ = read(typed_db, sql, fast=False)
    columnar, adbc_reads = read(typed_db, sql, fast=True)
    assert adbc_reads == 1
    assert row.dtypes.to_dict() == columnar.dtypes.to_dict()
    pd.testing.assert_frame_equal(row, columnar, check_exact=True)
    assert row.equals(columnar)


@pytest.mark.parametrize(("name", "expr", "match"), REFUSED)
@pytest.mark.parametrize("fast", PATHS)
def test_types_without_a_dtype_are_refused_naming_the_column(
    typed_db: dn.Database, name: str, expr: str, match: str, fast: bool
) -> None:
    with pytest.raises(dn.ValidationError) as caught:
        read(typed_db, f"SELECT 1 AS fine, {expr} AS x", fast)
    message = str(caught.value)
    assert message.startswith("column 'x': ")
    assert re.search(match, message), message
    assert "cast it in the SQL (x::" in message
    assert "\n" not in message
    assert caught.value.field == "x"


@pytest.mark.parametrize("fast", PATHS)
def test_float_mode_reads_every_numeric_as_float64(
    typed_db: dn.Database, fast: bool
) -> None:
    sql = (
        "SELECT 1.25::numeric(5, 2) AS a, 'NaN'::numeric AS b, "
        "'Infinity'::numeric AS c, "
        "'-Infinity'::numeric AS d, sum(x) AS e, ARRAY[0.5::numeric] AS f "
        "FROM (VALUES (1.5), (2)) AS t(x)"
    )
    frame, _ = read(typed_db, sql, fast, numeric="float")
    assert set(frame.dtypes.astype(str)) == {
        "double[pyarrow]",
        "list<item: double>[pyarrow]",
    }
    row = frame.iloc[0]
    assert row["a"] == 1.25
    assert math.isnan(row["b"])
    assert (row["c"], row["d"], row["e"]) == (math.inf, -math.inf, 3.5)
    assert list(frame["f"].tolist()[0]) == [0.5]


def test_numeric_mode_is_checked_before_any_sql(typed_db: dn.Database) -> None:
    with pytest.raises(dn.ValidationError, match="numeric"):
        typed_db.frame("SELECT 1", numeric="decimal")  # type: ignore[arg-type]
    with pytest.raises(dn.ValidationError, match="numeric"):
        dn.Database(typed_db.url, numeric="approx")  # type: ignore[arg-type]


def test_database_default_numeric_mode_and_per_call_override(
    typed_db: dn.Database,
) -> None:
    floats = dn.Database(typed_db.url, numeric="float")
    try:
        sql = "SELECT 2.5::numeric(4, 1) AS x"
        assert str(floats.frame(sql)["x"].dtype) == "double[pyarrow]"
        assert str(floats.frame(sql, numeric="exact")["x"].dtype) == (
            "decimal128(4, 1)[pyarrow]"
        )
        chunks = list(dn.stream_frames(floats, sql, chunk_rows=10))
        assert str(chunks[0]["x"].dtype) == "double[pyarrow]"
    finally:
        dn.run(floats.close())
    assert str(typed_db.frame("SELECT 2.5::numeric(4, 1) AS x")["x"].dtype) == (
        "decimal128(4, 1)[pyarrow]"
    )


@pytest.mark.parametrize("threshold", [0, 10**9])
def test_db_frame_takes_the_path_the_threshold_picks_with_same_frame(
    typed_db: dn.Database, monkeypatch: pytest.MonkeyPatch, threshold: int
) -> None:
    calls: list[int] = []
    real_read = adbc_pool.read

    async def counting(*args: Any) -> pa.Table:
        calls.append(1)
        return await real_read(*args)

    monkeypatch.setattr(adbc_pool, "read", counting)
    monkeypatch.setattr(fetch, "FAST_PATH_MIN_ROWS", threshold)
    sql = (
        "SELECT g AS n, (g / 4.0)::numeric(10, 2) AS x, ARRAY[g, NULL] AS a, "
        "'ok'::mood AS m, '{\"k\": 1}'::json AS j FROM generate_series(1, :rows) AS g"
    )
    frame = typed_db.frame(sql, {"rows": 50})
    assert calls == ([1] if threshold == 0 else [])
    assert len(frame) == 50
    assert frame["x"].iloc[1] == Decimal("0.50")
    assert list(frame["a"].iloc[0]) == [1, None]
    assert frame["j"].iloc[0] == '{"k": 1}'
    assert str(frame["m"].dtype) == "string[pyarrow]"


@pytest.mark.parametrize("fast", PATHS)
def test_stream_of_sql_text_has_the_map_dtypes(
    typed_db: dn.Database, fast: bool
) -> None:
    sql = (
        "SELECT g AS n, g * 1.5 AS x, '2020-01-01'::date + g AS d "
        "FROM generate_series(1, :rows) AS g ORDER BY g"
    )
    chunks = list(
        dn.stream_frames(typed_db, sql, {"rows": 25}, chunk_rows=10, fast=fast)
    )
    assert [len(c) for c in chunks] == [10, 10, 5]
    whole = pd.concat(chunks, ignore_index=True)
    expected = typed_db.frame(sql, {"rows": 25})
    assert whole.dtypes.to_dict() == expected.dtypes.to_dict()
    assert whole.equals(expected)


@pytest.mark.parametrize("fast", PATHS)
def test_describe_works_on_float_frames_and_as_floats_of_exact_ones(
    typed_db: dn.Database, fast: bool
) -> None:
    sql = "SELECT g::numeric(6, 2) / 4 AS x FROM generate_series(1, 8) AS g"
    exact, _ = read(typed_db, sql, fast)
    assert str(exact["x"].dtype).startswith("decimal128")
    summary = as_floats(exact).describe()
    assert summary.loc["count", "x"] == 8
    assert summary.loc["mean", "x"] == 1.125
    floats, _ = read(typed_db, sql, fast, numeric="float")
    assert floats.describe().loc["max", "x"] == 2.0


def test_select_of_a_model_gives_its_columns(typed_db: dn.Database) -> None:
    migrated = {c.name for c in UserModel.__table__.columns} - {"password_hash"}
    typed_db.execute(
        "CREATE TABLE users (id uuid PRIMARY KEY, email text, password_hash text, "
        "is_active bool, created_at timestamptz, updated_at timestamptz, "
        "is_deleted bool DEFAULT false, deleted_at timestamptz, version int DEFAULT 1)"
    )
    try:
        frame = typed_db.frame(select(UserModel))
        assert set(frame.columns) == migrated  # secrets only when named
        assert len(frame) == 0
        hashes = typed_db.frame(select(UserModel.email, UserModel.password_hash))
        assert list(hashes.columns) == ["email", "password_hash"]
        assert str(frame["id"].dtype) == "string[pyarrow]"
        assert str(frame["created_at"].dtype) == "timestamp[us, tz=UTC][pyarrow]"
    finally:
        typed_db.execute("DROP TABLE users")


@pytest.mark.parametrize("fast", PATHS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 AS a, 2 AS a",
        "SELECT 1 AS n; ",
        "SELECT 1 AS n -- a trailing comment",
        "VALUES (1, 'x'), (2, NULL)",
        "SHOW search_path",
    ],
)
def test_sql_text_shapes_read_alike_on_both_paths(
    typed_db: dn.Database, sql: str, fast: bool
) -> None:
    frame, _ = read(typed_db, sql, fast)
    other, _ = read(typed_db, sql, not fast)
    assert len(frame) >= 1
    assert list(frame.columns) == list(other.columns)
    assert frame.equals(other)


def test_parameters_are_sent_to_the_server_not_interpolated(
    typed_db: dn.Database,
) -> None:
    hostile = "x'); DROP TABLE never; --"
    for fast in PATHS:
        frame, _ = read(typed_db, "SELECT 1 AS n", fast)
        assert len(frame) == 1
    frame = typed_db.frame(
        "SELECT :v AS v, CAST(:w AS int8) + 1 AS w", {"v": hostile, "w": 41}
    )
    assert frame["v"].iloc[0] == hostile
    assert frame["w"].iloc[0] == 42
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    sql = (
        "SELECT g FROM generate_series(1, 2000) g "
        "WHERE g > :n AND :t < now() AND CAST(:u AS uuid) IS NOT NULL"
    )
    for fast in PATHS:

        async def run(fast: bool = fast) -> pd.DataFrame:
            async with typed_db.get_session() as session:
                return await fetch.afetch_frame(
                    session, sql, {"n": 1990, "t": when, "u": UID}, fast=fast
                )

        assert dn.run(run())["g"].tolist() == list(range(1991, 2001))


def test_sql_magic_types_selects_and_returning_as_db_frame_does(
    typed_db: dn.Database,
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    cases = [c for c in READ + ARRAYS if c[0] not in {"float8_nan"}]
    columns = ", ".join(f"{expr} AS {name}" for name, expr, _, _ in cases)
    typed_db.execute(f"CREATE TABLE magic_typed AS SELECT {columns} LIMIT 0")
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "dashtam_nb")
        name = typed_db.url.database
        cell = shell.run_cell_magic
        insert = f"INSERT INTO magic_typed SELECT {columns} RETURNING *"
        inserted = cell("sql", f"--db {name}", insert)
        # 'returning' in quoted text or a comment is no RETURNING clause.
        update = "UPDATE magic_typed SET text = 'returning' -- returning\n"
        done = cell("sql", f"--db {name}", update)
        selected = cell("sql", f"--db {name}", "SELECT * FROM magic_typed")
    finally:
        InteractiveShell.clear_instance()
    expected = typed_db.frame("SELECT * FROM magic_typed")
    assert str(done).startswith("1 row affected"), str(done)
    for got in (inserted, selected):
        assert got.dtypes.to_dict() == expected.dtypes.to_dict()
    pd.testing.assert_frame_equal(
        selected.drop(columns="text"), expected.drop(columns="text")
    )
    assert inserted.drop(columns="text").equals(expected.drop(columns="text"))
