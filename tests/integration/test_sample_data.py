"""The sample data set: deterministic, realistic, and loadable with COPY."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import select

import dashtam_nb as dn
from dashtam_nb import frames, sample_data
from dashtam_nb.io import fetch as columnar
from dashtam_nb.models import AccountModel, AuditLogModel, TransactionModel, UserModel
from dashtam_nb.sample_data.catalog import CATEGORIES
from tests.support.frame_checks import assert_identical

pytestmark = pytest.mark.integration


MODELS = {
    "users": UserModel,
    "accounts": AccountModel,
    "transactions": TransactionModel,
    "audit_logs": AuditLogModel,
}


def test_same_seed_gives_the_same_checksum_twice() -> None:
    first = sample_data.checksum("small", seed=42)
    sample_data.seeding._cached.cache_clear()  # regenerate, do not reuse the cache
    assert sample_data.checksum("small", seed=42) == first
    assert sample_data.checksum(5_000, seed=42) == sample_data.checksum("5000", 42)
    assert sample_data.checksum("small", seed=7) != first


def test_frames_follow_the_dtype_contract_in_table_column_order() -> None:
    for name, frame in sample_data.frames("small").items():
        model = MODELS[name]
        assert list(frame.columns) == [c.key for c in model.__table__.columns]
        expected = {k: pd.ArrowDtype(t) for k, t in frames.model_types(model).items()}
        assert frame.dtypes.to_dict() == expected


def test_small_size_has_a_few_dozen_users_and_realistic_transactions() -> None:
    data = sample_data.frames("small")
    users, tx = data["users"], data["transactions"]
    assert 24 <= len(users) <= 60
    assert len(tx) == 1_500
    assert set(tx["category"]) <= {c.name for c in CATEGORIES}
    assert (tx.loc[tx["category"] == "salary", "amount"] > 0).all()
    assert (tx.loc[tx["category"] == "rent", "amount"] < 0).all()
    assert all(a.as_tuple().exponent == -2 for a in tx["amount"].head(50))
    start, end = (
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2026-01-01", tz="UTC"),
    )
    assert tx["posted_at"].min() >= start
    assert tx["posted_at"].max() < end
    assert tx["description"].str.contains("[^\x00-\x7f]", regex=True).any()


def test_ids_are_time_ordered_uuid7_and_deleted_rows_say_when() -> None:
    tx = sample_data.frames(20_000, seed=3)["transactions"]
    assert tx["id"].is_unique
    assert tx["id"].is_monotonic_increasing
    assert tx["created_at"].is_monotonic_increasing
    assert (tx["id"].str.slice(14, 15) == "7").all()
    deleted = tx["is_deleted"]
    # ~3% deleted on their own, plus the live postings of deleted users,
    # which are soft-deleted with them (the cascade policy).
    assert 0.02 < deleted.mean() < 0.08
    assert tx.loc[deleted, "deleted_at"].notna().all()
    assert tx.loc[~deleted, "deleted_at"].isna().all()
    assert (tx.loc[deleted, "deleted_at"] >= tx.loc[deleted, "created_at"]).all()


def test_account_balances_add_up_to_live_transactions() -> None:
    data = sample_data.tables("small")
    tx = data["transactions"].to_pandas(types_mapper=pd.ArrowDtype)
    accounts = data["accounts"].to_pandas(types_mapper=pd.ArrowDtype)
    live = tx[~tx["is_deleted"]]
    moved = live.groupby("account_id")["amount"].sum()
    # Live accounts only: a deleted user's accounts keep the balance they had
    # when it left, while their postings are deleted with it.
    open_ = accounts[~accounts["is_deleted"]]
    credit = open_[open_["account_type"] == "credit"].set_index("id")
    assert len(credit) > 0
    for account_id, balance in credit["balance"].items():
        assert balance == moved.get(account_id, Decimal("0.00"))


def test_bad_size_or_seed_is_refused() -> None:
    with pytest.raises(dn.ValidationError, match="size"):
        sample_data.checksum("huge")
    with pytest.raises(dn.ValidationError, match="seed"):
        sample_data.checksum("small", seed=-1)


def _canonical_json(text: Any) -> Any:
    return text if pd.isna(text) else json.dumps(json.loads(str(text)), sort_keys=True)


def test_seed_loads_exactly_the_generated_rows(schema_db: dn.Database) -> None:
    counts = sample_data.seed(schema_db, "small")
    data = sample_data.frames("small")
    assert counts == {name: len(frame) for name, frame in data.items()}

    async def read(model: type[Any]) -> pd.DataFrame:
        async with schema_db.get_session() as session:
            stmt = select(model).order_by(model.id)
            return await columnar.afetch_frame(
                session, stmt, include_deleted=True, fast=False
            )

    for name, model in MODELS.items():
        # Every type survives COPY: unicode, NULLs, µs timestamps, decimals, JSON.
        back = dn.run(read(model))
        hidden = [c for c in data[name].columns if c not in back.columns]
        assert set(hidden) <= set(frames.HIDDEN_COLUMNS)  # password_hash
        expected = data[name].drop(columns=hidden)
        if "context" in expected:  # jsonb reads as the server's text: same JSON
            for frame in (back, expected):
                frame["context"] = frame["context"].map(_canonical_json)
        assert_identical(back, expected)


def test_seeding_twice_is_refused_and_fresh_starts_over(fresh_db: dn.Database) -> None:
    counts = sample_data.seed(fresh_db, 300, fresh=True)
    with pytest.raises(dn.DuplicateError):
        sample_data.seed(fresh_db, 300)
    assert sample_data.seed(fresh_db, 300, fresh=True) == counts
    assert fresh_db.scalar("SELECT count(*) FROM transactions") == 300


def test_fresh_refuses_the_server_default_database() -> None:
    db = dn.Database(dn.settings.database_url.set(database="postgres"))
    with pytest.raises(dn.ValidationError, match="fresh"):
        sample_data.seed(db, "small", fresh=True)


def test_arrow_tables_are_shared_but_frames_are_fresh_copies() -> None:
    first = sample_data.frames("small")["users"]
    first.loc[0, "email"] = "changed@example.com"
    assert sample_data.frames("small")["users"].loc[0, "email"] != "changed@example.com"
    assert isinstance(sample_data.tables("small")["users"], pa.Table)
