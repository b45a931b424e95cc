"""The columnar read path returns exactly the small path's frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import (
    JSON,
    REAL,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

import dashtam_nb as dn
from dashtam_nb import frames, sample_data
from dashtam_nb.io import adbc as adbc_pool
from dashtam_nb.io import fetch as columnar
from dashtam_nb.models import AuditLogModel, TransactionModel, UserModel

pytestmark = pytest.mark.integration

T = TransactionModel
EDGE = Table(
    "edge_values",
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("i2", SmallInteger),
    Column("i4", Integer),
    Column("f4", REAL),
    Column("f8", Float),
    Column("wide", Numeric(20, 6)),
    Column("money", Numeric(14, 2)),
    Column("body", Text),
    Column("short", String(20)),
    Column("ident", Uuid),
    Column("at", DateTime(timezone=True)),
    Column("flag", Boolean),
    Column("doc", JSONB),
    Column("plain_json", JSON),
)
ROWS: list[dict[str, Any]] = [
    {"id": 1},  # every other column NULL
    {
        "id": 2,
        "i2": -32768,
        "i4": 2_147_483_647,
        "f4": 0.1,
        "f8": -0.1,
        "wide": Decimal("-12345678901234.123456"),
        "money": Decimal("0.01"),
        "body": 'línea 1\nline 2, "quoted" \\ back\tslash 🚀 寿司',
        "short": "",
        "ident": UUID("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
        "at": datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "flag": False,
        "doc": {"b": [1, 2, {"z": None}], "a": "é", "n": 1.25},
        "plain_json": {"k": "v"},
    },
    {
        "id": 3,
        "i2": 7,
        "i4": 0,
        "f4": -3.25,
        "f8": 1e300,
        "wide": Decimal("0.000001"),
        "money": Decimal("-999999999999.99"),
        "body": "",
        "short": "Ünïcödé ✓",
        "ident": UUID("00000000-0000-0000-0000-000000000000"),
        "at": datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        "flag": True,
        "doc": [],
        "plain_json": None,
    },
    {
        "id": 4,
        "body": "%s %(x)s %% literal percent signs",
        "at": datetime(2099, 6, 30, 12, 0, 0, 123456, tzinfo=UTC),
        "doc": {},
    },
]


def both(
    db: dn.Database, stmt: Any, **options: Any
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(columnar, small) frames of one statement, read in one session.

    Asserts that the columnar one really went through ADBC (a statement
    with a type the fast path refuses would silently compare small to small).
    """
    calls: list[int] = []
    real_read = adbc_pool.read

    async def counting(*args: Any) -> pa.Table:
        calls.append(1)
        return await real_read(*args)

    async def read() -> tuple[pd.DataFrame, pd.DataFrame]:
        async with db.get_session() as session:
            fast = await columnar.afetch_frame(session, stmt, fast=True, **options)
            small = await columnar.afetch_frame(session, stmt, fast=False, **options)
            return fast, small

    adbc_pool.read = counting  # type: ignore[assignment]
    try:
        frames_ = dn.run(read())
    finally:
        adbc_pool.read = real_read
    assert calls == [1], "the columnar path was not taken"
    return frames_


def assert_same(fast: pd.DataFrame, small: pd.DataFrame) -> None:
    assert fast.dtypes.to_dict() == small.dtypes.to_dict()
    pd.testing.assert_frame_equal(fast, small, check_exact=True)  # readable diff
    # ...which compares Arrow-backed floats approximately; equals() is exact.
    assert fast.equals(small)


@pytest.fixture
def seeded(schema_db: dn.Database) -> dn.Database:
    sample_data.seed(schema_db, "small")
    return schema_db


