"""DataFrame reads: exact dtypes, column by column, for full and empty results."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

import dashtam_nb as dn
from dashtam_nb import frames
from dashtam_nb.entities import Account, AuditEntry, Transaction, User
from dashtam_nb.ids import uuid7
from dashtam_nb.models import AccountModel, AuditLogModel, TransactionModel, UserModel
from dashtam_nb.repositories import (
    AccountRepository,
    AuditLogRepository,
    TransactionRepository,
    UserRepository,
)

pytestmark = pytest.mark.integration

STR = pd.ArrowDtype(pa.string())
TS = pd.ArrowDtype(pa.timestamp("us", tz="UTC"))
BOOL = pd.ArrowDtype(pa.bool_())
INT = pd.ArrowDtype(pa.int64())
MONEY = pd.ArrowDtype(pa.decimal128(14, 2))

USER = {
    "id": STR,
    "email": STR,
    "is_active": BOOL,
    "created_at": TS,
    "updated_at": TS,
    "is_deleted": BOOL,
    "deleted_at": TS,
    "version": INT,
}
ACCOUNT = {
    "id": STR,
    "user_id": STR,
    "name": STR,
    "institution": STR,
    "account_type": STR,
    "currency": STR,
    "balance": MONEY,
    "created_at": TS,
    "updated_at": TS,
    "is_deleted": BOOL,
    "deleted_at": TS,
    "version": INT,
}
TRANSACTION = {
    "id": STR,
    "account_id": STR,
    "amount": MONEY,
    "currency": STR,
    "category": STR,
    "description": STR,
    "posted_at": TS,
    "created_at": TS,
    "updated_at": TS,
    "is_deleted": BOOL,
    "deleted_at": TS,
    "version": INT,
}
AUDIT = {
    "id": STR,
    "action": STR,
    "user_id": STR,
    "resource_type": STR,
    "resource_id": STR,
    "context": STR,
    "created_at": TS,
}
SPENDING = {
    "month": TS,
    "category": STR,
    "currency": STR,
    "spent": pd.ArrowDtype(pa.decimal128(38, 2)),
    "transactions": INT,
}
JAN = datetime(2025, 1, 10, 12, 30, tzinfo=UTC)


def assert_dtypes(frame: pd.DataFrame, expected: dict[str, pd.ArrowDtype]) -> None:
    """Same columns in the same order, and each column's dtype exactly."""
    assert list(frame.columns) == list(expected)
    for column, dtype in expected.items():
        assert frame[column].dtype == dtype, (column, frame[column].dtype, dtype)


async def seed(db: dn.Database) -> tuple[User, Account, list[Transaction]]:
    async with db.get_session() as s:
        user = await UserRepository(s).save(
            User(email="ann@example.com", password_hash="h")
        )
        account = await AccountRepository(s).save(
            Account(
                user_id=user.id,
                name="Main",
                institution="Bank",
                account_type="checking",
                balance=Decimal("1234567890.12"),
            )
        )
        repo = TransactionRepository(s)
        txns = [
            await repo.save(
                Transaction(
                    account_id=account.id,
                    amount=Decimal(amount),
                    category="food",
                    posted_at=JAN,
                )
            )
            for amount in ("-10.50", "-0.01")
        ]
        await AuditLogRepository(s).append(
            AuditEntry(action="created", resource_type="user", resource_id=user.id)
        )
    return user, account, txns


