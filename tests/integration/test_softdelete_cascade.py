"""The cascade policy and the Core-select rule of soft delete, on real PostgreSQL.

Cascade: soft-deleting a user stamps its accounts and their live
transactions with the user's ``deleted_at``; restore brings back exactly the
rows with that stamp. Core: a ``select()`` of a soft-delete *table* through a
package session hides deleted rows like an ORM select does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import with_loader_criteria

import dashtam_nb as dn
from dashtam_nb import sample_data, softdelete
from dashtam_nb.entities import Account, Transaction, User
from dashtam_nb.models import AccountModel, TransactionModel, UserModel
from dashtam_nb.repositories import (
    AccountRepository,
    TransactionRepository,
    UserRepository,
)

pytestmark = pytest.mark.integration

USERS = UserModel.__table__
ACCOUNTS = AccountModel.__table__
TXNS = TransactionModel.__table__
JAN = datetime(2025, 1, 15, tzinfo=UTC)


async def family(db: dn.Database) -> dict[str, Any]:
    """Ann with two accounts of two transactions each, and Bob with one of one."""
    async with db.get_session() as s:
        users, accounts, txns = (
            UserRepository(s),
            AccountRepository(s),
            TransactionRepository(s),
        )
        ann = await users.save(User(email="ann@example.com", password_hash="h"))
        bob = await users.save(User(email="bob@example.com", password_hash="h"))
        ids: dict[str, Any] = {"ann": ann.id, "bob": bob.id}
        for name, owner, n in (("a1", ann, 2), ("a2", ann, 2), ("b1", bob, 1)):
            acct = await accounts.save(
                Account(
                    user_id=owner.id,
                    name=name,
                    institution="Bank",
                    account_type="checking",
                )
            )
            ids[name] = acct.id
            for k in range(n):
                txn = await txns.save(
                    Transaction(
                        account_id=acct.id,
                        amount=Decimal("-1.00"),
                        category="food",
                        posted_at=JAN + timedelta(days=k),
                    )
                )
                ids[f"{name}t{k}"] = txn.id
    return ids


async def states(db: dn.Database, table: str) -> dict[Any, Any]:
    """id -> deleted_at (None while live), read around every criterion."""
    rows = await db.aexecute(f"SELECT id, deleted_at FROM {table}")
    return {r.id: r.deleted_at for r in rows}


async def test_soft_deleting_a_user_stamps_its_accounts_and_transactions(
    schema_db,
) -> None:
    ids = await family(schema_db)
    async with schema_db.get_session() as s:
        assert await TransactionRepository(s).soft_delete(ids["a1t0"])  # on its own
    async with schema_db.get_session() as s:
        assert await UserRepository(s).soft_delete(ids["ann"])
    users = await states(schema_db, "users")
    accounts = await states(schema_db, "accounts")
    txns = await states(schema_db, "transactions")
    stamp = users[ids["ann"]]
    assert stamp is not None
    assert users[ids["bob"]] is None
    assert (accounts[ids["a1"]], accounts[ids["a2"]]) == (stamp, stamp)
    assert accounts[ids["b1"]] is None
    assert [txns[ids[k]] for k in ("a1t1", "a2t0", "a2t1")] == [stamp] * 3
    assert txns[ids["a1t0"]] is not None
    assert txns[ids["a1t0"]] < stamp  # deleted earlier, keeps its own time
    assert txns[ids["b1t0"]] is None
    # Every default read agrees: only Bob's rows are left.
    async with schema_db.get_session() as s:
        assert await AccountRepository(s).count() == 1
        assert await TransactionRepository(s).count() == 1
        assert await AccountRepository(s).find_by_user_id(ids["ann"]) == []
        spent = await TransactionRepository(s).spending_by_category_frame()
    assert list(spent["transactions"]) == [1]


async def test_restore_is_symmetric_and_leaves_rows_deleted_on_their_own(
    schema_db,
) -> None:
    ids = await family(schema_db)
    before = {t: await states(schema_db, t) for t in ("accounts", "transactions")}
    async with schema_db.get_session() as s:
        assert await TransactionRepository(s).soft_delete(ids["a1t0"])
        assert await AccountRepository(s).soft_delete(ids["a2"])  # and its two
    alone = {t: await states(schema_db, t) for t in ("accounts", "transactions")}
    async with schema_db.get_session() as s:
        assert await UserRepository(s).soft_delete(ids["ann"])
    async with schema_db.get_session() as s:
        assert await UserRepository(s).restore(ids["ann"])
    # Exactly the state before the user's delete: a2 (and its rows) and a1t0
    # were deleted at other times and stay deleted, with their own stamps.
    after = {t: await states(schema_db, t) for t in ("accounts", "transactions")}
    assert after == alone
    assert after != before
    async with schema_db.get_session() as s:
        assert await AccountRepository(s).restore(ids["a2"])
        assert await TransactionRepository(s).restore(ids["a1t0"])
    assert {t: await states(schema_db, t) for t in before} == before


async def test_a_child_of_a_deleted_parent_cannot_be_restored_or_added(
    schema_db,
) -> None:
    ids = await family(schema_db)
    async with schema_db.get_session() as s:
        assert await UserRepository(s).soft_delete(ids["ann"])
    async with schema_db.get_session() as s:
        with pytest.raises(dn.ValidationError) as info:
            await TransactionRepository(s).restore(ids["a1t0"])
        assert info.value.field == "account_id"
        assert f"account {ids['a1']} is deleted" in str(info.value)
        with pytest.raises(dn.ValidationError) as info:
            await AccountRepository(s).restore(ids["a1"])
        assert info.value.field == "user_id"
        with pytest.raises(dn.ValidationError) as info:
            await TransactionRepository(s).save(
                Transaction(
                    account_id=ids["a1"],
                    amount=Decimal("-2.00"),
                    category="food",
                    posted_at=JAN,
                )
            )
        assert info.value.field == "account_id"
        assert await TransactionRepository(s).count(include_deleted=True) == 5
    txns = await states(schema_db, "transactions")
    assert txns[ids["a1t0"]] is not None


async def test_soft_delete_where_on_users_cascades_too(schema_db) -> None:
    ids = await family(schema_db)
    async with schema_db.get_session() as s:
        assert (
            await UserRepository(s).soft_delete_where(UserModel.email.like("a%")) == 1
        )
        assert await AccountRepository(s).count() == 1
        assert await TransactionRepository(s).count() == 1
    stamps = set((await states(schema_db, "accounts")).values()) - {None}
    assert stamps == {(await states(schema_db, "users"))[ids["ann"]]}


async def test_purging_a_user_expunges_its_cached_accounts(schema_db) -> None:
    ids = await family(schema_db)
    async with schema_db.get_session() as s:
        held = await s.get(AccountModel, ids["a1"])  # cached in this session
        assert held is not None
        repo = UserRepository(s)
        assert await repo.soft_delete(ids["ann"])
        assert held.is_deleted  # the cached copy followed the cascade
        cutoff = datetime.now(UTC) + timedelta(minutes=1)
        assert await repo.purge(older_than=cutoff) == 1
        assert held not in s.sync_session
        assert await s.get(AccountModel, ids["a1"], execution_options=INCLUDE) is None
    assert await schema_db.ascalar("SELECT count(*) FROM accounts") == 1
    assert await schema_db.ascalar("SELECT count(*) FROM transactions") == 1


INCLUDE = {"include_deleted": True}


async def test_core_selects_of_soft_delete_tables_hide_deleted_rows(schema_db) -> None:
    ids = await family(schema_db)
    async with schema_db.get_session() as s:
        await UserRepository(s).soft_delete(ids["ann"])
    joined = select(USERS.c.email, ACCOUNTS.c.name).join_from(
        USERS, ACCOUNTS, USERS.c.id == ACCOUNTS.c.user_id
    )
    outer = (
        select(ACCOUNTS.c.name, USERS.c.email)
        .outerjoin(USERS, USERS.c.id == ACCOUNTS.c.user_id)
        .order_by(ACCOUNTS.c.name)
    )
    nested = select(USERS.c.email).where(
        USERS.c.id.in_(select(ACCOUNTS.c.user_id).where(ACCOUNTS.c.name != "x"))
    )
    mixed = select(UserModel.email, ACCOUNTS.c.name).join_from(
        UserModel, ACCOUNTS, UserModel.id == ACCOUNTS.c.user_id
    )
    async with schema_db.get_session() as s:
        emails = list(await s.scalars(select(USERS.c.email)))
        mixed_rows = (await s.execute(mixed)).all()
        count = await s.scalar(select(func.count()).select_from(TXNS))
        pairs = (await s.execute(joined)).all()
        outer_rows = (await s.execute(outer)).all()
        inside = list(await s.scalars(nested))
        every = list(
            await s.scalars(select(USERS.c.email).execution_options(**INCLUDE))
        )
        orm = list(await s.scalars(select(UserModel.email)))
    assert emails == orm == inside == ["bob@example.com"]
    assert count == 1
    assert pairs == mixed_rows == [("bob@example.com", "b1")]
    assert outer_rows == [("b1", "bob@example.com")]  # a1, a2 are hidden too
    assert sorted(every) == ["ann@example.com", "bob@example.com"]
    # The front door's frames go through the same session hook.
    frame = await schema_db.aframe(select(USERS.c.email))
    assert list(frame["email"]) == ["bob@example.com"]


async def test_a_mixed_select_hides_both_its_entity_and_its_raw_table(
    schema_db,
) -> None:
    ids = await family(schema_db)
    async with schema_db.get_session() as s:
        await AccountRepository(s).soft_delete(ids["a2"])
    mixed = (
        select(UserModel.email, ACCOUNTS.c.name)
        .join_from(UserModel, ACCOUNTS, UserModel.id == ACCOUNTS.c.user_id)
        .order_by(ACCOUNTS.c.name)
    )
    async with schema_db.get_session() as s:
        rows = (await s.execute(mixed)).all()
        every = (await s.execute(mixed.execution_options(**INCLUDE))).all()
        criteria = mixed.options(
            with_loader_criteria(UserModel, UserModel.email != "x@example.com")
        )
        with pytest.raises(dn.ValidationError, match="include_deleted=True"):
            await s.execute(criteria)
    assert [r.name for r in rows] == ["a1", "b1"]
    assert [r.name for r in every] == ["a1", "a2", "b1"]


def test_hide_deleted_covers_statements_compiled_outside_a_session() -> None:
    pg = postgresql.dialect()
    core = str(softdelete.hide_deleted(select(USERS.c.email)).compile(dialect=pg))
    orm = str(softdelete.hide_deleted(select(UserModel.email)).compile(dialect=pg))
    assert "users.is_deleted = false" in core
    assert "users.is_deleted = false" in orm
    audit = select(func.count()).select_from(ACCOUNTS.join(USERS))
    assert (
        str(softdelete.hide_deleted(audit).compile(dialect=pg)).count(
            "is_deleted = false"
        )
        == 2
    )
    seen = select(USERS.c.email).execution_options(**INCLUDE)
    assert softdelete.hide_deleted(seen) is seen


def test_seeded_counts_agree_once_deleted_users_cascade(schema_db) -> None:
    """The bug seen in notebook 09: a deleted user's transactions still counted."""
    sample_data.seed(schema_db, "small")
    live_txns = schema_db.scalar(
        "SELECT count(*) FROM transactions WHERE is_deleted = false"
    )
    through_live_owners = schema_db.scalar(
        "SELECT count(*) FROM transactions t JOIN accounts a ON a.id = t.account_id"
        " JOIN users u ON u.id = a.user_id"
        " WHERE t.is_deleted = false AND a.is_deleted = false"
        " AND u.is_deleted = false"
    )
    assert schema_db.scalar("SELECT count(*) FROM users WHERE is_deleted") >= 1
    assert live_txns == through_live_owners
    stamps_match = schema_db.scalar(
        "SELECT bool_and(a.deleted_at = u.deleted_at) FROM accounts a"
        " JOIN users u ON u.id = a.user_id WHERE u.is_deleted"
    )
    assert stamps_match is True
    frame = schema_db.frame(select(TXNS.c.id))
    assert len(frame) == live_txns
    assert sample_data.tables("small")["users"].column("version").to_pylist() == [
        1
    ] * len(sample_data.tables("small")["users"])