def test_edge_values_match_the_small_path(fresh_db: dn.Database) -> None:
    async def setup() -> None:
        async with fresh_db.engine.begin() as conn:
            await conn.run_sync(EDGE.metadata.create_all)
            await conn.execute(
                insert(EDGE), [{**{c.name: None for c in EDGE.c}, **r} for r in ROWS]
            )

    dn.run(setup())
    fast, small = both(fresh_db, select(EDGE).order_by(EDGE.c.id))
    assert_same(fast, small)
    assert fast["body"].isna().sum() == 1
    assert fast.loc[1, "at"] == pd.Timestamp("1999-12-31 23:59:59.999999", tz="UTC")
    doc = str(fast.loc[1, "doc"])
    assert json.loads(doc) == ROWS[1]["doc"]
    assert doc.startswith('{"a":')  # compact, keys sorted
    assert fast.loc[2, "wide"] == Decimal("0.000001")
    assert fast.loc[1, "ident"] == "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    assert fast["i2"].dtype == pd.ArrowDtype(pa.int64())

    percent = select(EDGE.c.id, EDGE.c.body).where(EDGE.c.body.like("%\\%\\%%"))
    fast, small = both(fresh_db, percent)
    assert_same(fast, small)
    assert fast["id"].tolist() == [4]


def test_real_columns_read_as_their_text_form(fresh_db: dn.Database) -> None:
    values = np.random.default_rng(5).standard_normal(2_000).astype(np.float32)
    values = np.concatenate([values * np.float32(10) ** (np.arange(2_000) % 12 - 6)])

    async def setup() -> None:
        async with fresh_db.engine.begin() as conn:
            await conn.run_sync(EDGE.metadata.create_all)
            rows = [{"id": i, "f4": float(v)} for i, v in enumerate(values)]
            await conn.execute(insert(EDGE), [*rows, {"id": -1, "f4": None}])

    dn.run(setup())
    fast, small = both(fresh_db, select(EDGE.c.id, EDGE.c.f4).order_by(EDGE.c.id))
    assert_same(fast, small)
    assert fast["f4"].isna().sum() == 1


def test_sample_tables_match_the_small_path(seeded: dn.Database) -> None:
    for model in (UserModel, T, AuditLogModel):
        for include_deleted in (False, True):
            stmt = select(model).order_by(model.id)
            assert_same(*both(seeded, stmt, include_deleted=include_deleted))


def test_soft_deleted_rows_are_hidden_on_the_fast_path(seeded: dn.Database) -> None:
    live = seeded.scalar("SELECT count(*) FROM transactions WHERE NOT is_deleted")
    total = seeded.scalar("SELECT count(*) FROM transactions")
    assert live < total
    fast, _ = both(seeded, select(T.id, T.is_deleted))
    assert len(fast) == live
    assert not fast["is_deleted"].any()
    joined = select(T.id, UserModel.email).join_from(T, UserModel, T.id == UserModel.id)
    assert_same(*both(seeded, joined))
    everything, _ = both(seeded, select(T.id), include_deleted=True)
    assert len(everything) == total


def test_empty_result_keeps_columns_and_dtypes(seeded: dn.Database) -> None:
    fast, small = both(seeded, select(T).where(T.category == "no such category"))
    assert len(fast) == 0
    assert list(fast.columns) == [c.key for c in T.__table__.columns]
    assert fast.dtypes.to_dict() == {
        k: pd.ArrowDtype(v) for k, v in frames.model_types(T).items()
    }
    assert_same(fast, small)


def test_bound_parameters_reach_the_fast_path(seeded: dn.Database) -> None:
    stmt = (
        select(T.id, T.amount, T.description, T.posted_at)
        .where(
            T.category.in_(["dining", "groceries"]),
            T.amount < Decimal("-20.00"),
            T.posted_at >= datetime(2024, 6, 1, tzinfo=UTC),
            T.description.like("%é%") | T.description.like("Trader Joe's"),
        )
        .order_by(T.posted_at, T.id)
    )
    fast, small = both(seeded, stmt)
    assert len(fast) > 0
    assert_same(fast, small)


def test_fast_path_reads_the_sessions_snapshot(seeded: dn.Database) -> None:
    async def read() -> tuple[int, int]:
        async with seeded.get_session() as session:
            await session.execute(
                text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            )
            before = await session.scalar(select(func.count()).select_from(UserModel))
            # Another transaction commits a new user after our snapshot...
            await seeded.aexecute(
                "INSERT INTO users (id, email, password_hash) "
                "VALUES (gen_random_uuid(), 'late@example.com', 'x')"
            )
            # ...which the second (ADBC) connection must not see either.
            frame = await columnar.afetch_frame(
                session, select(UserModel.id), fast=True
            )
            return before or 0, len(frame)

    before, seen = dn.run(read())
    assert seen == before