async def test_user_frames_full_and_empty(schema_db) -> None:
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        empty = {
            "find_all_frame": await repo.find_all_frame(),
            "find_by_id_frame": await repo.find_by_id_frame(uuid7()),
            "find_by_email_frame": await repo.find_by_email_frame("x@example.com"),
            "paginate": (await repo.paginate()).frame,
            "paginate_after": (await repo.paginate_after()).frame,
        }
    user, _, _ = await seed(schema_db)
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        full = {
            "find_all_frame": await repo.find_all_frame(),
            "find_by_id_frame": await repo.find_by_id_frame(user.id),
            "find_by_email_frame": await repo.find_by_email_frame("ANN@example.com"),
            "paginate": (await repo.paginate()).frame,
            "paginate_after": (await repo.paginate_after()).frame,
        }
    for name in empty:
        assert len(empty[name]) == 0, name
        assert len(full[name]) == 1, name
        assert_dtypes(empty[name], USER)
        assert_dtypes(full[name], USER)
    row = full["find_all_frame"].iloc[0]
    assert row["id"] == str(user.id)
    assert user.created_at is not None
    assert row["created_at"] == pd.Timestamp(user.created_at)
    assert pd.isna(row["deleted_at"])
    assert not row["is_deleted"]


async def test_selected_frame_equals_to_frame_of_entities(schema_db) -> None:
    await seed(schema_db)
    async with schema_db.get_session() as s:
        for repo_cls, model, entity in (
            (UserRepository, UserModel, User),
            (AccountRepository, AccountModel, Account),
            (TransactionRepository, TransactionModel, Transaction),
            (AuditLogRepository, AuditLogModel, AuditEntry),
        ):
            repo = repo_cls(s)
            selected = await repo.find_all_frame()
            items, _ = await repo.find_all_paginated(1, 100)
            built = frames.to_frame(items, entity, model=model)
            pd.testing.assert_frame_equal(selected, built)
            empty = frames.to_frame([], entity, model=model)
            pd.testing.assert_frame_equal(selected.iloc[0:0], empty)


async def test_password_hash_only_when_asked(schema_db) -> None:
    await seed(schema_db)
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        hidden = await repo.find_all_frame()
        shown = await repo.find_all_frame(include_secrets=True)
        page = await repo.paginate()
    assert "password_hash" not in hidden.columns
    assert "password_hash" not in page.frame.columns
    assert_dtypes(
        shown,
        {
            **dict(list(USER.items())[:2]),
            "password_hash": STR,
            **dict(list(USER.items())[2:]),
        },
    )
    assert list(shown["password_hash"]) == ["h"]


async def test_account_frames_full_and_empty(schema_db) -> None:
    async with schema_db.get_session() as s:
        empty = await AccountRepository(s).find_by_user_id_frame(uuid7())
    user, account, _ = await seed(schema_db)
    async with schema_db.get_session() as s:
        full = await AccountRepository(s).find_by_user_id_frame(user.id)
        page = await AccountRepository(s).paginate()
    assert_dtypes(empty, ACCOUNT)
    assert_dtypes(full, ACCOUNT)
    assert_dtypes(page.frame, ACCOUNT)
    # Exact: 12 digits before the point survive (a float64 would round them).
    assert full["balance"].iloc[0] == Decimal("1234567890.12")
    assert full["user_id"].iloc[0] == str(account.user_id)


async def test_transaction_frames_full_and_empty(schema_db) -> None:
    _, account, txns = await seed(schema_db)
    async with schema_db.get_session() as s:
        repo = TransactionRepository(s)
        full = await repo.find_by_account_id_frame(account.id)
        empty = await repo.find_by_account_id_frame(account.id, end=JAN)
        await repo.soft_delete(txns[0].id)
        deleted = await repo.find_by_account_id_frame(account.id, include_deleted=True)
    assert_dtypes(full, TRANSACTION)
    assert_dtypes(empty, TRANSACTION)
    assert len(empty) == 0
    assert list(full["amount"]) == [Decimal("-10.50"), Decimal("-0.01")]
    assert full["posted_at"].iloc[0] == pd.Timestamp(JAN)
    assert str(full["posted_at"].iloc[0].tz) == "UTC"
    assert deleted["is_deleted"].tolist() == [True, False]
    assert deleted["deleted_at"].notna().tolist() == [True, False]


