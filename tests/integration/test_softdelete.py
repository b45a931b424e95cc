"""Soft delete against real PostgreSQL (issue 5, part 4).

The statements run on the owner loop with a real session (`in_session`), as
repository methods do; the race is driven step by step with two sessions and
``pg_stat_activity``, never with sleeps.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text, true

import dashtam_nb as dn
from dashtam_nb import frames, softdelete
from dashtam_nb.entities import User
from dashtam_nb.models import (
    AccountModel,
    AuditLogModel,
    TransactionModel,
    UserModel,
)
from dashtam_nb.pagination import keyset_page, offset_page
from dashtam_nb.repositories import UserRepository

pytestmark = pytest.mark.integration


def no_frame(items: list[Any]) -> pd.DataFrame:
    """For reads whose frame the test never looks at."""
    return pd.DataFrame()


INCLUDE = {"include_deleted": True}


def in_session(db: dn.Database, work: Any) -> Any:
    """Run ``await work(session)`` on the owner loop in one committed session."""

    async def go() -> Any:
        async with db.get_session() as session:
            return await work(session)

    return dn.run(go())


def add_user(db: dn.Database, email: str) -> Any:
    row = UserModel(email=email, password_hash="h")

    async def work(s: Any) -> None:
        s.add(row)
        await s.flush()

    in_session(db, work)
    return row.id


def soft_delete(db: dn.Database, uid: Any) -> bool:
    return bool(in_session(db, lambda s: softdelete.soft_delete(s, UserModel, uid)))


def deleted_at(db: dn.Database, uid: Any) -> Any:
    return db.scalar("SELECT deleted_at FROM users WHERE id = :i", {"i": uid})


# -- soft_delete: conditional UPDATEs, server clock, exactly one winner -------------


def test_soft_delete_is_one_conditional_update_per_table_on_the_server_clock(
    schema_db, sql_log
) -> None:
    uid = add_user(schema_db, "ann@example.com")
    before = schema_db.scalar("SELECT clock_timestamp()")
    start = len(sql_log)
    assert soft_delete(schema_db, uid) is True
    sent = [s for s in sql_log[start:] if s.lstrip().upper().startswith("UPDATE")]
    # The user, then its accounts, then their transactions (the cascade).
    assert [s.split()[1] for s in sent] == ["users", "accounts", "transactions"]
    assert all("is_deleted = false" in s for s in sent)
    assert "statement_timestamp()" in sent[0]
    assert "RETURNING" in sent[0]
    assert "version=(users.version + " in sent[0]  # a copy read before is stale
    after = schema_db.scalar("SELECT clock_timestamp()")
    stamp = deleted_at(schema_db, uid)
    assert stamp is not None
    assert before <= stamp <= after  # the server's clock, not Python's
    assert soft_delete(schema_db, uid) is False  # already deleted: no change
    assert deleted_at(schema_db, uid) == stamp


def test_two_connections_soft_delete_the_same_row_exactly_one_wins(
    schema_db,
) -> None:
    uid = add_user(schema_db, "race@example.com")

    async def lock_waiters() -> int:
        async with schema_db.engine.connect() as conn:
            return int(
                await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND query LIKE 'UPDATE users%'"
                    )
                )
            )

    async def b_side() -> bool:
        async with schema_db.get_session() as b:
            return await softdelete.soft_delete(b, UserModel, uid)

    async def race() -> tuple[bool, bool, datetime, bool]:
        async with schema_db.get_session() as a:
            a_won = await softdelete.soft_delete(a, UserModel, uid)  # holds the lock
            a_stamp = await a.scalar(
                select(UserModel.deleted_at)
                .where(UserModel.id == uid)
                .execution_options(**INCLUDE)
            )
            b_task = asyncio.create_task(b_side())
            deadline = time.monotonic() + 10
            while await lock_waiters() < 1:  # B is blocked on A's row lock
                assert time.monotonic() < deadline, "B never waited for the lock"
                assert not b_task.done()
                await asyncio.sleep(0.01)
            b_blocked = not b_task.done()
        # A committed on leaving the block; B re-checks is_deleted = false.
        b_won = await asyncio.wait_for(b_task, 10)
        return a_won, b_won, a_stamp, b_blocked

    a_won, b_won, a_stamp, b_blocked = dn.run(race())
    assert b_blocked
    assert (a_won, b_won) == (True, False)
    assert deleted_at(schema_db, uid) == a_stamp  # the winner's timestamp


# -- every default read hides deleted rows ---------------------------------------


def _seed_two_users_with_transactions(db: dn.Database) -> dict[str, Any]:
    async def work(s: Any) -> dict[str, Any]:
        users = {n: UserModel(email=f"{n}@x.io", password_hash="h") for n in "ab"}
        s.add_all(users.values())
        await s.flush()
        accts = {
            n: AccountModel(
                user_id=u.id, name="Main", institution="Bank", account_type="checking"
            )
            for n, u in users.items()
        }
        s.add_all(accts.values())
        await s.flush()
        txns = {
            f"{n}{k}": TransactionModel(
                account_id=acct.id,
                amount=Decimal("-1.00"),
                category="food",
                posted_at=datetime(2025, 1, k + 1, tzinfo=UTC),
            )
            for n, acct in accts.items()
            for k in range(2)
        }
        s.add_all(txns.values())
        await s.flush()
        return {"users": {n: u.id for n, u in users.items()}, "txns": txns}

    seeded: dict[str, Any] = in_session(db, work)
    seeded["txns"] = {k: t.id for k, t in seeded["txns"].items()}
    return seeded


def test_every_default_read_hides_deleted_rows_and_include_deleted_shows_them(
    schema_db,
) -> None:
    seeded = _seed_two_users_with_transactions(schema_db)
    a, b = seeded["users"]["a"], seeded["users"]["b"]
    a_txn_0 = seeded["txns"]["a0"]

    async def work(s: Any) -> dict[str, Any]:
        cached = await s.get(UserModel, b)  # in the identity map from now on
        assert await softdelete.soft_delete(s, UserModel, b) is True
        assert await softdelete.soft_delete(s, TransactionModel, a_txn_0) is True
        assert cached.is_deleted is True  # the cached copy was updated, no lazy load
        assert cached.deleted_at is not None
        joined = (
            select(TransactionModel.id)
            .join(AccountModel, AccountModel.id == TransactionModel.account_id)
            .join(UserModel, UserModel.id == AccountModel.user_id)
        )
        users, user_ids = select(UserModel), select(UserModel.id)
        counted = select(func.count()).select_from(UserModel)
        reads: dict[str, Any] = {}
        for label, opts in (("default", {}), ("all", INCLUDE)):
            reads[label] = {
                "get": [await s.get(UserModel, b, execution_options=opts)],
                "entities": list(await s.scalars(users.execution_options(**opts))),
                "ids": set(await s.scalars(user_ids.execution_options(**opts))),
                "count": await s.scalar(counted.execution_options(**opts)),
                "joined": set(await s.scalars(joined.execution_options(**opts))),
                "offset": await offset_page(
                    s,
                    UserModel,
                    select(UserModel).execution_options(**opts),
                    page=1,
                    page_size=10,
                    to_item=lambda m: m.id,
                    to_frame=no_frame,
                ),
                "keyset": await keyset_page(
                    s,
                    UserModel,
                    select(UserModel).execution_options(**opts),
                    to_item=lambda m: m.id,
                    to_frame=no_frame,
                ),
            }
        return reads

    reads = in_session(schema_db, work)
    live, every = reads["default"], reads["all"]
    assert live["get"] == [None]
    assert every["get"][0].id == b
    assert [u.id for u in live["entities"]] == [a]
    assert {u.id for u in every["entities"]} == {a, b}
    assert (live["ids"], every["ids"]) == ({a}, {a, b})
    assert (live["count"], every["count"]) == (1, 2)
    t = seeded["txns"]
    assert live["joined"] == {t["a1"]}  # b's rows via the join, a0 itself
    assert every["joined"] == set(t.values())
    assert (live["offset"].items, live["offset"].total) == ([a], 1)
    assert (set(every["offset"].items), every["offset"].total) == ({a, b}, 2)
    assert (live["keyset"].items, set(every["keyset"].items)) == ([a], {a, b})
    # A new session (no cache) and the frame reads agree.
    assert in_session(schema_db, lambda s: s.get(UserModel, b)) is None
    frame = schema_db.frame(select(UserModel.email))
    assert list(frame["email"]) == ["a@x.io"]
    frame = schema_db.frame(select(UserModel.email).execution_options(**INCLUDE))
    assert sorted(frame["email"]) == ["a@x.io", "b@x.io"]
    by_id = in_session(
        schema_db, lambda s: s.get(UserModel, b, execution_options=INCLUDE)
    )
    assert by_id.is_deleted is True


def test_a_row_cached_by_an_include_deleted_read_stays_hidden_from_get(
    schema_db,
) -> None:
    uid = add_user(schema_db, "gone@example.com")
    soft_delete(schema_db, uid)

    async def work(s: Any) -> tuple[Any, Any]:
        loaded = await s.scalar(select(UserModel).execution_options(**INCLUDE))
        return loaded, await s.get(UserModel, uid)  # identity-map hit, no SQL

    loaded, got = in_session(schema_db, work)
    assert loaded.id == uid
    assert got is None


# -- uniqueness, restore, purge, bulk --------------------------------------------


def test_deleted_users_email_can_be_registered_again_then_restore_is_duplicate(
    schema_db,
) -> None:
    old = add_user(schema_db, "Reuse@Example.com")
    with pytest.raises(dn.DuplicateError):
        add_user(schema_db, "reuse@example.com")  # live: case-insensitive unique
    assert soft_delete(schema_db, old) is True
    new = add_user(schema_db, "reuse@example.com")  # partial index: allowed

    async def work(s: Any) -> tuple[str | None, int]:
        field = None
        try:
            async with s.begin_nested():  # the session survives the failure
                await softdelete.restore(s, UserModel, old)
        except dn.DuplicateError as exc:
            field = exc.field
        return field, await s.scalar(select(func.count()).select_from(UserModel))

    assert in_session(schema_db, work) == ("email", 1)
    # Once the new one is deleted, the old one can come back.
    assert soft_delete(schema_db, new) is True
    assert in_session(schema_db, lambda s: softdelete.restore(s, UserModel, old))
    assert deleted_at(schema_db, old) is None
    assert (
        in_session(schema_db, lambda s: softdelete.restore(s, UserModel, old)) is False
    )


def test_purge_hard_deletes_only_soft_deleted_rows_older_than_the_cutoff(
    schema_db,
) -> None:
    ids = {n: add_user(schema_db, f"{n}@example.com") for n in ("live", "old", "new")}
    for n in ("old", "new"):
        soft_delete(schema_db, ids[n])
    schema_db.execute(
        "UPDATE users SET deleted_at = now() - interval '40 days', "
        "created_at = now() - interval '90 days' WHERE id = :i",
        {"i": ids["old"]},
    )
    schema_db.execute(
        "UPDATE users SET created_at = now() - interval '90 days' WHERE id = :i",
        {"i": ids["live"]},
    )

    def purge(older_than: Any) -> Any:
        return in_session(
            schema_db, lambda s: softdelete.purge(s, UserModel, older_than=older_than)
        )

    assert purge(timedelta(days=30)) == 1
    left = set(schema_db.frame("SELECT email FROM users")["email"])
    assert left == {"live@example.com", "new@example.com"}
    assert purge(datetime.now(UTC) - timedelta(days=1)) == 0  # "new" is younger
    assert purge(datetime.now(UTC) + timedelta(minutes=1)) == 1
    assert purge(timedelta(0)) == 0  # live rows are never purged
    assert set(schema_db.frame("SELECT email FROM users")["email"]) == {
        "live@example.com"
    }
    for bad in (datetime(2020, 1, 1), timedelta(days=-1), 30, "30 days", None):
        with pytest.raises(dn.ValidationError) as info:
            purge(bad)
        assert info.value.field == "older_than"


def test_soft_delete_where_returns_the_row_count_and_updates_cached_objects(
    schema_db,
) -> None:
    for i in range(12):
        add_user(schema_db, f"{'x' if i % 3 else 'y'}{i}@example.com")

    async def work(s: Any) -> tuple[int, int, list[Any]]:
        cached = list(await s.scalars(select(UserModel)))  # warm the identity map
        first = await softdelete.soft_delete_where(
            s, UserModel, UserModel.email.like("x%")
        )
        again = await softdelete.soft_delete_where(
            s, UserModel, UserModel.email.like("x%")
        )
        return first, again, cached

    first, again, cached = in_session(schema_db, work)
    assert (first, again) == (8, 0)
    assert sum(u.is_deleted for u in cached) == 8
    assert all(u.deleted_at is not None for u in cached if u.is_deleted)
    # Without cached objects the count comes from the row count.
    n = in_session(
        schema_db, lambda s: softdelete.soft_delete_where(s, UserModel, true())
    )
    assert n == 4
    assert schema_db.scalar("SELECT count(*) FROM users WHERE is_deleted") == 12


@pytest.mark.parametrize(
    "criteria", [(), (True,), ("email LIKE 'x%'",), (None,)], ids=repr
)
def test_soft_delete_where_refuses_no_or_non_sql_criteria(
    schema_db, sql_log, criteria
) -> None:
    start = len(sql_log)
    with pytest.raises(dn.ValidationError) as info:
        in_session(
            schema_db,
            lambda s: softdelete.soft_delete_where(s, UserModel, *criteria),
        )
    assert info.value.field == "criteria"
    assert not [q for q in sql_log[start:] if "UPDATE" in q]


def test_bad_model_or_id_is_refused_before_sql(schema_db) -> None:
    with pytest.raises(dn.ValidationError) as info:
        in_session(schema_db, lambda s: softdelete.soft_delete(s, AuditLogModel, "x"))
    assert info.value.field == "model"
    with pytest.raises(dn.InvalidIdError):
        in_session(schema_db, lambda s: softdelete.soft_delete(s, UserModel, 42))
    with pytest.raises(dn.InvalidIdError):
        in_session(schema_db, lambda s: softdelete.restore(s, UserModel, "nope"))


# -- property: no default read ever returns a deleted row ---------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(0, 5)),
        st.tuples(st.just("reuse"), st.integers(0, 50)),
        st.tuples(st.sampled_from(["delete", "restore", "get"]), st.integers(0, 50)),
        st.tuples(st.sampled_from(["read", "commit"]), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)


async def _reads(s: Any, opts: dict[str, Any], held: list[Any]) -> list[set[Any]]:
    """The same question asked five ways; each answer a set of ids.

    Loaded objects go to ``held``: the identity map is weak, and only objects
    someone holds (as a notebook variable would) stay cached for ``get``.
    """
    stmt = select(UserModel).execution_options(**opts)
    page = await offset_page(
        s,
        UserModel,
        stmt,
        page=1,
        page_size=1000,
        to_item=lambda m: m.id,
        to_frame=no_frame,
    )
    walked: list[Any] = []
    cursor = None
    while True:
        kp = await keyset_page(
            s,
            UserModel,
            stmt,
            cursor=cursor,
            page_size=3,
            to_item=lambda m: m.id,
            to_frame=no_frame,
        )
        walked += kp.items
        if kp.next_cursor is None:
            break
        cursor = kp.next_cursor
    frame = (await s.execute(select(UserModel.id).execution_options(**opts))).all()
    count = await s.scalar(
        select(func.count()).select_from(UserModel).execution_options(**opts)
    )
    assert count == page.total == len(walked)
    return [
        {u.id for u in held_all(held, await s.scalars(stmt))},
        set(page.items),
        set(walked),
        {row.id for row in frame},
    ]


def held_all(held: list[Any], rows: Any) -> list[Any]:
    loaded = list(rows)
    held.extend(loaded)
    return loaded


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_property_no_default_read_returns_a_deleted_row(schema_db, ops) -> None:
    async def scenario() -> None:
        async with schema_db.engine.begin() as conn:
            await conn.execute(text("TRUNCATE users CASCADE"))
        state: dict[Any, tuple[str, bool]] = {}  # id -> (email, deleted)
        held: list[Any] = []
        serial = 0
        async with schema_db.get_session() as s:
            for step, (op, n) in enumerate(ops):
                ids = sorted(state)
                pick = ids[n % len(ids)] if ids else None
                live_emails = {e for e, gone in state.values() if not gone}
                if op == "insert" or (op == "reuse" and pick is None):
                    for _ in range(n if op == "insert" else 1):
                        serial += 1
                        row = UserModel(email=f"p{serial}@x.io", password_hash="h")
                        s.add(row)
                        await s.flush()
                        state[row.id] = (row.email, False)
                        held.append(row)
                elif op == "reuse":
                    # Register a deleted user's email again (if it is free).
                    email, gone = state[pick]
                    if gone and email not in live_emails:
                        row = UserModel(email=email, password_hash="h")
                        s.add(row)
                        await s.flush()
                        state[row.id] = (email, False)
                        held.append(row)
                elif op == "delete" and pick is not None:
                    won = await softdelete.soft_delete(s, UserModel, pick)
                    assert won is not state[pick][1]
                    state[pick] = (state[pick][0], True)
                elif op == "restore" and pick is not None:
                    email, gone = state[pick]
                    try:
                        async with s.begin_nested():
                            back = await softdelete.restore(s, UserModel, pick)
                    except dn.DuplicateError:
                        assert gone
                        assert email in live_emails
                    else:
                        assert back is gone
                        assert not (gone and email in live_emails)
                        state[pick] = (email, False)
                elif op == "get" and pick is not None:
                    got = await s.get(UserModel, pick)
                    held.append(got)
                    assert (got is None) is state[pick][1]
                    every = await s.get(UserModel, pick, execution_options=INCLUDE)
                    assert every is not None
                elif op == "commit":
                    await s.commit()
                if op in ("read", "commit") or step == len(ops) - 1:
                    live = {i for i, (_, gone) in state.items() if not gone}
                    for answer in await _reads(s, {}, held):
                        assert answer == live
                    for answer in await _reads(s, INCLUDE, held):
                        assert answer == set(state)

    dn.run(scenario())


def test_frames_of_pages_hide_password_hashes_and_keep_dtypes(schema_db) -> None:
    uid = add_user(schema_db, "f@example.com")
    soft_delete(schema_db, uid)

    async def work(s: Any) -> Any:
        return await offset_page(
            s,
            UserModel,
            select(UserModel),
            page=1,
            page_size=5,
            to_item=lambda m: m.to_entity(),
            to_frame=lambda items: frames.to_frame(items, User, model=UserModel),
        )

    page = in_session(schema_db, work)
    assert len(page.frame) == 0
    assert "password_hash" not in page.frame.columns
    assert str(page.frame["is_deleted"].dtype) == "bool[pyarrow]"


# -- the same through the repositories --------------------------------------------


async def test_repository_reads_hide_a_soft_deleted_user_everywhere(schema_db) -> None:
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        ann = await repo.save(User(email="ann@example.com", password_hash="h"))
        bob = await repo.save(User(email="bob@example.com", password_hash="h"))
        assert await repo.soft_delete(bob.id) is True
        assert await repo.soft_delete(bob.id) is False
        hidden = {
            "by_id": await repo.find_by_id(bob.id),
            "by_email": await repo.find_by_email("BOB@example.com"),
            "count": await repo.count(),
            "page": [u.id for u in (await repo.paginate(1, 10)).items],
            "keyset": [u.id for u in (await repo.paginate_after(None, 10)).items],
            "frame": list((await repo.find_all_frame())["email"]),
            "id_frame": len(await repo.find_by_id_frame(bob.id)),
            "email_frame": len(await repo.find_by_email_frame("bob@example.com")),
        }
        found = await repo.find_by_id(bob.id, include_deleted=True)
        shown = {
            "by_id": found.id if found else None,
            "count": await repo.count(include_deleted=True),
            "frame": sorted((await repo.find_all_frame(include_deleted=True))["email"]),
        }
    assert hidden == {
        "by_id": None,
        "by_email": None,
        "count": 1,
        "page": [ann.id],
        "keyset": [ann.id],
        "frame": ["ann@example.com"],
        "id_frame": 0,
        "email_frame": 0,
    }
    assert shown == {
        "by_id": bob.id,
        "count": 2,
        "frame": ["ann@example.com", "bob@example.com"],
    }


async def test_repository_email_reuse_restore_conflict_and_session_survives(
    schema_db,
) -> None:
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        old = await repo.save(User(email="same@example.com", password_hash="h"))
        await repo.soft_delete(old)
        new = await repo.save(User(email="Same@Example.com", password_hash="h"))
        with pytest.raises(dn.DuplicateError) as info:
            await repo.restore(old.id)
        assert info.value.field == "email"
        found = await repo.find_by_email("same@example.com")  # still usable
    assert found is not None
    assert found.id == new.id


async def test_repository_two_sessions_soft_delete_at_once_one_wins(schema_db) -> None:
    async with schema_db.get_session() as s:
        uid = (await UserRepository(s).save(User(email="r@x.io", password_hash="h"))).id

    async def one() -> bool:
        async with schema_db.get_session() as s:
            return await UserRepository(s).soft_delete(uid)

    results = await asyncio.gather(*(one() for _ in range(4)))
    assert sorted(results) == [False, False, False, True]


async def test_repository_bulk_soft_delete_and_purge_count_rows(schema_db) -> None:
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        for i in range(6):
            await repo.save(User(email=f"{'ab'[i % 2]}{i}@x.io", password_hash="h"))
        assert await repo.soft_delete_where(UserModel.email.like("a%")) == 3
        assert await repo.purge(older_than=timedelta(days=1)) == 0
        assert await repo.purge(older_than=datetime.now(UTC) + timedelta(hours=1)) == 3
        assert await repo.count(include_deleted=True) == 3
