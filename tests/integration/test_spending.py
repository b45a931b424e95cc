"""Spending leaves transfers and credits out, in SQL and in pandas alike."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest

import dashtam_nb as dn
from dashtam_nb import sample_data
from dashtam_nb.entities import Account, Transaction, User
from dashtam_nb.repositories import (
    AccountRepository,
    TransactionRepository,
    UserRepository,
)

pytestmark = pytest.mark.integration

JAN = datetime(2025, 1, 15, tzinfo=UTC)
MAR = datetime(2025, 3, 2, tzinfo=UTC)


async def _one_user_with(db: dn.Database, *rows: tuple[str, str, str, datetime]):
    """Ann with a USD and a EUR account, and ``(amount, category, ccy, when)`` rows."""
    async with db.get_session() as s:
        ann = await UserRepository(s).save(
            User(email="ann@example.com", password_hash="hash")
        )
        accounts = {
            code: await AccountRepository(s).save(
                Account(
                    user_id=ann.id,
                    name=code,
                    institution="Bank",
                    account_type="checking",
                    currency=code,
                )
            )
            for code in ("USD", "EUR")
        }
        for amount, category, code, when in rows:
            await TransactionRepository(s).save(
                Transaction(
                    account_id=accounts[code].id,
                    amount=Decimal(amount),
                    currency=code,
                    category=category,
                    posted_at=when,
                )
            )
    return ann


async def test_transfers_and_credits_are_not_spending(schema_db) -> None:
    await _one_user_with(
        schema_db,
        ("-40.00", "groceries", "USD", JAN),
        ("-500.00", "transfer", "USD", JAN),  # checking -> savings: moved, not spent
        ("500.00", "transfer", "USD", JAN),
        ("3200.00", "salary", "USD", JAN),
        ("-12.50", "refund", "USD", MAR),  # a reversed refund is a debit: spent
        ("-9.99", "dining", "EUR", MAR),
    )
    frame = await dn.aspending_by_month(schema_db)
    usd = dn.spending_by_month(schema_db, currency="USD")  # the plain twin

    assert [tuple(r) for r in frame.itertuples(index=False)] == [
        (pd.Period("2025-01", "M"), "groceries", "USD", Decimal("40.00"), 1),
        (pd.Period("2025-03", "M"), "dining", "EUR", Decimal("9.99"), 1),
        (pd.Period("2025-03", "M"), "refund", "USD", Decimal("12.50"), 1),
    ]
    assert str(frame["month"].dtype) == "period[M]"
    assert str(frame["spent"].dtype) == "decimal128(38, 2)[pyarrow]"
    assert usd["currency"].tolist() == ["USD", "USD"]
    assert list(usd.index) == [0, 1]


async def test_month_is_the_utc_calendar_month(schema_db) -> None:
    last_minute = datetime(2025, 1, 31, 23, 59, tzinfo=UTC)
    await _one_user_with(schema_db, ("-1.00", "dining", "USD", last_minute))
    frame = await dn.aspending_by_month(schema_db)
    assert frame["month"].astype(str).tolist() == ["2025-01"]


async def test_filters_reach_the_query_and_are_checked(schema_db) -> None:
    ann = await _one_user_with(
        schema_db,
        ("-40.00", "groceries", "USD", JAN),
        ("-9.99", "dining", "USD", MAR),
    )
    march = await dn.aspending_by_month(
        schema_db, user_id=ann.id, start=datetime(2025, 3, 1, tzinfo=UTC)
    )
    nobody = await dn.aspending_by_month(schema_db, user_id=dn.uuid7())
    assert march["category"].tolist() == ["dining"]
    assert len(nobody) == 0
    assert list(nobody.columns) == [
        "month",
        "category",
        "currency",
        "spent",
        "transactions",
    ]
    assert str(nobody["month"].dtype) == "period[M]"
    with pytest.raises(dn.ValidationError, match="ISO 4217"):
        await dn.aspending_by_month(schema_db, currency="usd")


def test_sql_and_pandas_rules_agree_on_the_sample_data(schema_db) -> None:
    sample_data.seed(schema_db, size="small")
    with schema_db.get_session() as s:
        rows = dn.run(TransactionRepository(s).find_all_frame())
    frame = dn.spending_by_month(schema_db)
    spent = rows[dn.is_spending(rows)]

    assert "transfer" in set(rows["category"])  # the data set has some to leave out
    assert "transfer" not in set(frame["category"])
    assert frame["transactions"].sum() == len(spent)
    by_currency = frame.groupby("currency")["spent"].sum()
    assert (
        by_currency.to_dict() == (-spent.groupby("currency")["amount"].sum()).to_dict()
    )


def test_is_spending_names_missing_columns() -> None:
    with pytest.raises(dn.ValidationError, match="category"):
        dn.is_spending(pd.DataFrame({"amount": [Decimal("-1")]}))