async def test_fast_path_sees_the_sessions_own_uncommitted_rows(
    seeded: dn.Database,
) -> None:
    with pytest.raises(RuntimeError, match="undo"):
        async with seeded.get_session() as session:
            session.add(UserModel(email="pending@example.com", password_hash="x"))
            frame = await columnar.afetch_frame(
                session, select(UserModel.email), fast=True
            )
            assert "pending@example.com" in set(frame["email"])
            raise RuntimeError("undo")
    assert (
        await seeded.ascalar("SELECT count(*) FROM users WHERE email LIKE 'pending%'")
        == 0
    )


def test_automatic_choice_uses_the_planner_estimate(
    seeded: dn.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_read = adbc_pool.read

    async def counting(*args: Any) -> pa.Table:
        calls.append("adbc")
        return await real_read(*args)

    monkeypatch.setattr(adbc_pool, "read", counting)

    async def read() -> pd.DataFrame:
        async with seeded.get_session() as session:
            return await columnar.afetch_frame(session, select(T.id))

    monkeypatch.setattr(columnar, "FAST_PATH_MIN_ROWS", 10**9)
    small = dn.run(read())
    assert calls == []
    monkeypatch.setattr(columnar, "FAST_PATH_MIN_ROWS", 10)
    fast = dn.run(read())
    assert calls == ["adbc"]
    assert_same(fast, small)


def test_arrow_and_polars_outputs_use_the_contract_types(seeded: dn.Database) -> None:
    async def read() -> tuple[pa.Table, Any]:
        async with seeded.get_session() as session:
            stmt = select(T).order_by(T.id)
            table = await columnar.afetch_arrow(session, stmt, fast=True)
            return table, await columnar.afetch_polars(session, stmt, fast=True)

    table, polars_frame = dn.run(read())
    assert dict(zip(table.column_names, table.schema.types, strict=True)) == (
        frames.model_types(T)
    )
    assert polars_frame.shape == (table.num_rows, table.num_columns)
    assert polars_frame["id"].to_list() == table["id"].to_pylist()


def test_sql_text_with_bound_parameters_matches_the_small_path(
    seeded: dn.Database,
) -> None:
    sql = (
        "SELECT id, amount, description, posted_at FROM transactions "
        "WHERE category = ANY(:cats) AND amount < :limit "
        "AND description LIKE '%' || :part || '%' ORDER BY posted_at, id"
    )

    async def read(fast: bool) -> pd.DataFrame:
        async with seeded.get_session() as session:
            params = {"cats": ["dining", "groceries"], "limit": Decimal("-1.00")}
            return await columnar.afetch_frame(
                session, sql, {**params, "part": "e"}, fast=fast
            )

    calls: list[int] = []
    real_read = adbc_pool.read

    async def counting(*args: Any) -> pa.Table:
        calls.append(1)
        return await real_read(*args)

    adbc_pool.read = counting  # type: ignore[assignment]
    try:
        fast = dn.run(read(True))
    finally:
        adbc_pool.read = real_read
    small = dn.run(read(False))
    assert calls == [1]
    assert len(fast) > 0
    assert_same(fast, small)
    assert str(fast["amount"].dtype) == "decimal128(14, 2)[pyarrow]"


def test_something_else_than_sql_is_refused(seeded: dn.Database) -> None:
    async def read() -> None:
        async with seeded.get_session() as session:
            await columnar.afetch_frame(session, 42)  # type: ignore[arg-type]

    with pytest.raises(dn.ValidationError, match="SQL string"):
        dn.run(read())


async def test_sum_of_money_outgrowing_its_column_precision(
    fresh_db: dn.Database,
) -> None:
    """sum(numeric(14, 2)) can exceed 14 digits: widened, exact, both paths."""
    from decimal import Decimal

    from sqlalchemy import Numeric, func, literal, select, union_all

    big = literal(Decimal("999999999999.99"), Numeric(14, 2)).label("x")
    sub = union_all(select(big), select(big)).subquery()
    stmt = select(func.sum(sub.c.x).label("total"))
    async with fresh_db.get_session() as session:
        for fast in (False, True):
            frame = await dn.afetch_frame(session, stmt, fast=fast)
            assert frame["total"].tolist() == [Decimal("1999999999999.98")]
            assert str(frame["total"].dtype) == "decimal128(38, 2)[pyarrow]"
