"""write_frame: frame -> new table -> frame, exact; if_exists; atomic replace."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dashtam_nb as dn
from tests.support.frame_checks import assert_identical

if TYPE_CHECKING:
    from collections.abc import Iterator

A = pd.ArrowDtype
UTC = dt.UTC


@pytest.fixture(scope="module")
def db(server_url: object) -> Iterator[dn.Database]:
    """One empty database for this module; each test uses its own tables."""
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}_write"
    database = dn.connect(name, fresh=True)
    dn.set_database(None)
    yield database
    dn.run(database.close())
    dn.drop_database(name)


def _name() -> str:
    return f"w_{uuid.uuid4().hex[:10]}"


def _same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """`assert_identical`, also for NaN in Arrow floats (Arrow's equals says no)."""
    floats = [c for c in right.columns if pd.api.types.is_float_dtype(right[c].dtype)]
    for c in floats:
        a, b = (pa.array(f[c].array) for f in (left, right))
        assert a.type == b.type
        assert a.is_null().equals(b.is_null())
        assert pc.is_nan(a).equals(pc.is_nan(b))
        keep = pc.and_(pc.invert(pc.is_nan(a)), a.is_valid())
        assert a.filter(keep).equals(b.filter(keep))
    rest = [c for c in right.columns if c not in floats]
    assert list(left.columns) == list(right.columns)
    assert_identical(left[rest], right[rest])


def _col(values: list[Any], typ: pa.DataType) -> pd.Series:
    return pd.Series(pa.array(values, type=typ), dtype=A(typ))


# Every dtype db.frame returns, with edge values (NULL, min/max, unicode, ...).
READ_DTYPES: dict[str, tuple[list[Any], pa.DataType]] = {
    "int64": ([0, None, -(2**63), 2**63 - 1], pa.int64()),
    "double": ([1.5, None, float("nan"), float("-inf")], pa.float64()),
    "bool": ([True, None, False, True], pa.bool_()),
    "string": (["a", None, "", "é\u2603 \U0001f600"], pa.string()),
    "decimal": (
        [Decimal("1.50"), None, Decimal("-999999999999.99"), Decimal("0.00")],
        pa.decimal128(14, 2),
    ),
    "decimal38": (
        [Decimal("1.50"), None, Decimal("9" * 36 + ".99"), Decimal("0.00")],
        pa.decimal128(38, 2),
    ),
    "decimal_small": ([Decimal("1.50"), None, Decimal("-2.00")], pa.decimal128(14, 2)),
    "timestamptz": (
        [
            dt.datetime(2020, 1, 1, tzinfo=UTC),
            None,
            dt.datetime(1, 1, 1, tzinfo=UTC),
            dt.datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ],
        pa.timestamp("us", "UTC"),
    ),
    "timestamp": (
        [
            dt.datetime(2020, 1, 1, 12),
            None,
            dt.datetime(1900, 1, 1),
            dt.datetime(2000, 1, 1),
        ],
        pa.timestamp("us"),
    ),
    "date": (
        [dt.date(2020, 2, 29), None, dt.date(1, 1, 1), dt.date(9999, 12, 31)],
        pa.date32(),
    ),
    "time": (
        [dt.time(10), None, dt.time(0), dt.time(23, 59, 59, 999999)],
        pa.time64("us"),
    ),
    "interval": (
        [
            dt.timedelta(days=1, microseconds=1),
            None,
            dt.timedelta(0),
            -dt.timedelta(hours=5),
        ],
        pa.duration("us"),
    ),
    "bytea": ([b"ab", None, b"", b"\x00\xff"], pa.binary()),
    "int_array": ([[1, 2], None, [], [None, 3]], pa.list_(pa.int64())),
    "text_array": ([["a", "b"], None, [], ["é", None]], pa.list_(pa.string())),
    # The rest of what the read map gives (docs/type-map.md): wide numerics
    # and arrays of every scalar.
    "decimal256": (
        [Decimal("1.000"), None, Decimal("9" * 45 + ".125"), Decimal("-0.001")],
        pa.decimal256(50, 3),
    ),
    "float_array": ([[1.5, None], None, [], [float("-inf")]], pa.list_(pa.float64())),
    "bool_array": ([[True, None], None, [], [False]], pa.list_(pa.bool_())),
    "date_array": ([[dt.date(2020, 1, 1)], None, [], [None]], pa.list_(pa.date32())),
    "timestamptz_array": (
        [[dt.datetime(2020, 1, 1, tzinfo=UTC)], None, [], [None]],
        pa.list_(pa.timestamp("us", "UTC")),
    ),
    "decimal_array": (
        [[Decimal("1.50")], None, [], [Decimal("-2.25"), None]],
        pa.list_(pa.decimal128(14, 2)),
    ),
}


@pytest.mark.parametrize("case", sorted(READ_DTYPES))
def test_round_trip_is_exact_for_every_dtype_frame_returns(
    db: dn.Database, case: str
) -> None:
    values, typ = READ_DTYPES[case]
    df = pd.DataFrame(
        {"k": _col(list(range(len(values))), pa.int64()), "v": _col(values, typ)}
    )
    name = _name()
    assert db.write_frame(df, name) == len(df)
    back = db.frame(f"SELECT * FROM {name} ORDER BY k")
    _same(back, df)


def test_round_trip_of_all_dtypes_in_one_table(db: dn.Database) -> None:
    df = pd.DataFrame({c: _col(v, t) for c, (v, t) in READ_DTYPES.items()})
    name = _name()
    db.write_frame(df, name)
    _same(db.frame(f"SELECT * FROM {name}"), df)


def test_empty_frame_creates_typed_empty_table(db: dn.Database) -> None:
    df = pd.DataFrame({c: _col([], t) for c, (_, t) in READ_DTYPES.items()})
    name = _name()
    assert db.write_frame(df, name) == 0
    types = dict(zip(*db.describe(name)[["column", "type"]].T.to_numpy(), strict=True))
    assert types["decimal"] == "numeric(14,2)"
    assert types["int_array"] == "bigint[]"
    assert db.scalar(f"SELECT count(*) FROM {name}") == 0


NUMPY_TYPES = [
    (pd.Series([1, 2], dtype="int8"), "smallint"),
    (pd.Series([1, 2], dtype="int16"), "smallint"),
    (pd.Series([1, 2], dtype="uint8"), "smallint"),
    (pd.Series([1, 2], dtype="int32"), "integer"),
    (pd.Series([1, None], dtype="Int32"), "integer"),
    (pd.Series([1, 2], dtype="uint32"), "bigint"),
    (pd.Series([1, 2**62], dtype="int64"), "bigint"),
    (pd.Series([1, None], dtype="Int64"), "bigint"),
    (pd.Series([1.25, 2.5], dtype="float32"), "real"),
    (pd.Series([0.1, None]), "double precision"),
    (pd.Series([True, False]), "boolean"),
    (pd.Series([True, None], dtype="boolean"), "boolean"),
    (pd.Series(["a", None], dtype=object), "text"),
    (pd.Series(["a", None], dtype="string"), "text"),
    (pd.Series(["a", "b"], dtype="category"), "text"),
    (pd.Series([b"a", None], dtype=object), "bytea"),
    (
        pd.Series(pd.DatetimeIndex(["2020-01-01 10:00", None])),
        "timestamp without time zone",
    ),
    (
        pd.Series(
            pd.DatetimeIndex(["2020-01-01 10:00", None]).tz_localize("Europe/Paris")
        ),
        "timestamp with time zone",
    ),
    (pd.Series(pd.to_timedelta(["1 day 00:00:01", None])), "interval"),
    (pd.Series([2**31], dtype=A(pa.uint32())), "bigint"),
    (pd.Series([1.5], dtype=A(pa.float32())), "real"),
    (pd.Series([1], dtype=A(pa.int16())), "smallint"),
    (pd.Series(["x"], dtype=A(pa.large_string())), "text"),
    (pd.Series([dt.date(2020, 1, 1)], dtype=A(pa.date64())), "date"),
    (pd.Series([dt.time(1, 2, 3)], dtype=A(pa.time32("s"))), "time without time zone"),
    (pd.Series([Decimal("1.5")], dtype=A(pa.decimal256(50, 1))), "numeric(50,1)"),
]


@pytest.mark.parametrize(
    ("series", "pg_type"), NUMPY_TYPES, ids=lambda x: str(getattr(x, "dtype", x))
)
def test_numpy_and_arrow_dtypes_get_exact_types_and_values(
    db: dn.Database, series: pd.Series, pg_type: str
) -> None:
    df = pd.DataFrame({"v": series})
    name = _name()
    db.write_frame(df, name)
    assert db.describe(name)["type"].tolist() == [pg_type]
    back = db.frame(f"SELECT v FROM {name}")["v"]
    expected = series.astype(object).where(series.notna(), None).tolist()
    got = back.astype(object).where(back.notna(), None).tolist()
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        expected = [None if v is None else v.tz_convert("UTC") for v in expected]
    if series.dtype == "float32":
        got = [np.float32(v) for v in got]
    assert got == expected


REFUSED = {
    "mixed objects": pd.Series(["a", 1], dtype=object),
    "decimal objects": pd.Series([Decimal("1.5")], dtype=object),
    "dict objects": pd.Series([{"a": 1}], dtype=object),
    "empty objects": pd.Series([], dtype=object),
    "all-None objects": pd.Series([None, None], dtype=object),
    "uint64": pd.Series([1], dtype="uint64"),
    "float16": pd.Series([1.0], dtype="float16"),
    "null": pd.Series([None], dtype=A(pa.null())),
    "struct": pd.Series([{"a": 1}], dtype=A(pa.struct([("a", pa.int64())]))),
    "nested list": pd.Series([[[1]]], dtype=A(pa.list_(pa.list_(pa.int64())))),
    "period": pd.Series(pd.period_range("2020-01", periods=1, freq="M")),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsupported_dtypes_are_refused_naming_the_column_before_any_sql(
    db: dn.Database, case: str
) -> None:
    df = pd.DataFrame({"ok": [1] * len(REFUSED[case]), "bad col": REFUSED[case]})
    name = _name()
    with pytest.raises(dn.ValidationError, match="'bad col'") as info:
        db.write_frame(df, name)
    assert "\n" not in str(info.value)
    assert name not in db.tables()["table"].tolist()


@pytest.mark.parametrize(
    ("series", "why"),
    [
        (pd.Series(pd.to_datetime(["2020-01-01 00:00:00.000000001"])), "microsecond"),
        (pd.Series(pd.to_timedelta([1], unit="ns")), "microsecond"),
        (
            pd.Series([dt.time(1)], dtype=A(pa.time64("us"))).astype(A(pa.time64("ns")))
            + pd.Timedelta(1),
            "",
        ),
    ],
    ids=["timestamp ns", "timedelta ns", "time ns"],
)
def test_sub_microsecond_values_are_refused_not_rounded(
    db: dn.Database, series: pd.Series, why: str
) -> None:
    name = _name()
    with pytest.raises(dn.ValidationError, match="'v'"):
        db.write_frame(pd.DataFrame({"v": series}), name)
    assert name not in db.tables()["table"].tolist()


def test_fail_refuses_an_existing_table_and_keeps_its_rows(db: dn.Database) -> None:
    name = _name()
    db.write_frame(pd.DataFrame({"a": [1, 2]}), name)
    with pytest.raises(dn.DuplicateError, match="already exists"):
        db.write_frame(pd.DataFrame({"a": [3]}), name, if_exists="fail")
    assert db.scalar(f"SELECT sum(a) FROM {name}") == 3


def test_append_creates_then_appends(db: dn.Database) -> None:
    name = _name()
    df = pd.DataFrame({"a": [1, 2], "s": pd.Series(["x", "y"], dtype=A(pa.string()))})
    assert db.write_frame(df, name, if_exists="append") == 2
    assert db.write_frame(df.iloc[:1], name, if_exists="append") == 1
    back = db.frame(f"SELECT * FROM {name} ORDER BY a, s")
    assert back["a"].tolist() == [1, 1, 2]


def test_append_into_a_wider_exact_column_is_accepted(db: dn.Database) -> None:
    name = _name()
    db.execute(f"CREATE TABLE {name} (a numeric(20, 2), b int8, c text, d uuid)")
    u = str(uuid.uuid4())
    df = pd.DataFrame(
        {
            "a": pd.Series([Decimal("1.25")], dtype=A(pa.decimal128(10, 2))),
            "b": pd.Series([7], dtype="int16"),
            "c": pd.Series(["x"], dtype="string"),
            "d": pd.Series([u], dtype=A(pa.string())),
        }
    )
    assert db.write_frame(df, name, if_exists="append") == 1
    row = db.execute(f"SELECT a, b, c, d::text FROM {name}")[0]
    assert tuple(row) == (Decimal("1.25"), 7, "x", u)


@pytest.mark.parametrize(
    ("ddl", "series", "match"),
    [
        ("a int8", pd.Series(["1"], dtype=A(pa.string())), "does not fit bigint"),
        (
            "a interval",
            pd.Series(["1 day"], dtype=A(pa.string())),
            "does not fit interval",
        ),
        (
            "a date",
            pd.Series(pd.to_datetime(["2020-01-01"]).tz_localize("UTC")),
            "does not fit date",
        ),
        ("a real", pd.Series([0.1]), "does not fit real"),
        (
            "a numeric(38, 2)",
            pd.Series([Decimal("1.5")], dtype=A(pa.decimal128(38, 1))),
            "numeric",
        ),
        ("b int8", pd.Series([1]), "no such column"),
    ],
)
def test_append_refuses_columns_that_do_not_fit(
    db: dn.Database, ddl: str, series: pd.Series, match: str
) -> None:
    name = _name()
    db.execute(f"CREATE TABLE {name} ({ddl})")
    with pytest.raises(dn.ValidationError, match=match):
        db.write_frame(pd.DataFrame({"a": series}), name, if_exists="append")
    assert db.scalar(f"SELECT count(*) FROM {name}") == 0


def test_replace_swaps_content_and_types(db: dn.Database) -> None:
    name = _name()
    db.write_frame(pd.DataFrame({"a": [1, 2, 3]}), name, primary_key="a")
    new = pd.DataFrame({"b": pd.Series(["x"], dtype=A(pa.string()))})
    assert db.write_frame(new, name, if_exists="replace", primary_key="b") == 1
    assert_identical(db.frame(f"SELECT * FROM {name}"), new)
    desc = db.describe(name)
    assert desc["primary_key"].tolist() == [True]
    assert desc.index_defs["name"].tolist() == [f"{name}_pkey"]
    leftovers = db.tables()["table"].tolist()
    assert not [t for t in leftovers if t.startswith("_dn_swap_")]


def test_replace_is_atomic_for_concurrent_readers(db: dn.Database) -> None:
    name = _name()
    sizes = [50_000, 80_000]
    frames = [pd.DataFrame({"a": np.arange(n, dtype="int64")}) for n in sizes]
    db.write_frame(frames[0], name)
    seen: list[object] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(db.scalar(f"SELECT count(*) FROM {name}"))
            except Exception as exc:  # recorded, asserted below
                seen.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            db.write_frame(frames[(i + 1) % 2], name, if_exists="replace")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert seen
    assert set(seen) <= set(sizes), {s for s in seen if s not in sizes}
    assert set(seen) == set(sizes)  # the readers did overlap both versions


def test_a_failed_replace_leaves_the_old_table(db: dn.Database) -> None:
    name = _name()
    old = pd.DataFrame({"a": [1, 2]})
    db.write_frame(old, name)
    dup = pd.DataFrame({"a": [5, 5]})
    with pytest.raises(dn.DuplicateError):
        db.write_frame(dup, name, if_exists="replace", primary_key="a")
    assert db.frame(f"SELECT a FROM {name} ORDER BY a")["a"].tolist() == [1, 2]


def test_hostile_names_are_quoted_not_executed(db: dn.Database) -> None:
    keep = _name()
    db.write_frame(pd.DataFrame({"a": [1]}), keep)
    table = f'x"; DROP TABLE {keep}; --'
    columns = ['a"b', "select", "Mixed Case", f"); DROP TABLE {keep}; --", "é"]
    df = pd.DataFrame(
        {c: pd.Series([i], dtype=A(pa.int64())) for i, c in enumerate(columns)}
    )
    db.write_frame(df, table, primary_key='a"b')
    assert db.scalar(f"SELECT count(*) FROM {keep}") == 1
    quoted = '"' + table.replace('"', '""') + '"'
    assert_identical(db.frame(f"SELECT * FROM {quoted}"), df)
    assert db.describe(table)["column"].tolist() == columns


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"if_exists": "truncate"}, "if_exists"),
        ({"name": ""}, "table name"),
        ({"name": "x" * 64}, "table name"),
        ({"name": 5}, "table name"),
        ({"schema": "s\x00"}, "schema"),
        ({"primary_key": "missing"}, "primary_key"),
        ({"df": [1, 2]}, "df"),
    ],
)
def test_bad_arguments_are_refused(
    db: dn.Database, kwargs: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {"df": pd.DataFrame({"a": [1]}), "name": _name()}
    args.update(kwargs)
    with pytest.raises(dn.ValidationError) as info:
        db.write_frame(**args)
    assert info.value.field == field


def test_duplicate_and_overlong_column_names_are_refused(db: dn.Database) -> None:
    with pytest.raises(dn.ValidationError, match="duplicate"):
        db.write_frame(pd.DataFrame([[1, 2]], columns=["a", "a"]), _name())
    with pytest.raises(dn.ValidationError, match="63 bytes"):
        db.write_frame(pd.DataFrame({"é" * 32: [1]}), _name())


def test_writing_over_a_view_is_refused(db: dn.Database) -> None:
    name = _name()
    db.execute(f"CREATE VIEW {name} AS SELECT 1 AS a")
    for mode in ("append", "replace"):
        with pytest.raises(dn.ValidationError, match="not a table"):
            db.write_frame(pd.DataFrame({"a": [1]}), name, if_exists=mode)


def test_inside_a_transaction_it_commits_or_rolls_back_with_it(db: dn.Database) -> None:
    kept, dropped = _name(), _name()
    df = pd.DataFrame({"a": [1, 2]})
    with db.transaction() as session:
        assert dn.write_frame(session, df, kept) == 2
    with pytest.raises(RuntimeError), db.transaction() as session:
        dn.write_frame(session, df, dropped)
        raise RuntimeError("boom")
    names = db.tables()["table"].tolist()
    assert kept in names
    assert dropped not in names


async def test_async_twins_work_from_a_foreign_loop(db: dn.Database) -> None:
    name = _name()
    df = pd.DataFrame({"a": pd.Series([1], dtype=A(pa.int64()))})
    assert await db.awrite_frame(df, name) == 1
    async with db.transaction() as session:
        assert await dn.awrite_frame(session, df, name, if_exists="append") == 1
    assert len(await db.aframe(f"SELECT * FROM {name}")) == 2


def test_schema_argument_writes_into_that_schema(db: dn.Database) -> None:
    db.execute('CREATE SCHEMA IF NOT EXISTS "Side"')
    name = _name()
    db.write_frame(pd.DataFrame({"a": [1]}), name, schema="Side", primary_key="a")
    assert db.tables(schema="Side")["table"].tolist() == [name]
    assert db.scalar(f'SELECT a FROM "Side".{name}') == 1


@pytest.mark.parametrize("case", ["int_array", "text_array", "decimal_small"])
def test_values_pending_on_the_read_side_are_stored_exactly(
    db: dn.Database, case: str
) -> None:
    values, typ = READ_DTYPES[case]
    df = pd.DataFrame({"k": range(len(values)), "v": _col(values, typ)})
    name = _name()
    db.write_frame(df, name)
    rows = db.execute(f"SELECT v FROM {name} ORDER BY k")
    assert [r[0] for r in rows] == values
    expected = {"int_array": "bigint[]", "text_array": "text[]"}.get(
        case, "numeric(14,2)"
    )
    assert db.describe(name)["type"].tolist()[1] == expected


def test_a_nul_character_is_refused_naming_column_and_row(db: dn.Database) -> None:
    name = _name()
    df = pd.DataFrame({"s": pd.Series(["ok", "x\x00y"], dtype=A(pa.string()))})
    df.index = [10, 20]
    with pytest.raises(dn.ValidationError, match=r"column 's', row 20: .*NUL"):
        db.write_frame(df, name)
    assert name not in db.tables()["table"].tolist()


def test_a_missing_schema_is_not_found(db: dn.Database) -> None:
    with pytest.raises(dn.NotFoundError, match="schema 'nowhere' does not exist"):
        db.write_frame(pd.DataFrame({"a": [1]}), _name(), schema="nowhere")


def test_replace_refuses_when_a_view_depends_on_the_table(db: dn.Database) -> None:
    name = _name()
    db.write_frame(pd.DataFrame({"a": [1]}), name)
    db.execute(f"CREATE VIEW {name}_v AS SELECT * FROM {name}")
    with pytest.raises(dn.DashtamError, match="other objects depend on it") as info:
        db.write_frame(pd.DataFrame({"a": [2]}), name, if_exists="replace")
    assert "\n" not in str(info.value)
    assert db.scalar(f"SELECT a FROM {name}_v") == 1


def test_an_empty_table_reads_back_with_the_frames_dtypes(db: dn.Database) -> None:
    df = pd.DataFrame({c: _col([], t) for c, (_, t) in READ_DTYPES.items()})
    name = _name()
    db.write_frame(df, name)
    _same(db.frame(f"SELECT * FROM {name}"), df)
