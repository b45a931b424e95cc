"""Every repository method against real PostgreSQL.

Most tests use the notebook's top-level form (``async with db.get_session()``
from a foreign loop, i.e. through `HoppingSession`); `test_sync_style_*` use
``dn.run`` and the real session on the owner loop.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from sqlalchemy import text

import dashtam_nb as dn
from dashtam_nb import protocols
from dashtam_nb.entities import Account, AuditEntry, Transaction, User
from dashtam_nb.ids import uuid7
from dashtam_nb.models import AuditLogModel, TransactionModel, UserModel
from dashtam_nb.pagination import KeysetPage, Page
from dashtam_nb.repositories import (
    AccountRepository,
    AuditLogRepository,
    TransactionRepository,
    UserRepository,
)
from dashtam_nb.session import HoppingSession

pytestmark = pytest.mark.integration

JAN = datetime(2025, 1, 1, tzinfo=UTC)
FEB = datetime(2025, 2, 1, tzinfo=UTC)
MAR = datetime(2025, 3, 1, tzinfo=UTC)


def a_user(email: str = "ann@example.com") -> User:
    return User(email=email, password_hash="hash")


def an_account(user_id: UUID, name: str = "Main") -> Account:
    return Account(
        user_id=user_id, name=name, institution="Bank", account_type="checking"
    )


def a_txn(
    account_id: UUID, amount: str, posted_at: datetime, category: str = "food"
) -> Transaction:
    return Transaction(
        account_id=account_id,
        amount=Decimal(amount),
        category=category,
        posted_at=posted_at,
    )


async def seed_users(db: dn.Database, *emails: str) -> list[User]:
    async with db.get_session() as s:
        repo = UserRepository(s)
        return [await repo.save(a_user(e)) for e in emails]


async def table_exists(db: dn.Database, name: str) -> bool:
    return bool(await db.ascalar("SELECT to_regclass(:n) IS NOT NULL", {"n": name}))


# -- save -------------------------------------------------------------------


async def test_save_inserts_and_returns_server_timestamps(schema_db) -> None:
    user = a_user()
    async with schema_db.get_session() as s:
        assert isinstance(s, HoppingSession)  # the notebook's top-level form
        saved = await UserRepository(s).save(user)
    assert saved.id == user.id
    assert saved.created_at is not None
    assert saved.created_at.tzinfo is not None
    assert saved.updated_at == saved.created_at
    assert await schema_db.ascalar("SELECT count(*) FROM users") == 1


async def test_save_updates_by_id_and_moves_updated_at(schema_db) -> None:
    [user] = await seed_users(schema_db, "ann@example.com")
    user.is_active = False
    user.email = "ann.new@example.com"
    async with schema_db.get_session() as s:
        saved = await UserRepository(s).save(user)
    assert saved.created_at == user.created_at
    assert saved.updated_at is not None
    assert user.updated_at is not None
    assert saved.updated_at > user.updated_at
    async with schema_db.get_session() as s:
        found = await UserRepository(s).find_by_id(user.id)
        assert await UserRepository(s).count() == 1
    assert found is not None
    assert (found.email, found.is_active) == ("ann.new@example.com", False)


async def test_save_rejects_invalid_email_before_sql(schema_db, sql_log) -> None:
    async with schema_db.get_session() as s:
        sql_log.clear()
        with pytest.raises(dn.ValidationError) as info:
            await UserRepository(s).save(a_user("not-an-email"))
        assert not [q for q in sql_log if "users" in q]
    assert info.value.field == "email"


async def test_save_strips_email_whitespace(schema_db) -> None:
    async with schema_db.get_session() as s:
        saved = await UserRepository(s).save(a_user("  bo@example.com "))
    assert saved.email == "bo@example.com"


async def test_duplicate_email_any_case_is_rolled_back_and_session_survives(
    schema_db,
) -> None:
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        await repo.save(a_user("Bob@Example.com"))
        with pytest.raises(dn.DuplicateError) as info:
            await repo.save(a_user("bob@EXAMPLE.COM"))
        # The same session goes on: the savepoint undid only the failed save.
        await repo.save(a_user("carol@example.com"))
    assert info.value.field == "email"
    assert "\n" not in str(info.value)
    assert "bob@" not in str(info.value).lower()
    emails = await schema_db.ascalar(
        "SELECT string_agg(email, ',' ORDER BY email) FROM users"
    )
    assert emails == "Bob@Example.com,carol@example.com"


async def test_save_rejects_a_non_entity(schema_db) -> None:
    async with schema_db.get_session() as s:
        with pytest.raises(dn.ValidationError, match="expected a User"):
            await UserRepository(s).save({"email": "x@example.com"})  # type: ignore[arg-type]


async def test_save_updates_an_entity_found_in_the_same_session(schema_db) -> None:
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        await repo.save(a_user())
        found = await repo.find_by_email("ann@example.com")
        assert found is not None
        found.is_active = False
        saved = await repo.save(found)
        assert saved.is_active is False
        assert await repo.count() == 1
    assert await schema_db.ascalar("SELECT is_active FROM users") is False


# -- find_by_id / find_by_email ------------------------------------------------


async def test_find_by_id_accepts_uuid_or_string_and_refuses_garbage(
    schema_db, sql_log
) -> None:
    [user] = await seed_users(schema_db, "ann@example.com")
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        assert (await repo.find_by_id(user.id)) == user
        assert (await repo.find_by_id(str(user.id))) == user
        assert await repo.find_by_id(uuid7()) is None
        sql_log.clear()
        for bad in ("nope", "1; DROP TABLE users", 42, None):
            with pytest.raises(dn.InvalidIdError):
                await repo.find_by_id(bad)  # type: ignore[arg-type]
        assert sql_log == []


@pytest.mark.parametrize("probe", ["' OR '1'='1", "%", "%@%", "_@_._", "%@example.com"])
async def test_find_by_email_injection_returns_nothing_and_table_intact(
    schema_db, probe: str
) -> None:
    await seed_users(schema_db, "ann@example.com", "bob@example.com")
    async with schema_db.get_session() as s:
        assert await UserRepository(s).find_by_email(probe) is None
        frame = await UserRepository(s).find_by_email_frame(probe)
    assert len(frame) == 0
    assert await table_exists(schema_db, "users")
    assert await schema_db.ascalar("SELECT count(*) FROM users") == 2


async def test_find_by_email_is_case_insensitive_and_wildcards_are_literal(
    schema_db,
) -> None:
    await seed_users(
        schema_db, "A_b@Example.com", "o'brien@example.com", "%@example.com"
    )
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        found = await repo.find_by_email("a_b@EXAMPLE.com")
        assert found is not None
        assert found.email == "A_b@Example.com"
        assert await repo.find_by_email("aXb@example.com") is None  # "_" is literal
        assert await repo.find_by_email("a%@example.com") is None  # "%" is literal
        pct = await repo.find_by_email("%@example.com")
        assert pct is not None
        assert pct.email == "%@example.com"
        quote = await repo.find_by_email("O'Brien@example.com")
        assert quote is not None
        with pytest.raises(dn.ValidationError) as info:
            await repo.find_by_email(None)  # type: ignore[arg-type]
    assert info.value.field == "email"


# -- delete, count ---------------------------------------------------------------


async def test_delete_by_entity_or_id_is_hard_and_cascades(schema_db) -> None:
    ann, bob = await seed_users(schema_db, "ann@example.com", "bob@example.com")
    async with schema_db.get_session() as s:
        await AccountRepository(s).save(an_account(ann.id))
        repo = UserRepository(s)
        await repo.delete(ann)
        await repo.delete(str(bob.id))
        await repo.delete(uuid7())  # missing: not an error
        assert await repo.find_by_id(ann.id, include_deleted=True) is None
    assert await schema_db.ascalar("SELECT count(*) FROM users") == 0
    assert await schema_db.ascalar("SELECT count(*) FROM accounts") == 0


async def test_count_hides_soft_deleted_unless_asked(schema_db) -> None:
    ann, _ = await seed_users(schema_db, "ann@example.com", "bob@example.com")
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        assert await repo.soft_delete(ann.id) is True
        assert await repo.count() == 1
        assert await repo.count(include_deleted=True) == 2


# -- soft delete ---------------------------------------------------------------


async def test_soft_delete_restore_and_reads(schema_db) -> None:
    [ann] = await seed_users(schema_db, "ann@example.com")
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        assert await repo.soft_delete(ann) is True
        assert await repo.soft_delete(ann) is False  # already deleted
        assert await repo.find_by_id(ann.id) is None
        assert await repo.find_by_email("ann@example.com") is None
        hidden = await repo.find_by_id(ann.id, include_deleted=True)
        assert hidden is not None
        assert hidden.is_deleted
        assert hidden.deleted_at is not None
        assert len(await repo.find_all_frame()) == 0
        assert len(await repo.find_all_frame(include_deleted=True)) == 1
        assert await repo.restore(ann.id) is True
        assert await repo.restore(ann.id) is False
        back = await repo.find_by_id(ann.id)
    assert back is not None
    assert not back.is_deleted


async def test_restore_into_a_taken_email_is_duplicate_and_session_survives(
    schema_db,
) -> None:
    [ann] = await seed_users(schema_db, "ann@example.com")
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        await repo.soft_delete(ann.id)
        await repo.save(a_user("ANN@example.com"))  # allowed: the old one is deleted
        with pytest.raises(dn.DuplicateError) as info:
            await repo.restore(ann.id)
        assert info.value.field == "email"
        assert await repo.count() == 1
    assert await schema_db.ascalar("SELECT count(*) FROM users") == 2


async def test_soft_delete_where_and_purge(schema_db) -> None:
    [ann] = await seed_users(schema_db, "ann@example.com")
    async with schema_db.get_session() as s:
        acct = await AccountRepository(s).save(an_account(ann.id))
        repo = TransactionRepository(s)
        for amount, cat in (("-5", "fees"), ("-7", "fees"), ("-9", "food")):
            await repo.save(a_txn(acct.id, amount, JAN, cat))
        assert await repo.soft_delete_where(TransactionModel.category == "fees") == 2
        assert await repo.count() == 1
        with pytest.raises(dn.ValidationError):
            await repo.soft_delete_where()
        assert await repo.purge(older_than=timedelta(days=1)) == 0
        assert (
            await repo.purge(older_than=datetime.now(UTC) + timedelta(minutes=1)) == 2
        )
        with pytest.raises(dn.ValidationError):
            await repo.purge(older_than=datetime(2030, 1, 1))  # naive
        assert await repo.count(include_deleted=True) == 1


# -- pagination ----------------------------------------------------------------


async def test_find_all_paginated_is_the_guides_pattern_2(schema_db) -> None:
    emails = [f"u{i:02d}@example.com" for i in range(7)]
    await seed_users(schema_db, *emails)
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        first, total = await repo.find_all_paginated(page=1, page_size=3)
        last, _ = await repo.find_all_paginated(3, 3)
        by_email, _ = await repo.find_all_paginated(1, 2, sort="email", descending=True)
    assert total == 7
    assert [u.email for u in first] == emails[:3]  # created together: id breaks ties
    assert [u.email for u in last] == emails[6:]
    assert [u.email for u in by_email] == ["u06@example.com", "u05@example.com"]


async def test_sort_injection_is_refused_and_table_survives(schema_db, sql_log) -> None:
    await seed_users(schema_db, "ann@example.com")
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        sql_log.clear()
        for call in (
            repo.find_all_paginated(sort="email; drop table users --"),
            repo.paginate(sort="email; drop table users --"),
            repo.paginate_after(sort="email; drop table users --"),
            repo.find_all_frame(sort="email; drop table users --"),
        ):
            with pytest.raises(dn.ValidationError) as info:
                await call
            assert "; allowed: created_at, " in str(info.value)
            assert ", email, id, is_active, " in str(info.value)
            assert "password_hash" not in str(info.value)  # never sortable
            assert info.value.field == "sort"
        assert not [q for q in sql_log if "users" in q]
    assert await table_exists(schema_db, "users")
    assert await schema_db.ascalar("SELECT count(*) FROM users") == 1


async def test_paginate_returns_a_page_with_totals_and_frame(schema_db) -> None:
    users = await seed_users(schema_db, *(f"u{i}@example.com" for i in range(5)))
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        await repo.soft_delete(users[0].id)
        page = await repo.paginate(2, 2)
        estimate = await repo.paginate(1, 2, total="estimate")
        no_total = await repo.paginate(1, 2, total="none")
        with_deleted = await repo.paginate(1, 10, include_deleted=True)
        with pytest.raises(dn.ValidationError):
            await repo.paginate(0, 2)
    assert isinstance(page, Page)
    assert (page.total, page.pages, page.has_prev, page.has_next) == (4, 2, True, False)
    assert [u.email for u in page.items] == ["u3@example.com", "u4@example.com"]
    assert list(page.frame["email"]) == ["u3@example.com", "u4@example.com"]
    assert "password_hash" not in page.frame.columns
    assert estimate.total_kind == "estimate"
    assert estimate.total is not None
    assert no_total.total is None
    assert with_deleted.total == 5


async def test_paginate_after_walks_forward_and_back(schema_db) -> None:
    emails = [f"k{i}@example.com" for i in range(5)]
    await seed_users(schema_db, *emails)
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        seen: list[str] = []
        page = await repo.paginate_after(page_size=2, sort="email")
        pages = [page]
        while page.next_cursor:
            page = await repo.paginate_after(page.next_cursor, 2, sort="email")
            pages.append(page)
        seen = [u.email for p in pages for u in p.items]
        assert pages[-1].prev_cursor is not None
        back = await repo.paginate_after(pages[-1].prev_cursor, 2, sort="email")
        newest = await repo.paginate_after(page_size=2, sort="email", descending=True)
        with pytest.raises(dn.ValidationError):
            await repo.paginate_after(page.prev_cursor, 2, sort="created_at")
        with pytest.raises(dn.ValidationError):
            await repo.paginate_after("forged", 2, sort="email")
    assert isinstance(page, KeysetPage)
    assert seen == emails
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [u.email for u in back.items] == emails[2:4]
    assert [u.email for u in newest.items] == emails[:-3:-1]


# -- accounts --------------------------------------------------------------------


async def test_account_repository_reads_of_a_user(schema_db) -> None:
    ann, bob = await seed_users(schema_db, "ann@example.com", "bob@example.com")
    async with schema_db.get_session() as s:
        repo = AccountRepository(s)
        a1 = await repo.save(an_account(ann.id, "First"))
        a2 = await repo.save(an_account(ann.id, "Second"))
        await repo.save(an_account(bob.id, "Bob's"))
        mine = await repo.find_by_user_id(ann.id)
        frame = await repo.find_by_user_id_frame(str(ann.id))
        none = await repo.find_by_user_id(uuid7())
        with pytest.raises(dn.InvalidIdError):
            await repo.find_by_user_id("ann")
    assert [a.id for a in mine] == [a1.id, a2.id]
    assert list(frame["name"]) == ["First", "Second"]
    assert none == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account_type": "piggy"}, "account_type"),
        ({"currency": "usd"}, "currency"),
        ({"balance": 0.1}, "balance"),
        ({"user_id": "someone"}, "user_id"),
    ],
)
async def test_account_fields_are_validated_before_sql(
    schema_db, change, field
) -> None:
    account = an_account(uuid7())
    for key, value in change.items():
        setattr(account, key, value)
    async with schema_db.get_session() as s:
        with pytest.raises(dn.ValidationError) as info:
            await AccountRepository(s).save(account)
    assert info.value.field == field


async def test_account_for_a_missing_user_is_an_integrity_violation(schema_db) -> None:
    with pytest.raises(dn.IntegrityViolationError, match="fk_accounts_user_id_users"):
        async with schema_db.get_session() as s:
            await AccountRepository(s).save(an_account(uuid7()))


# -- transactions -----------------------------------------------------------------


async def test_find_by_account_id_uses_a_half_open_period(schema_db) -> None:
    [ann] = await seed_users(schema_db, "ann@example.com")
    async with schema_db.get_session() as s:
        acct = await AccountRepository(s).save(an_account(ann.id))
        repo = TransactionRepository(s)
        t_feb = await repo.save(a_txn(acct.id, "-2", FEB))
        t_jan = await repo.save(a_txn(acct.id, "-1", JAN))
        t_mar = await repo.save(a_txn(acct.id, "-3", MAR))
        everything = await repo.find_by_account_id(acct.id)
        jan = await repo.find_by_account_id(acct.id, start=JAN, end=FEB)
        since_feb = await repo.find_by_account_id(acct.id, start=FEB)
        frame = await repo.find_by_account_id_frame(acct.id, end=FEB)
        await repo.soft_delete(t_jan.id)
        live = await repo.find_by_account_id(acct.id)
        kept = await repo.find_by_account_id(acct.id, include_deleted=True)
    assert [t.id for t in everything] == [t_jan.id, t_feb.id, t_mar.id]
    assert [t.id for t in jan] == [t_jan.id]
    assert [t.id for t in since_feb] == [t_feb.id, t_mar.id]
    assert list(frame["amount"]) == [Decimal("-1.00")]
    assert [t.id for t in live] == [t_feb.id, t_mar.id]
    assert len(kept) == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": datetime(2025, 1, 1)}, "start"),  # naive
        ({"end": "2025-01-01"}, "end"),
        ({"start": FEB, "end": JAN}, "start"),
    ],
)
async def test_period_is_validated_before_sql(schema_db, kwargs, field) -> None:
    async with schema_db.get_session() as s:
        with pytest.raises(dn.ValidationError) as info:
            await TransactionRepository(s).find_by_account_id(uuid7(), **kwargs)
    assert info.value.field == field


async def test_transaction_amount_must_be_decimal_and_time_aware(schema_db) -> None:
    async with schema_db.get_session() as s:
        repo = TransactionRepository(s)
        bad_amount = a_txn(uuid7(), "1", JAN)
        bad_amount.amount = 1.5  # type: ignore[assignment]
        with pytest.raises(dn.ValidationError, match="amount"):
            await repo.save(bad_amount)
        with pytest.raises(dn.ValidationError, match="posted_at"):
            await repo.save(a_txn(uuid7(), "1", datetime(2025, 1, 1)))


async def test_spending_by_category_frame_sums_debits_per_month(schema_db) -> None:
    ann, bob = await seed_users(schema_db, "ann@example.com", "bob@example.com")
    async with schema_db.get_session() as s:
        a = await AccountRepository(s).save(an_account(ann.id))
        b = await AccountRepository(s).save(an_account(bob.id))
        repo = TransactionRepository(s)
        late_jan = datetime(2025, 1, 31, 23, 30, tzinfo=UTC)
        for acct, amount, when, cat in (
            (a, "-10.50", JAN, "food"),
            (a, "-4.25", late_jan, "food"),
            (a, "100.00", JAN, "salary"),  # a credit: not spending
            (a, "-3.00", FEB, "fees"),
            (b, "-99.99", JAN, "food"),
        ):
            await repo.save(a_txn(acct.id, amount, when, cat))
        gone = await repo.save(a_txn(a.id, "-1000", JAN, "food"))
        await repo.soft_delete(gone.id)
        everyone = await repo.spending_by_category_frame()
        anns = await repo.spending_by_category_frame(user_id=ann.id)
        jan_of_b = await repo.spending_by_category_frame(
            account_id=b.id, start=JAN, end=FEB
        )
        empty = await repo.spending_by_category_frame(start=MAR)
    rows = [tuple(r) for r in anns.itertuples(index=False)]
    assert rows == [
        (pd_ts(JAN), "food", "USD", Decimal("14.75"), 2),
        (pd_ts(FEB), "fees", "USD", Decimal("3.00"), 1),
    ]
    assert everyone["spent"].sum() == Decimal("117.74")
    assert list(jan_of_b["spent"]) == [Decimal("99.99")]
    assert len(empty) == 0
    assert list(empty.columns) == [
        "month",
        "category",
        "currency",
        "spent",
        "transactions",
    ]


def pd_ts(value: datetime):
    import pandas as pd

    return pd.Timestamp(value)


# -- audit log --------------------------------------------------------------------


async def test_audit_log_appends_and_reads_history_in_order(schema_db) -> None:
    [ann] = await seed_users(schema_db, "ann@example.com")
    async with schema_db.get_session() as s:
        repo = AuditLogRepository(s)
        first = await repo.append(
            AuditEntry(action="created", resource_type="user", resource_id=ann.id)
        )
        second = await repo.save(
            AuditEntry(
                action="login",
                user_id=ann.id,
                resource_type="user",
                resource_id=ann.id,
                context={"ip": "10.0.0.1"},
            )
        )
        await repo.append(AuditEntry(action="migrated", resource_type="system"))
        history = await repo.find_by_resource("user", ann.id)
        frame = await repo.find_by_resource_frame("user", str(ann.id))
        system = await repo.find_by_resource("system", None)
    assert first.created_at is not None
    assert [e.id for e in history] == [first.id, second.id]
    assert history[1].context == {"ip": "10.0.0.1"}
    assert frame["context"].isna().tolist() == [True, False]
    assert frame["context"].iloc[1] == '{"ip": "10.0.0.1"}'  # the server's jsonb text
    assert [e.action for e in system] == ["migrated"]


async def test_audit_log_refuses_delete_and_rewrite(schema_db, sql_log) -> None:
    async with schema_db.get_session() as s:
        repo = AuditLogRepository(s)
        entry = await repo.append(AuditEntry(action="created", resource_type="user"))
        sql_log.clear()
        with pytest.raises(dn.ImmutableRecordError):
            await repo.delete(entry)
        assert sql_log == []
        with pytest.raises(dn.ImmutableRecordError):
            await repo.append(
                AuditEntry(id=entry.id, action="edited", resource_type="user")
            )
        with pytest.raises(dn.ValidationError):
            await repo.append(AuditEntry(action="", resource_type="user"))
        assert await repo.count() == 1
    assert await schema_db.ascalar("SELECT action FROM audit_logs") == "created"


async def test_audit_rows_are_append_only_in_the_database_too(schema_db) -> None:
    async with schema_db.get_session() as s:
        await AuditLogRepository(s).append(AuditEntry(action="x", resource_type="user"))
    for sql in ("UPDATE audit_logs SET action = 'y'", "DELETE FROM audit_logs"):
        # Sessions are the app role, which has no UPDATE/DELETE privilege on
        # audit_logs: refused before the trigger (which stops the owner, see
        # test_audit_immutability.py).
        with pytest.raises(dn.PermissionDeniedError, match="audit_logs"):
            await schema_db.aexecute(sql)
    assert await schema_db.ascalar("SELECT action FROM audit_logs") == "x"


def test_audit_row_changed_through_the_orm_is_refused(schema_db) -> None:
    async def work() -> None:
        async with schema_db.get_session() as s:
            entry = await AuditLogRepository(s).append(
                AuditEntry(action="created", resource_type="user")
            )
            row = await s.get(AuditLogModel, entry.id)
            assert row is not None
            row.action = "edited"
            await s.flush()

    with pytest.raises(dn.ImmutableRecordError):
        dn.run(work())
    assert schema_db.scalar("SELECT count(*) FROM audit_logs") == 0


# -- units of work, loops, protocols ------------------------------------------------


async def test_transaction_rolls_back_both_repositories_on_error(schema_db) -> None:
    user = a_user()
    with pytest.raises(dn.IntegrityViolationError):
        async with schema_db.transaction() as session:
            await UserRepository(session).save(user)
            await AccountRepository(session).save(an_account(uuid7()))  # no such user
    assert await schema_db.ascalar("SELECT count(*) FROM users") == 0


async def test_transaction_commits_both_repositories_together(schema_db) -> None:
    user = a_user()
    async with schema_db.transaction() as session:
        await UserRepository(session).save(user)
        await AccountRepository(session).save(an_account(user.id))
    assert await schema_db.ascalar("SELECT count(*) FROM accounts") == 1


def test_sync_style_with_dn_run(schema_db) -> None:
    async def work() -> tuple[User, User | None]:
        async with schema_db.get_session() as s:
            assert not isinstance(s, HoppingSession)  # on the owner loop: real
            repo = UserRepository(s)
            saved = await repo.save(a_user("sync@example.com"))
            return saved, await repo.find_by_email("SYNC@example.com")

    saved, found = dn.run(work())
    assert found == saved
    with schema_db.get_session() as s:  # a plain `with` in a cell, no await
        repo = UserRepository(s)
        assert dn.run(repo.count()) == 1
        assert len(dn.run(repo.find_all_frame())) == 1


async def test_repositories_satisfy_the_protocols(schema_db) -> None:
    async with schema_db.get_session() as s:
        assert isinstance(UserRepository(s), protocols.UserRepository)
        assert isinstance(AccountRepository(s), protocols.AccountRepository)
        assert isinstance(TransactionRepository(s), protocols.TransactionRepository)
        assert isinstance(AuditLogRepository(s), protocols.AuditLogRepository)


async def test_find_all_frame_sorts_limits_and_sees_unflushed_rows(schema_db) -> None:
    await seed_users(schema_db, "b@example.com", "a@example.com", "c@example.com")
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        s.add(UserModel(email="d@example.com", password_hash="h"))  # not flushed
        everyone = await repo.find_all_frame()
        top = await repo.find_all_frame(sort="email", descending=True, limit=2)
        for bad in (0, -1, 2.5, True):
            with pytest.raises(dn.ValidationError) as info:
                await repo.find_all_frame(limit=bad)  # type: ignore[arg-type]
            assert info.value.field == "limit"
    assert list(everyone["email"]) == [
        "b@example.com",
        "a@example.com",
        "c@example.com",
        "d@example.com",
    ]
    assert list(top["email"]) == ["d@example.com", "c@example.com"]


async def test_find_by_id_frame_has_zero_or_one_row(schema_db) -> None:
    [ann] = await seed_users(schema_db, "ann@example.com")
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        one = await repo.find_by_id_frame(ann.id)
        none = await repo.find_by_id_frame(uuid7())
        secret = await repo.find_by_id_frame(ann.id, include_secrets=True)
        await repo.soft_delete(ann.id)
        hidden = await repo.find_by_id_frame(ann.id)
        shown = await repo.find_by_id_frame(ann.id, include_deleted=True)
    assert list(one["email"]) == ["ann@example.com"]
    assert len(none) == 0
    assert list(none.columns) == list(one.columns)
    assert "password_hash" not in one.columns
    assert list(secret["password_hash"]) == ["hash"]
    assert (len(hidden), len(shown)) == (0, 1)


async def test_session_used_after_its_block_is_refused(schema_db) -> None:
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
    with pytest.raises(dn.SessionClosedError):
        await repo.save(a_user())
    assert await schema_db.ascalar(text("SELECT count(*) FROM users")) == 0
