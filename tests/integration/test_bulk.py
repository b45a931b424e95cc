"""load_frame: binary COPY in the caller's transaction, validated first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import (
    ARRAY,
    Column,
    Integer,
    Interval,
    MetaData,
    Table,
    Text,
    Uuid,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

import dashtam_nb as dn
from dashtam_nb import sample_data
from dashtam_nb.io import fetch as columnar
from dashtam_nb.io.load import aload_frame
from dashtam_nb.models import AccountModel, AuditLogModel, TransactionModel
from tests.support.frame_checks import assert_identical

pytestmark = pytest.mark.integration


T = TransactionModel


@pytest.fixture
def seeded(schema_db: dn.Database) -> dn.Database:
    sample_data.seed(schema_db, "small")
    return schema_db


def new_rows(n: int = 5) -> pd.DataFrame:
    """Transactions for existing sample accounts, labelled r0..r{n-1}."""
    tx = sample_data.frames("small")["transactions"].head(n).copy()
    tx["id"] = [str(uuid.uuid4()) for _ in range(n)]
    tx["description"] = ["Café ☕", "", "line\nbreak", '"quoted", comma', "tab\there"][
        :n
    ]
    tx["posted_at"] = pd.Series(
        [datetime(2025, 3, 4, 5, 6, 7, i, tzinfo=UTC) for i in range(n)],
        dtype=pd.ArrowDtype(pa.timestamp("us", tz="UTC")),
    ).values
    tx.index = [f"r{i}" for i in range(n)]
    return tx


def load(db: dn.Database, df: pd.DataFrame, model: Any = T, **options: Any) -> int:
    async def work() -> int:
        async with db.get_session() as session:
            return await aload_frame(session, df, model, **options)

    return dn.run(work())


def read_back(db: dn.Database, ids: list[str]) -> pd.DataFrame:
    async def work() -> pd.DataFrame:
        async with db.get_session() as session:
            stmt = select(T).where(T.id.in_([uuid.UUID(i) for i in ids])).order_by(T.id)
            return await columnar.afetch_frame(session, stmt, include_deleted=True)

    return dn.run(work())


def test_append_writes_every_value_exactly(seeded: dn.Database) -> None:
    df = new_rows()
    assert load(seeded, df) == 5
    back = read_back(seeded, list(df["id"]))
    columns = ["id", "account_id", "amount", "category", "description", "posted_at"]
    expected = df.sort_values("id").reset_index(drop=True)[columns]
    expected = expected.astype(back[columns].dtypes.to_dict())
    assert_identical(back[columns], expected)


def test_missing_columns_get_their_defaults(seeded: dn.Database) -> None:
    df = new_rows()[["account_id", "amount", "category", "posted_at"]]
    assert load(seeded, df) == 5
    frame = dn.run(
        seeded.aframe(
            "SELECT id, currency, description, is_deleted FROM "
            "transactions ORDER BY created_at DESC, id DESC LIMIT 5"
        )
    )
    assert (frame["currency"] == "USD").all()
    assert (frame["description"] == "").all()
    assert not frame["is_deleted"].any()
    assert {uuid.UUID(i).version for i in frame["id"]} == {7}


def test_numpy_and_object_columns_are_converted(seeded: dn.Database) -> None:
    df = new_rows()[["id", "account_id", "amount", "category", "posted_at"]]
    ids: list[Any] = [uuid.uuid4() for _ in range(5)]  # UUID objects
    df = df.assign(
        id=ids,
        amount=[-1.5, 2.25, -3.0, 4.1, -5.99],  # float64 with <= 2 decimals
        posted_at=pd.to_datetime(["2025-01-01T00:00:00.000001Z"] * 5),  # numpy ns
    )
    assert load(seeded, df) == 5
    back = read_back(seeded, [str(i) for i in df["id"]])
    assert sorted(back["amount"]) == sorted(Decimal(str(a)) for a in df["amount"])


def test_upsert_inserts_new_and_updates_existing_rows(seeded: dn.Database) -> None:
    existing = sample_data.frames("small")["transactions"].head(3)
    changed = existing[["id", "account_id", "amount", "category", "posted_at"]].copy()
    changed["amount"] = changed["amount"] * 2
    fresh = new_rows(2)[list(changed.columns)]
    merged = pd.concat([changed, fresh])
    assert load(seeded, merged, mode="upsert") == 5
    back = read_back(seeded, list(merged["id"])).set_index("id")
    for row in merged.itertuples():
        amount: Any = back.at[row.id, "amount"]
        assert amount == row.amount
    updated = back.loc[list(existing["id"])]
    assert (updated["updated_at"] > updated["created_at"]).all()
    assert seeded.scalar("SELECT count(*) FROM transactions") == 1_502


def test_failure_later_in_the_transaction_rolls_the_load_back(
    seeded: dn.Database,
) -> None:
    async def work() -> None:
        async with seeded.get_session() as session:
            await aload_frame(session, new_rows(), T)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        dn.run(work())
    assert seeded.scalar("SELECT count(*) FROM transactions") == 1_500


def test_server_errors_name_the_offending_row_and_roll_back_everything(
    seeded: dn.Database,
) -> None:
    bad_fk = new_rows()
    bad_fk.loc["r3", "account_id"] = str(uuid.uuid4())
    bad_check = new_rows()
    bad_check.loc["r2", "currency"] = "usd"
    duplicate = new_rows()
    taken: Any = duplicate.at["r1", "id"]
    duplicate.at["r4", "id"] = taken
    cases = [
        (bad_fk, dn.IntegrityViolationError, "r3"),
        (bad_check, dn.IntegrityViolationError, "r2"),
        (duplicate, dn.DuplicateError, "r4"),
    ]
    for df, error, row in cases:

        async def work(df: pd.DataFrame = df) -> None:
            async with seeded.get_session() as session:
                session.add(
                    AuditLogModel(action="import.started", resource_type="import")
                )
                await aload_frame(session, df, T)

        with pytest.raises(error, match=f"frame row '{row}'") as info:
            dn.run(work())
        assert info.value.row == row  # type: ignore[attr-defined]
    assert seeded.scalar("SELECT count(*) FROM transactions") == 1_500
    assert (
        seeded.scalar("SELECT count(*) FROM audit_logs WHERE action = 'import.started'")
        == 0
    )


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("amount", "abc", "column 'amount', row 'r1'"),
        ("account_id", "not-a-uuid", "column 'account_id', row 'r1': not a valid UUID"),
        ("posted_at", None, "column 'posted_at', row 'r1': null in a NOT NULL"),
        ("category", "x" * 51, "column 'category', row 'r1': longer than 50"),
    ],
)
def test_bad_values_are_refused_before_any_sql(
    seeded: dn.Database, sql_log: list[str], column: str, value: Any, message: str
) -> None:
    df = new_rows().astype({column: object})
    df.loc["r1", column] = value
    with pytest.raises(dn.ValidationError, match=message):
        load(seeded, df)
    assert sql_log == []


def test_bad_dtypes_are_refused_naming_the_column(seeded: dn.Database) -> None:
    naive = new_rows().assign(posted_at=pd.Timestamp("2025-01-01"))
    with pytest.raises(dn.ValidationError, match=r"'posted_at'.*naive"):
        load(seeded, naive)
    floats = new_rows().assign(amount=[1.234, 1.0, 2.0, 3.0, 4.0])
    with pytest.raises(dn.ValidationError, match=r"'amount', row 'r0'.*decimal places"):
        load(seeded, floats)
    nanos = new_rows().assign(posted_at=pd.Timestamp("2025-01-01T00:00:00.0000001Z"))
    with pytest.raises(dn.ValidationError, match=r"'posted_at'.*microseconds"):
        load(seeded, nanos)


def test_bad_columns_are_refused_naming_them(
    seeded: dn.Database, sql_log: list[str]
) -> None:
    with pytest.raises(dn.ValidationError, match=r"unknown columns.*colour, size"):
        load(seeded, new_rows().assign(colour="red", size=1))
    with pytest.raises(
        dn.ValidationError, match=r"missing required.*category, posted_at"
    ):
        load(seeded, new_rows().drop(columns=["category", "posted_at"]))
    with pytest.raises(dn.ValidationError, match=r"key columns.*id"):
        load(seeded, new_rows().drop(columns=["id"]), mode="upsert")
    twice = new_rows(3)
    taken: Any = twice.at["r0", "id"]
    twice.at["r2", "id"] = taken
    with pytest.raises(dn.ValidationError, match="repeats in row 'r2'"):
        load(seeded, twice, mode="upsert")
    with pytest.raises(dn.ValidationError, match="mode"):
        load(seeded, new_rows(), mode="merge")
    assert sql_log == []


def test_loads_into_other_tables_and_plain_tables(seeded: dn.Database) -> None:
    accounts = sample_data.frames("small")["accounts"].head(2).copy()
    accounts["id"] = [str(uuid.uuid4()) for _ in range(2)]
    accounts = accounts.drop(columns=["created_at", "updated_at"])
    assert load(seeded, accounts, AccountModel.__table__) == 2
    audit = pd.DataFrame(
        {"action": ["x.y"], "resource_type": ["x"], "context": [{"b": 1, "a": [1]}]}
    )
    assert load(seeded, audit, AuditLogModel) == 1
    assert (
        seeded.scalar("SELECT context ->> 'b' FROM audit_logs WHERE action = 'x.y'")
        == "1"
    )


def test_types_without_a_vectorised_encoder_fall_back_to_psycopg(
    seeded: dn.Database,
) -> None:
    odd = Table(
        "odd_values",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("tags", ARRAY(Text)),
        Column("span", Interval),
        Column("doc", JSONB),
        Column("ident", Uuid),
    )
    df = pd.DataFrame(
        {
            "id": [1, 2],
            "tags": [["a", "é"], None],
            "span": [timedelta(days=1, microseconds=5), None],
            "doc": [{"k": [1, 2]}, None],
            "ident": ["0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", None],
        }
    )

    async def work() -> list[Any]:
        async with seeded.get_session() as session:
            await session.execute(
                text(
                    "CREATE TEMP TABLE odd_values (id int PRIMARY KEY, tags text[], "
                    "span interval, doc jsonb, ident uuid) ON COMMIT DROP"
                )
            )
            assert await aload_frame(session, df, odd) == 2
            rows = await session.execute(select(odd).order_by(odd.c.id))
            return [tuple(r) for r in rows]

    first, second = dn.run(work())
    assert first == (
        1,
        ["a", "é"],
        timedelta(days=1, microseconds=5),
        {"k": [1, 2]},
        uuid.UUID("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
    )
    assert second == (2, None, None, None, None)