async def test_audit_frames_full_and_empty(schema_db) -> None:
    async with schema_db.get_session() as s:
        empty = await AuditLogRepository(s).find_by_resource_frame("user", uuid7())
    user, _, _ = await seed(schema_db)
    async with schema_db.get_session() as s:
        full = await AuditLogRepository(s).find_by_resource_frame("user", user.id)
    assert_dtypes(empty, AUDIT)
    assert_dtypes(full, AUDIT)
    assert pd.isna(full["user_id"].iloc[0])  # NULL keeps the string dtype
    assert pd.isna(full["context"].iloc[0])


async def test_spending_frame_full_and_empty(schema_db) -> None:
    async with schema_db.get_session() as s:
        empty = await TransactionRepository(s).spending_by_category_frame()
    await seed(schema_db)
    async with schema_db.get_session() as s:
        full = await TransactionRepository(s).spending_by_category_frame()
    assert_dtypes(empty, SPENDING)
    assert_dtypes(full, SPENDING)
    assert full.iloc[0].tolist() == [
        pd.Timestamp("2025-01-01", tz="UTC"),
        "food",
        "USD",
        Decimal("10.51"),
        2,
    ]


async def test_large_frame_keeps_exact_sums(schema_db) -> None:
    _, account, _ = await seed(schema_db)
    await schema_db.aexecute(
        "INSERT INTO transactions (id, account_id, amount, category, posted_at) "
        "SELECT gen_random_uuid(), :a, -(i % 1000) / 100.0, 'bulk', "
        "timestamptz '2025-02-01' + i * interval '1 minute' "
        "FROM generate_series(1, 5000) AS i",
        {"a": account.id},
    )
    async with schema_db.get_session() as s:
        frame = await TransactionRepository(s).find_by_account_id_frame(account.id)
    assert_dtypes(frame, TRANSACTION)
    assert len(frame) == 5002
    total = await schema_db.ascalar("SELECT sum(amount) FROM transactions")
    assert frame["amount"].sum() == total
    assert frame["posted_at"].is_monotonic_increasing


def test_stable_drops_volatile_columns_for_display(schema_db) -> None:
    async def read() -> pd.DataFrame:
        await seed(schema_db)
        async with schema_db.get_session() as s:
            return await UserRepository(s).find_all_frame()

    frame = dn.run(read())
    assert list(frames.stable(frame).columns) == [
        "email",
        "is_active",
        "is_deleted",
        "version",
    ]


async def test_large_repository_frame_takes_the_columnar_path_with_same_result(
    schema_db: dn.Database,
) -> None:
    """Above the fast-path threshold a *_frame read goes through ADBC on the
    session's snapshot; it must equal the row path, deleted rows hidden."""
    from dashtam_nb.io import adbc
    from dashtam_nb.io import fetch as columnar

    await schema_db.aexecute(
        "INSERT INTO users (id, email, password_hash, is_deleted, deleted_at) "
        "SELECT gen_random_uuid(), 'u' || g || '@example.com', 'h', g % 10 = 0, "
        "CASE WHEN g % 10 = 0 THEN now() END FROM generate_series(1, 3000) g"
    )
    await schema_db.aexecute("ANALYZE users")
    reads: list[bool] = []
    original = adbc.read

    async def spy(*args: object, **kwargs: object) -> object:
        reads.append(True)
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    adbc.read = spy
    try:
        async with schema_db.get_session() as session:
            repo = UserRepository(session)
            fast = await repo.find_all_frame()
            slow = await columnar.afetch_frame(
                session,
                repo._columns()[1].order_by(UserModel.created_at, UserModel.id),
                fast=False,
            )
    finally:
        adbc.read = original
    assert reads, "the columnar path was not used"
    assert len(fast) == 2700
    assert not fast["is_deleted"].any()
    assert dict(fast.dtypes) == USER
    assert (
        fast.sort_values("id")
        .reset_index(drop=True)
        .equals(slow.sort_values("id").reset_index(drop=True))
    )
